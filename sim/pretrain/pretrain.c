/* The trainer of `fedsim pretrain`: trains every weight of a small LLaVA-architecture model on
 * the source corpus (datasets/synth_source.c: captioned scenes and lettered
 * items in the source look and format) with the full backward pass, and saves
 * it as a Hugging Face LLaVA directory with its word-level vocabulary. It
 * reports held-out accuracy on source-format lettered items as it goes, so a
 * user can tell a model that knows the source skills from one that does not.
 * An optional vision stage (vision.c) first teaches the tower to see,
 * after which it stays frozen, as LLaVA keeps its CLIP tower. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/synth.h"
#include "sim/fed/task.h"
#include "sim/io/pretrain_config.h"
#include "sim/io/error.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"
#include "sim/model/batch.h"
#include "sim/model/tokenizer.h"
#include "sim/pretrain/pretrain.h"
#include "sim/pretrain/vision.h"

enum { MAX_LEN = 256, MAX_HELDOUT = 512 };

/* The model, its tokenizer and every buffer one batch needs. */
typedef struct {
    fs_mllm *m;
    const fs_ops *ops;
    fs_tokenizer *tok;
    int32_t verdict_ids[2]; /* the labels of a wrong ("no") and the right ("yes") option */
    int B;
    bool tower_frozen; /* after a vision stage, as LLaVA keeps its CLIP tower frozen */
    int32_t *ids, *labels, *row_ids, *row_labels;
    float *pixels, *feat, *dfeat, *emb, *demb;
    int *start_rows;
    fs_vision_acts *va;
    fs_llm_acts *la;
    fs_batch_buf bb;
} trainer;

/* Tokenises the prompt text[0..len) into ids, unsupervised, except that with
 * right >= 0 the token after each option "( X ) text" is labelled "yes" for
 * option right and "no" for the others: the verdict is learnt where the option
 * ends, without being in the input. Returns the count, -1 when over max. */
static int encode_prompt(const trainer *t, const char *text, int len, int right, int32_t *ids,
                         int32_t *labels, int max)
{
    /* the cuts: each option's start, then the start of " answer: " */
    int cuts[FS_MAX_CHOICES + 1], ncut = right >= 0 ? fs_source_option_marks(text, len, cuts) : 0, n = 0;
    if (ncut) ncut++;
    for (int c = 0, from = 0; c <= ncut; c++) {
        int to = c < ncut ? cuts[c] : len;
        char piece[2048];
        snprintf(piece, sizeof piece, "%.*s", to - from, text + from);
        int k = to > from ? fs_tokenizer_encode(t->tok, piece, ids + n, max - n) : 0;
        if (k < 0) return -1;
        for (int i = 0; i < k; i++) labels[n + i] = FS_IGNORE_LABEL;
        /* piece 0 is the question, piece c > 0 option c - 1: this piece's first
         * token follows option c - 2 */
        if (c > 1 && k > 0) labels[n] = t->verdict_ids[c - 2 == right];
        n += k;
        from = to;
    }
    return n;
}

/* Tokenises "<s> <image> text </s>"; labels cover text[target_from..] and
 * </s> (plus the verdicts of encode_prompt when right >= 0), or when scoring
 * only the first token from target_from (one logits row per item). Returns
 * the length, or -1 when it does not fit max. */
static int encode_item(const trainer *t, const char *text, int target_from, int right, bool scoring,
                       int32_t *ids, int32_t *labels, int max)
{
    int ntok = t->m->n_image_tokens, n = 0;
    ids[n] = fs_tokenizer_id(t->tok, FS_TOK_BOS), labels[n++] = FS_IGNORE_LABEL;
    for (int i = 0; i < ntok; i++) ids[n] = t->m->cfg.image_token_index, labels[n++] = FS_IGNORE_LABEL;
    int k = encode_prompt(t, text, target_from, scoring ? -1 : right, ids + n, labels + n, max - n - 1);
    if (k < 0) return -1;
    n += k;
    k = fs_tokenizer_encode(t->tok, text + target_from, ids + n, max - n - 1);
    if (k < 0) return -1;
    /* the answer's first token: its own label, not a verdict */
    for (int i = 0; i < k; i++) labels[n + i] = scoring && i > 0 ? FS_IGNORE_LABEL : ids[n + i];
    n += k;
    ids[n] = fs_tokenizer_id(t->tok, FS_TOK_EOS);
    labels[n] = scoring ? FS_IGNORE_LABEL : ids[n];
    return n + 1;
}

/* Encodes items[0..n) of corpus (right-padded to the longest) and runs the
 * forward pass; returns the loss, or NAN + fs_last_error(). */
static double forward_batch(trainer *t, const fs_source_corpus *c, const int *items, int n,
                            bool scoring)
{
    const fs_mllm *m = t->m;
    size_t pix = (size_t)3 * c->image_size * c->image_size;
    int lens[FS_PRETRAIN_MAX_BATCH], T = 1;
    for (int b = 0; b < n; b++) {
        int i = items[b];
        memcpy(t->pixels + b * pix, c->pixels + i * pix, pix * sizeof(float));
        lens[b] = encode_item(t, c->texts[i], scoring ? c->answer_at[i] : c->target_from[i],
                              c->right_option[i], scoring,
                              t->ids + (size_t)b * MAX_LEN, t->labels + (size_t)b * MAX_LEN, MAX_LEN);
        if (lens[b] < 0) {
            fs_fail("source item %d does not fit %d tokens", i, MAX_LEN);
            return NAN;
        }
        T = lens[b] > T ? lens[b] : T;
    }
    /* repack [n, MAX_LEN] rows as [n, T] in place (row b only moves left) */
    int32_t pad = fs_tokenizer_id(t->tok, FS_TOK_PAD);
    for (int b = 0; b < n; b++) {
        memcpy(t->row_ids, t->ids + (size_t)b * MAX_LEN, (size_t)lens[b] * sizeof(int32_t));
        memcpy(t->row_labels, t->labels + (size_t)b * MAX_LEN, (size_t)lens[b] * sizeof(int32_t));
        for (int k = lens[b]; k < T; k++) t->row_ids[k] = pad, t->row_labels[k] = FS_IGNORE_LABEL;
        memcpy(t->ids + (size_t)b * T, t->row_ids, (size_t)T * sizeof(int32_t));
        memcpy(t->labels + (size_t)b * T, t->row_labels, (size_t)T * sizeof(int32_t));
        t->start_rows[b] = b * T + 1;
    }
    if (fs_batch_build(&t->bb, t->ops, t->ids, t->labels, n, T, false) ||
        fs_mllm_encode_images(m, t->va, t->pixels, n, t->feat))
        return NAN;
    fs_mllm_embed_tokens(m, &t->bb.batch, t->emb);
    fs_mllm_splice_images(m, t->emb, t->feat, n, t->start_rows);
    return fs_llm_forward(m, t->la, &t->bb.batch, t->emb);
}

static void backward_batch(trainer *t, int n)
{
    const fs_mllm *m = t->m;
    t->ops->zero(m->grads, m->nparams * sizeof(float));
    t->ops->zero(t->demb, (size_t)t->bb.batch.B * t->bb.batch.T * m->cfg.t_hidden * sizeof(float));
    fs_llm_backward(m, t->la, &t->bb.batch, t->demb, NULL);
    fs_mllm_gather_image_grads(m, t->dfeat, t->demb, n, t->start_rows);
    if (t->tower_frozen) fs_mllm_projector_backward(m, t->va, t->dfeat, n);
    else fs_mllm_encode_images_backward(m, t->va, t->dfeat, n);
}

/* The candidates of multiple-choice item text (answer at answer_at): for a
 * letter answer the letters of its options (their ids in letters); for a word
 * answer the first token of each option's text. Sets *truth; returns how
 * many, 0 when the item cannot be scored (two options starting with the same
 * token). */
static int candidates(const trainer *t, const int32_t letters[FS_MAX_CHOICES], const char *text,
                      int answer_at, int32_t cand[FS_MAX_CHOICES], int *truth)
{
    const char *answer = text + answer_at;
    int at[FS_MAX_CHOICES + 1], k = fs_source_option_marks(text, answer_at, at);
    bool letter = answer[0] >= 'A' && answer[0] < 'A' + FS_MAX_CHOICES && !answer[1];
    *truth = letter ? answer[0] - 'A' : -1;
    for (int c = 0; c < k; c++) {
        if (letter) {
            cand[c] = letters[c];
            continue;
        }
        int from = at[c] + FS_SOURCE_MARK_LEN;
        char option[256];
        int32_t ids[64];
        snprintf(option, sizeof option, "%.*s", at[c + 1] - from, text + from);
        if (fs_tokenizer_encode(t->tok, option, ids, 64) < 1) return 0;
        cand[c] = ids[0];
        if (!strcmp(option, answer)) *truth = c;
    }
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++)
            if (cand[a] == cand[b]) return 0;
    return *truth >= 0 && *truth < k ? k : 0;
}

/* Held-out multiple-choice items (seen) and those whose answer (letter, or
 * first token of the option's text) has the highest logit among the
 * candidates (right): per answer kind ([0] letters, [1] words), and per task
 * category over both kinds. */
enum { MAX_TALLY_CATEGORIES = 16 };
typedef struct {
    int right[2], seen[2];
    int n_categories;
    const char *category[MAX_TALLY_CATEGORIES];
    int category_right[MAX_TALLY_CATEGORIES], category_seen[MAX_TALLY_CATEGORIES];
} answer_tally;

static void tally_category(answer_tally *a, const char *category, bool correct)
{
    int c = 0;
    while (c < a->n_categories && strcmp(a->category[c], category)) c++;
    if (c == MAX_TALLY_CATEGORIES) return;
    if (c == a->n_categories) a->category[a->n_categories++] = category;
    a->category_right[c] += correct;
    a->category_seen[c]++;
}

static int answer_accuracy(trainer *t, const fs_source_corpus *c, answer_tally *a)
{
    int V = t->m->cfg.t_vocab, items[FS_PRETRAIN_MAX_BATCH], n = 0;
    memset(a, 0, sizeof *a);
    int32_t letters[FS_MAX_CHOICES];
    for (int l = 0; l < FS_MAX_CHOICES; l++) letters[l] = fs_tokenizer_id(t->tok, (char[]){(char)('A' + l), 0});
    float *logits = malloc((size_t)t->B * V * sizeof *logits);
    if (!logits) return fs_fail("out of memory for the held-out logits");
    for (int i = 0; i <= c->n; i++) {
        if (i < c->n && c->answer_at[i] > 0) items[n++] = i;
        if (n == t->B || (i == c->n && n > 0)) {
            if (isnan(forward_batch(t, c, items, n, true))) {
                free(logits);
                return -1;
            }
            t->ops->to_host(logits, fs_llm_logits(t->la), (size_t)n * V * sizeof(float));
            for (int b = 0; b < n; b++) {
                const float *row = logits + (size_t)b * V;
                int32_t cand[FS_MAX_CHOICES];
                int truth, best = 0;
                int k = candidates(t, letters, c->texts[items[b]], c->answer_at[items[b]], cand, &truth);
                if (!k) continue;
                for (int l = 1; l < k; l++)
                    if (row[cand[l]] > row[cand[best]]) best = l;
                bool word = cand[0] != letters[0];
                a->right[word] += best == truth;
                a->seen[word]++;
                if (c->category[items[b]]) tally_category(a, c->category[items[b]], best == truth);
            }
            n = 0;
        }
    }
    free(logits);
    return 0;
}

static void trainer_free(trainer *t)
{
    const fs_ops *ops = t->ops;
    free(t->ids), free(t->labels), free(t->row_ids), free(t->row_labels), free(t->pixels);
    free(t->start_rows);
    if (ops) ops->free(t->feat), ops->free(t->dfeat), ops->free(t->emb), ops->free(t->demb);
    fs_batch_free(&t->bb);
    if (t->m) fs_vision_acts_free(t->m, t->va), fs_llm_acts_free(t->m, t->la), fs_mllm_free(t->m);
    fs_tokenizer_free(t->tok);
}

/* The synthetic world's tokenizer, read back from a scratch directory inside
 * out: a model already in out stays whole until the trained one replaces it
 * (a failed or interrupted run must not leave it overwritten by random
 * weights), and an out that cannot be written fails now, not after training. */
static fs_tokenizer *vocab_tokenizer(const fs_pretrain_config *pc)
{
    if (mkdir(pc->out, 0755) && errno != EEXIST) {
        fs_fail("out: cannot create %s: %s", pc->out, strerror(errno));
        return NULL;
    }
    char dir[4096], file[4200];
    snprintf(dir, sizeof dir, "%s/.pretrain-vocab-XXXXXX", pc->out);
    if (!mkdtemp(dir)) {
        fs_fail("out: cannot write into %s: %s; choose a writable directory (--out DIR)", pc->out,
                strerror(errno));
        return NULL;
    }
    fs_tokenizer *tok = fs_synth_write_vocab(dir, &pc->model) ? NULL : fs_tokenizer_load(dir);
    snprintf(file, sizeof file, "%s/vocab.txt", dir);
    remove(file);
    rmdir(dir);
    return tok;
}

static int trainer_init(trainer *t, const fs_pretrain_config *pc)
{
    t->ops = fs_backend_by_name("auto", NULL);
    t->m = pc->init ? fs_mllm_load(pc->init, t->ops) : fs_mllm_new_random(&pc->model, t->ops, pc->seed);
    if (t->m && pc->init && !fs_llava_config_same_sizes(&t->m->cfg, &pc->model))
        return fs_fail("init: %s is not the architecture of the config's model: section (image %d/%d, "
                       "vision %dx%d, LLM %dx%d); make them agree", pc->init, t->m->cfg.v_image_size,
                       t->m->cfg.v_patch_size, t->m->cfg.v_layers, t->m->cfg.v_hidden,
                       t->m->cfg.t_layers, t->m->cfg.t_hidden);
    if (!t->m || !(t->tok = vocab_tokenizer(pc)) || fs_mllm_enable_grads(t->m)) return -1;
    t->verdict_ids[0] = fs_tokenizer_id(t->tok, "no"), t->verdict_ids[1] = fs_tokenizer_id(t->tok, "yes");
    if (t->verdict_ids[0] < 0 || t->verdict_ids[1] < 0)
        return fs_fail("the pretraining vocabulary has no \"yes\" or \"no\", which corpus.verdicts "
                       "needs: internal error in the word list");
    const fs_llava_config *cfg = &pc->model;
    int B = t->B = pc->batch, ntok = t->m->n_image_tokens, d = cfg->t_hidden;
    size_t rows = (size_t)B * MAX_LEN;
    t->ids = malloc(rows * sizeof *t->ids), t->labels = malloc(rows * sizeof *t->labels);
    t->row_ids = malloc(MAX_LEN * sizeof *t->row_ids), t->row_labels = malloc(MAX_LEN * sizeof *t->row_labels);
    t->pixels = malloc((size_t)B * 3 * cfg->v_image_size * cfg->v_image_size * sizeof *t->pixels);
    t->start_rows = malloc((size_t)B * sizeof *t->start_rows);
    t->va = fs_vision_acts_new(t->m, B);
    t->la = fs_llm_acts_new(t->m, (int)rows, (int)rows);
    t->feat = t->ops->alloc((size_t)B * ntok * d * sizeof(float));
    t->dfeat = t->ops->alloc((size_t)B * ntok * d * sizeof(float));
    t->emb = t->ops->alloc(rows * d * sizeof(float));
    t->demb = t->ops->alloc(rows * d * sizeof(float));
    if (!t->ids || !t->labels || !t->row_ids || !t->row_labels || !t->pixels || !t->start_rows ||
        !t->va || !t->la || !t->feat || !t->dfeat || !t->emb || !t->demb)
        return fs_fail("out of memory for pretraining batches of %d (%.1f MiB of activations); "
                       "lower train.batch", B, (double)rows * d * 4 * 8 / (1 << 20));
    return 0;
}

/* Held-out lettered items, one corpus per source of the mixture. */
static const char *const src_names[FS_SOURCE_COUNT] = {"captions", "iconqa", "scienceqa", "matching"};

static int heldout_init(const fs_pretrain_config *pc, fs_source_corpus *held)
{
    for (int s = 0; s < FS_SOURCE_COUNT; s++) {
        fs_source_mix one = pc->mix;
        for (int o = 0; o < FS_SOURCE_COUNT; o++) one.weight[o] = o == s;
        int n = pc->corpus / 10 < 32 ? 32 : pc->corpus / 10 > MAX_HELDOUT ? MAX_HELDOUT : pc->corpus / 10;
        if (pc->mix.weight[s] > 0 && pc->eval_every > 0 && fs_synth_source_corpus(&one, pc->seed + 2 + (uint64_t)s, n,
                                            pc->model.v_image_size, &held[s]))
            return -1;
    }
    return 0;
}

/* "captions 61.0%  iconqa 40.2% (words 52.0%)  scienceqa 35.0%" into buf:
 * letter answers, then word answers in brackets when a source has both; and
 * into by_category a line per task source ("    iconqa by category: counting 72.8%, ...") */
static int heldout_report(trainer *t, const fs_source_corpus *held, char *buf, size_t len,
                          char *by_category, size_t by_len)
{
    buf[0] = by_category[0] = 0;
    for (int s = 0; s < FS_SOURCE_COUNT; s++) {
        answer_tally a;
        if (!held[s].n) continue;
        if (answer_accuracy(t, &held[s], &a)) return -1;
        for (int word = 0; word < 2; word++) {
            size_t l = strlen(buf);
            if (!a.seen[word]) continue;
            double pct = 100.0 * a.right[word] / a.seen[word];
            if (word && a.seen[0]) snprintf(buf + l, len - l, " (words %.1f%%)", pct);
            else snprintf(buf + l, len - l, "%s%s %.1f%%", l ? "  " : "", src_names[s], pct);
        }
        for (int c = 0; c < a.n_categories; c++) {
            size_t l = strlen(by_category);
            if (!c) l += (size_t)snprintf(by_category + l, by_len - l, "    %s by category:", src_names[s]);
            if (l < by_len)
                snprintf(by_category + l, by_len - l, "%s %s %.1f%%%s", c ? "," : "", a.category[c],
                         100.0 * a.category_right[c] / a.category_seen[c],
                         c + 1 < a.n_categories ? "" : "\n");
        }
    }
    return 0;
}

int fs_pretrain_run(const fs_pretrain_config *pc, bool quiet)
{
    fs_set_threads(pc->threads);
    trainer t = {0};
    fs_source_corpus corpus = {0}, held[FS_SOURCE_COUNT] = {{0}};
    float *adam_m = NULL, *adam_v = NULL;
    int rc = -1;
    if (trainer_init(&t, pc) ||
        fs_synth_source_corpus(&pc->mix, pc->seed + 1, pc->corpus, pc->model.v_image_size, &corpus) ||
        heldout_init(pc, held))
        goto done;
    if (pc->vision_steps > 0 && fs_pretrain_vision_stage(t.m, pc, quiet)) goto done;
    t.tower_frozen = (pc->vision_steps > 0 || pc->init) && !pc->vision_trained_after;
    fs_param_counts counts;
    if (fs_mllm_count_params(&t.m->cfg, &counts)) goto done;
    /* a frozen tower is the prefix of the parameters (checkpoint order) */
    size_t first = t.tower_frozen ? counts.vision : 0, np = t.m->nparams - first;
    if (!(adam_m = t.ops->alloc(np * sizeof(float))) || !(adam_v = t.ops->alloc(np * sizeof(float)))) {
        fs_fail("out of memory for the optimizer state of %zu parameters", np);
        goto done;
    }
    fs_rng rng = fs_rng_seed(pc->seed ^ 0xBADC0FFEEull);
    double t0 = fs_now(), ema = 0;
    int items[FS_PRETRAIN_MAX_BATCH];
    char acc[160] = "", by_category[1024] = "";
    for (int step = 1; step <= pc->steps; step++) {
        for (int b = 0; b < t.B; b++) items[b] = (int)fs_rng_below(&rng, (uint64_t)corpus.n);
        double loss = forward_batch(&t, &corpus, items, t.B, false);
        if (isnan(loss)) goto done;
        backward_batch(&t, t.B);
        double lr = fs_pretrain_lr(pc->lr, step, pc->steps);
        int32_t s = step;
        t.ops->adamw(t.m->params + first, t.m->grads + first, adam_m, adam_v, &s, 1, (long)np,
                     (float)lr, 0.9f, 0.98f, 1e-8f, (float)pc->weight_decay);
        ema = step == 1 ? loss : 0.98 * ema + 0.02 * loss;
        bool eval = pc->eval_every > 0 && (step % pc->eval_every == 0 || step == pc->steps);
        if (eval && heldout_report(&t, held, acc, sizeof acc, by_category, sizeof by_category))
            goto done;
        if (!quiet && (eval || step % 50 == 0)) {
            double el = fs_now() - t0;
            fprintf(stderr, "\rpretrain step %5d/%d  loss %.4f  lr %.2e  %6.1fs  ETA %6.1fs  ", step,
                    pc->steps, ema, lr, el, el / step * (pc->steps - step));
            if (eval) fprintf(stderr, "\n  held-out answer accuracy: %s\n%s", acc, by_category);
        }
    }
    if ((rc = fs_mllm_save(t.m, pc->out)) == 0) rc = fs_synth_write_vocab(pc->out, &pc->model);
    if (rc == 0 && !quiet)
        printf("pretrained model written to %s (final loss %.4f; held-out answer accuracy %s)\n",
               pc->out, ema, acc);
done:
    if (t.ops) t.ops->free(adam_m), t.ops->free(adam_v);
    fs_source_corpus_free(&corpus);
    for (int s = 0; s < FS_SOURCE_COUNT; s++) fs_source_corpus_free(&held[s]);
    trainer_free(&t);
    return rc;
}
