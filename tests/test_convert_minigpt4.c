/* scripts/convert_minigpt4.py on size-faithful random stand-ins of the
 * published pieces (tests/reference/make_minigpt4_pieces.py: EVA ViT-g and
 * the BLIP-2 Q-Former at their real widths, fewer layers; a small LLaMA with
 * a trained SentencePiece tokenizer): the converted directory validates,
 * loads frozen, and computes MiniGPT-4's projected queries as the original
 * code does from the raw pieces; its tokenizer has <image> and <pad> where
 * config.json says; fedsim info accounts for it; bad pieces fail with a
 * message. Skips without the reference virtualenv (Python + torch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/clip_image.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "sim/model/mllm.h"
#include "sim/model/safetensors.h"
#include "sim/model/tokenizer.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static const char *py, *dir;

/* The stand-ins and conversions take about 700 MB: removed after the test. */
TestSuite(convert_minigpt4, .fini = tu_remove_tmpdirs);

/* Runs the converter on the stand-ins into <dir>/<out>; its exit status, output in <dir>/<out>.log. */
static int convert(const char *out, const char *extra)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --blip2 '%s/pieces/blip2.pth' --eva-vit '%s/pieces/eva_vit_g.pth' "
             "--minigpt4 '%s/pieces/minigpt4.pth' --llama '%s/pieces/vicuna' --out '%s/%s' %s "
             "> '%s/%s.log' 2>&1",
             py, tu_source_path("scripts/convert_minigpt4.py"), dir, dir, dir, dir, dir, out,
             extra, dir, out);
    return system(cmd);
}

static const char *log_of(const char *out)
{
    static char text[8192];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.log", dir, out);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = 0;
    return text;
}

Test(convert_minigpt4, stand_ins_convert_to_a_directory_that_computes_minigpt4, .timeout = 900)
{
    py = tu_venv_python_or_skip();
    dir = tu_tmpdir_tracked();
    char args[4200], path[4096];
    snprintf(args, sizeof args, "pieces '%s'", dir);
    tu_run_reference(py, "make_minigpt4_pieces.py", args, dir);
    /* BLIP-2 keeps the first 39 of EVA ViT-g's 40 blocks; here 1 of the 2. */
    cr_assert_eq(convert("f32", "--dtype f32 --vision-layers 1"), 0, "%s", log_of("f32"));
    snprintf(args, sizeof args, "reference '%s' '%s/f32' --layers 1", dir, dir);
    tu_run_reference(py, "make_minigpt4_pieces.py", args, dir);

    snprintf(path, sizeof path, "%s/f32", dir);
    fs_llava_config c;
    fs_checkpoint_summary s;
    cr_assert_eq(fs_mllm_check_checkpoint(path, &c, &s), 0, "%s", fs_last_error());
    cr_assert(c.blip2);
    cr_assert_eq(c.v_hidden, 1408);
    cr_assert_eq(c.v_intermediate, 6144);
    cr_assert_eq(c.v_heads, 16);
    cr_assert_eq(c.v_layers, 1);
    cr_assert_eq(c.v_image_size, 224);
    cr_assert_eq(c.q_hidden, 768);
    cr_assert_eq(c.q_layers, 2);
    cr_assert_eq(c.q_heads, 12);
    cr_assert_eq(c.q_cross_freq, 2);
    cr_assert_eq(c.n_query_tokens, 32);
    cr_assert_eq(c.t_vocab, 642, "640 pieces + <image> + <pad>");
    cr_assert_eq(c.image_token_index, 640);
    cr_assert_eq(c.pad_token_id, 641);
    cr_assert_eq(s.n_unused, 0, "unused tensor '%s' (dropped pieces must not be written)",
                 s.first_unused);
    cr_assert_eq(s.n_by_dtype[FS_F32], s.n_tensors);

    /* MiniGPT-4's image processing: the whole image resized to 224 x 224. */
    fs_clip_options clip;
    cr_assert_eq(fs_clip_options_load(path, 224, &clip), 0, "%s", fs_last_error());
    cr_assert(clip.do_resize && !clip.do_center_crop && clip.shortest_edge == 0);
    cr_assert_eq(clip.resize_h, 224);
    cr_assert_eq(clip.resize_w, 224);

    fs_tokenizer *tok = fs_tokenizer_load(path);
    cr_assert(tok, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_id(tok, FS_TOK_IMAGE), c.image_token_index);
    cr_assert_eq(fs_tokenizer_id(tok, FS_TOK_PAD), c.pad_token_id);
    fs_tokenizer_free(tok);

    const fs_ops *o = fs_backend_cpu();
    fs_mllm *m = fs_mllm_load_frozen(path, o);
    cr_assert(m, "%s", fs_last_error());
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    fs_st_archive *ref = fs_st_open(path);
    cr_assert(ref, "%s", fs_last_error());
    const fs_st_tensor *px = fs_st_find(ref, "pixel_values"), *ft = fs_st_find(ref, "image_features");
    cr_assert(px && ft);
    long npx = (long)px->shape[0] * px->shape[1] * px->shape[2] * px->shape[3];
    long nft = (long)ft->shape[0] * ft->shape[1] * ft->shape[2];
    float *pixels = malloc(sizeof(float) * npx), *want = malloc(sizeof(float) * nft);
    float *got = malloc(sizeof(float) * nft);
    cr_assert_eq(fs_st_read_f32(ref, "pixel_values", px->ndim, px->shape, pixels), 0);
    cr_assert_eq(fs_st_read_f32(ref, "image_features", ft->ndim, ft->shape, want), 0);
    int nimg = (int)px->shape[0];
    fs_vision_acts *va = fs_vision_acts_new(m, nimg);
    cr_assert(va, "%s", fs_last_error());
    cr_assert_eq(fs_mllm_encode_images(m, va, pixels, nimg, got), 0, "%s", fs_last_error());
    float err = tu_max_abs_diff(got, want, nft);
    cr_log_info("converted MiniGPT-4 vs the original computation on the raw pieces: projected "
                "queries max abs err %.3g", err);
    tu_assert_close(got, want, nft, 1e-3f, 1e-3f, "projected query tokens vs MiniGPT-4 on the pieces");
    fs_vision_acts_free(m, va);
    fs_mllm_free(m);
    fs_st_close(ref);
    free(pixels), free(want), free(got);

    /* fedsim run on the converted directory: its SentencePiece tokenizer with
     * <image> added, MiniGPT-4's template and image processing, 32 queries. */
    const char *bin = getenv("FEDSIM_BUILD_DIR");
    cr_assert(bin, "FEDSIM_BUILD_DIR is not set (run through ctest)");
    cr_assert_eq(cli_sh("'%s/fedsim' data synth synth-iconqa --out '%s/data' --train 12 --test 8 "
                        "> /dev/null", bin, dir), 0);
    snprintf(path, sizeof path, "%s/run.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "name: mgpt\nseed: 1\nmodel: { path: %s/f32 }\n"
               "data:\n  dataset: synth-iconqa\n  root: %s/data\n"
               "  partition: { clients: 2, dirichlet_alpha: 0.5, key: category, min_samples: 2 }\n"
               "federation: { rounds: 1, local_epochs: 1, batch_size: 4, eval_every: 1 }\n"
               "adapter: { rank: 2, alpha: 4 }\nmethods: [fednano]\n"
               "runtime: { backend: cpu, threads: 2 }\noutput: { dir: %s/out }\n", dir, dir, dir);
    fclose(f);
    char log[4200];
    snprintf(log, sizeof log, "%s/run.log", dir);
    cr_assert_eq(cli_sh("'%s/fedsim' run '%s' --quiet > '%s' 2>&1", bin, path, log), 0, "%s",
                 cli_slurp(log));
    snprintf(path, sizeof path, "%s/out/mgpt.h5", dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert(n == 1 && e[0].complete, "the fednano run did not complete");
    fs_results_list_free(e, n);

    /* The default: every tensor bf16, as the LLM is deployed. */
    cr_assert_eq(convert("bf16", ""), 0, "%s", log_of("bf16"));
    snprintf(path, sizeof path, "%s/bf16", dir);
    cr_assert_eq(fs_mllm_check_checkpoint(path, &c, &s), 0, "%s", fs_last_error());
    cr_assert_eq(s.n_by_dtype[FS_BF16], s.n_tensors);
    cr_assert_eq(c.v_layers, 2, "all the stand-in's blocks (fewer than 39) are kept by default");

    /* Pieces that do not belong together, and a missing one. */
    cr_assert_neq(convert("bad1", "--dtype f32 --minigpt4 /nonexistent.pth"), 0);
    cr_assert(strstr(log_of("bad1"), "/nonexistent.pth: no such file"), "%s", log_of("bad1"));
    snprintf(path, sizeof path, "%s/pieces/blip2.pth", dir);
    char extra[4200];
    snprintf(extra, sizeof extra, "--minigpt4 '%s'", path);
    cr_assert_neq(convert("bad2", extra), 0);
    cr_assert(strstr(log_of("bad2"), "llama_proj.weight' is missing"), "%s", log_of("bad2"));
    snprintf(path, sizeof path, "%s/bad2", dir);
    cr_assert(access(path, F_OK) != 0, "a failed conversion left %s behind", path);
}
