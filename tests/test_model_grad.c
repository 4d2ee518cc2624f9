/* Whole-model finite-difference checks on the CPU: the gradient of the loss
 * w.r.t. the LLM input embeddings (federated path) and w.r.t. every weight
 * (pretraining path), on a tiny random LLaVA (and its MiniGPT-4-style
 * linear-projector variant); loading round trips, F32 and frozen. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/model/batch.h"
#include "sim/model/mllm.h"
#include "tests/helpers/llava_checkpoint.h"
#include "tests/helpers/testutil.h"

typedef struct {
    fs_mllm *m;
    fs_vision_acts *va;
    fs_llm_acts *la;
    fs_batch_buf bb;
    float *pixels, *features, *embeds, *dembeds, *dfeatures;
    int32_t *ids, *labels;
    int B, T, nimg, start_rows[4];
} fixture;

static fs_llava_config tiny_config(void)
{
    return (fs_llava_config){
        .v_hidden = 16, .v_intermediate = 24, .v_layers = 3, .v_heads = 2, .v_image_size = 8,
        .v_patch_size = 4, .v_channels = 3, .v_layer_norm_eps = 1e-5f,
        .t_vocab = 40, .t_hidden = 16, .t_intermediate = 24, .t_layers = 2, .t_heads = 4,
        .t_kv_heads = 2, .t_head_dim = 4, .t_max_pos = 64, .t_rms_eps = 1e-5f,
        .t_rope_theta = 10000.0f, .image_token_index = 39, .vision_feature_layer = -2,
        .projector_bias = true, .pad_token_id = 0,
    };
}

static void setup(fixture *f, const fs_llava_config *cfg)
{
    const fs_ops *o = fs_backend_cpu();
    f->m = fs_mllm_new_random(cfg, o, 42);
    cr_assert(f->m, "%s", fs_last_error());
    fs_mllm *m = f->m;
    f->B = 2;
    f->T = 3 + m->n_image_tokens + 4;
    f->nimg = 2;
    int N = f->B * f->T, d = cfg->t_hidden, S = cfg->v_image_size;
    tu_rng r = tu_rng_new(3);
    f->pixels = tu_rand_array(&r, (long)f->nimg * 3 * S * S, -1, 1);
    f->ids = malloc((size_t)N * sizeof *f->ids);
    f->labels = malloc((size_t)N * sizeof *f->labels);
    for (int b = 0; b < f->B; b++)
        for (int t = 0; t < f->T; t++) {
            int row = b * f->T + t, img = t >= 1 + b && t < 1 + b + m->n_image_tokens;
            f->ids[row] = img ? cfg->image_token_index : 1 + (row * 7) % (cfg->t_vocab - 2);
            f->labels[row] = t >= f->T - 3 ? f->ids[row] : FS_IGNORE_LABEL;
        }
    cr_assert_eq(fs_mllm_image_rows(m, f->ids, f->B, f->T, f->start_rows, 4), 2, "%s",
                 fs_last_error());
    cr_assert_eq(fs_batch_build(&f->bb, o, f->ids, f->labels, f->B, f->T, false), 0);
    f->va = fs_vision_acts_new(m, f->nimg);
    f->la = fs_llm_acts_new(m, N, N);
    cr_assert(f->va && f->la);
    f->features = calloc((size_t)f->nimg * m->n_image_tokens * d, sizeof(float));
    f->dfeatures = calloc((size_t)f->nimg * m->n_image_tokens * d, sizeof(float));
    f->embeds = calloc((size_t)N * d, sizeof(float));
    f->dembeds = calloc((size_t)N * d, sizeof(float));
}

static void teardown(fixture *f)
{
    fs_vision_acts_free(f->m, f->va);
    fs_llm_acts_free(f->m, f->la);
    fs_batch_free(&f->bb);
    fs_mllm_free(f->m);
    free(f->pixels), free(f->ids), free(f->labels), free(f->features), free(f->dfeatures);
    free(f->embeds), free(f->dembeds);
}

/* images -> features -> spliced embeddings -> loss */
static double full_loss(void *ctx)
{
    fixture *f = ctx;
    cr_assert_eq(fs_mllm_encode_images(f->m, f->va, f->pixels, f->nimg, f->features), 0);
    fs_mllm_embed_tokens(f->m, &f->bb.batch, f->embeds);
    fs_mllm_splice_images(f->m, f->embeds, f->features, f->nimg, f->start_rows);
    return fs_llm_forward(f->m, f->la, &f->bb.batch, f->embeds);
}

/* loss from the current embeds buffer */
static double llm_loss(void *ctx)
{
    fixture *f = ctx;
    return fs_llm_forward(f->m, f->la, &f->bb.batch, f->embeds);
}

Test(model_grad, input_embedding_gradient_matches_finite_differences)
{
    fixture f = {0};
    fs_llava_config cfg = tiny_config();
    setup(&f, &cfg);
    double loss = full_loss(&f);
    cr_assert(loss > 0 && isfinite(loss), "loss %g", loss);
    fs_llm_backward(f.m, f.la, &f.bb.batch, f.dembeds, NULL);
    long n = (long)f.B * f.T * cfg.t_hidden;
    double norm = 0;
    for (long i = 0; i < n; i++) norm += fabs(f.dembeds[i]);
    cr_assert(norm > 1e-3, "input gradient is (almost) zero: %g", norm);
    tu_check_grad(llm_loss, &f, f.embeds, n, f.dembeds, 1e-2f, 2e-4f, 2e-2f, 200, "d loss / d embeds");
    teardown(&f);
}

/* Finite differences for every weight whose name contains `only` (NULL: all). */
static void check_weights(fs_llava_config cfg, const char *only)
{
    fixture f = {0};
    setup(&f, &cfg);
    cr_assert_eq(fs_mllm_enable_grads(f.m), 0);
    full_loss(&f);
    fs_llm_backward(f.m, f.la, &f.bb.batch, f.dembeds, NULL);
    fs_mllm_gather_image_grads(f.m, f.dfeatures, f.dembeds, f.nimg, f.start_rows);
    fs_mllm_encode_images_backward(f.m, f.va, f.dfeatures, f.nimg);
    int n;
    fs_param_ref *list = fs_mllm_param_list(f.m, &n);
    int nonzero = 0;
    for (int i = 0; i < n; i++) {
        fs_tensor *t = list[i].slot;
        long numel = (long)fs_tensor_numel(t);
        float *g = fs_mllm_grad_of(f.m, t);
        for (long j = 0; j < numel; j++) nonzero += g[j] != 0;
        if (only && !strstr(list[i].name, only)) continue;
        tu_check_grad(full_loss, &f, t->data, numel, g, 1e-2f, 2e-4f, 2e-2f, 8, list[i].name);
    }
    cr_assert(nonzero > 1000, "only %d non-zero weight gradients", nonzero);
    free(list);
    teardown(&f);
}

Test(model_grad, every_weight_gradient_matches_finite_differences)
{
    check_weights(tiny_config(), NULL);
}

Test(model_grad, tied_embeddings_and_full_feature_strategy)
{
    fs_llava_config cfg = tiny_config();
    cfg.tie_word_embeddings = true;
    cfg.v_select_full = true;
    cfg.projector_bias = false;
    cfg.vision_feature_layer = 2;
    check_weights(cfg, NULL);
}

Test(model_grad, linear_projector_of_the_minigpt4_style_preset)
{
    fs_llava_config cfg = tiny_config();
    cfg.projector_linear = true;
    /* The projector, and the last vision layer the projector's input gradient reaches. */
    check_weights(cfg, "multi_modal_projector.");
    check_weights(cfg, "encoder.layers.1.mlp.fc2");
}

static void save_and_load_round_trip(fs_llava_config cfg)
{
    fixture f = {0};
    setup(&f, &cfg);
    double before = full_loss(&f);
    const char *dir = tu_tmpdir();
    cr_assert_eq(fs_mllm_save(f.m, dir), 0, "%s", fs_last_error());
    fs_mllm *loaded = fs_mllm_load(dir, fs_backend_cpu());
    cr_assert(loaded, "%s", fs_last_error());
    cr_assert_eq(loaded->nparams, f.m->nparams);
    cr_assert_eq(memcmp(loaded->params, f.m->params, f.m->nparams * sizeof(float)), 0,
                 "weights changed in the save/load round trip");
    fs_mllm_free(f.m);
    f.m = loaded;
    cr_assert_float_eq(full_loss(&f), before, 1e-6);
    teardown(&f);
}

Test(model_grad, save_and_load_round_trip_gives_the_same_loss)
{
    fs_llava_config cfg = tiny_config();
    save_and_load_round_trip(cfg);
    cfg.projector_linear = true;
    save_and_load_round_trip(cfg);
}

/* Loss, logits and input-embedding gradient of one pass of the checkpoint in
 * dir loaded by load (malloc'd copies); the fixture's model becomes it. */
typedef struct {
    double loss;
    float *logits, *dembeds;
} pass_out;

static pass_out run_loaded(fixture *f, fs_mllm *(*load)(const char *, const fs_ops *),
                           const char *dir, const fs_ops *ops)
{
    long nl = (long)f->bb.batch.n_targets * f->m->cfg.t_vocab;
    long ne = (long)f->B * f->T * f->m->cfg.t_hidden;
    fs_mllm_free(f->m);
    f->m = load(dir, ops);
    cr_assert(f->m, "%s", fs_last_error());
    memset(f->dembeds, 0, (size_t)ne * sizeof *f->dembeds);
    pass_out r = {full_loss(f), malloc((size_t)nl * sizeof(float)), malloc((size_t)ne * sizeof(float))};
    fs_llm_backward(f->m, f->la, &f->bb.batch, f->dembeds, NULL);
    memcpy(r.logits, fs_llm_logits(f->la), (size_t)nl * sizeof(float));
    memcpy(r.dembeds, f->dembeds, (size_t)ne * sizeof(float));
    return r;
}

static void expect_same_pass(const fixture *f, pass_out got, pass_out want, float tol, const char *what)
{
    long nl = (long)f->bb.batch.n_targets * f->m->cfg.t_vocab;
    long ne = (long)f->B * f->T * f->m->cfg.t_hidden;
    cr_log_info("%s", what);
    cr_assert_float_eq(got.loss, want.loss, tol * fabs(want.loss), "loss %g vs %g", got.loss, want.loss);
    tu_assert_close(got.logits, want.logits, nl, tol, 10 * tol, "logits");
    tu_assert_close(got.dembeds, want.dembeds, ne, tol / 10, 10 * tol, "d loss / d embeds");
    free(got.logits), free(got.dembeds);
}

/* 16-bit checkpoints in shards, laid out as the hub's, loaded frozen: on the
 * CPU the matrices are read in place from the mmapped files and give exactly
 * the F32 load's pass; on a device (here the CPU ops behind another table,
 * which takes the upload path) they are uploaded as bf16, F16 rounded to it. */
Test(model_grad, frozen_16bit_sharded_checkpoints_match_their_f32_load, .fini = tu_remove_tmpdirs)
{
    fs_llava_config cfg = tiny_config();
    static fs_ops device;
    device = *fs_backend_cpu();
    device.name = "cpu-as-device";
    for (fs_dtype dt = FS_BF16; dt <= FS_F16; dt++) {
        const char *dir = tu_path_in(tu_tmpdir_tracked(), "model");
        tu_ckpt_opts o = {.dtype = dt, .max_shard_bytes = 4096, .seed = 7};
        cr_assert_eq(tu_write_llava_checkpoint(dir, &cfg, &o), 0, "%s", fs_last_error());
        fs_checkpoint_summary s;
        cr_assert_eq(fs_mllm_check_checkpoint(dir, NULL, &s), 0, "%s", fs_last_error());
        cr_assert(s.n_files >= 3 && s.n_by_dtype[dt] == s.n_tensors, "%d files", s.n_files);
        fixture f = {0};
        setup(&f, &cfg);
        pass_out want = run_loaded(&f, fs_mllm_load, dir, fs_backend_cpu());
        pass_out mapped = run_loaded(&f, fs_mllm_load_frozen, dir, fs_backend_cpu());
        cr_assert(f.m->frozen && f.m->mapped && f.m->llm.embed.dtype == dt &&
                  f.m->llm.layers[1].down_w.dtype == dt, "the matrices were copied");
        expect_same_pass(&f, mapped, want, 1e-5f, "frozen, mmapped");
        pass_out uploaded = run_loaded(&f, fs_mllm_load_frozen, dir, &device);
        cr_assert(f.m->stored && !f.m->mapped && f.m->llm.embed.dtype == FS_BF16);
        /* bf16 keeps 8 significant bits: F16 weights move by up to 2^-9 relative. */
        expect_same_pass(&f, uploaded, want, dt == FS_BF16 ? 1e-5f : 2e-2f, "frozen, uploaded");
        cr_assert_eq(fs_mllm_save(f.m, tu_path_in(dir, "copy")), -1, "saved a frozen model");
        free(want.logits), free(want.dembeds);
        teardown(&f);
    }
}
