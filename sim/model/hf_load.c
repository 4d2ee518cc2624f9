/* Loading a Hugging Face LLaVA checkpoint directory: config.json, then every
 * tensor the config implies found (under either name layout) and checked for
 * shape before any weight is read; then the weights copied to F32, or left as
 * stored for a frozen model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/model/mllm.h"
#include "sim/model/params_internal.h"
#include "sim/model/safetensors.h"

/* The same tensor has several names in the wild: the hub's legacy layout
 * (what fedsim writes), transformers 5's in-memory model.* layout, and
 * transformers 5's saved layout without CLIP's vision_model level. */
static const fs_st_tensor *find_any_layout(const fs_st_archive *a, const char *legacy)
{
    static const char *map[][2] = {
        {"language_model.model.", "model.language_model."},
        {"language_model.lm_head.", "lm_head."},
        {"vision_tower.vision_model.", "model.vision_tower.vision_model."},
        {"vision_tower.vision_model.", "vision_tower."},
        {"vision_tower.vision_model.", "model.vision_tower."},
        {"multi_modal_projector.", "model.multi_modal_projector."},
    };
    const fs_st_tensor *t = fs_st_find(a, legacy);
    for (size_t i = 0; !t && i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i][0]);
        char name[256];
        if (strncmp(legacy, map[i][0], n)) continue;
        snprintf(name, sizeof name, "%s%s", map[i][1], legacy + n);
        t = fs_st_find(a, name);
    }
    return t;
}

static const char *fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

/* A checkpoint with every tensor of its config found and shape-checked. */
typedef struct {
    fs_mllm *m;                 /* the shell: shapes from config.json, no weights */
    fs_st_archive *a;
    fs_param_ref *list;         /* m's parameters in checkpoint order */
    int n;
    const fs_st_tensor **found; /* per parameter; NULL = absent and not needed */
} checkpoint;

static void checkpoint_close(checkpoint *ck)
{
    free(ck->list);
    free(ck->found);
    fs_st_close(ck->a);
    fs_mllm_free(ck->m);
    memset(ck, 0, sizeof *ck);
}

static int match_tensors(const char *dir, checkpoint *ck)
{
    for (int i = 0; i < ck->n; i++) {
        const fs_param_ref *p = &ck->list[i];
        const fs_st_tensor *t = find_any_layout(ck->a, p->name);
        /* post_layernorm is never used by LLaVA (features come from an earlier layer). */
        if (!t && strstr(p->name, "post_layernorm") && !ck->m->cfg.blip2) continue;
        if (!t)
            return fs_fail("%s: tensor '%s' is missing (also looked for the transformers 5 "
                           "names); is this a %s checkpoint matching its config.json?", dir,
                           p->name, ck->m->cfg.blip2 ? "Blip2ForConditionalGeneration"
                                                     : "LlavaForConditionalGeneration");
        bool same = t->ndim == p->slot->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == p->slot->shape[d];
        if (!same) {
            char got[128], want[128];
            return fs_fail("%s: tensor '%s' has shape %s, but %s/config.json implies %s; are "
                           "config.json and the weights from the same checkpoint?", t->file,
                           t->name, fmt_shape(got, sizeof got, t->ndim, t->shape), dir,
                           fmt_shape(want, sizeof want, p->slot->ndim, p->slot->shape));
        }
        ck->found[i] = t;
    }
    return 0;
}

/* mm_projector_type is an original-LLaVA key that transformers ignores: its
 * LLaVA always applies both projector layers. fedsim reads "linear" as its
 * one-layer (MiniGPT-4 style) projector, so weights that hold a second layer
 * under that key would be computed as another model than transformers
 * computes: refuse them. */
static int check_projector_layers(const char *dir, const checkpoint *ck)
{
    if (!ck->m->cfg.projector_linear || ck->m->cfg.blip2) return 0;
    const fs_st_tensor *t = find_any_layout(ck->a, "multi_modal_projector.linear_2.weight");
    if (!t) return 0;
    return fs_fail("%s/config.json sets \"mm_projector_type\": \"linear\" (one projector layer), "
                   "but %s holds '%s', a second one: transformers ignores mm_projector_type and "
                   "applies both layers. Remove the key to load this LLaVA as transformers does, or "
                   "drop the linear_2 tensors for a one-layer projector", dir, t->file, t->name);
}

static int checkpoint_open(const char *dir, checkpoint *ck)
{
    char path[4096];
    fs_llava_config cfg;
    memset(ck, 0, sizeof *ck);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (fs_llava_config_load(path, &cfg) || !(ck->a = fs_st_open(dir))) {
        checkpoint_close(ck);
        return -1;
    }
    /* A config that ties over weights that also store lm_head: transformers 5
     * keeps the stored lm_head ("both are present ... so we will NOT tie
     * them"); with equal values the two readings compute the same. */
    if (cfg.tie_word_embeddings && find_any_layout(ck->a, "language_model.lm_head.weight"))
        cfg.tie_word_embeddings = false;
    int rc = !(ck->m = fs_mllm_new_shell(&cfg)) ? -1 : 0;
    if (!rc) {
        ck->list = fs_mllm_param_list(ck->m, &ck->n);
        ck->found = calloc((size_t)ck->n, sizeof *ck->found);
        rc = !ck->found ? fs_fail("out of memory") : match_tensors(dir, ck);
    }
    if (!rc) rc = check_projector_layers(dir, ck);
    if (rc) checkpoint_close(ck);
    return rc;
}

int fs_mllm_check_checkpoint(const char *dir, fs_llava_config *cfg, fs_checkpoint_summary *summary)
{
    checkpoint ck;
    if (checkpoint_open(dir, &ck)) return -1;
    fs_checkpoint_summary s = {.n_files = fs_st_file_count(ck.a)};
    int total = fs_st_count(ck.a);
    bool *used = calloc((size_t)total + 1, sizeof *used);
    if (!used) {
        checkpoint_close(&ck);
        return fs_fail("out of memory");
    }
    for (int i = 0; i < ck.n; i++) {
        const fs_st_tensor *t = ck.found[i];
        if (!t) continue;
        used[t - fs_st_at(ck.a, 0)] = true; /* the archive's tensors are one array */
        s.n_tensors++;
        s.n_by_dtype[t->dtype]++;
        s.n_params += t->nbytes / fs_dtype_size(t->dtype);
        s.bytes += t->nbytes;
    }
    for (int j = 0; j < total; j++)
        if (!used[j] && !s.n_unused++)
            snprintf(s.first_unused, sizeof s.first_unused, "%s", fs_st_at(ck.a, j)->name);
    free(used);
    if (cfg) *cfg = ck.m->cfg;
    if (summary) *summary = s;
    checkpoint_close(&ck);
    return 0;
}

/* Copies every tensor whose slot has memory (the arena's, when this runs) to
 * F32, through host staging when the arena is device memory. Absent tensors
 * stay zero. */
static int fill_arena(const checkpoint *ck, const fs_ops *ops)
{
    bool host = ops == fs_backend_cpu();
    float *staging = NULL;
    size_t staging_cap = 0;
    int rc = 0;
    for (int i = 0; i < ck->n && !rc; i++) {
        const fs_st_tensor *t = ck->found[i];
        fs_tensor *slot = ck->list[i].slot;
        float *dst = slot->data;
        if (!t || !dst) continue;
        size_t numel = (size_t)fs_tensor_numel(slot);
        if (!host && numel > staging_cap) {
            free(staging);
            staging_cap = numel;
            if (!(staging = malloc(numel * sizeof *staging))) {
                rc = fs_fail("out of memory staging tensor '%s'", t->name);
                break;
            }
        }
        rc = fs_st_read_f32(ck->a, t->name, slot->ndim, slot->shape, host ? dst : staging);
        if (!rc && !host) ops->to_device(dst, staging, numel * sizeof(float));
    }
    free(staging);
    return rc;
}

fs_mllm *fs_mllm_load(const char *dir, const fs_ops *ops)
{
    checkpoint ck;
    if (checkpoint_open(dir, &ck)) return NULL;
    if (fs_mllm_alloc_arena(ck.m, ops, NULL) || fill_arena(&ck, ops)) {
        checkpoint_close(&ck);
        return NULL;
    }
    fs_mllm *m = ck.m;
    ck.m = NULL;
    checkpoint_close(&ck);
    return m;
}

/* ---------------------------------------------------------------- frozen */

/* Parameters read only through linear_fwd/bwd and embedding_fwd, which take
 * 16-bit weights: every matrix except those copied or added to activations
 * (position embedding; BLIP-2's class embedding and query tokens). */
static bool is_matrix(const fs_mllm *m, const fs_param_ref *p)
{
    return p->slot->ndim >= 2 && p->slot != &m->vit.pos_emb && p->slot != &m->vit.class_emb &&
           p->slot != &m->qformer.query_tokens;
}

/* Uploads tensor t as bf16 to dst (device): BF16 straight from the mmap,
 * F16 rounded to bf16 through host staging in chunks. */
static void upload_bf16(const fs_ops *ops, const fs_st_tensor *t, uint16_t *dst, uint16_t *staging,
                        size_t staging_elems)
{
    if (t->dtype == FS_BF16) {
        ops->to_device(dst, t->data, t->nbytes);
        return;
    }
    size_t n = t->nbytes / 2;
    for (size_t i = 0; i < n; i += staging_elems) {
        size_t k = n - i < staging_elems ? n - i : staging_elems;
        memcpy(staging, (const uint16_t *)t->data + i, k * 2); /* the mmap may be unaligned */
        for (size_t j = 0; j < k; j++) staging[j] = fs_f32_to_bf16(fs_f16_to_f32(staging[j]));
        ops->to_device(dst + i, staging, k * 2);
        ops->synchronize(); /* staging is reused */
    }
}

/* CUDA: one bf16 buffer for the 16-bit matrices (whose in_arena is false). */
static int upload_stored(const checkpoint *ck, const fs_ops *ops, const bool *in_arena)
{
    fs_mllm *m = ck->m;
    size_t elems = 0;
    for (int i = 0; i < ck->n; i++)
        if (!in_arena[i]) elems += (size_t)fs_tensor_numel(ck->list[i].slot);
    if (!elems) return 0;
    m->stored = fs_alloc_or_fail(ops, elems * 2, "use a smaller model (model.path)",
                                 "the model's %zu frozen weights (bf16)", elems);
    enum { STAGING = 1 << 20 };
    uint16_t *staging = malloc(STAGING * sizeof *staging);
    if (!m->stored || !staging) {
        free(staging);
        return m->stored ? fs_fail("out of memory staging the frozen weights") : -1;
    }
    size_t off = 0;
    for (int i = 0; i < ck->n; i++) {
        if (in_arena[i]) continue;
        fs_tensor *slot = ck->list[i].slot;
        slot->data = (uint16_t *)m->stored + off;
        slot->dtype = FS_BF16;
        upload_bf16(ops, ck->found[i], slot->data, staging, STAGING);
        off += (size_t)fs_tensor_numel(slot);
    }
    free(staging);
    return 0;
}

fs_mllm *fs_mllm_load_frozen(const char *dir, const fs_ops *ops)
{
    checkpoint ck;
    if (checkpoint_open(dir, &ck)) return NULL;
    fs_mllm *m = ck.m;
    bool host = ops == fs_backend_cpu();
    bool *in_arena = malloc((size_t)ck.n * sizeof *in_arena);
    int rc = in_arena ? 0 : fs_fail("out of memory");
    for (int i = 0; i < ck.n && !rc; i++) {
        const fs_st_tensor *t = ck.found[i];
        bool aligned = t && (uintptr_t)t->data % fs_dtype_size(t->dtype) == 0;
        /* The CPU reads matrices in place (when aligned for their dtype); CUDA
         * keeps 16-bit ones as bf16 and F32 ones in the arena. */
        in_arena[i] = !t || !is_matrix(m, &ck.list[i]) || (host ? !aligned : t->dtype == FS_F32);
    }
    if (!rc) rc = fs_mllm_alloc_arena(m, ops, in_arena);
    if (!rc) rc = fill_arena(&ck, ops);
    if (!rc && !host) rc = upload_stored(&ck, ops, in_arena);
    for (int i = 0; i < ck.n && !rc && host; i++)
        if (!in_arena[i]) {
            ck.list[i].slot->data = (void *)ck.found[i]->data;
            ck.list[i].slot->dtype = ck.found[i]->dtype;
        }
    free(in_arena);
    if (rc) {
        checkpoint_close(&ck);
        return NULL;
    }
    fs_mllm_link_views(m);
    m->frozen = true;
    if (host) m->mapped = ck.a; /* the matrices point into it */
    else fs_st_close(ck.a);
    ck.a = NULL;
    ck.m = NULL;
    checkpoint_close(&ck);
    return m;
}
