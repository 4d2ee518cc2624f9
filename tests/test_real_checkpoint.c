/* Real-size LLaVA-1.5 checkpoints without the real weights: sparse directories
 * with the hub's layout (tests/helpers/llava_checkpoint.h) are checked against
 * config.json, counted and loaded frozen (memory-mapped, nothing copied) at
 * 7B and 13B; every broken variant gives one message naming the file and the
 * tensor. Each directory costs a few MB of disk (holes) and milliseconds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/model/mllm.h"
#include "sim/model/presets.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/llava_checkpoint.h"
#include "tests/helpers/testutil.h"

TestSuite(real_checkpoint, .fini = tu_remove_tmpdirs);

static const uint64_t hub_shard = 5000000000ull; /* save_pretrained's max_shard_size="5GB" */

/* A sparse checkpoint of cfg in a fresh directory (removed after the test). */
static const char *make_sparse(const fs_llava_config *cfg, fs_dtype dtype)
{
    const char *dir = tu_path_in(tu_tmpdir_tracked(), "model");
    tu_ckpt_opts o = {.dtype = dtype, .max_shard_bytes = hub_shard, .sparse = true, .seed = 1};
    cr_assert_eq(tu_write_llava_checkpoint(dir, cfg, &o), 0, "%s", fs_last_error());
    return dir;
}

static const char *shard(const char *dir, int i, int n)
{
    char name[64];
    snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", i, n);
    return tu_path_in(dir, name);
}

/* Check fails with a message holding every one of the NULL-terminated phrases. */
static void check_fails(const char *dir, const char *const *phrases)
{
    cr_assert_eq(fs_mllm_check_checkpoint(dir, NULL, NULL), -1, "a broken checkpoint passed");
    for (int i = 0; phrases[i]; i++)
        cr_assert(strstr(fs_last_error(), phrases[i]), "'%s' not in: %s", phrases[i],
                  fs_last_error());
    cr_assert_null(fs_mllm_load_frozen(dir, fs_backend_cpu()), "loaded a broken checkpoint");
}

Test(real_checkpoint, llava15_7b_has_the_hub_layout_validates_and_loads_frozen)
{
    fs_llava_config cfg = fs_llava_config_llava15_7b();
    const char *dir = make_sparse(&cfg, FS_BF16);
    /* The hub lists 4.99, 4.96 and 4.18 GB for the three shards. */
    const long hub_cgb[3] = {499, 496, 418};
    long long disk = 0;
    for (int i = 0; i < 3; i++) {
        struct stat st;
        cr_assert_eq(stat(shard(dir, i + 1, 3), &st), 0);
        cr_assert_eq((st.st_size + 5000000) / 10000000, hub_cgb[i], "shard %d is %lld bytes", i + 1,
                     (long long)st.st_size);
        disk += (long long)st.st_blocks * 512;
    }
    cr_assert_lt(disk, 64ll << 20, "the sparse shards use %lld bytes of disk", disk);

    fs_llava_config got;
    fs_checkpoint_summary s;
    cr_assert_eq(fs_mllm_check_checkpoint(dir, &got, &s), 0, "%s", fs_last_error());
    cr_assert_eq(memcmp(&got, &cfg, sizeof cfg), 0, "config.json did not read back as the preset");
    cr_assert_eq(s.n_files, 3);
    cr_assert_eq(s.n_tensors, 686, "391 vision + 4 projector + 291 LLM tensors");
    cr_assert_eq(s.n_by_dtype[FS_BF16], 686);
    cr_assert_eq(s.n_params, 7063427072ull);
    cr_assert_eq(s.bytes, 2 * 7063427072ull);
    cr_assert_eq(s.n_unused, 0);

    /* Frozen on the CPU: the matrices stay in the mmapped files; only norms,
     * biases and the vision embeddings (about 1.5 M floats) are copied. */
    fs_mllm *m = fs_mllm_load_frozen(dir, fs_backend_cpu());
    cr_assert(m, "%s", fs_last_error());
    cr_assert(m->frozen && m->mapped);
    cr_assert_lt(m->nparams, 2000000, "%zu floats copied", m->nparams);
    const fs_tensor *big[] = {&m->llm.embed, &m->llm.lm_head, &m->llm.layers[31].down_w,
                              &m->vit.layers[22].fc1_w, &m->vit.patch_w, &m->proj.l2_w};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        cr_assert(big[i]->dtype == FS_BF16 && big[i]->data, "matrix %zu was not kept as bf16", i);
    cr_assert_eq(m->llm.norm_w.dtype, FS_F32);
    cr_assert_eq(fs_mllm_enable_grads(m), -1);
    cr_assert(strstr(fs_last_error(), "frozen"), "%s", fs_last_error());
    fs_mllm_free(m);
}

Test(real_checkpoint, llava15_13b_f16_and_the_minigpt4_style_preset)
{
    fs_llava_config cfg = fs_llava_config_llava15_13b();
    const char *dir = make_sparse(&cfg, FS_F16);
    fs_checkpoint_summary s;
    cr_assert_eq(fs_mllm_check_checkpoint(dir, NULL, &s), 0, "%s", fs_last_error());
    cr_assert_eq(s.n_files, 6, "the hub's llava-1.5-13b-hf has 6 shards");
    cr_assert_eq(s.n_tensors, 391 + 4 + 3 + 40 * 9);
    cr_assert_eq(s.n_by_dtype[FS_F16], s.n_tensors);
    fs_param_counts pc;
    cr_assert_eq(fs_mllm_count_params(&cfg, &pc), 0);
    cr_assert_eq(s.n_params, pc.total);
    cr_assert(pc.total > 13300000000ull && pc.total < 13400000000ull, "%zu", pc.total);

    cfg = fs_llava_config_minigpt4_style();
    dir = make_sparse(&cfg, FS_BF16);
    fs_llava_config got;
    cr_assert_eq(fs_mllm_check_checkpoint(dir, &got, &s), 0, "%s", fs_last_error());
    cr_assert(got.projector_linear, "mm_projector_type did not read back");
    cr_assert_eq(s.n_tensors, 686 - 2, "no linear_2 weight and bias");
    cr_assert_eq(fs_mllm_count_params(&cfg, &pc), 0);
    cr_assert_eq(pc.projector, 1024 * 4096 + 4096);
}

/* Moves src_dir's config.json over dst_dir's. */
static void replace_config(const char *dst_dir, const char *src_dir)
{
    char *dst = tu_path_in(dst_dir, "config.json");
    cr_assert_eq(rename(tu_path_in(src_dir, "config.json"), dst), 0);
}

/* Rewrites the dtype of tensor name in a shard header in place ("BF16" -> "F64 "). */
static void set_dtype_f64(const char *path, const char *name)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    static char head[1 << 17];
    char key[256];
    ssize_t got = pread(fd, head, sizeof head - 1, 0);
    cr_assert_gt(got, 8);
    head[got] = 0; /* the header is JSON text after its 8-byte length */
    snprintf(key, sizeof key, "\"%s\":{\"dtype\":\"BF16\"", name);
    char *at = strstr(head + 8, key);
    cr_assert(at, "%s not in the first 128 KiB of %s", key, path);
    off_t pos = at - head + (off_t)strlen(key) - 6;
    cr_assert_eq(pwrite(fd, "\"F64\" ", 6, pos), 6);
    close(fd);
}

/* A config.json that says mm_projector_type: linear over weights holding a
 * second projector layer: transformers ignores the key and applies both
 * layers, so fedsim refuses rather than computing a one-layer model. */
Test(real_checkpoint, linear_projector_key_over_two_layer_weights_is_refused)
{
    fs_llava_config two = fs_llava_config_llava15_7b(), one = two;
    one.projector_linear = true;
    const char *dir = make_sparse(&two, FS_BF16), *other = make_sparse(&one, FS_BF16);
    replace_config(dir, other);
    const char *phrases[] = {"mm_projector_type", "multi_modal_projector.linear_2.weight",
                             "transformers ignores", NULL};
    check_fails(dir, phrases);
}

Test(real_checkpoint, broken_7b_directories_name_the_file_and_the_tensor)
{
    fs_llava_config cfg = fs_llava_config_llava15_7b(), other = cfg;
    /* config.json disagreeing with the weights */
    const char *dir = make_sparse(&cfg, FS_BF16);
    other.t_intermediate = 11000;
    replace_config(dir, make_sparse(&other, FS_BF16));
    check_fails(dir, (const char *[]){"model-00001-of-00003.safetensors",
                                      "language_model.model.layers.0.mlp.gate_proj.weight",
                                      "[11008, 4096]", "[11000, 4096]", "config.json", NULL});
    /* a tensor missing: weights of a tied model, config untied */
    other = cfg;
    other.tie_word_embeddings = true;
    dir = make_sparse(&other, FS_BF16);
    replace_config(dir, make_sparse(&cfg, FS_BF16));
    check_fails(dir, (const char *[]){dir, "'language_model.lm_head.weight' is missing", NULL});
    /* a shard missing */
    dir = make_sparse(&cfg, FS_BF16);
    cr_assert_eq(unlink(shard(dir, 2, 3)), 0);
    check_fails(dir, (const char *[]){"model.safetensors.index.json",
                                      "model-00002-of-00003.safetensors", "is missing", NULL});
    /* an unsupported dtype */
    dir = make_sparse(&cfg, FS_BF16);
    set_dtype_f64(shard(dir, 1, 3), "language_model.model.embed_tokens.weight");
    check_fails(dir, (const char *[]){"model-00001-of-00003.safetensors",
                                      "language_model.model.embed_tokens.weight", "F64", NULL});
    /* a truncated shard */
    dir = make_sparse(&cfg, FS_BF16);
    struct stat st;
    cr_assert_eq(stat(shard(dir, 3, 3), &st), 0);
    cr_assert_eq(truncate(shard(dir, 3, 3), st.st_size - 1000000), 0);
    check_fails(dir, (const char *[]){"model-00003-of-00003.safetensors", "tensor '",
                                      "truncated", NULL});
}

Test(real_checkpoint, fedsim_info_checks_and_counts_a_7b_directory)
{
    const char *bin = getenv("FEDSIM_BUILD_DIR");
    cr_assert(bin, "FEDSIM_BUILD_DIR is not set (run through ctest)");
    fs_llava_config cfg = fs_llava_config_llava15_7b();
    const char *dir = make_sparse(&cfg, FS_BF16);
    const char *log = tu_path_in(tu_tmpdir_tracked(), "info.txt");
    cr_assert_eq(cli_sh("'%s/fedsim' info '%s' > '%s' 2>&1", bin, dir, log), 0, "%s",
                 cli_slurp_log(log));
    const char *out = cli_slurp(log);
    cr_assert(strstr(out, "686 tensors in 3 files (F32 0, BF16 686, F16 0)"), "%s", out);
    cr_assert(strstr(out, "7063427072"), "%s", out);
    cr_assert_eq(unlink(shard(dir, 1, 3)), 0);
    cr_assert_neq(cli_sh("'%s/fedsim' info '%s' > '%s' 2>&1", bin, dir, log), 0);
    out = cli_slurp(log);
    cr_assert(strstr(out, "model-00001-of-00003.safetensors") && strstr(out, "is missing"), "%s", out);
}

/* MiniGPT-4-7B as scripts/convert_minigpt4.py lays it out (BLIP-2's EVA
 * ViT-g, Q-Former, llama_proj, Vicuna-7B + <image>/<pad>): validates, counts
 * what the architecture implies part by part, loads frozen with the fused qkv
 * seen as three bf16 views, and fedsim info accounts for the Q-Former. */
Test(real_checkpoint, minigpt4_7b_validates_counts_and_loads_frozen)
{
    fs_llava_config cfg = fs_llava_config_minigpt4_7b();
    const char *dir = make_sparse(&cfg, FS_BF16);
    fs_llava_config got;
    fs_checkpoint_summary s;
    cr_assert_eq(fs_mllm_check_checkpoint(dir, &got, &s), 0, "%s", fs_last_error());
    /* Field by field: the preset's padding bytes are unspecified. */
    cr_assert(got.blip2 && fs_llava_config_same_sizes(&got, &cfg), "sizes did not read back");
    cr_assert(got.q_hidden == cfg.q_hidden && got.q_intermediate == cfg.q_intermediate &&
              got.q_layers == cfg.q_layers && got.q_heads == cfg.q_heads &&
              got.q_cross_freq == cfg.q_cross_freq && got.n_query_tokens == cfg.n_query_tokens &&
              got.q_layer_norm_eps == cfg.q_layer_norm_eps && got.v_qkv_bias &&
              got.v_layer_norm_eps == cfg.v_layer_norm_eps && got.t_rms_eps == cfg.t_rms_eps &&
              got.image_token_index == 32000 && got.pad_token_id == 32001,
              "the Q-Former, eps or token ids did not read back");
    cr_assert_eq(s.n_unused, 0);
    cr_assert_eq(s.n_by_dtype[FS_BF16], s.n_tensors);

    const size_t vh = 1408, vi = 6144, qh = 768, qi = 3072, th = 4096, ti = 11008;
    size_t eva_layer = 4 * vh + 3 * vh * vh + 3 * vh + vh * vh + vh + 2 * vi * vh + vi + vh;
    size_t vision = vh + 257 * vh + vh * 3 * 14 * 14 + vh + 39 * eva_layer + 2 * vh;
    size_t self = 4 * (qh * qh + qh) + 2 * qh, cross = 2 * (qh * qh + qh) + 2 * (qh * vh + qh) + 2 * qh;
    size_t ffn = 2 * qi * qh + qi + qh + 2 * qh;
    size_t qformer = 32 * qh + 2 * qh + 12 * (self + ffn) + 6 * cross;
    size_t llm = 2 * 32002 * th + 32 * (4 * th * th + 3 * th * ti + 2 * th) + th;
    fs_param_counts pc;
    cr_assert_eq(fs_mllm_count_params(&cfg, &pc), 0);
    cr_assert_eq(pc.vision, vision, "EVA ViT-g (39 blocks): %zu, expected %zu", pc.vision, vision);
    cr_assert_eq(pc.qformer, qformer, "Q-Former: %zu, expected %zu", pc.qformer, qformer);
    cr_assert_eq(pc.projector, th * qh + th);
    cr_assert_eq(pc.llm, llm);
    cr_assert_eq(s.n_params, pc.total);
    cr_assert_eq(pc.client, vision + qformer + th * qh + th + 32002 * th);

    fs_mllm *m = fs_mllm_load_frozen(dir, fs_backend_cpu());
    cr_assert(m, "%s", fs_last_error());
    const fs_vit_layer *L = &m->vit.layers[38];
    cr_assert(L->qkv_w.dtype == FS_BF16 && L->q_w.dtype == FS_BF16 && L->v_b.dtype == FS_F32);
    cr_assert_eq((char *)L->k_w.data - (char *)L->qkv_w.data, (long)(vh * vh * 2));
    cr_assert_eq((char *)L->v_w.data - (char *)L->qkv_w.data, (long)(2 * vh * vh * 2));
    cr_assert_eq(L->k_w.shape[0], (int64_t)vh);
    cr_assert_eq(m->qformer.query_tokens.dtype, FS_F32, "query tokens are added, not multiplied");
    cr_assert_eq(m->n_image_tokens, 32);
    fs_mllm_free(m);

    const char *bin = getenv("FEDSIM_BUILD_DIR");
    cr_assert(bin, "FEDSIM_BUILD_DIR is not set (run through ctest)");
    const char *log = tu_path_in(tu_tmpdir_tracked(), "info.txt");
    cr_assert_eq(cli_sh("'%s/fedsim' info '%s' > '%s' 2>&1", bin, dir, log), 0, "%s",
                 cli_slurp_log(log));
    const char *out = cli_slurp(log);
    cr_assert(strstr(out, "MiniGPT-4 / BLIP-2 (EVA ViT 39 layers x 1408, Q-Former 12 layers x 768 "
                          "with 32 query tokens, linear projection, LLaMA 32 layers x 4096, vocab "
                          "32002)"), "%s", out);
    cr_log_info("%s", out);
}
