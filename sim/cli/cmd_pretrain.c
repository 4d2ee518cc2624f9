/* fedsim pretrain: trains every weight of a small LLaVA-architecture model on
 * the source-domain corpus (synthetic captions and free-form questions about
 * synthetic scenes) with the full backward pass, and saves it as a Hugging
 * Face LLaVA directory with its word-level vocabulary. The downstream tasks
 * (lettered multiple choice, new skills) are not in this corpus, so
 * NanoAdapter tuning has real work to do. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datasets/synth.h"
#include "sim/cli/commands.h"
#include "sim/io/error.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"
#include "sim/model/batch.h"
#include "sim/model/presets.h"
#include "sim/model/tokenizer.h"

typedef struct {
    const char *out;
    int steps, batch, corpus, threads;
    double lr;
    uint64_t seed;
    bool quiet;
} pretrain_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: fedsim pretrain --out DIR [--steps N] [--batch B] [--lr LR] [--corpus N]\n"
               "                       [--seed S] [--threads N] [--quiet]\n"
               "\n"
               "Trains the tiny LLaVA preset from scratch on the synthetic source-domain corpus\n"
               "(captions and free-form questions about synthetic scenes) and writes DIR/\n"
               "config.json, model.safetensors and vocab.txt. Defaults: 3000 steps, batch 32,\n"
               "lr 3e-3 (cosine decay), corpus 20000, seed 0.\n");
}

/* Tokenises "<s> <image> text </s>"; labels cover the text and </s>. Returns length. */
static int encode_pair(const fs_tokenizer *tok, const fs_mllm *m, const char *text, int32_t *ids,
                       int32_t *labels, int max)
{
    int ntok = m->n_image_tokens, n = 0;
    ids[n] = fs_tokenizer_id(tok, FS_TOK_BOS), labels[n++] = FS_IGNORE_LABEL;
    for (int i = 0; i < ntok; i++) ids[n] = m->cfg.image_token_index, labels[n++] = FS_IGNORE_LABEL;
    int k = fs_tokenizer_encode(tok, text, ids + n, max - n - 1);
    if (k < 0) return -1;
    for (int i = 0; i < k; i++) labels[n + i] = ids[n + i];
    n += k;
    ids[n] = fs_tokenizer_id(tok, FS_TOK_EOS), labels[n] = ids[n];
    return n + 1;
}

static int pretrain(const pretrain_opts *o)
{
    const fs_ops *ops = fs_backend_by_name("auto", NULL);
    fs_set_threads(o->threads);
    fs_llava_config cfg = fs_llava_config_tiny();
    fs_mllm *m = fs_mllm_new_random(&cfg, ops, o->seed);
    if (!m || fs_mllm_save(m, o->out) || fs_synth_write_vocab(o->out, &cfg)) return -1;
    fs_tokenizer *tok = fs_tokenizer_load(o->out);
    float *pixels = NULL;
    char **texts = NULL;
    if (!tok || fs_synth_captions(o->seed + 1, o->corpus, cfg.v_image_size, &pixels, &texts))
        return -1;
    if (fs_mllm_enable_grads(m)) return -1;
    enum { MAXLEN = 96 };
    int B = o->batch, T = MAXLEN, ntok = m->n_image_tokens, d = cfg.t_hidden;
    size_t pix = (size_t)3 * cfg.v_image_size * cfg.v_image_size;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids), *labels = malloc((size_t)B * T * sizeof *labels);
    int32_t *row_ids = malloc((size_t)T * sizeof *row_ids), *row_labels = malloc((size_t)T * sizeof *row_labels);
    float *batch_pix = malloc((size_t)B * pix * sizeof *batch_pix);
    int *start_rows = malloc((size_t)B * sizeof *start_rows);
    fs_vision_acts *va = fs_vision_acts_new(m, B);
    fs_llm_acts *la = fs_llm_acts_new(m, B * T, B * T);
    float *feat = ops->alloc((size_t)B * ntok * d * sizeof(float));
    float *dfeat = ops->alloc((size_t)B * ntok * d * sizeof(float));
    float *emb = ops->alloc((size_t)B * T * d * sizeof(float));
    float *demb = ops->alloc((size_t)B * T * d * sizeof(float));
    float *adam_m = ops->alloc(m->nparams * sizeof(float)), *adam_v = ops->alloc(m->nparams * sizeof(float));
    fs_batch_buf bb = {0};
    if (!ids || !labels || !row_ids || !row_labels || !batch_pix || !start_rows || !va || !la ||
        !feat || !dfeat || !emb || !demb || !adam_m || !adam_v)
        return fs_fail("out of memory for pretraining batches of %d", B);
    fs_rng rng = fs_rng_seed(o->seed ^ 0xBADC0FFEEull);
    double t0 = fs_now(), ema = 0;
    for (int step = 1; step <= o->steps; step++) {
        /* pad every sequence to the longest in the batch */
        int lens[256], maxlen = 1;
        for (int b = 0; b < B; b++) {
            int i = (int)fs_rng_below(&rng, (uint64_t)o->corpus);
            memcpy(batch_pix + b * pix, pixels + i * pix, pix * sizeof(float));
            lens[b] = encode_pair(tok, m, texts[i], ids + (size_t)b * T, labels + (size_t)b * T, T);
            if (lens[b] < 0) return -1;
            maxlen = lens[b] > maxlen ? lens[b] : maxlen;
        }
        for (int b = 0; b < B; b++) {
            memcpy(row_ids, ids + (size_t)b * T, (size_t)lens[b] * sizeof *row_ids);
            memcpy(row_labels, labels + (size_t)b * T, (size_t)lens[b] * sizeof *row_labels);
            for (int t = lens[b]; t < maxlen; t++)
                row_ids[t] = fs_tokenizer_id(tok, FS_TOK_PAD), row_labels[t] = FS_IGNORE_LABEL;
            memcpy(ids + (size_t)b * maxlen, row_ids, (size_t)maxlen * sizeof *row_ids);
            memcpy(labels + (size_t)b * maxlen, row_labels, (size_t)maxlen * sizeof *row_labels);
            start_rows[b] = b * maxlen + 1;
        }
        if (fs_batch_build(&bb, ops, ids, labels, B, maxlen, false) ||
            fs_mllm_encode_images(m, va, batch_pix, B, feat))
            return -1;
        fs_mllm_embed_tokens(m, &bb.batch, emb);
        fs_mllm_splice_images(m, emb, feat, B, start_rows);
        double loss = fs_llm_forward(m, la, &bb.batch, emb);
        ops->zero(m->grads, m->nparams * sizeof(float));
        ops->zero(demb, (size_t)B * maxlen * d * sizeof(float));
        fs_llm_backward(m, la, &bb.batch, demb, NULL);
        fs_mllm_gather_image_grads(m, dfeat, demb, B, start_rows);
        fs_mllm_encode_images_backward(m, va, dfeat, B);
        /* linear warm-up over 100 steps, then cosine decay to 10% */
        double frac = (double)step / o->steps;
        double lr = o->lr * (step < 100 ? step / 100.0 : 0.1 + 0.9 * 0.5 * (1 + cos(3.141592653589793 * frac)));
        int32_t s = step;
        ops->adamw(m->params, m->grads, adam_m, adam_v, &s, 1, (long)m->nparams, (float)lr, 0.9f,
                   0.98f, 1e-8f, 0.01f);
        ema = step == 1 ? loss : 0.98 * ema + 0.02 * loss;
        if (!o->quiet && (step % 50 == 0 || step == o->steps)) {
            double el = fs_now() - t0;
            fprintf(stderr, "\rpretrain step %5d/%d  loss %.4f  lr %.2e  %6.1fs  ETA %6.1fs   ", step,
                    o->steps, ema, lr, el, el / step * (o->steps - step));
        }
    }
    if (!o->quiet) fprintf(stderr, "\n");
    int rc = fs_mllm_save(m, o->out);
    if (!rc && !o->quiet) printf("pretrained model written to %s (final loss %.4f)\n", o->out, ema);
    for (int i = 0; i < o->corpus; i++) free(texts[i]);
    free(texts), free(pixels), free(ids), free(labels), free(row_ids), free(row_labels);
    free(batch_pix), free(start_rows);
    ops->free(feat), ops->free(dfeat), ops->free(emb), ops->free(demb), ops->free(adam_m);
    ops->free(adam_v);
    fs_batch_free(&bb);
    fs_vision_acts_free(m, va);
    fs_llm_acts_free(m, la);
    fs_tokenizer_free(tok);
    fs_mllm_free(m);
    return rc;
}

int fs_cmd_pretrain(int argc, char **argv)
{
    pretrain_opts o = {.steps = 3000, .batch = 32, .corpus = 20000, .lr = 3e-3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "fedsim pretrain: unknown option or missing value '%s'\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--steps")) o.steps = fs_cli_int(a, v);
        else if (!strcmp(a, "--batch")) o.batch = fs_cli_int(a, v);
        else if (!strcmp(a, "--corpus")) o.corpus = fs_cli_int(a, v);
        else if (!strcmp(a, "--threads")) o.threads = fs_cli_int(a, v);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)fs_cli_int(a, v);
        else if (!strcmp(a, "--lr")) o.lr = atof(v);
        else {
            fprintf(stderr, "fedsim pretrain: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.out || o.steps <= 0 || o.batch <= 0 || o.batch > 256 || o.corpus <= 0 || o.threads < 0 ||
        !(o.lr > 0)) {
        usage(stderr);
        return 2;
    }
    if (pretrain(&o)) {
        fprintf(stderr, "fedsim pretrain: %s\n", fs_last_error());
        return 1;
    }
    return 0;
}
