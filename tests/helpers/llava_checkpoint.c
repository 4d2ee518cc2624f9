#include "llava_checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/io/rng.h"
#include "sim/model/mllm.h"
#include "sim/model/safetensors.h"

enum { STRETCH = 4096 };

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fs_fail("%s: cannot create (%s)", path, strerror(errno));
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) || !ok) return fs_fail("%s: cannot write", path);
    return 0;
}

static int write_json(const char *path, cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return fs_fail("%s: out of memory", path);
    int rc = write_text(path, text);
    cJSON_free(text);
    return rc;
}

static void put_int(cJSON *o, const char *k, int v) { cJSON_AddNumberToObject(o, k, v); }

/* config.json with the keys llava-hf/llava-1.5-7b-hf carries (the text sizes
 * spelled out, as the 13B one has them). */
static int write_config(const char *dir, const fs_llava_config *c, fs_dtype dtype)
{
    if (c->blip2) { /* no hub release to imitate: the converter's layout, fedsim's writer */
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", dir);
        return fs_llava_config_save(path, c);
    }
    const char *torch_dtype = dtype == FS_BF16 ? "bfloat16" : dtype == FS_F16 ? "float16"
                                                                              : "float32";
    cJSON *root = cJSON_CreateObject(), *vc = cJSON_CreateObject(), *tc = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "architectures",
                          cJSON_CreateStringArray((const char *[]){"LlavaForConditionalGeneration"}, 1));
    put_int(root, "ignore_index", -100);
    put_int(root, "image_token_index", c->image_token_index);
    cJSON_AddStringToObject(root, "model_type", "llava");
    if (c->pad_token_id >= 0) put_int(root, "pad_token_id", c->pad_token_id);
    cJSON_AddStringToObject(root, "projector_hidden_act", "gelu");
    if (c->projector_linear) cJSON_AddStringToObject(root, "mm_projector_type", "linear");
    cJSON_AddStringToObject(tc, "_name_or_path", "lmsys/vicuna-7b-v1.5");
    cJSON_AddItemToObject(tc, "architectures",
                          cJSON_CreateStringArray((const char *[]){"LlamaForCausalLM"}, 1));
    put_int(tc, "hidden_size", c->t_hidden);
    put_int(tc, "intermediate_size", c->t_intermediate);
    put_int(tc, "max_position_embeddings", c->t_max_pos);
    cJSON_AddStringToObject(tc, "model_type", "llama");
    put_int(tc, "num_attention_heads", c->t_heads);
    put_int(tc, "num_hidden_layers", c->t_layers);
    put_int(tc, "num_key_value_heads", c->t_kv_heads);
    cJSON_AddNumberToObject(tc, "rms_norm_eps", c->t_rms_eps);
    cJSON_AddStringToObject(tc, "torch_dtype", torch_dtype);
    put_int(tc, "vocab_size", c->t_vocab);
    cJSON_AddItemToObject(root, "text_config", tc);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddStringToObject(root, "torch_dtype", torch_dtype);
    cJSON_AddStringToObject(root, "transformers_version", "4.36.0.dev0");
    put_int(vc, "hidden_size", c->v_hidden);
    put_int(vc, "image_size", c->v_image_size);
    put_int(vc, "intermediate_size", c->v_intermediate);
    cJSON_AddStringToObject(vc, "model_type", "clip_vision_model");
    put_int(vc, "num_attention_heads", c->v_heads);
    put_int(vc, "num_hidden_layers", c->v_layers);
    put_int(vc, "patch_size", c->v_patch_size);
    put_int(vc, "projection_dim", 768);
    cJSON_AddItemToObject(root, "vision_config", vc);
    put_int(root, "vision_feature_layer", c->vision_feature_layer);
    cJSON_AddStringToObject(root, "vision_feature_select_strategy",
                            c->v_select_full ? "full" : "default");
    put_int(root, "vocab_size", c->t_vocab);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return write_json(path, root);
}

/* The header, a file of the full size, and random bytes at both ends of every tensor. */
static int write_sparse_shard(const char *path, const fs_st_entry *e, int k, const size_t *nbytes,
                              fs_rng *rng)
{
    char *header = NULL;
    size_t hlen = 0;
    uint64_t *offs = malloc((size_t)k * sizeof *offs);
    if (!offs) return fs_fail("out of memory");
    if (fs_st_layout(path, e, k, NULL, &header, &hlen, offs)) {
        free(offs);
        return -1;
    }
    uint64_t total = 8 + hlen;
    for (int i = 0; i < k; i++) total += nbytes[i];
    unsigned char len8[8], bytes[STRETCH];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0 && write(fd, len8, 8) == 8 && write(fd, header, hlen) == (ssize_t)hlen &&
              ftruncate(fd, (off_t)total) == 0;
    for (int i = 0; ok && i < k; i++) {
        size_t n = nbytes[i] < STRETCH ? nbytes[i] : STRETCH;
        for (size_t j = 0; j < n; j += 8) {
            uint64_t r = fs_rng_u64(rng);
            memcpy(bytes + j, &r, n - j < 8 ? n - j : 8);
        }
        ok = pwrite(fd, bytes, n, (off_t)offs[i]) == (ssize_t)n &&
             pwrite(fd, bytes, n, (off_t)(offs[i] + nbytes[i] - n)) == (ssize_t)n;
    }
    int err = errno;
    if (fd >= 0 && close(fd)) ok = false;
    free(header);
    free(offs);
    return ok ? 0 : fs_fail("%s: cannot write (%s)", path, strerror(err));
}

/* f32 -> f16 by truncation, flushing what is below f16's normal range to
 * zero. Crude, but a test compares loads of the file, which all read exactly
 * the values it holds. */
static uint16_t f32_to_f16_truncated(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    int exp = (int)((u >> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return sign;
    if (exp >= 31) return sign | 0x7c00;
    return (uint16_t)(sign | exp << 10 | (u & 0x7fffff) >> 13);
}

/* Random mode: the entry's data as dtype (*owned: a converted copy to free). */
static const void *data_as(const fs_tensor *t, fs_dtype dtype, void **owned)
{
    size_t n = (size_t)fs_tensor_numel(t);
    const float *f = t->data;
    *owned = NULL;
    if (dtype == FS_F32) return t->data;
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; h && i < n; i++)
        h[i] = dtype == FS_BF16 ? fs_f32_to_bf16(f[i]) : f32_to_f16_truncated(f[i]);
    return *owned = h;
}

static int write_shard(const char *path, const fs_param_ref *list, int first, int k,
                       const tu_ckpt_opts *o, fs_rng *rng)
{
    fs_st_entry *e = calloc((size_t)k, sizeof *e);
    size_t *nbytes = calloc((size_t)k, sizeof *nbytes);
    void **owned = calloc((size_t)k, sizeof *owned);
    int rc = e && nbytes && owned ? 0 : fs_fail("out of memory");
    for (int i = 0; i < k && !rc; i++) {
        const fs_tensor *t = list[first + i].slot;
        e[i] = (fs_st_entry){.name = list[first + i].name, .dtype = o->dtype, .ndim = t->ndim};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        nbytes[i] = (size_t)fs_tensor_numel(t) * fs_dtype_size(o->dtype);
        if (!o->sparse && !(e[i].data = data_as(t, o->dtype, &owned[i])))
            rc = fs_fail("out of memory");
    }
    if (!rc) rc = o->sparse ? write_sparse_shard(path, e, k, nbytes, rng) : fs_st_write(path, e, k, NULL);
    for (int i = 0; owned && i < k; i++) free(owned[i]);
    free(owned);
    free(e);
    free(nbytes);
    return rc;
}

typedef struct {
    const char *name;
    int shard;
} index_entry;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const index_entry *)a)->name, ((const index_entry *)b)->name);
}

/* model.safetensors.index.json: total_size and weight_map sorted by name, as HF writes it. */
static int write_index(const char *dir, const fs_param_ref *list, const int *shard_of, int n,
                       int nshards, uint64_t total)
{
    index_entry *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return fs_fail("out of memory");
    for (int i = 0; i < n; i++) sorted[i] = (index_entry){list[i].name, shard_of[i]};
    qsort(sorted, (size_t)n, sizeof *sorted, by_name);
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *map = cJSON_CreateObject();
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    cJSON_AddItemToObject(root, "metadata", meta);
    for (int i = 0; i < n; i++) {
        char shard[64];
        snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", sorted[i].shard + 1,
                 nshards);
        cJSON_AddStringToObject(map, sorted[i].name, shard);
    }
    cJSON_AddItemToObject(root, "weight_map", map);
    free(sorted);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    return write_json(path, root);
}

int tu_write_llava_checkpoint(const char *dir, const fs_llava_config *cfg, const tu_ckpt_opts *o)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create directory: %s", dir, strerror(errno));
    fs_mllm *m = o->sparse ? fs_mllm_new_shell(cfg)
                           : fs_mllm_new_random(cfg, fs_backend_cpu(), o->seed);
    if (!m) return -1;
    int n;
    fs_param_ref *list = fs_mllm_param_list(m, &n);
    int *shard_of = malloc((size_t)n * sizeof *shard_of);
    if (!shard_of) {
        free(list);
        fs_mllm_free(m);
        return fs_fail("out of memory");
    }
    /* save_pretrained's split: a new shard when the next tensor would overflow this one. */
    int nshards = 1;
    uint64_t in_shard = 0, total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = (uint64_t)fs_tensor_numel(list[i].slot) * fs_dtype_size(o->dtype);
        if (in_shard && in_shard + b > o->max_shard_bytes) nshards++, in_shard = 0;
        in_shard += b, total += b;
        shard_of[i] = nshards - 1;
    }
    fs_rng rng = fs_rng_seed(o->seed);
    int rc = write_config(dir, cfg, o->dtype);
    for (int s = 0, first = 0; s < nshards && !rc; s++) {
        int k = 0;
        while (first + k < n && shard_of[first + k] == s) k++;
        char path[4096];
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, nshards);
        rc = write_shard(path, list, first, k, o, &rng);
        first += k;
    }
    if (!rc) rc = write_index(dir, list, shard_of, n, nshards, total);
    free(shard_of);
    free(list);
    fs_mllm_free(m);
    return rc;
}
