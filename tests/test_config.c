/* The configuration layer: loading, defaults, method forms, overrides, the
 * to_yaml round trip, sweeps, and above all the error messages (file, line
 * and key of every bad input). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config.h"
#include "sim/io/error.h"
#include "helpers/testutil.h"

/* The design's example, plus eval_every. Line numbers matter below. */
static const char *const full_yaml =
    "name: quickstart\n"                                                   /* 1 */
    "seed: 7\n"                                                            /* 2 */
    "model: { path: models/tiny-llava }            # or a real LLaVA\n"    /* 3 */
    "data:\n"                                                              /* 4 */
    "  dataset: synth-iconqa\n"                                            /* 5 */
    "  root: null\n"                                                       /* 6 */
    "  partition: { clients: 5, dirichlet_alpha: 0.5, key: category }\n"   /* 7 */
    "federation:\n"                                                        /* 8 */
    "  rounds: 10\n"                                                       /* 9 */
    "  participation: 1.0\n"                                               /* 10 */
    "  local_epochs: 1\n"                                                  /* 11 */
    "  batch_size: 16\n"                                                   /* 12 */
    "  eval_every: 2\n"                                                    /* 13 */
    "  optimizer: { name: adamw, lr: 2.0e-3, weight_decay: 0.0 }\n"        /* 14 */
    "adapter: { rank: 16, alpha: 32, targets: [image, text] }\n"           /* 15 */
    "methods:\n"                                                           /* 16 */
    "  - fedavg\n"                                                         /* 17 */
    "  - { name: fedprox, mu: 0.01 }\n"                                    /* 18 */
    "  - { name: feddpa_f, local_epochs: 1, instances: 5 }\n"                  /* 19 */
    "  - { name: fednano, fisher: { samples: 64, labels: sampled } }\n"    /* 20 */
    "  - fednano_ef\n"                                                     /* 21 */
    "  - centralized\n"                                                    /* 22 */
    "  - local\n"                                                          /* 23 */
    "runtime: { backend: auto, gpus: all, threads: auto }\n"               /* 24 */
    "output: { dir: results }\n";                                          /* 25 */

static char dir[256];

static void setup(void) { snprintf(dir, sizeof dir, "%s", tu_tmpdir()); }

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Writes text to <dir>/<name>; returns the path (static per call site use). */
static const char *write_file(const char *name, const char *text)
{
    static char path[4][512];
    static int which;
    char *p = path[which++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

static fs_config *load_ok(const char *text, const char *const *ov, int n)
{
    fs_config *c = malloc(sizeof *c);
    const char *p = write_file("ok.yaml", text);
    int rc = fs_config_load(p, ov, n, c);
    cr_assert_eq(rc, 0, "load failed: %s", fs_last_error());
    return c;
}

/* Loads text (written as bad.yaml) expecting failure; checks "bad.yaml:<line>:" and substrings. */
static void expect_error(const char *text, int line, const char *key, const char *what)
{
    fs_config *c = malloc(sizeof *c);
    const char *p = write_file("bad.yaml", text);
    fs_clear_error();
    int rc = fs_config_load(p, NULL, 0, c);
    const char *msg = fs_last_error();
    cr_assert_eq(rc, -1, "expected an error for:\n%s", text);
    char loc[600];
    snprintf(loc, sizeof loc, "%s:%d: ", p, line);
    cr_assert(strstr(msg, loc), "message lacks '%s': %s", loc, msg);
    if (key) {
        char k[200];
        snprintf(k, sizeof k, ": %s: ", key);
        cr_assert(strstr(msg, k), "message lacks key '%s': %s", key, msg);
    }
    if (what) cr_assert(strstr(msg, what), "message lacks '%s': %s", what, msg);
    cr_assert(!strchr(msg, '\n'), "message spans lines: %s", msg);
    static const fs_config zero;
    cr_assert(!memcmp(c, &zero, sizeof zero), "output not zeroed on error");
    free(c);
}

static void expect_set_error(const char *text, const char *ov, const char *what)
{
    fs_config *c = malloc(sizeof *c);
    const char *p = write_file("ok.yaml", text);
    const char *ovs[] = {ov};
    int rc = fs_config_load(p, ovs, 1, c);
    cr_assert_eq(rc, -1, "expected --set %s to fail", ov);
    char head[300];
    snprintf(head, sizeof head, "--set %s: ", ov);
    cr_assert(!strncmp(fs_last_error(), head, strlen(head)), "message should start with '%s': %s", head,
              fs_last_error());
    cr_assert(strstr(fs_last_error(), what), "message lacks '%s': %s", what, fs_last_error());
    free(c);
}

TestSuite(config, .init = setup, .fini = teardown);

/* The paper's seven methods in registry order, with their default parameters. */
static void assert_paper_methods_with_defaults(const fs_config *c)
{
    cr_assert_eq(c->n_methods, 7);
    for (int k = 0; k < 7; k++) cr_assert_eq(c->methods[k].method, fs_method_at(k));
    cr_assert_eq(fs_method_param(&c->methods[1], "mu"), 0.01);
    cr_assert_eq(fs_method_param(&c->methods[2], "local_epochs"), 1);
    cr_assert_eq(fs_method_param(&c->methods[2], "instances"), 5);
    cr_assert_eq(fs_method_param(&c->methods[3], "fisher.samples"), 64);
    cr_assert_eq(fs_method_param(&c->methods[3], "fisher.labels"), 0, "sampled");
    cr_assert(isnan(fs_method_param(&c->methods[0], "mu")), "fedavg has no parameter mu");
}

Test(config, full_example_loads_with_its_values)
{
    fs_config *c = load_ok(full_yaml, NULL, 0);
    cr_assert_str_eq(c->name, "quickstart");
    cr_assert_eq(c->seed, 7);
    cr_assert_str_eq(c->model_path, "models/tiny-llava");
    cr_assert_str_eq(c->dataset, "synth-iconqa");
    cr_assert_str_eq(c->data_root, "");
    cr_assert_eq(c->clients, 5);
    cr_assert_eq(c->dirichlet_alpha, 0.5);
    cr_assert_str_eq(c->partition_key, "category");
    cr_assert_eq(c->min_samples_per_client, 2);
    cr_assert_eq(c->max_train_samples, 0);
    cr_assert_eq(c->rounds, 10);
    cr_assert_eq(c->participation, 1.0);
    cr_assert_eq(c->local_epochs, 1);
    cr_assert_eq(c->batch_size, 16);
    cr_assert_eq(c->eval_every, 2);
    cr_assert_str_eq(c->optimizer, "adamw");
    cr_assert_eq(c->lr, 2.0e-3);
    cr_assert_eq(c->weight_decay, 0.0);
    cr_assert_eq(c->rank, 16);
    cr_assert_eq(c->adapter_alpha, 32.0);
    cr_assert(c->target_image && c->target_text);
    assert_paper_methods_with_defaults(c);
    cr_assert_str_eq(c->backend, "auto");
    cr_assert_eq(c->gpus, 0);
    cr_assert_eq(c->threads, 0);
    cr_assert_eq(c->rows_per_pass, 2048);
    cr_assert_str_eq(c->output_dir, "results");
    cr_assert_eq(c->checkpoint_every, 0);
    cr_assert_eq(c->n_sweep, 0);
    cr_assert(strstr(c->source_path, "ok.yaml"));
    free(c);
}

Test(config, defaults_fill_absent_keys)
{
    fs_config *c = malloc(sizeof *c);
    const char *p = write_file("my-run.yaml", "model: { path: m }\n");
    cr_assert_eq(fs_config_load(p, NULL, 0, c), 0, "%s", fs_last_error());
    cr_assert_str_eq(c->name, "my-run"); /* the file's stem */
    cr_assert_eq(c->seed, 0);
    cr_assert_str_eq(c->dataset, "synth-iconqa");
    cr_assert_str_eq(c->data_root, "");
    cr_assert_eq(c->clients, 5);
    cr_assert_eq(c->dirichlet_alpha, 0.5);
    cr_assert_str_eq(c->partition_key, "category");
    cr_assert_eq(c->min_samples_per_client, 2);
    cr_assert_eq(c->rounds, 10);
    cr_assert_eq(c->participation, 1.0);
    cr_assert_eq(c->local_epochs, 1);
    cr_assert_eq(c->batch_size, 16);
    cr_assert_eq(c->eval_every, 1);
    cr_assert_str_eq(c->optimizer, "adamw");
    cr_assert_eq(c->lr, 2e-3);
    cr_assert_eq(c->weight_decay, 0);
    cr_assert_eq(c->rank, 16);
    cr_assert_eq(c->adapter_alpha, 32);
    cr_assert(c->target_image && c->target_text);
    assert_paper_methods_with_defaults(c);
    cr_assert_str_eq(c->backend, "auto");
    cr_assert_eq(c->gpus, 0);
    cr_assert_eq(c->threads, 0);
    cr_assert_str_eq(c->output_dir, "results");
    cr_assert_eq(c->checkpoint_every, 0);
    free(c);
}

Test(config, method_names)
{
    const char *want[] = {"fedavg", "fedprox", "feddpa_f", "fednano", "fednano_ef", "centralized", "local"};
    for (int k = 0; k < 7; k++) {
        cr_assert_str_eq(fs_method_at(k)->name, want[k]);
        cr_assert(fs_method_at(k)->paper, "%s is one of the paper's methods", want[k]);
        cr_assert_eq(fs_method_find(want[k]), fs_method_at(k));
        cr_assert_eq(fs_method_index(fs_method_at(k)), k);
    }
    cr_assert_null(fs_method_at(fs_method_count()));
    cr_assert_null(fs_method_find("fedsgd"));
}

Test(config, scalar_and_mapping_method_forms)
{
    fs_config *c = load_ok("model: {path: m}\n"
                           "methods:\n"
                           "  - fednano_ef\n"
                           "  - name: fedprox\n"
                           "    mu: 0.25\n"
                           "  - {name: feddpa_f, instances: 3, local_epochs: 4}\n"
                           "  - {fisher: {labels: expected, samples: 8}, name: fednano}\n"
                           "  - {name: local}\n",
                           NULL, 0);
    cr_assert_eq(c->n_methods, 5);
    cr_assert_str_eq(c->methods[0].method->name, "fednano_ef");
    cr_assert_str_eq(c->methods[1].method->name, "fedprox");
    cr_assert_eq(fs_method_param(&c->methods[1], "mu"), 0.25);
    cr_assert_str_eq(c->methods[2].method->name, "feddpa_f");
    cr_assert_eq(fs_method_param(&c->methods[2], "instances"), 3);
    cr_assert_eq(fs_method_param(&c->methods[2], "local_epochs"), 4);
    cr_assert_str_eq(c->methods[3].method->name, "fednano");
    cr_assert_eq(fs_method_param(&c->methods[3], "fisher.samples"), 8);
    cr_assert(fs_method_param(&c->methods[3], "fisher.labels"));
    cr_assert_str_eq(c->methods[4].method->name, "local");
    free(c);
    c = load_ok("model: {path: m}\nmethods: fedavg, fednano\n", NULL, 0); /* one-line list */
    cr_assert_eq(c->n_methods, 2);
    cr_assert_str_eq(c->methods[1].method->name, "fednano");
    free(c);
}

Test(config, infinite_alpha_means_iid)
{
    const char *forms[] = {"inf", ".inf", ".Inf", "+.inf", "Infinity"};
    for (int i = 0; i < 5; i++) {
        char text[200];
        snprintf(text, sizeof text, "model: {path: m}\ndata: {partition: {dirichlet_alpha: %s}}\n", forms[i]);
        fs_config *c = load_ok(text, NULL, 0);
        cr_assert(isinf(c->dirichlet_alpha) && c->dirichlet_alpha > 0, "%s", forms[i]);
        free(c);
    }
    const char *ov[] = {"data.partition.dirichlet_alpha=inf"};
    fs_config *c = load_ok("model: {path: m}\n", ov, 1);
    cr_assert(isinf(c->dirichlet_alpha));
    free(c);
    expect_error("model: {path: m}\nfederation: {optimizer: {lr: .inf}}\n", 2, "federation.optimizer.lr",
                 "expected a positive number, got '.inf'");
}

Test(config, overrides_apply_on_top_of_the_file)
{
    const char *ov[] = {"federation.rounds=3",
                        "data.partition.dirichlet_alpha=0.1",
                        "federation.optimizer.lr=1e-4",
                        "methods.fedprox.mu=0.5",
                        "methods.fednano.fisher.labels=expected",
                        "adapter.targets=text",
                        "runtime.gpus=2",
                        "runtime.threads=8",
                        "runtime.rows_per_pass=512",
                        "data.root=/data/sqa",
                        "name=other",
                        "seed=18446744073709551615",
                        "model.path=models/x"};
    fs_config *c = load_ok(full_yaml, ov, 13);
    cr_assert_eq(c->rounds, 3);
    cr_assert_eq(c->dirichlet_alpha, 0.1);
    cr_assert_eq(c->lr, 1e-4);
    cr_assert_eq(fs_method_param(&c->methods[1], "mu"), 0.5);
    cr_assert(fs_method_param(&c->methods[3], "fisher.labels"));
    cr_assert(!c->target_image && c->target_text);
    cr_assert_eq(c->gpus, 2);
    cr_assert_eq(c->threads, 8);
    cr_assert_eq(c->rows_per_pass, 512);
    cr_assert_str_eq(c->data_root, "/data/sqa");
    cr_assert_str_eq(c->name, "other");
    cr_assert_eq(c->seed, UINT64_MAX);
    cr_assert_str_eq(c->model_path, "models/x");
    free(c);
    /* a methods list keeps the parameters of methods already listed, in the new order */
    const char *ov2[] = {"methods.fedprox.mu=0.3", "methods=fednano,fedprox", "data.root=null"};
    c = load_ok(full_yaml, ov2, 3);
    cr_assert_eq(c->n_methods, 2);
    cr_assert_str_eq(c->methods[0].method->name, "fednano");
    cr_assert_str_eq(c->methods[1].method->name, "fedprox");
    cr_assert_eq(fs_method_param(&c->methods[1], "mu"), 0.3);
    cr_assert_str_eq(c->data_root, "");
    free(c);
    /* model.path may come from --set alone */
    const char *ov3[] = {"model.path=models/y"};
    c = load_ok("seed: 1\n", ov3, 1);
    cr_assert_str_eq(c->model_path, "models/y");
    free(c);
}

static void assert_same_config(const fs_config *a, const fs_config *b)
{
    fs_config x = *a, y = *b;
    memset(x.source_path, 0, sizeof x.source_path);
    memset(y.source_path, 0, sizeof y.source_path);
    cr_assert_str_eq(x.name, y.name);
    cr_assert_eq(x.lr, y.lr);
    cr_assert_eq(x.n_methods, y.n_methods);
    cr_assert(!memcmp(&x, &y, sizeof x), "configs differ");
}

/* The parameters that make FedDPA-F, FedNano-EF and Centralized what their
 * papers compute (docs/METHODS.md): defaults, values, --set, round trip, errors. */
Test(config, method_fidelity_parameters)
{
    fs_config *c = load_ok("model: {path: m}\nmethods: [feddpa_f, fednano_ef, centralized]\n", NULL, 0);
    cr_assert_float_eq(fs_method_param(&c->methods[0], "mix"), 0.5, 0);
    cr_assert_eq(fs_method_param(&c->methods[0], "instances"), 5);
    cr_assert_float_eq(fs_method_param(&c->methods[0], "scale"), 0.5, 0);
    cr_assert(!fs_method_param(&c->methods[1], "at"), "at: last_epoch by default");
    cr_assert(!fs_method_param(&c->methods[2], "budget"), "budget: data by default");
    free(c);
    const char *text = "model: {path: m}\nmethods:\n"
                       "  - {name: feddpa_f, mix: 0.25, instances: 7, scale: 1.5}\n"
                       "  - {name: fednano_ef, at: final}\n"
                       "  - {name: centralized, budget: compute}\n";
    c = load_ok(text, NULL, 0);
    cr_assert_float_eq(fs_method_param(&c->methods[0], "mix"), 0.25, 0);
    cr_assert_eq(fs_method_param(&c->methods[0], "instances"), 7);
    cr_assert_float_eq(fs_method_param(&c->methods[0], "scale"), 1.5, 0);
    cr_assert(fs_method_param(&c->methods[1], "at"));
    cr_assert(fs_method_param(&c->methods[2], "budget"));
    char *yaml = fs_config_to_yaml(c);
    fs_config *b = malloc(sizeof *b);
    cr_assert_eq(fs_config_load_string(yaml, "mem", NULL, 0, b), 0, "%s\n%s", fs_last_error(), yaml);
    assert_same_config(c, b);
    cr_assert_eq(fs_config_set(b, "methods.fednano_ef.at", "last_epoch"), 0, "%s", fs_last_error());
    cr_assert(!fs_method_param(&b->methods[1], "at"));
    cr_assert_eq(fs_config_set(b, "methods.feddpa_f.mix", "1"), 0, "%s", fs_last_error());
    cr_assert_float_eq(fs_method_param(&b->methods[0], "mix"), 1.0, 0);
    free(yaml), free(b), free(c);
    expect_error("model: {path: m}\nmethods:\n  - {name: feddpa_f, mix: 1.5}\n", 3, NULL,
                 "a fraction in [0, 1]");
    expect_error("model: {path: m}\nmethods:\n  - {name: centralized, budget: steps}\n", 3, NULL,
                 "one of data | compute");
    expect_error("model: {path: m}\nmethods:\n  - {name: feddpa_f, top_k: 5}\n", 3, NULL, "top_k");
    expect_set_error("model: {path: m}\nmethods: [fednano_ef]\n", "methods.fednano_ef.at=middle",
                     "one of last_epoch | final");
}

Test(config, to_yaml_round_trips_exactly)
{
    const char *ov[] = {"federation.optimizer.lr=0.00012345678901234567",
                        "data.partition.dirichlet_alpha=.inf",
                        "federation.participation=0.3333333333333333",
                        "methods.fedprox.mu=1e-300",
                        "data.root=/data/a: b # not a comment",
                        "name=null-ish",
                        "output.dir=123",
                        "adapter.targets=image",
                        "runtime.gpus=4",
                        "seed=42"};
    fs_config *a = load_ok(full_yaml, ov, 10);
    char *yaml = fs_config_to_yaml(a);
    cr_assert(yaml, "%s", fs_last_error());
    cr_assert(!strstr(yaml, "sweep"));
    const char *p = write_file("round.yaml", yaml);
    fs_config *b = malloc(sizeof *b);
    cr_assert_eq(fs_config_load(p, NULL, 0, b), 0, "%s\n%s", fs_last_error(), yaml);
    assert_same_config(a, b);
    cr_assert_str_eq(b->output_dir, "123");
    cr_assert_str_eq(b->data_root, "/data/a: b # not a comment");
    /* and through the in-memory loader */
    cr_assert_eq(fs_config_load_string(yaml, "mem", NULL, 0, b), 0, "%s", fs_last_error());
    assert_same_config(a, b);
    cr_assert_str_eq(b->source_path, "mem");
    free(yaml);
    /* defaults (incl. null root, all/auto words) round trip too */
    free(a);
    a = load_ok("model: {path: \"yes\"}\n", NULL, 0);
    yaml = fs_config_to_yaml(a);
    cr_assert_eq(fs_config_load_string(yaml, "mem", NULL, 0, b), 0, "%s\n%s", fs_last_error(), yaml);
    assert_same_config(a, b);
    cr_assert_str_eq(b->model_path, "yes");
    free(yaml);
    free(a);
    free(b);
}

Test(config, sweep_section_parses)
{
    const char *text = "model: {path: m}\n"
                       "methods: [fedavg, {name: fedprox, mu: 0.2}, fednano]\n"
                       "sweep:\n"
                       "  data.partition.dirichlet_alpha: [0.1, 0.5, 1, 5, .inf]\n"
                       "  seed: [0, 1]\n"
                       "  methods.fedprox.mu: [0.01, 0.1]\n"
                       "  methods: [fedavg, fedprox]\n";
    fs_config *c = load_ok(text, NULL, 0);
    cr_assert_eq(c->n_sweep, 4);
    cr_assert_str_eq(c->sweep[0].key, "data.partition.dirichlet_alpha");
    cr_assert_eq(c->sweep[0].n_values, 5);
    cr_assert_str_eq(c->sweep[0].values[4], ".inf"); /* as written */
    cr_assert_str_eq(c->sweep[1].key, "seed");
    cr_assert_str_eq(c->sweep[3].key, "methods");
    cr_assert_str_eq(c->sweep[3].values[1], "fedprox");
    cr_assert_eq(fs_config_sweep_cells(c), 5 * 2 * 2 * 2);
    fs_config *cell = malloc(sizeof *cell);
    char label[256];
    long last = fs_config_sweep_cells(c) - 1;
    cr_assert_eq(fs_config_sweep_cell(c, last, cell, label, sizeof label), 0, "%s", fs_last_error());
    cr_assert_str_eq(label, "data.partition.dirichlet_alpha=.inf,seed=1,methods.fedprox.mu=0.1,methods=fedprox");
    cr_assert(isinf(cell->dirichlet_alpha));
    cr_assert_eq(cell->seed, 1);
    cr_assert_eq(cell->n_methods, 1);
    cr_assert_str_eq(cell->methods[0].method->name, "fedprox");
    cr_assert_eq(fs_method_param(&cell->methods[0], "mu"), 0.1);
    cr_assert_eq(cell->n_sweep, 0);
    cr_assert_eq(fs_config_sweep_cell(c, 0, cell, NULL, 0), 0, "%s", fs_last_error());
    cr_assert_eq(cell->dirichlet_alpha, 0.1);
    cr_assert_str_eq(cell->methods[0].method->name, "fedavg");
    cr_assert_eq(fs_config_sweep_cell(c, last + 1, cell, NULL, 0), -1);
    free(cell);
    free(c);
    /* list-valued keys take comma lists or flow lists per value */
    c = load_ok("model: {path: m}\nsweep:\n  adapter.targets: [image, [image, text], 'text']\n"
                "  methods: [[fedavg, fednano], local]\n", NULL, 0);
    cr_assert_str_eq(c->sweep[0].values[1], "image,text");
    cr_assert_str_eq(c->sweep[1].values[0], "fedavg,fednano");
    cr_assert_eq(fs_config_sweep_cell(c, 2, cell = malloc(sizeof *cell), label, sizeof label), 0, "%s",
                 fs_last_error());
    cr_assert_str_eq(label, "adapter.targets=image,text,methods=fedavg,fednano");
    cr_assert(cell->target_image && cell->target_text);
    cr_assert_eq(cell->n_methods, 2);
    cr_assert_str_eq(cell->methods[1].method->name, "fednano");
    free(cell);
    free(c);
    c = load_ok("model: {path: m}\n", NULL, 0);
    cr_assert_eq(fs_config_sweep_cells(c), 1);
    free(c);
}

Test(config, set_validates_and_leaves_config_unchanged_on_error)
{
    fs_config *c = load_ok(full_yaml, NULL, 0);
    fs_config *before = malloc(sizeof *before);
    cr_assert_eq(fs_config_set(c, "federation.rounds", "25"), 0, "%s", fs_last_error());
    cr_assert_eq(c->rounds, 25);
    cr_assert_eq(fs_config_set(c, "methods.feddpa_f.instances", "9"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_method_param(&c->methods[2], "instances"), 9);
    cr_assert(strstr(c->source_path, "ok.yaml"));
    memcpy(before, c, sizeof *c);
    struct { const char *k, *v, *msg; } bad[] = {
        {"federation.rounds", "ten", "federation.rounds=ten: expected a positive integer, got 'ten'"},
        {"federation.participation", "1.5", "expected a fraction in (0, 1], got '1.5'"},
        {"federation.optimizer.lr", "-1", "expected a positive number"},
        {"federation.roundz", "3", "unknown key (did you mean 'federation.rounds'?)"},
        {"adapter.targets", "audio", "got 'audio'"},
        {"methods", "fedavg,nope", "got 'nope'"},
        {"methods.fedavg.mu", "1", "fedavg has no parameter 'mu'"},
        {"model.path", "", "got nothing"},
        {"runtime.backend", "tpu", "expected one of auto | cpu | cuda"},
        {"sweep", "x", "cannot be overridden"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(fs_config_set(c, bad[i].k, bad[i].v), -1, "%s=%s accepted", bad[i].k, bad[i].v);
        cr_assert(strstr(fs_last_error(), bad[i].msg), "%s=%s: %s", bad[i].k, bad[i].v, fs_last_error());
        cr_assert(!memcmp(c, before, sizeof *c), "config changed by a failed set");
    }
    free(before);
    free(c);
}

Test(config, example_file_loads)
{
    fs_config *c = malloc(sizeof *c);
    cr_assert_eq(fs_config_load(tu_source_path("configs/example.yaml"), NULL, 0, c), 0, "%s", fs_last_error());
    /* every registered method, each with every key written out */
    cr_assert_eq(c->n_methods, fs_method_count());
    FILE *f = fopen(tu_source_path("configs/example.yaml"), "r");
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    /* every key of the table (the resolved YAML has them all) is in the file */
    char *resolved = fs_config_to_yaml(c);
    cr_assert_not_null(resolved, "%s", fs_last_error());
    for (char *line = strtok(resolved, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64];
        if (sscanf(line, " %63[a-z_]:", key) != 1) continue;
        strcat(key, ":");
        cr_assert(strstr(text, key), "configs/example.yaml does not show the key %s", key);
    }
    free(resolved);
    for (int i = 0; i < fs_method_count(); i++) {
        const fs_method *m = fs_method_at(i);
        cr_assert_eq(c->methods[i].method, m, "configs/example.yaml lists %s in registry order", m->name);
        for (int p = 0; p < m->n_params; p++) {
            char key[64];
            const char *leaf = strrchr(m->params[p].key, '.');
            snprintf(key, sizeof key, "%s:", leaf ? leaf + 1 : m->params[p].key);
            cr_assert(strstr(text, key), "configs/example.yaml does not show %s's key %s", m->name,
                      m->params[p].key);
        }
    }
    cr_assert_eq(c->n_sweep, 0);
    free(c);
}

/* ---- errors: file, line, key, expectation ---- */

Test(config, value_errors_name_file_line_and_key)
{
    expect_error("model: {path: m}\nfederation:\n  rounds: ten\n", 3, "federation.rounds",
                 "expected a positive integer, got 'ten'");
    expect_error("model: {path: m}\nfederation: {participation: 1.5}\n", 2, "federation.participation",
                 "got '1.5'");
    expect_error("model: {path: m}\nfederation: {participation: 0}\n", 2, "federation.participation", "got '0'");
    expect_error("model: {path: m}\nfederation:\n  optimizer:\n    lr: -0.1\n", 4, "federation.optimizer.lr",
                 "expected a positive number, got '-0.1'");
    expect_error("model: {path: m}\nfederation: {optimizer: {weight_decay: -1}}\n", 2,
                 "federation.optimizer.weight_decay", "non-negative");
    expect_error("model: {path: m}\nfederation: {optimizer: {name: adam}}\n", 2, "federation.optimizer.name",
                 "did you mean 'adamw'?");
    expect_error("model: {path: m}\ndata: {partition: {clients: 0}}\n", 2, "data.partition.clients", "got '0'");
    expect_error("model: {path: m}\ndata:\n  partition:\n    dirichlet_alpha: -1\n", 4,
                 "data.partition.dirichlet_alpha", "got '-1'");
    expect_error("model: {path: m}\nadapter: {rank: 0}\n", 2, "adapter.rank", "expected a positive integer");
    expect_error("model: {path: m}\nadapter: {alpha: 0}\n", 2, "adapter.alpha", "positive");
    expect_error("model: {path: m}\ndata: {dataset: cifar}\n", 2, "data.dataset",
                 "synth-iconqa | synth-scienceqa | scienceqa | iconqa | mix, got 'cifar'");
    expect_error("model: {path: m}\nruntime: {backend: tpu}\n", 2, "runtime.backend", "got 'tpu'");
    expect_error("model: {path: m}\nruntime: {gpus: 0}\n", 2, "runtime.gpus", "all or a positive integer");
    expect_error("model: {path: m}\nruntime: {threads: many}\n", 2, "runtime.threads", "auto or a positive");
    expect_error("model: {path: m}\nruntime: {rows_per_pass: 0}\n", 2, "runtime.rows_per_pass",
                 "expected a positive integer");
    expect_error("model: {path: m}\nadapter:\n  targets: []\n", 3, "adapter.targets", "empty list");
    expect_error("model: {path: m}\nadapter:\n  targets:\n    - image\n    - audio\n", 5, "adapter.targets[1]",
                 "got 'audio'");
    expect_error("model: {path: m}\nadapter: {targets: [text, text]}\n", 2, "adapter.targets[1]", "twice");
    expect_error("model: {path: m}\nfederation: {rounds: 99999999999}\n", 2, "federation.rounds", "too large");
    expect_error("model: {path: m}\nfederation: {rounds: 1.5}\n", 2, "federation.rounds", "got '1.5'");
    expect_error("model: {path: m}\nseed: -1\n", 2, "seed", "non-negative integer");
    expect_error("model: {path: m}\nfederation: {batch_size: }\n", 2, "federation.batch_size", "got nothing");
    expect_error("model: {path: m}\ndata: {partition: {key: [a]}}\n", 2, "data.partition.key", "got a list");
}

Test(config, method_errors)
{
    expect_error("model: {path: m}\nmethods:\n  - fedavg\n  - fedavgg\n", 4, "methods[1]",
                 "got 'fedavgg' (did you mean 'fedavg'?)");
    expect_error("model: {path: m}\nmethods:\n  - fedavg\n  - local\n  - fedavg\n", 5, "methods[2]",
                 "duplicate method 'fedavg' (already listed at line 3)");
    expect_error("model: {path: m}\nmethods:\n  - {name: fedprox}\n  - name: fedprox\n    mu: 1\n", 4,
                 "methods[1]", "duplicate method");
    expect_error("model: {path: m}\nmethods:\n  - {name: fednano, fisher: {labels: exact}}\n", 3,
                 "methods[0].fisher.labels", "expected one of sampled | expected, got 'exact'");
    expect_error("model: {path: m}\nmethods:\n  - {name: fednano, fisher: {samples: 0}}\n", 3,
                 "methods[0].fisher.samples", "positive integer");
    expect_error("model: {path: m}\nmethods:\n  - name: fedavg\n    mu: 0.1\n", 4, "methods[0].mu",
                 "fedavg has no parameter 'mu' (mu belongs to fedprox)");
    expect_error("model: {path: m}\nmethods:\n  - {mu: 0.1}\n", 3, "methods[0]", "missing key 'name'");
    expect_error("model: {path: m}\nmethods:\n  - {nam: fedavg}\n", 3, "methods[0].nam",
                 "unknown key (did you mean 'name'?)");
    expect_error("model: {path: m}\nmethods:\n  - {name: fedprox, muu: 0.1}\n", 3, "methods[0].muu",
                 "unknown key (did you mean 'mu'?)");
    expect_error("model: {path: m}\nmethods:\n  - {name: fedprox, mu: -1}\n", 3, "methods[0].mu", "non-negative");
    expect_error("model: {path: m}\nmethods: []\n", 2, "methods", "non-empty list");
    expect_error("model: {path: m}\nmethods:\n", 2, "methods", "got nothing");
    expect_error("model: {path: m}\nmethods:\n  - [fedavg]\n", 3, "methods[0]", "got a list");
}

Test(config, key_errors)
{
    expect_error("model: {path: m}\ndata:\n  partiton: {clients: 3}\n", 3, "data.partiton",
                 "unknown key (did you mean 'partition'?)");
    expect_error("model: {path: m}\nfederaton:\n  rounds: 3\n", 2, "federaton", "did you mean 'federation'?");
    expect_error("model: {path: m}\nfederation:\n  rounds: 3\n  optimizer: {name: sgd, learning_rate: 1}\n", 4,
                 "federation.optimizer.learning_rate", "unknown key (expected one of: name, lr, weight_decay)");
    expect_error("model: {path: m}\nbogus: 1\n", 2, "bogus", "unknown key");
    expect_error("model: {path: m}\ndata: {partition: {alpha: 1}}\n", 2, "data.partition.alpha",
                 "did you mean 'dirichlet_alpha'?");
    expect_error("model: {path: m}\nfederation:\n  rounds: 3\n  rounds: 4\n", 4, "federation.rounds",
                 "duplicate key (first given at line 3)");
    expect_error("model: {path: m}\ndata: 5\n", 2, "data", "expected a mapping with keys dataset, root");
    expect_error("model: m\n", 1, "model", "expected a mapping with keys path");
    expect_error("model: {path: m}\nfederation: {rounds: 3}\nfederation.rounds: 4\n", 3, "federation.rounds",
                 "dotted keys are for --set and sweep");
}

Test(config, file_level_errors)
{
    expect_error("model: {path: m}\nfederation:\n  rounds: [1\n", 4, NULL, "YAML syntax error");
    expect_error("model: {path: m}\nfederation:\n\trounds: 1\n", 3, NULL, "YAML syntax error");
    expect_error("model: {path: m}\n  bad indent: 1\n", 2, NULL, "YAML syntax error");
    expect_error("", 1, NULL, "the file is empty");
    expect_error("# nothing but a comment\n", 1, NULL, "the file is empty");
    expect_error("- a\n- b\n", 1, "top level", "expected a mapping of sections");
    expect_error("just a string\n", 1, "top level", "got 'just a string'");
    expect_error("seed: 1\n", 1, "model.path", "required key missing");
    expect_error("seed: 1\nmodel: {}\n", 2, "model.path", "required key missing");
    expect_error("model: {path: m}\n---\nseed: 2\n", 3, "top level", "second YAML document");
    expect_error("model: {path: \"a\\0b\"}\n", 1, "model.path", "NUL");
    expect_error("model: {path: \"\xff\xfe\"}\n", 1, NULL, "not a valid YAML text");

    fs_config *c = malloc(sizeof *c);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.yaml", dir);
    cr_assert_eq(fs_config_load(missing, NULL, 0, c), -1);
    char want[700];
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", missing);
    cr_assert_str_eq(fs_last_error(), want);
    cr_assert_eq(fs_config_load(dir, NULL, 0, c), -1);
    cr_assert(strstr(fs_last_error(), "Is a directory"), "%s", fs_last_error());
    free(c);
}

/* "seed: " then depth opening brackets of the given pair and their closings
 * (malloc'd), after a first line that makes the rest of the file valid. */
static char *nested_text(size_t depth, const char *open, const char *close)
{
    size_t n = strlen(open) + strlen(close), head = strlen("model: {path: m}\nseed: ");
    char *text = malloc(head + depth * n + 2);
    char *end = text + sprintf(text, "model: {path: m}\nseed: ");
    for (size_t i = 0; i < depth; i++) end += sprintf(end, "%s", open);
    for (size_t i = 0; i < depth; i++) end += sprintf(end, "%s", close);
    strcpy(end, "\n");
    return text;
}

/* Deep nesting is refused by depth, before libyaml builds the tree (which
 * took minutes for a few hundred KB of brackets); the limit is
 * FS_YAML_MAX_NESTING = 16 collections, the top-level mapping included. */
Test(config, deep_nesting_is_refused_by_depth)
{
    char *deep = nested_text(200000, "[", "]"); /* 400 KB */
    expect_error(deep, 2, NULL, "collections nested more than 16 deep");
    free(deep);
    deep = nested_text(50000, "{a: ", "}");
    expect_error(deep, 2, NULL, "collections nested more than 16 deep");
    free(deep);
    char *at_limit = nested_text(15, "[", "]"), *over = nested_text(16, "[", "]");
    expect_error(at_limit, 2, "seed", "got a list");
    expect_error(over, 2, NULL, "collections nested more than 16 deep");
    free(at_limit);
    free(over);
}

Test(config, overlong_strings_are_rejected)
{
    size_t n = 5000;
    char *text = malloc(n + 64);
    strcpy(text, "model: {path: ");
    memset(text + strlen(text), 'a', n);
    strcpy(text + 14 + n, "}\n");
    expect_error(text, 1, "model.path", "too long (5000 characters; at most 4095)");
    free(text);
    expect_error("model: {path: m}\ndata: {dataset: synth-iconqa-but-much-longer-than-32-chars}\n", 2,
                 "data.dataset", "expected one of");
    char name[300] = "model: {path: m}\nname: ";
    memset(name + strlen(name), 'x', 200);
    strcat(name, "\n");
    expect_error(name, 2, "name", "at most 127");
    expect_error("model: {path: m}\nname: a/b\n", 2, "name", "without '/'");
}

Test(config, set_errors)
{
    const char *ok = "model: {path: m}\nmethods: [fedavg]\n";
    expect_set_error(ok, "federation.roundz=3", "unknown key (did you mean 'federation.rounds'?)");
    expect_set_error(ok, "federation.rounds", "expected key=value");
    expect_set_error(ok, "=3", "expected key=value");
    expect_set_error(ok, "federation.rounds=ten", "expected a positive integer, got 'ten'");
    expect_set_error(ok, "federation.participation=1.5", "got '1.5'");
    expect_set_error(ok, "data=1", "'data' is a section");
    expect_set_error(ok, "methods.fedprox.mu=1", "method fedprox is not in methods (listed: fedavg)");
    expect_set_error(ok, "methods.fedavg.mu=1", "fedavg has no parameter 'mu'");
    expect_set_error(ok, "methods.fednano.fisher.sample=1", "did you mean 'methods.fednano.fisher.samples'?");
    expect_set_error(ok, "methods=fedavg,fedavg", "listed twice");
    expect_set_error(ok, "adapter.targets=", "got nothing");
    expect_set_error(ok, "sweep.seed=1", "cannot be overridden");
    const char *spaced[] = {" federation.rounds = 4 "};
    fs_config *c = load_ok(ok, spaced, 1);
    cr_assert_eq(c->rounds, 4);
    free(c);
}

Test(config, sweep_errors)
{
    expect_error("model: {path: m}\nsweep:\n  data.partition.alpha: [1, 2]\n", 3, "sweep.data.partition.alpha",
                 "did you mean 'data.partition.dirichlet_alpha'?");
    expect_error("model: {path: m}\nsweep:\n  federation.rounds: [1, ten]\n", 3, "sweep.federation.rounds[1]",
                 "expected a positive integer, got 'ten'");
    expect_error("model: {path: m}\nsweep:\n  federation.rounds: []\n", 3, "sweep.federation.rounds", "empty list");
    expect_error("model: {path: m}\nsweep:\n  federation.rounds: 5\n", 3, "sweep.federation.rounds",
                 "non-empty list of values");
    expect_error("model: {path: m}\nsweep:\n  seed: [1, 2, 1]\n", 3, "sweep.seed[2]", "listed twice");
    expect_error("model: {path: m}\nsweep:\n  methods: [fedavg, fedsgd]\n", 3, "sweep.methods[1]",
                 "got 'fedsgd'");
    expect_error("model: {path: m}\nmethods: [fedavg]\nsweep:\n  methods.fedprox.mu: [0.1]\n", 4,
                 "sweep.methods.fedprox.mu", "method fedprox is not in methods");
    expect_error("model: {path: m}\nsweep:\n  seed: [1]\n  seed: [2]\n", 4, "sweep.seed", "duplicate key");
    expect_error("model: {path: m}\nsweep: [seed]\n", 2, "sweep", "expected a mapping");
}

/* Truncations and byte mutations of a valid file never crash and always
 * either load or give a one-line message. */
Test(config, malformed_inputs_never_crash)
{
    size_t n = strlen(full_yaml);
    char *text = malloc(n + 1);
    fs_config *c = malloc(sizeof *c);
    const char subst[] = {':', '{', '[', '-', '#', '\'', '"', ' ', '\t', 'x', '&', '*', '!', '\0'};
    for (size_t cut = 0; cut <= n; cut += 3) {
        memcpy(text, full_yaml, cut);
        text[cut] = 0;
        if (fs_config_load_string(text, "cut.yaml", NULL, 0, c)) {
            cr_assert(fs_last_error()[0] && !strchr(fs_last_error(), '\n'), "%s", fs_last_error());
            cr_assert(!strncmp(fs_last_error(), "cut.yaml", 8), "%s", fs_last_error());
        }
    }
    for (size_t i = 0; i < n; i += 2) {
        memcpy(text, full_yaml, n + 1);
        text[i] = subst[(i / 2) % sizeof subst];
        if (!text[i]) text[i] = '%';
        if (fs_config_load_string(text, "mut.yaml", NULL, 0, c))
            cr_assert(!strncmp(fs_last_error(), "mut.yaml", 8), "%s", fs_last_error());
    }
    /* an alias cycle and a deep nest */
    cr_assert_eq(fs_config_load_string("model: {path: m}\nmethods: &a [*a]\n", "alias.yaml", NULL, 0, c), -1);
    cr_assert(strstr(fs_last_error(), "alias.yaml:"), "%s", fs_last_error());
    free(text);
    free(c);
}
