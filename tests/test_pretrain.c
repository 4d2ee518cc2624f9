/* `fedsim pretrain CONFIG`: the YAML configuration (shipped file, every error
 * naming file:line:key) and a short pretraining run that must lower the loss. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "kernels/ops.h"
#include "sim/io/pretrain_config.h"
#include "sim/model/llava_config.h"
#include "sim/model/mllm.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static const char *write_yaml(const char *text)
{
    const char *path = tu_path_in(tu_tmpdir_tracked(), "pretrain.yaml");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_error(const char *yaml, const char *needle)
{
    fs_pretrain_config pc;
    fs_pretrain_config_defaults(&pc);
    const char *path = write_yaml(yaml);
    cr_assert_eq(fs_pretrain_config_load(path, &pc), -1, "accepted: %s", yaml);
    cr_assert_not_null(strstr(fs_last_error(), needle), "message \"%s\" lacks \"%s\"", fs_last_error(),
                       needle);
    cr_assert_not_null(strstr(fs_last_error(), path), "message \"%s\" does not name the file",
                       fs_last_error());
}

Test(pretrain, shipped_config_sets_every_key_to_its_default)
{
    fs_pretrain_config defaults, pc;
    fs_pretrain_config_defaults(&defaults);
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load(tu_source_path("configs/pretrain-tiny.yaml"), &pc), 0, "%s",
                 fs_last_error());
    cr_assert_str_eq(pc.out, "build/pretrain-tiny");
    cr_assert_eq(fs_pretrain_config_check(&pc), 0, "%s", fs_last_error());
    cr_assert_eq(fs_pretrain_config_check(&defaults), -1, "no output directory must be refused");
    defaults.out = pc.out;
    cr_assert_eq(fs_pretrain_config_check(&defaults), 0, "%s", fs_last_error());
    cr_assert_eq(memcmp(&pc.model, &defaults.model, sizeof pc.model), 0, "model differs from the preset");
    cr_assert(pc.steps == defaults.steps && pc.batch == defaults.batch && pc.corpus == defaults.corpus &&
              pc.lr == defaults.lr && pc.eval_every == defaults.eval_every && pc.seed == defaults.seed);
    for (int s = 0; s < FS_SOURCE_COUNT; s++) cr_assert(pc.mix.weight[s] == defaults.mix.weight[s]);
    cr_assert(pc.mix.answers == defaults.mix.answers && pc.mix.n_held_out == defaults.mix.n_held_out);
    cr_assert(pc.vision_steps == defaults.vision_steps && pc.vision_lr == defaults.vision_lr &&
              pc.vision_trained_after == defaults.vision_trained_after);
    for (int i = 0; i < pc.mix.n_held_out; i++)
        cr_assert_str_eq(pc.mix.held_out[i], defaults.mix.held_out[i]);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* scripts/pretrain-default.sh runs configs/pretrain-default/NN-*.yaml in name
 * order: each must validate, write where its name says, continue the piece
 * before it, and have the shipped model's architecture. */
Test(pretrain, default_model_recipe_is_a_chain_ending_in_the_shipped_architecture)
{
    fs_llava_config shipped;
    cr_assert_eq(fs_llava_config_load(tu_source_path("models/tiny-llava/config.json"), &shipped), 0,
                 "%s", fs_last_error());
    struct dirent **e;
    int n = scandir(tu_source_path("configs/pretrain-default"), &e, NULL, by_name), pieces = 0;
    cr_assert_gt(n, 0);
    char prev[4096] = "";
    for (int i = 0; i < n; i++) {
        const char *name = e[i]->d_name;
        size_t len = strlen(name);
        if (len > 5 && !strcmp(name + len - 5, ".yaml")) {
            char rel[512], want[600];
            snprintf(rel, sizeof rel, "configs/pretrain-default/%s", name);
            fs_pretrain_config pc;
            fs_pretrain_config_defaults(&pc);
            cr_assert_eq(fs_pretrain_config_load(tu_source_path(rel), &pc), 0, "%s", fs_last_error());
            cr_assert_eq(fs_pretrain_config_check(&pc), 0, "%s: %s", rel, fs_last_error());
            snprintf(want, sizeof want, "build/pretrain-default/%.*s", (int)(len - 5), name);
            cr_assert_str_eq(pc.out, want, "%s", rel);
            cr_assert_eq(atoi(name), ++pieces, "%s: pieces are numbered 01, 02, ...", rel);
            if (pieces == 1) cr_assert_null(pc.init, "%s: the first piece starts from scratch", rel);
            else cr_assert(pc.init && !strcmp(pc.init, prev), "%s: init should be %s", rel, prev);
            snprintf(prev, sizeof prev, "%s", pc.out);
            cr_assert(fs_llava_config_same_sizes(&pc.model, &shipped),
                      "%s: not the architecture of models/tiny-llava", rel);
        }
        free(e[i]);
    }
    free(e);
    cr_assert_geq(pieces, 2);
}

Test(pretrain, config_overrides_nested_keys_and_derives_head_size)
{
    fs_pretrain_config pc;
    fs_pretrain_config_defaults(&pc);
    const char *path = write_yaml("out: /tmp/x\nmodel:\n  projector: linear\n"
                                  "  llm: { hidden: 128, heads: 8, kv_heads: 4, layers: 3 }\n"
                                  "corpus: { held_out: [spatial], mix: { captions: 0 }, answers: words }\n"
                                  "train: { steps: 7, lr: 1e-3 }\nthreads: auto\n");
    cr_assert_eq(fs_pretrain_config_load(path, &pc), 0, "%s", fs_last_error());
    cr_assert_eq(fs_pretrain_config_check(&pc), 0, "%s", fs_last_error());
    cr_assert(pc.model.t_hidden == 128 && pc.model.t_heads == 8 && pc.model.t_kv_heads == 4 &&
              pc.model.t_layers == 3 && pc.model.t_head_dim == 16 && pc.model.projector_linear);
    cr_assert(pc.steps == 7 && fabs(pc.lr - 1e-3) < 1e-15 && pc.mix.weight[FS_SOURCE_CAPTIONS] == 0 && pc.threads == 0);
    cr_assert(pc.mix.n_held_out == 1 && !strcmp(pc.mix.held_out[0], "spatial") &&
              pc.mix.answers == FS_ANSWER_WORDS);
}

/* Pretrain's keys go through the run configuration's walk: a misspelt key
 * gets the closest known one, as in `fedsim run` configs. */
Test(pretrain, misspelt_config_key_names_file_line_and_the_key_meant)
{
    expect_error("out: m\ntrain:\n  stpes: 3\n", ":3: train.stpes: unknown key (did you mean 'steps'?)");
    expect_error("trian: { steps: 3 }\n", ":1: trian: unknown key (did you mean 'train'?)");
    expect_error("model:\n  vision: { hidden: 64, layer: 2 }\n",
                 ":2: model.vision.layer: unknown key (did you mean 'layers'?)");
    expect_error("out: m\nout: n\n", ":2: out: duplicate key (first given at line 1)");
}

Test(pretrain, config_errors_name_file_line_and_key)
{
    expect_error("train: { batch: 100000 }\n", ":1: train.batch: expected an integer in [1, 256], got '100000'");
    expect_error("train:\n  lr: fast\n", ":2: train.lr: expected a number in [1e-12, 10], got 'fast'");
    expect_error("model: { llm: { layers: 2.5 } }\n", "model.llm.layers: expected an integer");
    expect_error("corpus: { held_out: arithmetic }\n", "corpus.held_out: expected a list");
    expect_error("corpus:\n  held_out: [map,\n    map]\n", ":3: corpus.held_out[1]: 'map' is listed twice");
    expect_error("model: 3\n", "model: expected a mapping");
    expect_error("model: { projector: qformer }\n", "model.projector: expected mlp2x_gelu");
    expect_error("corpus: { answers: numbers }\n", "corpus.answers: expected letters");
    expect_error("vision: { tower_after: thawed }\n", "vision.tower_after: expected frozen");
    expect_error("vision: { steps: -1 }\n", "vision.steps: expected an integer in [0, 100000000], got '-1'");
    expect_error("threads: 2000\n", "threads: expected auto or an integer in [0, 1024]");
    expect_error("train: { lr: .inf }\n", "train.lr: expected a number in [1e-12, 10], got '.inf'");
    expect_error("train: [1, 2\n", "YAML syntax error");
    char deep[64] = "train: ";
    for (int i = 0; i < 20; i++) strcat(deep, "[");
    for (int i = 0; i < 20; i++) strcat(deep, "]");
    expect_error(deep, ":1: collections nested more than 16 deep");
    fs_pretrain_config pc;
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load("/nonexistent/p.yaml", &pc), -1);
    cr_assert_not_null(strstr(fs_last_error(), "cannot open /nonexistent/p.yaml"), "%s", fs_last_error());
    /* consistency is checked after loading */
    const char *path = write_yaml("out: x\nmodel: { llm: { hidden: 100, heads: 3 } }\n");
    cr_assert_eq(fs_pretrain_config_load(path, &pc), 0, "%s", fs_last_error());
    cr_assert_eq(fs_pretrain_config_check(&pc), -1, "heads that do not divide hidden must be refused");
    /* the vision stage labels patches by scene cell: 32 px / 16 px patches is a 2 x 2 grid */
    path = write_yaml("out: x\nmodel: { patch_size: 16 }\nvision: { steps: 5 }\n");
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load(path, &pc), 0, "%s", fs_last_error());
    cr_assert_eq(fs_pretrain_config_check(&pc), -1, "a patch grid the scene grid does not divide");
    cr_assert_not_null(strstr(fs_last_error(), "multiple of 4"), "%s", fs_last_error());
    path = write_yaml("out: x\ncorpus: { verdicts: 1 }\n");
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load(path, &pc), -1, "verdicts is true or false");
    cr_assert_not_null(strstr(fs_last_error(), "corpus.verdicts: expected true or false"), "%s", fs_last_error());
    path = write_yaml("out: x\ncorpus: { verdicts: true }\n");
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load(path, &pc), 0, "%s", fs_last_error());
    cr_assert(pc.mix.verdicts);
    path = write_yaml("out: m1\ninit: m1\n");
    fs_pretrain_config_defaults(&pc);
    cr_assert_eq(fs_pretrain_config_load(path, &pc), 0, "%s", fs_last_error());
    cr_assert_str_eq(pc.init, "m1");
    cr_assert_eq(fs_pretrain_config_check(&pc), 0, "continuing in place: %s", fs_last_error());
}

/* Writes dir/name.yaml, "out: dir/name" followed by the YAML that fmt
 * formats, runs `fedsim pretrain` on it and returns its log; *status gets the
 * exit status. */
__attribute__((format(printf, 4, 5))) static const char *run_pretrain(const char *dir, const char *name,
                                                                        int *status, const char *fmt, ...)
{
    const char *fedsim = getenv("FEDSIM_BUILD_DIR");
    cr_assert_not_null(fedsim, "FEDSIM_BUILD_DIR is not set (ctest sets it)");
    char file[64];
    snprintf(file, sizeof file, "%s.yaml", name);
    const char *cfg = tu_path_in(dir, file);
    snprintf(file, sizeof file, "%s.log", name);
    const char *log = tu_path_in(dir, file);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f, "out: %s\n", tu_path_in(dir, name));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    *status = cli_sh("'%s/fedsim' pretrain '%s' > '%s' 2>&1", fedsim, cfg, log);
    return cli_slurp_log(log);
}

Test(pretrain, short_run_lowers_the_loss_and_writes_a_loadable_model, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    int st;
    const char *text = run_pretrain(dir, "model", &st, "threads: 2\ncorpus: { size: 400 }\n"
                                    "train: { steps: 60, batch: 8, eval_every: 30 }\n");
    cr_assert_eq(st, 0, "fedsim pretrain failed:\n%s", text);
    const char *final = strstr(text, "final loss ");
    cr_assert_not_null(final, "%s", text);
    double loss = atof(final + strlen("final loss "));
    /* a uniform guess over the 512-word vocabulary costs ln 512 = 6.24 nats */
    cr_assert(loss > 0 && loss < 5.0, "final loss %.3f did not fall well below ln(512)\n%s", loss, text);
    cr_assert_not_null(strstr(text, "held-out answer accuracy: "), "%s", text);
    cr_assert_eq(cli_sh("'%s/fedsim' info '%s' > /dev/null 2>&1", getenv("FEDSIM_BUILD_DIR"),
                        tu_path_in(dir, "model")), 0,
                 "the written model does not load");
}

/* fedsim pretrain with `vision_steps` of vision stage, `train_steps`
 * LLaVA-stage steps and the extra top-level YAML `extra`, into dir/name;
 * must succeed. Returns the log. */
static const char *pretrain_short(const char *dir, const char *name, int vision_steps, int train_steps,
                                  const char *extra)
{
    int st;
    const char *text = run_pretrain(dir, name, &st,
                                    "threads: 2\ncorpus: { size: 200 }\nvision: { steps: %d }\n"
                                    "train: { steps: %d, batch: 16, eval_every: 0 }\n%s",
                                    vision_steps, train_steps, extra);
    cr_assert_eq(st, 0, "fedsim pretrain failed:\n%s", text);
    return text;
}

/* The model in dir went on training from base with base's frozen tower: the
 * tower (the prefix of the parameters) is unchanged, the rest is not. */
static void assert_trained_on(const fs_mllm *base, const char *dir, size_t n_vision)
{
    fs_mllm *b = fs_mllm_load(dir, fs_backend_cpu());
    cr_assert(b, "%s", fs_last_error());
    cr_assert_eq(memcmp(base->params, b->params, n_vision * sizeof(float)), 0,
                 "%s: the LLaVA stage changed the frozen vision tower", dir);
    cr_assert_neq(memcmp(base->params + n_vision, b->params + n_vision,
                         (base->nparams - n_vision) * sizeof(float)), 0,
                  "%s: more steps left the projector and the LLM unchanged", dir);
    fs_mllm_free(b);
}

Test(pretrain, vision_stage_teaches_the_tower_to_see_then_freezes_it, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    const char *text = pretrain_short(dir, "short", 200, 2, "");
    const char *acc = strstr(text, "named right for ");
    cr_assert_not_null(acc, "%s", text);
    /* chance is 1 in 30 (6 colours x 5 shapes) */
    double pct = atof(acc + strlen("named right for "));
    cr_assert(pct > 80, "after 200 steps the tower names only %.1f%% of the objects\n%s", pct, text);
    pretrain_short(dir, "long", 200, 12, "");
    /* continuing "short" (init:) keeps its frozen tower too */
    char init[1100];
    snprintf(init, sizeof init, "init: %s\n", tu_path_in(dir, "short"));
    pretrain_short(dir, "continued", 0, 5, init);
    /* a different architecture cannot continue it */
    int st;
    text = run_pretrain(dir, "bad", &st, "%smodel: { llm: { layers: 3 } }\n", init);
    cr_assert_neq(st, 0);
    cr_assert_not_null(strstr(text, "is not the architecture"), "%s", text);
    fs_mllm *a = fs_mllm_load(tu_path_in(dir, "short"), fs_backend_cpu());
    fs_param_counts n;
    cr_assert(a, "%s", fs_last_error());
    /* a run into "short" that fails once training is set up leaves its model whole */
    text = run_pretrain(dir, "short", &st, "corpus: { held_out: [nowhere] }\n");
    cr_assert_neq(st, 0);
    cr_assert_not_null(strstr(text, "'nowhere' is not a category"), "%s", text);
    fs_mllm *kept = fs_mllm_load(tu_path_in(dir, "short"), fs_backend_cpu());
    cr_assert(kept, "%s", fs_last_error());
    cr_assert_eq(memcmp(a->params, kept->params, a->nparams * sizeof(float)), 0,
                 "a failed pretrain overwrote the model in its output directory");
    fs_mllm_free(kept);
    cr_assert_eq(fs_mllm_count_params(&a->cfg, &n), 0);
    assert_trained_on(a, tu_path_in(dir, "long"), n.vision);
    assert_trained_on(a, tu_path_in(dir, "continued"), n.vision);
    fs_mllm_free(a);
    /* continuing in place (init: = out:): the model is read whole at the start and
     * written only at the end */
    a = fs_mllm_load(tu_path_in(dir, "continued"), fs_backend_cpu());
    cr_assert(a, "%s", fs_last_error());
    snprintf(init, sizeof init, "init: %s\n", tu_path_in(dir, "continued"));
    pretrain_short(dir, "continued", 0, 3, init);
    assert_trained_on(a, tu_path_in(dir, "continued"), n.vision);
    fs_mllm_free(a);
}
