/* bench/bench_round and its PyTorch reference measure the same thing: the
 * config the reference loads is the bench's shape, both models have the same
 * parameter count and sequence length, the FLOP count is the documented
 * formula, and 7B is refused on the CPU with one clear message. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/model/llava_config.h"
#include "sim/model/presets.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static char bench[1024];

static void find_bench(void)
{
    const char *build = getenv("FEDSIM_BUILD_DIR");
    snprintf(bench, sizeof bench, "%s/bench_round", build ? build : "build");
    cr_assert(access(bench, X_OK) == 0, "no bench_round binary at %s", bench);
}

TestSuite(bench_round, .init = find_bench, .fini = tu_remove_tmpdirs, .timeout = 300);

/* Line `line` (0-based) of a JSON-lines file, parsed. */
static cJSON *json_line(const char *path, int line)
{
    const char *text = cli_slurp(path);
    for (int i = 0; i < line && text; i++) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    cr_assert(text && *text, "%s has no line %d:\n%s", path, line + 1, cli_slurp(path));
    cJSON *j = cJSON_ParseWithOpts(text, NULL, false);
    cr_assert(j, "%s line %d is not JSON:\n%s", path, line + 1, text);
    return j;
}

static double num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert(cJSON_IsNumber(v), "no number \"%s\" in %s", key, cJSON_PrintUnformatted(j));
    return v->valuedouble;
}

Test(bench_round, written_config_is_the_7b_shape)
{
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(cli_sh("'%s' --shape 7b --write-config '%s/m' > '%s/out.json'", bench, dir, dir),
                 0);
    cJSON *j = json_line(tu_path_in(dir, "out.json"), 0);
    cr_assert_eq(num(j, "text_tokens"), 64);
    cJSON_Delete(j);
    fs_llava_config got, want = fs_llava_config_llava15_7b();
    cr_assert_eq(fs_llava_config_load(tu_path_in(dir, "m/config.json"), &got), 0, "%s",
                 fs_last_error());
    cr_assert(got.t_hidden == want.t_hidden && got.t_layers == want.t_layers &&
              got.t_intermediate == want.t_intermediate && got.t_vocab == want.t_vocab &&
              got.t_heads == want.t_heads && got.v_hidden == want.v_hidden &&
              got.v_layers == want.v_layers && got.v_image_size == want.v_image_size &&
              got.image_token_index == want.image_token_index);
}

/* quickstart: the shipped model's own config.json (read from the repository
 * root, ctest's working directory) and the quickstart's 31 text tokens. */
Test(bench_round, quickstart_shape_is_the_shipped_model)
{
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(cli_sh("'%s' --shape quickstart --write-config '%s/m' > '%s/out.json'", bench, dir,
                        dir),
                 0);
    cJSON *j = json_line(tu_path_in(dir, "out.json"), 0);
    cr_assert_eq(num(j, "text_tokens"), 31);
    cJSON_Delete(j);
    fs_llava_config got, want;
    cr_assert_eq(fs_llava_config_load(tu_path_in(dir, "m/config.json"), &got), 0, "%s",
                 fs_last_error());
    cr_assert_eq(fs_llava_config_load("models/tiny-llava/config.json", &want), 0, "%s",
                 fs_last_error());
    cr_assert(fs_llava_config_same_sizes(&got, &want), "--shape quickstart is not the shipped model");
}

/* tiny: d 96, 2 layers, 4 query / 2 kv heads of 24, intermediate 192, vocab
 * 512; 16 image + 16 text tokens. The documented count (bench_round.c's
 * header), by hand: P = 96*96 + 2*96*48 + 96*96 + 3*96*192 = 82944. */
Test(bench_round, tiny_round_reports_the_documented_flops)
{
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(cli_sh("'%s' --json --threads 1 --clients 1,4 --total-samples 8 --rounds 1 "
                        "> '%s/fs.json'", bench, dir), 0);
    const double T = 32, P = 82944, attn = 2 * 4 * 24 * T * T, head = 2.0 * 512 * 96;
    const double want = (2 * 2 * P * T + 2 * attn + head) + (2 * 2 * P * T + 4 * attn + head);
    for (int line = 0; line < 2; line++) {
        cJSON *j = json_line(tu_path_in(dir, "fs.json"), line);
        cr_assert_eq(num(j, "clients"), line ? 4 : 1);
        cr_assert_eq(num(j, "samples_per_client"), line ? 2 : 8);
        cr_assert_eq(num(j, "seq_len"), T);
        cr_assert_float_eq(num(j, "model_flops_per_sample"), want, 1e-6 * want);
        cr_assert(num(j, "samples_per_s") > 0 && num(j, "mfu") > 0);
        cr_assert(isfinite(num(j, "loss")));
        cJSON_Delete(j);
    }
}

Test(bench_round, refuses_7b_on_the_cpu_with_one_message)
{
    const char *dir = tu_tmpdir_tracked();
    int rc = cli_sh("'%s' --shape 7b --backend cpu > '%s/out' 2> '%s/err'", bench, dir, dir);
    cr_assert_neq(rc, 0);
    const char *err = cli_slurp(tu_path_in(dir, "err"));
    int lines = 0;
    for (const char *c = err; *c; c++) lines += *c == '\n';
    cr_assert(lines == 1 && strstr(err, "GB") && strstr(err, "--backend cuda"),
              "expected one line naming the memory and --backend cuda, got:\n%s", err);
}

/* The reference builds its transformers model from the written config: same
 * parameter count and tokens per sample as fedsim's model. */
Test(bench_round, torch_reference_has_the_same_model_and_samples)
{
    const char *py = tu_venv_python_or_skip(), *dir = tu_tmpdir_tracked();
    cr_assert_eq(cli_sh("'%s' --shape tiny --write-config '%s/m' > /dev/null", bench, dir), 0);
    cr_assert_eq(cli_sh("'%s' --json --threads 1 --clients 2 --total-samples 4 --rounds 1 "
                        "> '%s/fs.json'", bench, dir), 0);
    cr_assert_eq(cli_sh("'%s' '%s' --config '%s/m/config.json' --text-tokens 16 --threads 1 "
                        "--clients 2 --total-samples 4 --rounds 1 > '%s/th.json' 2> '%s/th.err'",
                        py, tu_source_path("bench/reference/round_torch.py"), dir, dir, dir),
                 0, "round_torch.py failed:\n%s", cli_slurp_log(tu_path_in(dir, "th.err")));
    cJSON *f = json_line(tu_path_in(dir, "fs.json"), 0);
    cJSON *t = json_line(tu_path_in(dir, "th.json"), 0);
    cr_assert_eq(num(t, "params"), num(f, "params"));
    cr_assert_eq(num(t, "seq_len"), num(f, "seq_len"));
    cr_assert_eq(num(t, "samples_per_client"), 2);
    cr_assert(num(t, "samples_per_s") > 0 && isfinite(num(t, "loss")));
    cJSON_Delete(f), cJSON_Delete(t);
}
