/* The vision stage of `fedsim pretrain`. Trained only through the language
 * loss, the tiny tower never learned to see: its image tokens settled into a
 * large constant the LLM used as an attention sink, and pretraining reached
 * the same loss with the images shuffled against their texts
 * (docs/RESULTS.md). So, as LLaVA starts from a pretrained CLIP, the tower
 * first learns to name the colour and the shape of the object under each
 * image token of synth-iconqa-style scenes (dense supervision, one label per
 * patch), through two linear heads on the projector's output that are then
 * dropped. */
#include "sim/pretrain/vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/draw.h"
#include "datasets/synth.h"
#include "sim/io/error.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"

enum { N_COLOUR = FS_N_COLOURS + 1, N_SHAPE = FS_N_SHAPES + 1, CELLS = FS_SYNTH_GRID * FS_SYNTH_GRID,
       N_EVAL = 256 };

double fs_pretrain_lr(double base, int step, int steps)
{
    double frac = (double)step / steps, warm = steps < 1000 ? steps / 10.0 : 100;
    return base * (step < warm ? step / warm : 0.1 + 0.9 * 0.5 * (1 + cos(3.141592653589793 * frac)));
}

/* The two heads (colour, then shape; weights then bias each) share one buffer
 * laid out like their parameters, so one AdamW call updates them. */
typedef struct {
    const fs_ops *o;
    int B, th; /* images per training batch, feature width */
    float *head, *dhead, *adam_m, *adam_v; /* the heads, their gradients and AdamW state */
    float *tower_m, *tower_v;               /* AdamW state of the tower and the projector */
    fs_tensor wc, bc, ws, bs;
    float *pixels;            /* host [N_EVAL, 3, S, S] */
    int32_t *cell_c, *cell_s; /* host [N_EVAL, CELLS] */
    int32_t *lab_host;        /* host [2, rows]: colour labels, then shape labels */
    int32_t *lab;             /* backend copy */
    float *feat, *dfeat, *logits_c, *logits_s, *dlogits_c, *dlogits_s, *loss, *dloss;
    fs_vision_acts *va;
} vision_stage;

static size_t head_floats(int th) { return (size_t)(N_COLOUR + N_SHAPE) * (th + 1); }

/* Where the colour weights and bias and the shape weights and bias start in
 * the heads' buffer (and so in their gradients'). */
enum { WC, BC, WS, BS, N_HEAD_PARTS };
static void head_layout(int th, size_t at[N_HEAD_PARTS])
{
    at[WC] = 0;
    at[BC] = at[WC] + (size_t)N_COLOUR * th;
    at[WS] = at[BC] + N_COLOUR;
    at[BS] = at[WS] + (size_t)N_SHAPE * th;
}

static void stage_free(const fs_mllm *m, vision_stage *v)
{
    const fs_ops *o = v->o;
    float *dev[] = {v->head,     v->dhead,    v->adam_m,    v->adam_v,    v->tower_m,
                    v->tower_v,   v->feat,     v->dfeat,     v->logits_c,  v->logits_s,
                    v->dlogits_c, v->dlogits_s, v->loss,     v->dloss};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) o->free(dev[i]);
    o->free(v->lab);
    free(v->pixels), free(v->cell_c), free(v->cell_s), free(v->lab_host);
    fs_vision_acts_free(m, v->va);
}

static fs_tensor view(float *data, int out, int in)
{
    return (fs_tensor){.data = data, .dtype = FS_F32, .ndim = in ? 2 : 1, .shape = {out, in ? in : 0}};
}

static int stage_init(const fs_mllm *m, const fs_pretrain_config *pc, long trained, vision_stage *v)
{
    const fs_ops *o = v->o = m->ops;
    int S = m->cfg.v_image_size, B = v->B = pc->batch > N_EVAL ? N_EVAL : pc->batch;
    int th = v->th = m->cfg.t_hidden, rows = N_EVAL * m->n_image_tokens; /* the largest batch */
    size_t hf = head_floats(th), fsz = sizeof(float);
    v->head = o->alloc(hf * fsz), v->dhead = o->alloc(hf * fsz);
    v->adam_m = o->alloc(hf * fsz), v->adam_v = o->alloc(hf * fsz);
    v->tower_m = o->alloc((size_t)trained * fsz), v->tower_v = o->alloc((size_t)trained * fsz);
    v->pixels = malloc((size_t)N_EVAL * 3 * S * S * fsz);
    v->cell_c = malloc((size_t)N_EVAL * CELLS * sizeof *v->cell_c);
    v->cell_s = malloc((size_t)N_EVAL * CELLS * sizeof *v->cell_s);
    v->lab_host = malloc((size_t)2 * rows * sizeof *v->lab_host);
    v->lab = o->alloc((size_t)2 * rows * sizeof *v->lab);
    v->feat = o->alloc((size_t)rows * th * fsz), v->dfeat = o->alloc((size_t)rows * th * fsz);
    v->logits_c = o->alloc((size_t)rows * N_COLOUR * fsz), v->logits_s = o->alloc((size_t)rows * N_SHAPE * fsz);
    v->dlogits_c = o->alloc((size_t)rows * N_COLOUR * fsz), v->dlogits_s = o->alloc((size_t)rows * N_SHAPE * fsz);
    v->loss = o->alloc((size_t)rows * fsz), v->dloss = o->alloc((size_t)rows * fsz);
    v->va = fs_vision_acts_new(m, N_EVAL);
    if (!v->head || !v->dhead || !v->adam_m || !v->adam_v || !v->tower_m || !v->tower_v ||
        !v->pixels || !v->cell_c || !v->cell_s || !v->lab_host || !v->lab || !v->feat ||
        !v->dfeat || !v->logits_c || !v->logits_s || !v->dlogits_c || !v->dlogits_s || !v->loss ||
        !v->dloss || !v->va)
        return fs_fail("out of memory for the vision stage (batch %d)", B);
    /* the training loss is the mean over the tokens of a batch */
    int batch_rows = B * m->n_image_tokens;
    float *init = malloc((hf > (size_t)batch_rows ? hf : (size_t)batch_rows) * fsz);
    if (!init) return fs_fail("out of memory for the vision stage's heads");
    for (int i = 0; i < batch_rows; i++) init[i] = 1.0f / batch_rows;
    o->to_device(v->dloss, init, (size_t)batch_rows * fsz);
    fs_rng rng = fs_rng_seed(pc->seed ^ 0x766973696f6eull); /* "vision" */
    for (size_t i = 0; i < hf; i++) init[i] = 0.02f * (float)fs_rng_normal(&rng);
    size_t at[N_HEAD_PARTS];
    head_layout(th, at);
    v->wc = view(v->head + at[WC], N_COLOUR, th);
    v->bc = view(v->head + at[BC], N_COLOUR, 0);
    v->ws = view(v->head + at[WS], N_SHAPE, th);
    v->bs = view(v->head + at[BS], N_SHAPE, 0);
    memset(init + at[BC], 0, N_COLOUR * sizeof *init);
    memset(init + at[BS], 0, N_SHAPE * sizeof *init);
    o->to_device(v->head, init, hf * fsz);
    free(init);
    return 0;
}

/* Labels of the image tokens of n scenes: token t of an image lies in the
 * patch (t / P, t % P) of its P x P grid, inside scene cell (row, col) =
 * (t / P * GRID / P, t % P * GRID / P). */
static void token_labels(const fs_mllm *m, vision_stage *v, int n)
{
    int ntok = m->n_image_tokens, P = m->cfg.v_image_size / m->cfg.v_patch_size, rows = n * ntok;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < ntok; t++) {
            int cell = (t / P * FS_SYNTH_GRID / P) * FS_SYNTH_GRID + t % P * FS_SYNTH_GRID / P;
            v->lab_host[i * ntok + t] = v->cell_c[i * CELLS + cell];
            v->lab_host[rows + i * ntok + t] = v->cell_s[i * CELLS + cell];
        }
    v->o->to_device(v->lab, v->lab_host, (size_t)2 * rows * sizeof *v->lab);
}

/* Forward of n fresh scenes to the heads' logits and the mean loss per token;
 * NAN + fs_last_error() on error. */
static double forward(const fs_mllm *m, vision_stage *v, fs_rng *rng, int n)
{
    const fs_ops *o = v->o;
    int rows = n * m->n_image_tokens;
    if (fs_synth_cell_scenes(rng, n, m->cfg.v_image_size, v->pixels, v->cell_c, v->cell_s) ||
        fs_mllm_encode_images(m, v->va, v->pixels, n, v->feat))
        return NAN;
    token_labels(m, v, n);
    o->linear_fwd(v->logits_c, v->feat, &v->wc, &v->bc, rows, v->th, N_COLOUR);
    o->linear_fwd(v->logits_s, v->feat, &v->ws, &v->bs, rows, v->th, N_SHAPE);
    o->xent_fwd(v->loss, v->logits_c, v->lab, rows, N_COLOUR);
    double loss = o->sum(v->loss, rows);
    o->xent_fwd(v->loss, v->logits_s, v->lab + rows, rows, N_SHAPE);
    return (loss + o->sum(v->loss, rows)) / rows;
}

static void backward(fs_mllm *m, vision_stage *v, int n)
{
    const fs_ops *o = v->o;
    int rows = n * m->n_image_tokens, th = v->th;
    size_t fsz = sizeof(float);
    size_t at[N_HEAD_PARTS];
    head_layout(th, at);
    float *d = v->dhead;
    o->zero(v->dhead, head_floats(th) * fsz);
    o->zero(v->dlogits_c, (size_t)rows * N_COLOUR * fsz);
    o->zero(v->dlogits_s, (size_t)rows * N_SHAPE * fsz);
    o->xent_bwd(v->dlogits_c, v->dloss, v->logits_c, v->lab, rows, N_COLOUR);
    o->xent_bwd(v->dlogits_s, v->dloss, v->logits_s, v->lab + rows, rows, N_SHAPE);
    o->zero(v->dfeat, (size_t)rows * th * fsz);
    o->linear_bwd(v->dfeat, d + at[WC], d + at[BC], v->dlogits_c, v->feat, &v->wc, rows, th, N_COLOUR);
    o->linear_bwd(v->dfeat, d + at[WS], d + at[BS], v->dlogits_s, v->feat, &v->ws, rows, th, N_SHAPE);
    o->zero(m->grads, m->nparams * fsz);
    fs_mllm_encode_images_backward(m, v->va, v->dfeat, n);
}

/* Share of the object tokens (label > 0) of the last forward whose colour and
 * shape are both named right. */
static double object_accuracy(vision_stage *v, int rows)
{
    float *lc = malloc((size_t)rows * N_COLOUR * sizeof *lc), *ls = malloc((size_t)rows * N_SHAPE * sizeof *ls);
    if (!lc || !ls) {
        free(lc), free(ls);
        return NAN;
    }
    v->o->to_host(lc, v->logits_c, (size_t)rows * N_COLOUR * sizeof *lc);
    v->o->to_host(ls, v->logits_s, (size_t)rows * N_SHAPE * sizeof *ls);
    int right = 0, objects = 0;
    for (int r = 0; r < rows; r++) {
        if (v->lab_host[r] <= 0) continue;
        int bc = 0, bs = 0;
        for (int k = 1; k < N_COLOUR; k++) bc = lc[r * N_COLOUR + k] > lc[r * N_COLOUR + bc] ? k : bc;
        for (int k = 1; k < N_SHAPE; k++) bs = ls[r * N_SHAPE + k] > ls[r * N_SHAPE + bs] ? k : bs;
        objects++;
        right += bc == v->lab_host[r] && bs == v->lab_host[rows + r];
    }
    free(lc), free(ls);
    return objects ? (double)right / objects : 0;
}

int fs_pretrain_vision_stage(fs_mllm *m, const fs_pretrain_config *pc, bool quiet)
{
    vision_stage v = {.o = m->ops};
    fs_param_counts counts;
    if (fs_mllm_count_params(&m->cfg, &counts)) return -1;
    /* the tower and the projector: the prefix of the parameters (checkpoint order) */
    long trained = (long)(counts.vision + counts.projector), hf = (long)head_floats(m->cfg.t_hidden);
    int rc = -1;
    if (stage_init(m, pc, trained, &v)) goto done;
    fs_rng rng = fs_rng_seed(pc->seed ^ 0x7363656e6573ull), held = fs_rng_seed(pc->seed ^ 0x68656c64ull);
    double t0 = fs_now(), ema = 0;
    for (int step = 1; step <= pc->vision_steps; step++) {
        double loss = forward(m, &v, &rng, v.B);
        if (isnan(loss)) goto done;
        backward(m, &v, v.B);
        float lr = (float)fs_pretrain_lr(pc->vision_lr, step, pc->vision_steps);
        float wd = (float)pc->weight_decay;
        int32_t s = step;
        v.o->adamw(m->params, m->grads, v.tower_m, v.tower_v, &s, 1, trained, lr, 0.9f, 0.98f, 1e-8f, wd);
        v.o->adamw(v.head, v.dhead, v.adam_m, v.adam_v, &s, 1, hf, lr, 0.9f, 0.98f, 1e-8f, 0);
        ema = step == 1 ? loss : 0.98 * ema + 0.02 * loss;
        if (!quiet && (step % 50 == 0 || step == pc->vision_steps)) {
            double el = fs_now() - t0;
            fprintf(stderr, "\rvision step %5d/%d  loss %.4f  %6.1fs  ETA %6.1fs  ", step,
                    pc->vision_steps, ema, el, el / step * (pc->vision_steps - step));
        }
    }
    fs_rng eval = held;
    if (isnan(forward(m, &v, &eval, N_EVAL))) goto done;
    double acc = object_accuracy(&v, N_EVAL * m->n_image_tokens);
    if (!quiet)
        fprintf(stderr, "\n  vision stage: colour and shape named right for %.1f%% of the objects "
                        "of %d held-out scenes\n", 100 * acc, N_EVAL);
    rc = isnan(acc) ? fs_fail("out of memory while scoring the vision stage") : 0;
done:
    stage_free(m, &v);
    return rc;
}
