#include "sim/fed/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"

enum { MAX_USES = 2, IMAGE_BATCH = 32 };

struct fs_engine {
    const fs_mllm *m;
    const fs_ops *o;
    const fs_task *task;
    int max_rows, d, rank;
    float *features; /* [n_images, n_image_tokens, d] */
    fs_llm_acts *acts;
    fs_batch_buf bb;
    float *embeds0, *x, *dx, *xin[MAX_USES], *row_scale;
    const float *in_used[MAX_USES]; /* adapter input of each use in the last pass */
    float *u[MAX_USES][FS_TARGET_COUNT];
    int32_t *group[MAX_USES][FS_TARGET_COUNT], *sample_of_row, *group_of_sample;
    float *fisher_w;
    float *logit_bias; /* [bias_rows x vocab], allocated on the first choice-restricted pass */
    int bias_rows;
    /* host scratch */
    int32_t *ids_h, *group_h, *rows_h, *tgt_h, *sample_h, *slot_h;
    float *scale_h, *w_h, *fw_h, *loss_h, *logits_h;
};

/* The frozen-model pass buffers scale with max_rows (runtime.rows_per_pass). */
#define PASS_HINT "the frozen-model pass holds this many rows at once; lower runtime.rows_per_pass " \
                  "(default 2048), or use runtime.backend: cpu when the GPU is the one short"

/* One engine buffer (backend memory, or host memory when ops is NULL); after
 * the first failure, none (its message is the one kept). */
static void *engine_alloc(fs_engine *e, const fs_ops *ops, size_t bytes, int *ok)
{
    void *p = *ok ? fs_alloc_or_fail(ops, bytes ? bytes : 4, PASS_HINT,
                                     "the training engine's buffers for %d rows per pass",
                                     e->max_rows)
                  : NULL;
    if (!p) *ok = 0;
    return p;
}

static int longest_sample(const fs_task *task)
{
    int longest = 1;
    for (int i = 0; i < task->n; i++)
        if (task->samples[i].len > longest) longest = task->samples[i].len;
    return longest;
}

fs_engine *fs_engine_new(const fs_mllm *m, const fs_task *task, int max_rows)
{
    fs_engine *e = calloc(1, sizeof *e);
    if (!e) return fs_fail("out of memory"), NULL;
    int longest = longest_sample(task);
    if (max_rows < longest) max_rows = longest;
    e->m = m, e->o = m->ops, e->task = task, e->max_rows = max_rows, e->d = m->cfg.t_hidden;
    size_t R = max_rows, d = e->d, V = m->cfg.t_vocab, fsz = sizeof(float);
    const fs_ops *o = e->o, *host = NULL;
    e->acts = fs_llm_acts_new(m, max_rows, max_rows);
    int ok = e->acts != NULL;
    e->embeds0 = engine_alloc(e, o, R * d * fsz, &ok);
    e->x = engine_alloc(e, o, R * d * fsz, &ok);
    e->dx = engine_alloc(e, o, R * d * fsz, &ok);
    e->row_scale = engine_alloc(e, o, R * fsz, &ok);
    for (int u = 0; u < MAX_USES; u++) {
        e->xin[u] = engine_alloc(e, o, R * d * fsz, &ok);
        for (int t = 0; t < FS_TARGET_COUNT; t++) e->group[u][t] = engine_alloc(e, o, R * 4, &ok);
    }
    e->sample_of_row = engine_alloc(e, o, R * 4, &ok);
    e->group_of_sample = engine_alloc(e, o, R * 4, &ok);
    e->fisher_w = engine_alloc(e, o, R * fsz, &ok);
    e->ids_h = engine_alloc(e, host, R * 4, &ok), e->group_h = engine_alloc(e, host, R * 4, &ok);
    e->rows_h = engine_alloc(e, host, R * 4, &ok), e->tgt_h = engine_alloc(e, host, R * 4, &ok);
    e->sample_h = engine_alloc(e, host, R * 4, &ok), e->slot_h = engine_alloc(e, host, R * 4, &ok);
    e->scale_h = engine_alloc(e, host, R * fsz, &ok), e->w_h = engine_alloc(e, host, R * fsz, &ok);
    e->fw_h = engine_alloc(e, host, R * fsz, &ok), e->loss_h = engine_alloc(e, host, R * fsz, &ok);
    e->logits_h = engine_alloc(e, host, R * V * fsz, &ok);
    if (ok && task->n_images > 0 &&
        !(e->features = fs_alloc_or_fail(o, (size_t)task->n_images * m->n_image_tokens * d * fsz,
                                         "use a dataset with fewer images (data.root)",
                                         "the image feature cache of %d images", task->n_images)))
        ok = 0;
    if (!ok) {
        fs_engine_free(e);
        return NULL;
    }
    return e;
}

void fs_engine_free(fs_engine *e)
{
    if (!e) return;
    const fs_ops *o = e->o;
    void *dev[] = {e->embeds0, e->x, e->dx, e->row_scale, e->sample_of_row, e->group_of_sample,
                   e->fisher_w, e->features, e->logit_bias};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) o->free(dev[i]);
    for (int u = 0; u < MAX_USES; u++) {
        if (e->xin[u]) o->free(e->xin[u]);
        for (int t = 0; t < FS_TARGET_COUNT; t++) {
            if (e->group[u][t]) o->free(e->group[u][t]);
            if (e->u[u][t]) o->free(e->u[u][t]);
        }
    }
    fs_llm_acts_free(e->m, e->acts);
    fs_batch_free(&e->bb);
    free(e->ids_h), free(e->group_h), free(e->rows_h), free(e->tgt_h), free(e->sample_h);
    free(e->slot_h), free(e->scale_h), free(e->w_h), free(e->fw_h), free(e->loss_h);
    free(e->logits_h);
    free(e);
}

int fs_engine_dim(const fs_engine *e) { return e->d; }
int fs_engine_items_per_pass(const fs_engine *e) { return e->max_rows / longest_sample(e->task); }
const fs_ops *fs_engine_ops(const fs_engine *e) { return e->o; }
const fs_mllm *fs_engine_model(const fs_engine *e) { return e->m; }
const fs_sample *fs_engine_sample(const fs_engine *e, int i) { return &e->task->samples[i]; }

int fs_engine_cache_features(fs_engine *e) { return fs_engine_cache_features_progress(e, NULL); }

int fs_engine_cache_features_progress(fs_engine *e, fs_progress *progress)
{
    const fs_task *t = e->task;
    if (!t->n_images) return 0;
    if (!t->pixels) return fs_fail("internal: the task has no pixels to cache");
    fs_vision_acts *va = fs_vision_acts_new(e->m, IMAGE_BATCH);
    if (!va) return -1;
    size_t per_image = (size_t)e->m->n_image_tokens * e->d;
    size_t pix = (size_t)3 * t->image_size * t->image_size;
    for (int i = 0; i < t->n_images; i += IMAGE_BATCH) {
        int n = t->n_images - i < IMAGE_BATCH ? t->n_images - i : IMAGE_BATCH;
        if (fs_mllm_encode_images(e->m, va, t->pixels + i * pix, n, e->features + i * per_image)) {
            fs_vision_acts_free(e->m, va);
            return -1;
        }
        if (progress) fs_progress_count(progress, i + n);
    }
    fs_vision_acts_free(e->m, va);
    e->o->synchronize();
    return 0;
}

/* The u buffers depend on the adapter rank, known at first use. */
static int ensure_rank(fs_engine *e, int rank)
{
    if (rank <= e->rank) return 0;
    for (int u = 0; u < MAX_USES; u++)
        for (int t = 0; t < FS_TARGET_COUNT; t++) {
            if (e->u[u][t]) e->o->free(e->u[u][t]);
            e->u[u][t] = fs_alloc_or_fail(e->o, (size_t)e->max_rows * rank * sizeof(float),
                                          "use a smaller adapter.rank",
                                          "adapter activations of rank %d", rank);
            if (!e->u[u][t]) return -1;
        }
    e->rank = rank;
    return 0;
}

/* Logit bias that leaves only each item's choice letters in its softmax. */
static int restrict_to_choices(fs_engine *e, const fs_item *items, int n)
{
    int V = e->m->cfg.t_vocab;
    if (n > e->bias_rows) {
        if (e->logit_bias) e->o->free(e->logit_bias);
        e->bias_rows = 0;
        if (!(e->logit_bias = fs_alloc_or_fail(e->o, (size_t)n * V * sizeof(float), PASS_HINT,
                                               "the choice-letter logit mask of %d items", n)))
            return -1;
        e->bias_rows = n;
    }
    /* logits_h is free until the outputs are read: build the mask there. */
    for (size_t j = 0; j < (size_t)n * V; j++) e->logits_h[j] = -1e30f;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < e->task->samples[items[i].sample].n_choices; c++)
            e->logits_h[(size_t)i * V + e->task->letter_ids[c]] = 0.0f;
    e->o->to_device(e->logit_bias, e->logits_h, (size_t)n * V * sizeof(float));
    e->bb.batch.logit_bias = e->logit_bias;
    return 0;
}

/* Builds the padded batch and the frozen input embeddings of items[0..n). */
static int prepare_inputs(fs_engine *e, const fs_item *items, int n, const int *choice_targets,
                          int *T_out)
{
    const fs_task *task = e->task;
    int T = 1;
    for (int i = 0; i < n; i++)
        if (task->samples[items[i].sample].len > T) T = task->samples[items[i].sample].len;
    for (int r = 0; r < n * T; r++) e->ids_h[r] = task->pad_id;
    for (int i = 0; i < n; i++) {
        const fs_sample *s = &task->samples[items[i].sample];
        memcpy(e->ids_h + (size_t)i * T, s->ids, (size_t)s->len * sizeof(int32_t));
        e->rows_h[i] = i * T + s->len - 1;
        int answer = choice_targets ? choice_targets[i] : s->answer;
        e->tgt_h[i] = task->letter_ids[answer];
    }
    if (fs_batch_build_targets(&e->bb, e->o, e->ids_h, n, T, e->rows_h, e->tgt_h, n) ||
        (choice_targets && restrict_to_choices(e, items, n)))
        return -1;
    fs_mllm_embed_tokens(e->m, &e->bb.batch, e->embeds0);
    size_t block = (size_t)e->m->n_image_tokens * e->d;
    for (int i = 0; i < n; i++) {
        const fs_sample *s = &task->samples[items[i].sample];
        if (s->image >= 0)
            e->o->copy(e->embeds0 + ((size_t)i * T + s->image_pos) * e->d,
                       e->features + (size_t)s->image * block, block * sizeof(float));
    }
    *T_out = T;
    return 0;
}

/* Which adapter (slot) each row of target t uses; -1 for rows of the other kind and padding. */
static void fill_groups(fs_engine *e, const fs_item *items, int n, int T, fs_adapter_target t,
                        bool single)
{
    const fs_task *task = e->task;
    int ntok = e->m->n_image_tokens;
    for (int i = 0; i < n; i++) {
        const fs_sample *s = &task->samples[items[i].sample];
        for (int p = 0; p < T; p++) {
            int is_image = s->image >= 0 && p >= s->image_pos && p < s->image_pos + ntok;
            int mine = p < s->len && (t == FS_TARGET_IMAGE ? is_image : !is_image);
            e->group_h[i * T + p] = mine ? (single ? 0 : items[i].slot) : -1;
        }
    }
}

/* x = embeds0 + sum over uses of the adapters' updates. */
static void apply_adapters(fs_engine *e, const fs_item *items, int n, int T,
                           const fs_adapter_use *uses, int nuses)
{
    const fs_ops *o = e->o;
    int N = n * T, d = e->d;
    o->copy(e->x, e->embeds0, (size_t)N * d * sizeof(float));
    for (int u = 0; u < nuses; u++) {
        const fs_adapter_bank *b = uses[u].bank;
        const float *in = e->embeds0;
        if (uses[u].item_weight) {
            for (int r = 0; r < N; r++) e->scale_h[r] = uses[u].item_weight[r / T];
            o->to_device(e->row_scale, e->scale_h, (size_t)N * sizeof(float));
            o->scale_rows(e->xin[u], e->embeds0, e->row_scale, N, d);
            in = e->xin[u];
        }
        e->in_used[u] = in;
        for (int t = 0; t < FS_TARGET_COUNT; t++) {
            if (!b->shape.targets[t]) continue;
            fill_groups(e, items, n, T, t, uses[u].single);
            o->to_device(e->group[u][t], e->group_h, (size_t)N * sizeof(int32_t));
            o->lora_fwd(e->x, e->u[u][t], in, fs_bank_A(b, t), fs_bank_B(b, t), e->group[u][t], N,
                        d, d, b->shape.rank, b->shape.scale);
        }
    }
}

static void read_outputs(fs_engine *e, int n, float *loss, float *logp)
{
    const fs_ops *o = e->o;
    int V = e->m->cfg.t_vocab;
    if (loss) {
        o->to_host(e->loss_h, fs_llm_row_losses(e->acts), (size_t)n * sizeof(float));
        o->synchronize();
        memcpy(loss, e->loss_h, (size_t)n * sizeof(float));
    }
    if (!logp) return;
    o->to_host(e->logits_h, fs_llm_logits(e->acts), (size_t)n * V * sizeof(float));
    o->synchronize();
    for (int i = 0; i < n; i++) {
        const float *z = e->logits_h + (size_t)i * V;
        float mx = z[0];
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double s = 0;
        for (int v = 0; v < V; v++) s += exp((double)z[v] - mx);
        double lse = mx + log(s);
        for (int c = 0; c < FS_MAX_CHOICES; c++)
            logp[(size_t)i * FS_MAX_CHOICES + c] = (float)(z[e->task->letter_ids[c]] - lse);
    }
}

/* Largest prefix of items whose padded size fits max_rows. */
static int chunk_len(const fs_engine *e, const fs_item *items, int n)
{
    int T = 0, k = 0;
    while (k < n) {
        int len = e->task->samples[items[k].sample].len;
        int t2 = len > T ? len : T;
        if ((k + 1) * t2 > e->max_rows) break;
        T = t2;
        k++;
    }
    return k ? k : 1;
}

/* The uses of a chunk starting at item off: per-item weights shifted along. */
static void uses_from(const fs_adapter_use *uses, int nuses, int off, fs_adapter_use *out)
{
    for (int u = 0; u < nuses; u++) {
        out[u] = uses[u];
        if (uses[u].item_weight) out[u].item_weight = uses[u].item_weight + off;
    }
}

static int check_uses(fs_engine *e, const fs_adapter_use *uses, int nuses)
{
    if (nuses > MAX_USES) return fs_fail("internal: at most %d adapter banks at once", MAX_USES);
    for (int u = 0; u < nuses; u++)
        if (ensure_rank(e, uses[u].bank->shape.rank)) return -1;
    return 0;
}

/* Frozen-model passes over items, chunk by chunk, reading what is asked for
 * (each output may be NULL). */
static int forward_passes(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                          int nuses, float *loss, float *logp, float *hidden)
{
    if (check_uses(e, uses, nuses)) return -1;
    for (int off = 0; off < n;) {
        int k = chunk_len(e, items + off, n - off), T;
        fs_adapter_use chunk_uses[MAX_USES];
        uses_from(uses, nuses, off, chunk_uses);
        if (prepare_inputs(e, items + off, k, NULL, &T)) return -1;
        apply_adapters(e, items + off, k, T, chunk_uses, nuses);
        fs_llm_forward(e->m, e->acts, &e->bb.batch, e->x);
        read_outputs(e, k, loss ? loss + off : NULL, logp ? logp + (size_t)off * FS_MAX_CHOICES : NULL);
        if (hidden) {
            e->o->to_host(hidden + (size_t)off * e->d, fs_llm_target_hidden(e->acts),
                          (size_t)k * e->d * sizeof(float));
            e->o->synchronize();
        }
        off += k;
    }
    return 0;
}

int fs_engine_forward(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                      int nuses, float *loss, float *logp)
{
    return forward_passes(e, items, n, uses, nuses, loss, logp, NULL);
}

int fs_engine_last_hidden(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                          int nuses, float *hidden)
{
    return forward_passes(e, items, n, uses, nuses, NULL, NULL, hidden);
}

int fs_engine_backward(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                       int nuses, const float *item_loss_weight, const int *choice_targets,
                       fs_adapter_bank *grads, fs_adapter_bank *fisher,
                       const float *fisher_weight, float *loss)
{
    const fs_ops *o = e->o;
    if (check_uses(e, uses, nuses)) return -1;
    const fs_adapter_bank *b = uses[0].bank;
    for (int off = 0; off < n;) {
        int k = chunk_len(e, items + off, n - off), T;
        const fs_item *it = items + off;
        fs_adapter_use chunk_uses[MAX_USES];
        uses_from(uses, nuses, off, chunk_uses);
        if (prepare_inputs(e, it, k, choice_targets ? choice_targets + off : NULL, &T)) return -1;
        apply_adapters(e, it, k, T, chunk_uses, nuses);
        fs_llm_forward(e->m, e->acts, &e->bb.batch, e->x);
        if (loss) read_outputs(e, k, loss + off, NULL);
        int N = k * T, d = e->d;
        for (int i = 0; i < k; i++) e->w_h[i] = item_loss_weight[off + i];
        o->zero(e->dx, (size_t)N * d * sizeof(float));
        fs_llm_backward(e->m, e->acts, &e->bb.batch, e->dx, e->w_h);
        if (fisher) {
            /* dx rows carry w_i * (d loss_i / d x): undo w_i before squaring. */
            for (int i = 0; i < k; i++) {
                float w = item_loss_weight[off + i];
                e->fw_h[i] = w != 0 ? fisher_weight[off + i] / (w * w) : 0;
                e->slot_h[i] = uses[0].single ? 0 : it[i].slot;
            }
            o->to_device(e->fisher_w, e->fw_h, (size_t)k * sizeof(float));
            o->to_device(e->group_of_sample, e->slot_h, (size_t)k * sizeof(int32_t));
        }
        for (int t = 0; t < FS_TARGET_COUNT; t++) {
            if (!b->shape.targets[t]) continue;
            int r = b->shape.rank;
            float *gA = fs_bank_A(grads, t), *gB = fs_bank_B(grads, t);
            o->lora_bwd(NULL, gA, gB, e->dx, e->in_used[0], e->u[0][t], fs_bank_A(b, t),
                        fs_bank_B(b, t), e->group[0][t], N, d, d, r, b->shape.scale);
            if (!fisher) continue;
            fill_groups(e, it, k, T, t, uses[0].single);
            for (int row = 0; row < N; row++) e->sample_h[row] = e->group_h[row] >= 0 ? row / T : -1;
            o->to_device(e->sample_of_row, e->sample_h, (size_t)N * sizeof(int32_t));
            o->lora_fisher_accum(fs_bank_A(fisher, t), fs_bank_B(fisher, t), e->dx, e->in_used[0],
                                 e->u[0][t], fs_bank_B(b, t), e->sample_of_row, e->group_of_sample,
                                 e->fisher_w, N, k, d, d, r, b->shape.scale);
        }
        off += k;
    }
    return 0;
}
