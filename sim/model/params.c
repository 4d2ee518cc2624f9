/* Parameter layout of the LLaVA model: the list of HF-named tensors, their
 * shapes, and the single arena that holds them; saving, random init
 * (loading a checkpoint is hf_load.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/io/error.h"
#include "sim/io/rng.h"
#include "sim/model/mllm.h"
#include "sim/model/params_internal.h"
#include "sim/model/safetensors.h"

typedef struct {
    fs_param_ref *items;
    int n, cap;
} param_list;

static void set_shape(fs_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t d[4] = {d0, d1, d2, d3};
    t->dtype = FS_F32;
    t->ndim = ndim;
    for (int i = 0; i < FS_MAX_DIMS; i++) t->shape[i] = i < ndim ? d[i] : 0;
}

static void add(param_list *l, fs_tensor *slot, const char *part, const char *fmt, int layer)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
        if (!l->items) fs_op_oom(NULL, (size_t)l->cap * sizeof *l->items, "the parameter list");
    }
    fs_param_ref *p = &l->items[l->n++];
    snprintf(p->name, sizeof p->name, fmt, layer);
    p->slot = slot;
    p->part = part;
}

/* Adds one parameter named printf(prefix suffix, layer) with its shape. */
static void add_shaped(param_list *l, fs_tensor *slot, const char *part, const char *prefix,
                       const char *suffix, int layer, int ndim, int64_t d0, int64_t d1,
                       int64_t d2, int64_t d3)
{
    char f[200];
    set_shape(slot, ndim, d0, d1, d2, d3);
    snprintf(f, sizeof f, "%s%s", prefix, suffix);
    add(l, slot, part, f, layer);
}

/* CLIP vision tower (HF CLIPVisionModel names under vision_tower.vision_model.). */
static void layout_clip(fs_mllm *m, param_list *l)
{
    const fs_llava_config *c = &m->cfg;
    int vh = c->v_hidden, vi = c->v_intermediate, P = c->v_patch_size, i = 0;
    const char *vp = "vision_tower.vision_model.";
#define V(slot, suffix, nd, a, b, cc, d) add_shaped(l, slot, "vision", vp, suffix, i, nd, a, b, cc, d)
    fs_vit *v = &m->vit;
    V(&v->patch_w, "embeddings.patch_embedding.weight", 4, vh, c->v_channels, P, P);
    V(&v->class_emb, "embeddings.class_embedding", 1, vh, 0, 0, 0);
    V(&v->pos_emb, "embeddings.position_embedding.weight", 2, m->n_patches + 1, vh, 0, 0);
    V(&v->pre_ln_w, "pre_layrnorm.weight", 1, vh, 0, 0, 0);
    V(&v->pre_ln_b, "pre_layrnorm.bias", 1, vh, 0, 0, 0);
    for (i = 0; i < c->v_layers; i++) {
        fs_vit_layer *L = &v->layers[i];
        V(&L->q_w, "encoder.layers.%d.self_attn.q_proj.weight", 2, vh, vh, 0, 0);
        V(&L->q_b, "encoder.layers.%d.self_attn.q_proj.bias", 1, vh, 0, 0, 0);
        V(&L->k_w, "encoder.layers.%d.self_attn.k_proj.weight", 2, vh, vh, 0, 0);
        V(&L->k_b, "encoder.layers.%d.self_attn.k_proj.bias", 1, vh, 0, 0, 0);
        V(&L->v_w, "encoder.layers.%d.self_attn.v_proj.weight", 2, vh, vh, 0, 0);
        V(&L->v_b, "encoder.layers.%d.self_attn.v_proj.bias", 1, vh, 0, 0, 0);
        V(&L->o_w, "encoder.layers.%d.self_attn.out_proj.weight", 2, vh, vh, 0, 0);
        V(&L->o_b, "encoder.layers.%d.self_attn.out_proj.bias", 1, vh, 0, 0, 0);
        V(&L->ln1_w, "encoder.layers.%d.layer_norm1.weight", 1, vh, 0, 0, 0);
        V(&L->ln1_b, "encoder.layers.%d.layer_norm1.bias", 1, vh, 0, 0, 0);
        V(&L->fc1_w, "encoder.layers.%d.mlp.fc1.weight", 2, vi, vh, 0, 0);
        V(&L->fc1_b, "encoder.layers.%d.mlp.fc1.bias", 1, vi, 0, 0, 0);
        V(&L->fc2_w, "encoder.layers.%d.mlp.fc2.weight", 2, vh, vi, 0, 0);
        V(&L->fc2_b, "encoder.layers.%d.mlp.fc2.bias", 1, vh, 0, 0, 0);
        V(&L->ln2_w, "encoder.layers.%d.layer_norm2.weight", 1, vh, 0, 0, 0);
        V(&L->ln2_b, "encoder.layers.%d.layer_norm2.bias", 1, vh, 0, 0, 0);
    }
    i = 0;
    V(&v->post_ln_w, "post_layernorm.weight", 1, vh, 0, 0, 0);
    V(&v->post_ln_b, "post_layernorm.bias", 1, vh, 0, 0, 0);
#undef V
    int th = c->t_hidden;
    fs_projector *p = &m->proj;
    set_shape(&p->l1_w, 2, th, vh, 0, 0);
    add(l, &p->l1_w, "projector", "multi_modal_projector.linear_1.weight", 0);
    if (!c->projector_linear) {
        set_shape(&p->l2_w, 2, th, th, 0, 0);
        add(l, &p->l2_w, "projector", "multi_modal_projector.linear_2.weight", 0);
    }
    if (c->projector_bias) {
        set_shape(&p->l1_b, 1, th, 0, 0, 0);
        add(l, &p->l1_b, "projector", "multi_modal_projector.linear_1.bias", 0);
    }
    if (c->projector_bias && !c->projector_linear) {
        set_shape(&p->l2_b, 1, th, 0, 0, 0);
        add(l, &p->l2_b, "projector", "multi_modal_projector.linear_2.bias", 0);
    }
}

/* BLIP-2's EVA vision tower, Q-Former and language_projection, with the names
 * transformers' Blip2ForConditionalGeneration saves. */
static void layout_blip2(fs_mllm *m, param_list *l)
{
    const fs_llava_config *c = &m->cfg;
    int vh = c->v_hidden, vi = c->v_intermediate, P = c->v_patch_size, i = 0;
    int qh = c->q_hidden, qi = c->q_intermediate;
    const char *vp = "vision_model.", *qp = "qformer.", *lp = "qformer.encoder.layer.%d.";
#define V(slot, suffix, nd, a, b, cc, d) add_shaped(l, slot, "vision", vp, suffix, i, nd, a, b, cc, d)
#define Q(prefix, slot, suffix, nd, a, b) add_shaped(l, slot, "qformer", prefix, suffix, i, nd, a, b, 0, 0)
    fs_vit *v = &m->vit;
    V(&v->class_emb, "embeddings.class_embedding", 3, 1, 1, vh, 0);
    V(&v->patch_w, "embeddings.patch_embedding.weight", 4, vh, c->v_channels, P, P);
    V(&v->patch_b, "embeddings.patch_embedding.bias", 1, vh, 0, 0, 0);
    V(&v->pos_emb, "embeddings.position_embedding", 3, 1, m->n_patches + 1, vh, 0);
    for (i = 0; i < c->v_layers; i++) {
        fs_vit_layer *L = &v->layers[i];
        V(&L->ln1_w, "encoder.layers.%d.layer_norm1.weight", 1, vh, 0, 0, 0);
        V(&L->ln1_b, "encoder.layers.%d.layer_norm1.bias", 1, vh, 0, 0, 0);
        V(&L->qkv_w, "encoder.layers.%d.self_attn.qkv.weight", 2, 3 * vh, vh, 0, 0);
        if (c->v_qkv_bias) V(&L->qkv_b, "encoder.layers.%d.self_attn.qkv.bias", 1, 3 * vh, 0, 0, 0);
        V(&L->o_w, "encoder.layers.%d.self_attn.projection.weight", 2, vh, vh, 0, 0);
        V(&L->o_b, "encoder.layers.%d.self_attn.projection.bias", 1, vh, 0, 0, 0);
        V(&L->ln2_w, "encoder.layers.%d.layer_norm2.weight", 1, vh, 0, 0, 0);
        V(&L->ln2_b, "encoder.layers.%d.layer_norm2.bias", 1, vh, 0, 0, 0);
        V(&L->fc1_w, "encoder.layers.%d.mlp.fc1.weight", 2, vi, vh, 0, 0);
        V(&L->fc1_b, "encoder.layers.%d.mlp.fc1.bias", 1, vi, 0, 0, 0);
        V(&L->fc2_w, "encoder.layers.%d.mlp.fc2.weight", 2, vh, vi, 0, 0);
        V(&L->fc2_b, "encoder.layers.%d.mlp.fc2.bias", 1, vh, 0, 0, 0);
    }
    i = 0;
    V(&v->post_ln_w, "post_layernorm.weight", 1, vh, 0, 0, 0);
    V(&v->post_ln_b, "post_layernorm.bias", 1, vh, 0, 0, 0);
    fs_qformer *q = &m->qformer;
    add_shaped(l, &q->query_tokens, "qformer", "", "query_tokens", 0, 3, 1, c->n_query_tokens, qh, 0);
    Q(qp, &q->ln_w, "layernorm.weight", 1, qh, 0);
    Q(qp, &q->ln_b, "layernorm.bias", 1, qh, 0);
    for (i = 0; i < c->q_layers; i++) {
        fs_qformer_layer *L = &q->layers[i];
        for (int cross = 0; cross < 2; cross++) {
            if (cross && i % c->q_cross_freq) break;
            fs_qformer_attn *A = cross ? &L->cross : &L->self;
            int kv_in = cross ? vh : qh;
            char pre[64];
            snprintf(pre, sizeof pre, "%s%s", lp, cross ? "crossattention." : "attention.");
            Q(pre, &A->q_w, "attention.query.weight", 2, qh, qh);
            Q(pre, &A->q_b, "attention.query.bias", 1, qh, 0);
            Q(pre, &A->k_w, "attention.key.weight", 2, qh, kv_in);
            Q(pre, &A->k_b, "attention.key.bias", 1, qh, 0);
            Q(pre, &A->v_w, "attention.value.weight", 2, qh, kv_in);
            Q(pre, &A->v_b, "attention.value.bias", 1, qh, 0);
            Q(pre, &A->o_w, "output.dense.weight", 2, qh, qh);
            Q(pre, &A->o_b, "output.dense.bias", 1, qh, 0);
            Q(pre, &A->ln_w, "output.LayerNorm.weight", 1, qh, 0);
            Q(pre, &A->ln_b, "output.LayerNorm.bias", 1, qh, 0);
        }
        Q(lp, &L->ffn_in_w, "intermediate_query.dense.weight", 2, qi, qh);
        Q(lp, &L->ffn_in_b, "intermediate_query.dense.bias", 1, qi, 0);
        Q(lp, &L->ffn_out_w, "output_query.dense.weight", 2, qh, qi);
        Q(lp, &L->ffn_out_b, "output_query.dense.bias", 1, qh, 0);
        Q(lp, &L->ffn_ln_w, "output_query.LayerNorm.weight", 1, qh, 0);
        Q(lp, &L->ffn_ln_b, "output_query.LayerNorm.bias", 1, qh, 0);
    }
#undef V
#undef Q
    fs_projector *p = &m->proj;
    add_shaped(l, &p->l1_w, "projector", "", "language_projection.weight", 0, 2, c->t_hidden, qh, 0, 0);
    add_shaped(l, &p->l1_b, "projector", "", "language_projection.bias", 0, 1, c->t_hidden, 0, 0, 0);
}

/* Sets every slot's shape from the config; the list order is the checkpoint order. */
static param_list layout(fs_mllm *m)
{
    const fs_llava_config *c = &m->cfg;
    param_list l = {0};
    int th = c->t_hidden, hd = c->t_head_dim, i;
    if (c->blip2) layout_blip2(m, &l);
    else layout_clip(m, &l);
    const char *lp = "language_model.model.layers.%d.";
    fs_llama *t = &m->llm;
    add_shaped(&l, &t->embed, "llm", "", "language_model.model.embed_tokens.weight", 0, 2,
               c->t_vocab, th, 0, 0);
    for (i = 0; i < c->t_layers; i++) {
        fs_llama_layer *L = &t->layers[i];
#define T(slot, suffix, nd, a, b) add_shaped(&l, slot, "llm", lp, suffix, i, nd, a, b, 0, 0)
        T(&L->q_w, "self_attn.q_proj.weight", 2, (int64_t)c->t_heads * hd, th);
        T(&L->k_w, "self_attn.k_proj.weight", 2, (int64_t)c->t_kv_heads * hd, th);
        T(&L->v_w, "self_attn.v_proj.weight", 2, (int64_t)c->t_kv_heads * hd, th);
        T(&L->o_w, "self_attn.o_proj.weight", 2, th, (int64_t)c->t_heads * hd);
        T(&L->gate_w, "mlp.gate_proj.weight", 2, c->t_intermediate, th);
        T(&L->up_w, "mlp.up_proj.weight", 2, c->t_intermediate, th);
        T(&L->down_w, "mlp.down_proj.weight", 2, th, c->t_intermediate);
        T(&L->in_norm_w, "input_layernorm.weight", 1, th, 0);
        T(&L->post_norm_w, "post_attention_layernorm.weight", 1, th, 0);
#undef T
    }
    set_shape(&t->norm_w, 1, th, 0, 0, 0);
    add(&l, &t->norm_w, "llm", "language_model.model.norm.weight", 0);
    if (!c->tie_word_embeddings) {
        set_shape(&t->lm_head, 2, c->t_vocab, th, 0, 0);
        add(&l, &t->lm_head, "llm", "language_model.lm_head.weight", 0);
    }
    return l;
}

fs_param_ref *fs_mllm_param_list(fs_mllm *m, int *n)
{
    param_list l = layout(m);
    *n = l.n;
    return l.items;
}

fs_mllm *fs_mllm_new_shell(const fs_llava_config *cfg)
{
    fs_mllm *m = calloc(1, sizeof *m);
    if (!m) return fs_fail("out of memory"), NULL;
    m->cfg = *cfg;
    int grid = cfg->v_image_size / cfg->v_patch_size;
    m->n_patches = grid * grid;
    m->n_image_tokens = cfg->blip2          ? cfg->n_query_tokens
                        : cfg->v_select_full ? m->n_patches + 1
                                             : m->n_patches;
    /* BLIP-2 takes the last layer's output (then post_layernorm). */
    int fl = cfg->blip2 ? -1 : cfg->vision_feature_layer;
    /* hidden_states[0] is the pre-layernormed embedding, hidden_states[k] the output of layer k. */
    m->vit_layers_used = fl < 0 ? cfg->v_layers + 1 + fl : fl;
    if (m->vit_layers_used < 0 || m->vit_layers_used > cfg->v_layers) {
        free(m);
        return fs_fail("vision_feature_layer %d is out of range for a vision tower with %d layers",
                       fl, cfg->v_layers),
               NULL;
    }
    m->vit.layers = calloc((size_t)cfg->v_layers + 1, sizeof *m->vit.layers);
    m->llm.layers = calloc((size_t)cfg->t_layers + 1, sizeof *m->llm.layers);
    m->qformer.layers = calloc(cfg->blip2 ? (size_t)cfg->q_layers + 1 : 1, sizeof *m->qformer.layers);
    if (!m->vit.layers || !m->llm.layers || !m->qformer.layers) {
        fs_mllm_free(m);
        return fs_fail("out of memory"), NULL;
    }
    return m;
}

int fs_mllm_count_params(const fs_llava_config *cfg, fs_param_counts *out)
{
    fs_mllm *m = fs_mllm_new_shell(cfg);
    if (!m) return -1;
    int n;
    fs_param_ref *list = fs_mllm_param_list(m, &n);
    *out = (fs_param_counts){0};
    for (int i = 0; i < n; i++) {
        size_t k = (size_t)fs_tensor_numel(list[i].slot);
        out->total += k;
        if (!strcmp(list[i].part, "vision")) out->vision += k;
        else if (!strcmp(list[i].part, "qformer")) out->qformer += k;
        else if (!strcmp(list[i].part, "projector")) out->projector += k;
        else out->llm += k;
        if (list[i].slot == &m->llm.embed) out->embed = k;
    }
    out->client = out->vision + out->qformer + out->projector + out->embed;
    free(list);
    fs_mllm_free(m);
    return 0;
}

/* Rows [first, first + rows) of t (dim 0) as a tensor of its own, in t's memory. */
static fs_tensor row_block(const fs_tensor *t, int64_t first, int64_t rows)
{
    fs_tensor v = *t;
    size_t row_elems = (size_t)(fs_tensor_numel(t) / (t->shape[0] ? t->shape[0] : 1));
    v.shape[0] = rows;
    if (v.data) v.data = (char *)v.data + (size_t)first * row_elems * fs_dtype_size(t->dtype);
    return v;
}

void fs_mllm_link_views(fs_mllm *m)
{
    if (m->cfg.tie_word_embeddings) m->llm.lm_head = m->llm.embed;
    if (!m->cfg.blip2) return;
    int64_t vh = m->cfg.v_hidden;
    for (int i = 0; i < m->cfg.v_layers; i++) {
        fs_vit_layer *L = &m->vit.layers[i];
        L->q_w = row_block(&L->qkv_w, 0, vh);
        L->k_w = row_block(&L->qkv_w, vh, vh);
        L->v_w = row_block(&L->qkv_w, 2 * vh, vh);
        if (!L->qkv_b.ndim) continue;
        L->q_b = row_block(&L->qkv_b, 0, vh);
        L->k_b = row_block(&L->qkv_b, vh, vh);
        L->v_b = row_block(&L->qkv_b, 2 * vh, vh);
    }
}

int fs_mllm_alloc_arena(fs_mllm *m, const fs_ops *ops, const bool *in_arena)
{
    int n;
    fs_param_ref *list = fs_mllm_param_list(m, &n);
    m->ops = ops;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (!in_arena || in_arena[i]) total += (size_t)fs_tensor_numel(list[i].slot);
    m->nparams = total;
    m->params = fs_alloc_or_fail(ops, total * sizeof(float),
                                 "use a smaller model (model.path), or runtime.backend: cpu when "
                                 "the GPU is the one short",
                                 "the model's %zu parameters (fp32)", total);
    size_t off = 0;
    for (int i = 0; i < n && m->params; i++)
        if (!in_arena || in_arena[i]) {
            list[i].slot->data = m->params + off;
            off += (size_t)fs_tensor_numel(list[i].slot);
        }
    fs_mllm_link_views(m);
    free(list);
    return m->params ? 0 : -1;
}

/* Allocates the struct and the arena and points every tensor into it. */
static fs_mllm *create(const fs_llava_config *cfg, const fs_ops *ops)
{
    fs_mllm *m = fs_mllm_new_shell(cfg);
    if (m && fs_mllm_alloc_arena(m, ops, NULL)) {
        fs_mllm_free(m);
        return NULL;
    }
    return m;
}

void fs_mllm_free(fs_mllm *m)
{
    if (!m) return;
    if (m->params) m->ops->free(m->params);
    if (m->grads) m->ops->free(m->grads);
    if (m->stored) m->ops->free(m->stored);
    fs_st_close(m->mapped);
    free(m->vit.layers);
    free(m->qformer.layers);
    free(m->llm.layers);
    free(m);
}

int fs_mllm_enable_grads(fs_mllm *m)
{
    if (m->grads) return 0;
    if (m->frozen)
        return fs_fail("weight gradients need the model's weights in fp32; it was loaded frozen "
                       "(16-bit weights kept as stored), so load it with fs_mllm_load");
    if (m->cfg.blip2)
        return fs_fail("weight gradients (pretraining) are not implemented for a BLIP-2 / "
                       "MiniGPT-4 model: its vision tower and Q-Former run forward only. Tune it "
                       "with NanoAdapters (fedsim run), which needs no weight gradients, or "
                       "pretrain a LLaVA-architecture model");
    m->grads = fs_alloc_or_fail(m->ops, m->nparams * sizeof(float), "pretrain a smaller model",
                                "the weight gradients of %zu parameters", m->nparams);
    return m->grads ? 0 : -1;
}

float *fs_mllm_grad_of(const fs_mllm *m, const fs_tensor *param)
{
    if (!m->grads || !param->data) return NULL;
    return m->grads + ((const float *)param->data - m->params);
}

fs_mllm *fs_mllm_new_random(const fs_llava_config *cfg, const fs_ops *ops, uint64_t seed)
{
    fs_mllm *m = create(cfg, ops);
    if (!m) return NULL;
    int n;
    fs_param_ref *list = fs_mllm_param_list(m, &n);
    fs_rng rng = fs_rng_seed(seed);
    float *host = malloc(m->nparams * sizeof *host);
    if (!host) {
        free(list);
        fs_mllm_free(m);
        return fs_fail("out of memory"), NULL;
    }
    for (int i = 0; i < n; i++) {
        fs_tensor *t = list[i].slot;
        float *dst = host + ((float *)t->data - m->params);
        size_t numel = (size_t)fs_tensor_numel(t);
        const char *nm = list[i].name;
        int is_norm_w = (strstr(nm, "norm") || strstr(nm, "Norm")) && strstr(nm, ".weight");
        int is_bias = strstr(nm, ".bias") != NULL;
        int is_embedding = strstr(nm, "embed") != NULL || strstr(nm, "query_tokens") != NULL;
        double fan_in = t->ndim >= 2 ? (double)numel / (double)t->shape[0] : 1.0;
        double a = is_embedding ? 0.5 : 1.0 / sqrt(fan_in);
        for (size_t j = 0; j < numel; j++)
            dst[j] = is_norm_w ? 1.0f : is_bias ? 0.0f : (float)(a * (2 * fs_rng_uniform(&rng) - 1));
    }
    ops->to_device(m->params, host, m->nparams * sizeof *host);
    free(host);
    free(list);
    return m;
}

int fs_mllm_save(const fs_mllm *m, const char *dir)
{
    if (m->frozen)
        return fs_fail("%s: cannot save a model loaded frozen (16-bit weights kept as stored); "
                       "load it with fs_mllm_load to save it", dir);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create directory: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (fs_llava_config_save(path, &m->cfg)) return -1;
    int n;
    fs_param_ref *list = fs_mllm_param_list((fs_mllm *)m, &n);
    fs_st_entry *entries = calloc((size_t)n, sizeof *entries);
    float *host = malloc(m->nparams * sizeof *host);
    if (!entries || !host || !list) {
        free(list);
        free(entries);
        free(host);
        return fs_fail("out of memory saving the model");
    }
    m->ops->to_host(host, m->params, m->nparams * sizeof *host);
    m->ops->synchronize();
    for (int i = 0; i < n; i++) {
        fs_tensor *t = list[i].slot;
        entries[i].name = list[i].name;
        entries[i].dtype = FS_F32;
        entries[i].ndim = t->ndim;
        memcpy(entries[i].shape, t->shape, sizeof t->shape);
        entries[i].data = host + ((float *)t->data - m->params);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = fs_st_write(path, entries, n, NULL);
    free(list);
    free(entries);
    free(host);
    return rc;
}
