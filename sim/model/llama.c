/* LLaMA decoder: forward from input embeddings to the logits of chosen rows
 * and the mean cross-entropy, and the backward to the input embeddings (plus
 * weight gradients when the model has them enabled). */
#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/model/buffer_pool.h"
#include "sim/model/mllm.h"

/* Every layer keeps its activations of all rows of a pass for the backward. */
#define ACTS_HINT "activations grow with the rows per pass and the model's layers, hidden " \
                  "size and vocabulary; use a smaller batch or model, or a machine with more memory"

typedef struct {
    float *x_in, *h1, *rstd1, *q, *k, *v, *att, *lse, *x_mid, *h2, *rstd2, *g, *u, *a;
} llama_layer_acts;

struct fs_llm_acts {
    int max_rows, max_targets;
    llama_layer_acts *layers;
    float *x_out, *rstd_f, *h_f; /* last layer output, final norm */
    float *h_sel, *logits, *loss_rows, *dloss_rows_host, *dloss_rows;
    /* backward scratch */
    float *dx, *dx2, *dh, *dq, *dk, *dv, *dq_pre, *dk_pre, *datt, *dg, *du, *da, *dh_f, *dh_sel,
        *dlogits;
    fs_buffer_pool pool;
};

void fs_llm_acts_free(const fs_mllm *m, fs_llm_acts *a)
{
    if (!a) return;
    (void)m;
    fs_pool_free(&a->pool);
    free(a->layers);
    free(a->dloss_rows_host);
    free(a);
}

fs_llm_acts *fs_llm_acts_new(const fs_mllm *m, int max_rows, int max_targets)
{
    const fs_llava_config *c = &m->cfg;
    fs_llm_acts *a = calloc(1, sizeof *a);
    if (!a) return fs_fail("out of memory"), NULL;
    a->pool = (fs_buffer_pool){.ops = m->ops, .what = "an activation buffer", .hint = ACTS_HINT};
    a->max_rows = max_rows;
    a->max_targets = max_targets;
    size_t N = max_rows, M = max_targets, d = c->t_hidden, I = c->t_intermediate;
    size_t qd = (size_t)c->t_heads * c->t_head_dim, kd = (size_t)c->t_kv_heads * c->t_head_dim;
    size_t V = c->t_vocab;
    a->layers = fs_alloc_or_fail(NULL, ((size_t)c->t_layers + 1) * sizeof *a->layers, NULL,
                                 "the LLM's layer table");
    a->dloss_rows_host = a->layers ? fs_alloc_or_fail(NULL, (M ? M : 1) * sizeof(float), NULL,
                                                      "the LLM's loss rows")
                                   : NULL;
    int ok = a->layers && a->dloss_rows_host;
#define T(field, n) ok = ok && (a->field = fs_pool_floats(&a->pool, (n)))
    for (int l = 0; l < c->t_layers; l++) {
        T(layers[l].x_in, N * d);
        T(layers[l].h1, N * d);
        T(layers[l].rstd1, N);
        T(layers[l].q, N * qd);
        T(layers[l].k, N * kd);
        T(layers[l].v, N * kd);
        T(layers[l].att, N * qd);
        T(layers[l].lse, N * c->t_heads);
        T(layers[l].x_mid, N * d);
        T(layers[l].h2, N * d);
        T(layers[l].rstd2, N);
        T(layers[l].g, N * I);
        T(layers[l].u, N * I);
        T(layers[l].a, N * I);
    }
    T(x_out, N * d);
    T(rstd_f, N);
    T(h_f, N * d);
    T(h_sel, M * d);
    T(logits, M * V);
    T(loss_rows, M);
    T(dloss_rows, M);
    T(dx, N * d);
    T(dx2, N * d);
    T(dh, N * d);
    T(dq, N * qd);
    T(dk, N * kd);
    T(dv, N * kd);
    T(dq_pre, N * qd);
    T(dk_pre, N * kd);
    T(datt, N * qd);
    T(dg, N * I);
    T(du, N * I);
    T(da, N * I);
    T(dh_f, N * d);
    T(dh_sel, M * d);
    T(dlogits, M * V);
#undef T
    if (!ok) {
        fs_llm_acts_free(m, a);
        return fs_fail_context("LLM activations for %d rows on the %s backend", max_rows,
                               m->ops->name),
               NULL;
    }
    return a;
}

const float *fs_llm_logits(const fs_llm_acts *a) { return a->logits; }
const float *fs_llm_row_losses(const fs_llm_acts *a) { return a->loss_rows; }
const float *fs_llm_target_hidden(const fs_llm_acts *a) { return a->h_sel; }

void fs_mllm_embed_tokens(const fs_mllm *m, const fs_llm_batch *b, float *embeds)
{
    m->ops->embedding_fwd(embeds, b->ids, &m->llm.embed, b->B * b->T, m->cfg.t_hidden);
}

void fs_mllm_splice_images(const fs_mllm *m, float *embeds, const float *features, int nimg,
                           const int *start_rows)
{
    size_t block = (size_t)m->n_image_tokens * m->cfg.t_hidden;
    for (int i = 0; i < nimg; i++)
        m->ops->copy(embeds + (size_t)start_rows[i] * m->cfg.t_hidden, features + i * block,
                     block * sizeof(float));
}

void fs_mllm_gather_image_grads(const fs_mllm *m, float *dfeatures, const float *dembeds,
                                int nimg, const int *start_rows)
{
    size_t block = (size_t)m->n_image_tokens * m->cfg.t_hidden;
    for (int i = 0; i < nimg; i++)
        m->ops->copy(dfeatures + i * block, dembeds + (size_t)start_rows[i] * m->cfg.t_hidden,
                     block * sizeof(float));
}

/* A view of an activation buffer as an F32 table, so embedding_fwd/bwd gather
 * and scatter-add rows. */
static fs_tensor rows_view(float *data, int rows, int dim)
{
    fs_tensor t = {.data = data, .dtype = FS_F32, .ndim = 2, .shape = {rows, dim}};
    return t;
}

double fs_llm_forward(const fs_mllm *m, fs_llm_acts *a, const fs_llm_batch *b,
                      const float *embeds)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    int N = b->B * b->T, d = c->t_hidden, I = c->t_intermediate, hd = c->t_head_dim;
    int Hq = c->t_heads, Hkv = c->t_kv_heads, qd = Hq * hd, kd = Hkv * hd, V = c->t_vocab;
    float eps = c->t_rms_eps, theta = c->t_rope_theta;
    if (N > a->max_rows || b->n_targets > a->max_targets) {
        fs_fail("internal: batch of %d rows / %d targets exceeds activations sized for %d / %d", N,
                b->n_targets, a->max_rows, a->max_targets);
        return -1.0;
    }
    const float *x = embeds;
    for (int l = 0; l < c->t_layers; l++) {
        const fs_llama_layer *L = &m->llm.layers[l];
        llama_layer_acts *A = &a->layers[l];
        float *out = l + 1 < c->t_layers ? a->layers[l + 1].x_in : a->x_out;
        o->copy(A->x_in, x, (size_t)N * d * sizeof(float));
        o->rmsnorm_fwd(A->h1, A->rstd1, A->x_in, &L->in_norm_w, N, d, eps);
        o->linear_fwd(A->q, A->h1, &L->q_w, NULL, N, d, qd);
        o->linear_fwd(A->k, A->h1, &L->k_w, NULL, N, d, kd);
        o->linear_fwd(A->v, A->h1, &L->v_w, NULL, N, d, kd);
        o->rope_fwd(A->q, A->q, b->positions, N, Hq, hd, theta);
        o->rope_fwd(A->k, A->k, b->positions, N, Hkv, hd, theta);
        o->attention_fwd(A->att, A->lse, A->q, A->k, A->v, b->B, b->T, Hq, Hkv, hd, true);
        o->linear_fwd(A->x_mid, A->att, &L->o_w, NULL, N, qd, d);
        o->add(A->x_mid, A->x_mid, A->x_in, (long)N * d);
        o->rmsnorm_fwd(A->h2, A->rstd2, A->x_mid, &L->post_norm_w, N, d, eps);
        o->linear_fwd(A->g, A->h2, &L->gate_w, NULL, N, d, I);
        o->linear_fwd(A->u, A->h2, &L->up_w, NULL, N, d, I);
        o->swiglu_fwd(A->a, A->g, A->u, (long)N * I);
        o->linear_fwd(out, A->a, &L->down_w, NULL, N, I, d);
        o->add(out, out, A->x_mid, (long)N * d);
        x = out;
    }
    if (c->t_layers == 0) o->copy(a->x_out, embeds, (size_t)N * d * sizeof(float));
    o->rmsnorm_fwd(a->h_f, a->rstd_f, a->x_out, &m->llm.norm_w, N, d, eps);
    /* Logits only where they are needed: the LM head is the largest matmul. */
    int M = b->n_targets;
    fs_tensor hf = rows_view(a->h_f, N, d);
    o->embedding_fwd(a->h_sel, b->target_rows, &hf, M, d);
    o->linear_fwd(a->logits, a->h_sel, &m->llm.lm_head, NULL, M, d, V);
    if (b->logit_bias) o->add(a->logits, a->logits, b->logit_bias, (long)M * V);
    if (!b->n_valid_targets) return 0.0;
    o->xent_fwd(a->loss_rows, a->logits, b->target_ids, M, V);
    return o->sum(a->loss_rows, M) / b->n_valid_targets;
}

#define G(t) fs_mllm_grad_of(m, &(t))

void fs_llm_backward(const fs_mllm *m, fs_llm_acts *a, const fs_llm_batch *b, float *dembeds,
                     const float *target_weights)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    int N = b->B * b->T, d = c->t_hidden, I = c->t_intermediate, hd = c->t_head_dim;
    int Hq = c->t_heads, Hkv = c->t_kv_heads, qd = Hq * hd, kd = Hkv * hd, V = c->t_vocab;
    float theta = c->t_rope_theta;
    int M = b->n_targets;
    size_t fsz = sizeof(float);
    if (!b->n_valid_targets) return;

    for (int i = 0; i < M; i++)
        a->dloss_rows_host[i] = target_weights ? target_weights[i] : 1.0f / b->n_valid_targets;
    o->to_device(a->dloss_rows, a->dloss_rows_host, (size_t)M * fsz);
    o->zero(a->dlogits, (size_t)M * V * fsz);
    o->xent_bwd(a->dlogits, a->dloss_rows, a->logits, b->target_ids, M, V);
    o->zero(a->dh_sel, (size_t)M * d * fsz);
    o->linear_bwd(a->dh_sel, G(m->llm.lm_head), NULL, a->dlogits, a->h_sel, &m->llm.lm_head, M, d,
                  V);
    o->zero(a->dh_f, (size_t)N * d * fsz);
    o->embedding_bwd(a->dh_f, a->dh_sel, b->target_rows, M, d, N);
    float *dx = a->dx, *dxm = a->dx2;
    o->zero(dx, (size_t)N * d * fsz);
    o->rmsnorm_bwd(dx, G(m->llm.norm_w), a->dh_f, a->x_out, &m->llm.norm_w, a->rstd_f, N, d);
    for (int l = c->t_layers - 1; l >= 0; l--) {
        const fs_llama_layer *L = &m->llm.layers[l];
        llama_layer_acts *A = &a->layers[l];
        /* MLP block: out = x_mid + down(silu(gate(h2)) * up(h2)), h2 = rms(x_mid) */
        o->copy(dxm, dx, (size_t)N * d * fsz);
        o->zero(a->da, (size_t)N * I * fsz);
        o->linear_bwd(a->da, G(L->down_w), NULL, dx, A->a, &L->down_w, N, I, d);
        o->zero(a->dg, (size_t)N * I * fsz);
        o->zero(a->du, (size_t)N * I * fsz);
        o->swiglu_bwd(a->dg, a->du, a->da, A->g, A->u, (long)N * I);
        o->zero(a->dh, (size_t)N * d * fsz);
        o->linear_bwd(a->dh, G(L->gate_w), NULL, a->dg, A->h2, &L->gate_w, N, d, I);
        o->linear_bwd(a->dh, G(L->up_w), NULL, a->du, A->h2, &L->up_w, N, d, I);
        o->rmsnorm_bwd(dxm, G(L->post_norm_w), a->dh, A->x_mid, &L->post_norm_w, A->rstd2, N, d);
        /* attention block: x_mid = x_in + o(attn(rope(q(h1)), rope(k(h1)), v(h1))) */
        o->copy(dx, dxm, (size_t)N * d * fsz);
        o->zero(a->datt, (size_t)N * qd * fsz);
        o->linear_bwd(a->datt, G(L->o_w), NULL, dxm, A->att, &L->o_w, N, qd, d);
        o->zero(a->dq, (size_t)N * qd * fsz);
        o->zero(a->dk, (size_t)N * kd * fsz);
        o->zero(a->dv, (size_t)N * kd * fsz);
        o->attention_bwd(a->dq, a->dk, a->dv, a->datt, A->q, A->k, A->v, A->att, A->lse, b->B,
                         b->T, Hq, Hkv, hd, true);
        o->zero(a->dq_pre, (size_t)N * qd * fsz);
        o->zero(a->dk_pre, (size_t)N * kd * fsz);
        o->rope_bwd(a->dq_pre, a->dq, b->positions, N, Hq, hd, theta);
        o->rope_bwd(a->dk_pre, a->dk, b->positions, N, Hkv, hd, theta);
        o->zero(a->dh, (size_t)N * d * fsz);
        o->linear_bwd(a->dh, G(L->q_w), NULL, a->dq_pre, A->h1, &L->q_w, N, d, qd);
        o->linear_bwd(a->dh, G(L->k_w), NULL, a->dk_pre, A->h1, &L->k_w, N, d, kd);
        o->linear_bwd(a->dh, G(L->v_w), NULL, a->dv, A->h1, &L->v_w, N, d, kd);
        o->rmsnorm_bwd(dx, G(L->in_norm_w), a->dh, A->x_in, &L->in_norm_w, A->rstd1, N, d);
    }
    if (dembeds) o->axpy(dembeds, 1.0f, dx, (long)N * d);
    /* Token embedding gradients (pretraining). Image rows hold image_token_index,
     * whose embedding is replaced by image features, so its row gets no gradient
     * (as with Hugging Face's masked_scatter). */
    float *dembed_table = G(m->llm.embed);
    if (dembed_table) {
        o->embedding_bwd(dembed_table, dx, b->ids, N, d, V);
        if (c->image_token_index >= 0 && c->image_token_index < V)
            o->zero(dembed_table + (size_t)c->image_token_index * d, (size_t)d * fsz);
    }
}
