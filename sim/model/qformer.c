/* BLIP-2's Q-Former, forward only (qformer.h). Every layer overwrites the
 * same few buffers: nothing is kept for a backward, since the Q-Former is
 * frozen and its outputs are cached per image like the vision features. */
#include "sim/model/qformer.h"

#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/model/buffer_pool.h"

struct fs_qformer_acts {
    int max_images;
    float *x;        /* hidden states of the queries [nimg * Q, qh] */
    float *q, *k, *v; /* k, v: [nimg * max(Q, S), qh] */
    float *att, *sum; /* attention output; dense(...) + residual, before its LayerNorm */
    float *ffn, *ffn_act, *mean, *rstd;
    fs_buffer_pool pool;
};

void fs_qformer_acts_free(fs_qformer_acts *a)
{
    if (!a) return;
    fs_pool_free(&a->pool);
    free(a);
}

fs_qformer_acts *fs_qformer_acts_new(const fs_mllm *m, int max_images)
{
    const fs_llava_config *c = &m->cfg;
    fs_qformer_acts *a = calloc(1, sizeof *a);
    if (!a) return fs_fail("out of memory"), NULL;
    a->pool = (fs_buffer_pool){.ops = m->ops, .what = "a Q-Former activation buffer",
                               .hint = "encode fewer images per pass or use a machine with more "
                                       "memory"};
    a->max_images = max_images;
    size_t Q = c->n_query_tokens, S = (size_t)m->n_patches + 1, qh = c->q_hidden;
    size_t rq = (size_t)max_images * Q, rkv = (size_t)max_images * (S > Q ? S : Q);
    int ok = 1;
#define T(field, n) ok = ok && (a->field = fs_pool_floats(&a->pool, (n)))
    T(x, rq * qh);
    T(q, rq * qh);
    T(k, rkv * qh);
    T(v, rkv * qh);
    T(att, rq * qh);
    T(sum, rq * qh);
    T(ffn, rq * c->q_intermediate);
    T(ffn_act, rq * c->q_intermediate);
    T(mean, rq);
    T(rstd, rq);
#undef T
    if (!ok) {
        fs_qformer_acts_free(a);
        return fs_fail_context("Q-Former activations for %d images on the %s backend",
                               max_images, m->ops->name),
               NULL;
    }
    return a;
}

/* x = LayerNorm(x + dense(attention(q(x), k(src), v(src)))): src is x itself
 * (Tk = Q) or the image tokens (Tk = S, width src_dim). */
static void attention_block(const fs_mllm *m, fs_qformer_acts *a, const fs_qformer_attn *A,
                            const float *src, int src_dim, int nimg, int Tk)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    int Q = c->n_query_tokens, qh = c->q_hidden, rq = nimg * Q, rk = nimg * Tk;
    o->linear_fwd(a->q, a->x, &A->q_w, &A->q_b, rq, qh, qh);
    o->linear_fwd(a->k, src, &A->k_w, &A->k_b, rk, src_dim, qh);
    o->linear_fwd(a->v, src, &A->v_w, &A->v_b, rk, src_dim, qh);
    o->cross_attention_fwd(a->att, a->q, a->k, a->v, nimg, Q, Tk, c->q_heads, qh / c->q_heads);
    o->linear_fwd(a->sum, a->att, &A->o_w, &A->o_b, rq, qh, qh);
    o->add(a->sum, a->sum, a->x, (long)rq * qh);
    o->layernorm_fwd(a->x, a->mean, a->rstd, a->sum, &A->ln_w, &A->ln_b, rq, qh,
                     c->q_layer_norm_eps);
}

void fs_qformer_forward(const fs_mllm *m, fs_qformer_acts *a, const float *image, int nimg,
                        float *out)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    const fs_qformer *qf = &m->qformer;
    int Q = c->n_query_tokens, qh = c->q_hidden, qi = c->q_intermediate, rq = nimg * Q;
    int S = m->n_patches + 1;
    float eps = c->q_layer_norm_eps;
    /* The queries are the same for every image: normalise them once. */
    o->layernorm_fwd(a->x, a->mean, a->rstd, qf->query_tokens.data, &qf->ln_w, &qf->ln_b, Q, qh,
                     eps);
    for (int i = 1; i < nimg; i++)
        o->copy(a->x + (size_t)i * Q * qh, a->x, (size_t)Q * qh * sizeof(float));
    for (int l = 0; l < c->q_layers; l++) {
        const fs_qformer_layer *L = &qf->layers[l];
        attention_block(m, a, &L->self, a->x, qh, nimg, Q);
        if (l % c->q_cross_freq == 0) attention_block(m, a, &L->cross, image, c->v_hidden, nimg, S);
        o->linear_fwd(a->ffn, a->x, &L->ffn_in_w, &L->ffn_in_b, rq, qh, qi);
        o->gelu_fwd(a->ffn_act, a->ffn, (long)rq * qi);
        o->linear_fwd(a->sum, a->ffn_act, &L->ffn_out_w, &L->ffn_out_b, rq, qi, qh);
        o->add(a->sum, a->sum, a->x, (long)rq * qh);
        o->layernorm_fwd(a->x, a->mean, a->rstd, a->sum, &L->ffn_ln_w, &L->ffn_ln_b, rq, qh, eps);
    }
    o->copy(out, a->x, (size_t)rq * qh * sizeof(float));
}
