/* CLIP ViT vision tower + LLaVA projector (linear-GELU-linear, or one linear
 * layer in the MiniGPT-4-style preset): forward, and the full backward
 * (weight gradients) used by pretraining. The federated path never
 * backpropagates here: image features are frozen and cached.
 * The same tower computes BLIP-2's EVA ViT (cfg.blip2: patch bias, no
 * pre-norm, exact GELU, fused qkv seen as three views), whose post_layernorm'd
 * tokens then go through the Q-Former (qformer.c) and language_projection;
 * forward only. */
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/model/buffer_pool.h"
#include "sim/model/mllm.h"
#include "sim/model/qformer.h"

typedef struct {
    float *x_in; /* layer input [R, vh] */
    float *h1, *mean1, *rstd1, *q, *k, *v, *att, *lse, *x_mid, *h2, *mean2, *rstd2, *f1, *f1a;
} vit_layer_acts;

struct fs_vision_acts {
    int max_images;
    float *patches_host; /* im2col of the pixels, [nimg*np, C*P*P] */
    float *patches, *patch_out, *emb, *emb_mean, *emb_rstd;
    vit_layer_acts *layers; /* vit_layers_used entries */
    float *x_out;           /* output of the last used layer = hidden_states[feature_layer] */
    float *sel, *p1, *p1a;  /* selected tokens, projector hidden pre/post GELU */
    float *post, *post_mean, *post_rstd, *q_out; /* BLIP-2: post_layernorm'd tokens, Q-Former out */
    fs_qformer_acts *qformer;                    /* BLIP-2 */
    /* backward scratch */
    float *dx, *dx2, *dh, *dq, *dk, *dv, *datt, *dff, *dffa, *dsel, *dp1, *dp1a, *dpatch;
    fs_buffer_pool pool;
};

void fs_vision_acts_free(const fs_mllm *m, fs_vision_acts *a)
{
    if (!a) return;
    (void)m;
    fs_qformer_acts_free(a->qformer);
    fs_pool_free(&a->pool);
    free(a->layers);
    free(a->patches_host);
    free(a);
}

fs_vision_acts *fs_vision_acts_new(const fs_mllm *m, int max_images)
{
    const fs_llava_config *c = &m->cfg;
    fs_vision_acts *a = calloc(1, sizeof *a);
    if (!a) return fs_fail("out of memory"), NULL;
    a->pool = (fs_buffer_pool){.ops = m->ops, .what = "an activation buffer",
                               .hint = "activations grow with the images per pass and the "
                                       "vision tower's size; use a smaller model or a machine "
                                       "with more memory"};
    a->max_images = max_images;
    size_t np = (size_t)max_images * m->n_patches, S = m->n_patches + 1;
    size_t R = (size_t)max_images * S, vh = c->v_hidden, vi = c->v_intermediate;
    size_t pdim = (size_t)c->v_channels * c->v_patch_size * c->v_patch_size;
    size_t ntok = (size_t)max_images * m->n_image_tokens, th = c->t_hidden;
    size_t heads = c->v_heads;
    int L = m->vit_layers_used;
    a->layers = fs_alloc_or_fail(NULL, ((size_t)L + 1) * sizeof *a->layers, NULL,
                                 "the vision tower's layer table");
    a->patches_host = a->layers ? fs_alloc_or_fail(NULL, np * pdim * sizeof(float), NULL,
                                                   "the image patches of a pass")
                                : NULL;
    int ok = a->layers && a->patches_host;
#define T(field, n) ok = ok && (a->field = fs_pool_floats(&a->pool, (n)))
    T(patches, np * pdim);
    T(patch_out, np * vh);
    T(emb, R * vh);
    T(emb_mean, R);
    T(emb_rstd, R);
    /* BLIP-2's tower runs forward only, so one set of layer buffers serves
     * every layer (a layer writes its output over its input once the
     * residual holds it) and no backward scratch is needed: 39 EVA layers
     * on 32 images would otherwise keep 30 GB. */
    int own = c->blip2 && L > 1 ? 1 : L;
    for (int l = 0; l < own; l++) {
        T(layers[l].x_in, R * vh);
        T(layers[l].h1, R * vh);
        T(layers[l].mean1, R);
        T(layers[l].rstd1, R);
        T(layers[l].q, R * vh);
        T(layers[l].k, R * vh);
        T(layers[l].v, R * vh);
        T(layers[l].att, R * vh);
        T(layers[l].lse, R * heads);
        T(layers[l].x_mid, R * vh);
        T(layers[l].h2, R * vh);
        T(layers[l].mean2, R);
        T(layers[l].rstd2, R);
        T(layers[l].f1, R * vi);
        T(layers[l].f1a, R * vi);
    }
    for (int l = own; l < L && ok; l++) a->layers[l] = a->layers[0];
    T(x_out, R * vh);
    if (c->blip2) {
        T(post, R * vh);
        T(post_mean, R);
        T(post_rstd, R);
        T(q_out, ntok * c->q_hidden);
        ok = ok && (a->qformer = fs_qformer_acts_new(m, max_images));
    } else { /* the projector's buffers and the backward scratch (pretraining) */
        T(sel, ntok * vh);
        T(p1, ntok * th);
        T(p1a, ntok * th);
        T(dx, R * vh);
        T(dx2, R * vh);
        T(dh, R * vh);
        T(dq, R * vh);
        T(dk, R * vh);
        T(dv, R * vh);
        T(datt, R * vh);
        T(dff, R * vi);
        T(dffa, R * vi);
        T(dsel, ntok * vh);
        T(dp1, ntok * th);
        T(dp1a, ntok * th);
        T(dpatch, np * vh);
    }
#undef T
    if (!ok) {
        fs_vision_acts_free(m, a);
        return fs_fail_context("vision activations for %d images on the %s backend",
                               max_images, m->ops->name),
               NULL;
    }
    return a;
}

/* Conv2d with stride = kernel = patch is a matmul over flattened patches
 * ordered (channel, ky, kx) like the conv weight. */
static void im2col(const fs_mllm *m, const float *pixels, int nimg, float *out)
{
    const fs_llava_config *c = &m->cfg;
    int P = c->v_patch_size, S = c->v_image_size, grid = S / P, C = c->v_channels;
    size_t pdim = (size_t)C * P * P;
    for (int i = 0; i < nimg; i++)
        for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++) {
                float *dst = out + ((size_t)i * grid * grid + (size_t)gy * grid + gx) * pdim;
                for (int ch = 0; ch < C; ch++)
                    for (int ky = 0; ky < P; ky++)
                        memcpy(dst + ((size_t)ch * P + ky) * P,
                               pixels + (((size_t)i * C + ch) * S + (size_t)gy * P + ky) * S +
                                   (size_t)gx * P,
                               (size_t)P * sizeof(float));
            }
}

static fs_tensor as_matrix(const fs_tensor *t)
{
    fs_tensor v = *t;
    v.ndim = 2;
    v.shape[1] = fs_tensor_numel(t) / t->shape[0];
    v.shape[2] = v.shape[3] = 0;
    return v;
}

static const fs_tensor *opt(const fs_tensor *t) { return t->data ? t : NULL; }

int fs_mllm_encode_images(const fs_mllm *m, fs_vision_acts *a, const float *pixels, int nimg,
                          float *features)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    if (nimg > a->max_images)
        return fs_fail("internal: %d images exceed the %d the activations were sized for", nimg,
                       a->max_images);
    int np = m->n_patches, S = np + 1, vh = c->v_hidden, vi = c->v_intermediate;
    int R = nimg * S, heads = c->v_heads, hd = vh / heads, th = c->t_hidden;
    int pdim = c->v_channels * c->v_patch_size * c->v_patch_size;
    float eps = c->v_layer_norm_eps;
    const fs_vit *v = &m->vit;

    im2col(m, pixels, nimg, a->patches_host);
    o->to_device(a->patches, a->patches_host, (size_t)nimg * np * pdim * sizeof(float));
    fs_tensor patch_w = as_matrix(&v->patch_w);
    o->linear_fwd(a->patch_out, a->patches, &patch_w, opt(&v->patch_b), nimg * np, pdim, vh);
    for (int i = 0; i < nimg; i++) {
        float *e = a->emb + (size_t)i * S * vh;
        o->copy(e, v->class_emb.data, (size_t)vh * sizeof(float));
        o->copy(e + vh, a->patch_out + (size_t)i * np * vh, (size_t)np * vh * sizeof(float));
        o->add(e, e, v->pos_emb.data, (long)S * vh);
    }
    float *x = m->vit_layers_used ? a->layers[0].x_in : a->x_out;
    if (c->blip2) /* EVA has no norm before the first layer */
        o->copy(x, a->emb, (size_t)R * vh * sizeof(float));
    else
        o->layernorm_fwd(x, a->emb_mean, a->emb_rstd, a->emb, &v->pre_ln_w, &v->pre_ln_b, R, vh,
                         eps);
    for (int l = 0; l < m->vit_layers_used; l++) {
        const fs_vit_layer *L = &v->layers[l];
        vit_layer_acts *A = &a->layers[l];
        float *out = l + 1 < m->vit_layers_used ? a->layers[l + 1].x_in : a->x_out;
        o->layernorm_fwd(A->h1, A->mean1, A->rstd1, A->x_in, &L->ln1_w, &L->ln1_b, R, vh, eps);
        o->linear_fwd(A->q, A->h1, &L->q_w, opt(&L->q_b), R, vh, vh);
        o->linear_fwd(A->k, A->h1, &L->k_w, opt(&L->k_b), R, vh, vh);
        o->linear_fwd(A->v, A->h1, &L->v_w, opt(&L->v_b), R, vh, vh);
        o->attention_fwd(A->att, A->lse, A->q, A->k, A->v, nimg, S, heads, heads, hd, false);
        o->linear_fwd(A->x_mid, A->att, &L->o_w, &L->o_b, R, vh, vh);
        o->add(A->x_mid, A->x_mid, A->x_in, (long)R * vh);
        o->layernorm_fwd(A->h2, A->mean2, A->rstd2, A->x_mid, &L->ln2_w, &L->ln2_b, R, vh, eps);
        o->linear_fwd(A->f1, A->h2, &L->fc1_w, &L->fc1_b, R, vh, vi);
        if (c->blip2) o->gelu_fwd(A->f1a, A->f1, (long)R * vi);
        else o->quick_gelu_fwd(A->f1a, A->f1, (long)R * vi);
        o->linear_fwd(out, A->f1a, &L->fc2_w, &L->fc2_b, R, vi, vh);
        o->add(out, out, A->x_mid, (long)R * vh);
    }
    if (c->blip2) {
        /* Every token (CLS included), post_layernorm'd, is what the Q-Former reads. */
        o->layernorm_fwd(a->post, a->post_mean, a->post_rstd, a->x_out, &v->post_ln_w,
                         &v->post_ln_b, R, vh, eps);
        fs_qformer_forward(m, a->qformer, a->post, nimg, a->q_out);
        o->linear_fwd(features, a->q_out, &m->proj.l1_w, &m->proj.l1_b,
                      nimg * m->n_image_tokens, c->q_hidden, th);
        return 0;
    }
    /* "default" drops the CLS token, "full" keeps it. */
    int skip = c->v_select_full ? 0 : 1, ntok = m->n_image_tokens;
    for (int i = 0; i < nimg; i++)
        o->copy(a->sel + (size_t)i * ntok * vh, a->x_out + ((size_t)i * S + skip) * vh,
                (size_t)ntok * vh * sizeof(float));
    int rows = nimg * ntok;
    const fs_projector *p = &m->proj;
    if (c->projector_linear) {
        o->linear_fwd(features, a->sel, &p->l1_w, opt(&p->l1_b), rows, vh, th);
        return 0;
    }
    o->linear_fwd(a->p1, a->sel, &p->l1_w, opt(&p->l1_b), rows, vh, th);
    o->gelu_fwd(a->p1a, a->p1, (long)rows * th);
    o->linear_fwd(features, a->p1a, &p->l2_w, opt(&p->l2_b), rows, th, th);
    return 0;
}

#define G(t) fs_mllm_grad_of(m, &(t))

/* Leaves d(selected tower features) in a->dsel. */
void fs_mllm_projector_backward(const fs_mllm *m, fs_vision_acts *a, const float *dfeatures,
                                int nimg)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    int vh = c->v_hidden, th = c->t_hidden, rows = nimg * m->n_image_tokens;
    const fs_projector *p = &m->proj;
    size_t fsz = sizeof(float);
    const float *dproj = dfeatures; /* d(output of linear_1) */
    if (!c->projector_linear) {
        o->zero(a->dp1a, (size_t)rows * th * fsz);
        o->linear_bwd(a->dp1a, G(p->l2_w), G(p->l2_b), dfeatures, a->p1a, &p->l2_w, rows, th, th);
        o->zero(a->dp1, (size_t)rows * th * fsz);
        o->gelu_bwd(a->dp1, a->dp1a, a->p1, (long)rows * th);
        dproj = a->dp1;
    }
    o->zero(a->dsel, (size_t)rows * vh * fsz);
    o->linear_bwd(a->dsel, G(p->l1_w), G(p->l1_b), dproj, a->sel, &p->l1_w, rows, vh, th);
}

void fs_mllm_encode_images_backward(const fs_mllm *m, fs_vision_acts *a, const float *dfeatures,
                                    int nimg)
{
    const fs_ops *o = m->ops;
    const fs_llava_config *c = &m->cfg;
    int np = m->n_patches, S = np + 1, vh = c->v_hidden, vi = c->v_intermediate;
    int R = nimg * S, heads = c->v_heads, hd = vh / heads;
    int pdim = c->v_channels * c->v_patch_size * c->v_patch_size, ntok = m->n_image_tokens;
    const fs_vit *v = &m->vit;
    size_t fsz = sizeof(float);
    fs_mllm_projector_backward(m, a, dfeatures, nimg);
    float *dx = a->dx, *dxm = a->dx2;
    o->zero(dx, (size_t)R * vh * fsz);
    int skip = c->v_select_full ? 0 : 1;
    for (int i = 0; i < nimg; i++)
        o->copy(dx + ((size_t)i * S + skip) * vh, a->dsel + (size_t)i * ntok * vh,
                (size_t)ntok * vh * fsz);
    for (int l = m->vit_layers_used - 1; l >= 0; l--) {
        const fs_vit_layer *L = &v->layers[l];
        vit_layer_acts *A = &a->layers[l];
        /* MLP block: out = x_mid + fc2(qgelu(fc1(ln2(x_mid)))) */
        o->copy(dxm, dx, (size_t)R * vh * fsz);
        o->zero(a->dffa, (size_t)R * vi * fsz);
        o->linear_bwd(a->dffa, G(L->fc2_w), G(L->fc2_b), dx, A->f1a, &L->fc2_w, R, vi, vh);
        o->zero(a->dff, (size_t)R * vi * fsz);
        o->quick_gelu_bwd(a->dff, a->dffa, A->f1, (long)R * vi);
        o->zero(a->dh, (size_t)R * vh * fsz);
        o->linear_bwd(a->dh, G(L->fc1_w), G(L->fc1_b), a->dff, A->h2, &L->fc1_w, R, vh, vi);
        o->layernorm_bwd(dxm, G(L->ln2_w), G(L->ln2_b), a->dh, A->x_mid, &L->ln2_w, A->mean2,
                         A->rstd2, R, vh);
        /* attention block: x_mid = x_in + o(attn(ln1(x_in))) */
        o->copy(dx, dxm, (size_t)R * vh * fsz);
        o->zero(a->datt, (size_t)R * vh * fsz);
        o->linear_bwd(a->datt, G(L->o_w), G(L->o_b), dxm, A->att, &L->o_w, R, vh, vh);
        o->zero(a->dq, (size_t)R * vh * fsz);
        o->zero(a->dk, (size_t)R * vh * fsz);
        o->zero(a->dv, (size_t)R * vh * fsz);
        o->attention_bwd(a->dq, a->dk, a->dv, a->datt, A->q, A->k, A->v, A->att, A->lse, nimg, S,
                         heads, heads, hd, false);
        o->zero(a->dh, (size_t)R * vh * fsz);
        o->linear_bwd(a->dh, G(L->q_w), G(L->q_b), a->dq, A->h1, &L->q_w, R, vh, vh);
        o->linear_bwd(a->dh, G(L->k_w), G(L->k_b), a->dk, A->h1, &L->k_w, R, vh, vh);
        o->linear_bwd(a->dh, G(L->v_w), G(L->v_b), a->dv, A->h1, &L->v_w, R, vh, vh);
        o->layernorm_bwd(dx, G(L->ln1_w), G(L->ln1_b), a->dh, A->x_in, &L->ln1_w, A->mean1,
                         A->rstd1, R, vh);
    }
    /* dx is now d(pre-layernormed embeddings). */
    o->zero(dxm, (size_t)R * vh * fsz);
    o->layernorm_bwd(dxm, G(v->pre_ln_w), G(v->pre_ln_b), dx, a->emb, &v->pre_ln_w, a->emb_mean,
                     a->emb_rstd, R, vh);
    float *dpos = G(v->pos_emb), *dcls = G(v->class_emb);
    for (int i = 0; i < nimg; i++) {
        const float *de = dxm + (size_t)i * S * vh;
        o->axpy(dpos, 1.0f, de, (long)S * vh);
        o->axpy(dcls, 1.0f, de, vh);
        o->copy(a->dpatch + (size_t)i * np * vh, de + vh, (size_t)np * vh * fsz);
    }
    fs_tensor patch_w = as_matrix(&v->patch_w);
    o->linear_bwd(NULL, G(v->patch_w), NULL, a->dpatch, a->patches, &patch_w, nimg * np, pdim, vh);
}
