#include "sim/api/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/synth.h"
#include "datasets/task_builder.h"
#include "sim/fed/comm.h"
#include "sim/fed/memory_plan.h"
#include "sim/io/error.h"
#include "sim/io/fingerprint.h"
#include "sim/io/progress.h"

#ifndef FEDSIM_VERSION
#define FEDSIM_VERSION "unknown"
#endif

static const char *data_cache_dir(void)
{
    static char dir[4096];
    const char *env = getenv("FEDSIM_DATA_CACHE");
    if (env && *env) return env;
    const char *home = getenv("HOME");
    snprintf(dir, sizeof dir, "%s/.cache/fedsim/datasets", home && *home ? home : "/tmp");
    return dir;
}

static int load_one_dataset(fs_experiment *x, const char *name, const char *root,
                            const fs_config *cfg, fs_task *out)
{
    char dir[4096];
    if (root && *root) {
        snprintf(dir, sizeof dir, "%s", root);
    } else if (!strncmp(name, "synth-", 6)) {
        if (fs_synth_ensure(name, data_cache_dir(), 0, x->model->cfg.v_image_size, dir, sizeof dir))
            return -1;
    } else {
        return fs_fail("data.dataset %s needs data.root: the directory of a dataset in fedsim's "
                       "format (import one with 'fedsim data import')",
                       name);
    }
    return fs_task_load_clip(dir, x->tok, x->model, &x->clip, cfg->partition_key, out);
}

static int load_task(fs_experiment *x, const fs_config *cfg)
{
    if (strcmp(cfg->dataset, "mix"))
        return load_one_dataset(x, cfg->dataset, cfg->data_root, cfg, &x->task);
    /* Cross-task heterogeneity: both synthetic tasks, told apart by source. */
    fs_task second;
    if (load_one_dataset(x, "synth-iconqa", NULL, cfg, &x->task)) return -1;
    if (load_one_dataset(x, "synth-scienceqa", NULL, cfg, &second)) {
        fs_task_free(&x->task);
        return -1;
    }
    int rc = fs_task_concat(&x->task, &second, 1);
    fs_task_free(&second);
    if (rc) fs_task_free(&x->task);
    return rc;
}

/* x->provenance: the fedsim version (the code that computed the numbers),
 * the backend actually used (CPU and CUDA agree within tolerances, not bit
 * for bit), the model's fingerprint, and the data: synthetic datasets by
 * their generator's generation, a data.root by a fingerprint of its files,
 * both with the example counts of the loaded splits. */
static int describe_provenance(fs_experiment *x, const fs_config *cfg)
{
    int train = 0;
    for (int i = 0; i < x->task.n; i++) train += x->task.samples[i].split == FS_SPLIT_TRAIN;
    char data[128];
    uint64_t h;
    if (cfg->data_root[0]) {
        if (fs_fingerprint_path(cfg->data_root, &h)) return fs_fail_context("data.root %s", cfg->data_root);
        snprintf(data, sizeof data, "files %016llx", (unsigned long long)h);
    } else {
        snprintf(data, sizeof data, "synthetic generation %d", FS_SYNTH_GENERATION);
    }
    snprintf(x->provenance, sizeof x->provenance,
             "fedsim %s\nbackend %s\nmodel %s\ndata %s, %s, %d train and %d test examples\n",
             FEDSIM_VERSION, x->ops->name, x->model_digest, cfg->dataset, data, train,
             x->task.n - train);
    return 0;
}

int fs_experiment_prepare(fs_experiment *x, const fs_config *cfg)
{
    const char *why = NULL;
    const fs_ops *ops = fs_backend_by_name(cfg->backend, &why);
    if (!ops) return fs_fail("runtime.backend %s: %s", cfg->backend, why ? why : "not available");
    fs_set_threads(cfg->threads ? cfg->threads : fs_comm_auto_threads());
    char model_key[sizeof x->model_key], task_key[sizeof x->task_key];
    snprintf(model_key, sizeof model_key, "%s|%s", cfg->model_path, ops->name);
    snprintf(task_key, sizeof task_key, "%s|%s|%s|%s|%d", model_key, cfg->dataset, cfg->data_root,
             cfg->partition_key, cfg->rows_per_pass);
    if (x->model && !strcmp(model_key, x->model_key) && !strcmp(task_key, x->task_key)) return 0;
    if (!x->model || strcmp(model_key, x->model_key)) {
        fs_experiment_free(x);
        x->ops = ops;
        double t0 = fs_now();
        uint64_t digest;
        if (!x->quiet) fprintf(stderr, "fedsim: loading model %s ...\n", cfg->model_path);
        if (fs_fingerprint_path(cfg->model_path, &digest))
            return fs_fail_context("model.path %s", cfg->model_path);
        snprintf(x->model_digest, sizeof x->model_digest, "%016llx", (unsigned long long)digest);
        /* Frozen: the run never changes the MLLM, so its matrices stay as stored
         * (a 7B bf16 checkpoint is mmapped on the CPU, 14 GB on the GPU). */
        if (!(x->model = fs_mllm_load_frozen(cfg->model_path, ops)) ||
            !(x->tok = fs_tokenizer_load(cfg->model_path)) ||
            fs_clip_options_load(cfg->model_path, x->model->cfg.v_image_size, &x->clip)) {
            fs_fail_context("model.path %s", cfg->model_path);
            return -1;
        }
        snprintf(x->model_key, sizeof x->model_key, "%s", model_key);
        if (!x->quiet) fprintf(stderr, "fedsim: model loaded in %.1f s\n", fs_now() - t0);
    }
    fs_engine_free(x->engine);
    x->engine = NULL;
    if (x->have_task) fs_task_free(&x->task);
    x->have_task = false;
    if (load_task(x, cfg)) return -1;
    x->have_task = true;
    if (describe_provenance(x, cfg)) return -1;
    fs_progress bar;
    fs_progress_start_count(&bar, "image features", "images", x->task.n_images, x->quiet);
    if (!(x->engine = fs_engine_new(x->model, &x->task, cfg->rows_per_pass)) ||
        fs_engine_cache_features_progress(x->engine, &bar))
        return -1;
    fs_progress_finish_count(&bar);
    snprintf(x->task_key, sizeof x->task_key, "%s", task_key);
    if (!x->quiet)
        fprintf(stderr, "fedsim: %s on %s: %d examples, %d images cached, %d categories (%s)\n",
                cfg->model_path, cfg->dataset, x->task.n, x->task.n_images, x->task.n_categories,
                ops->name);
    return 0;
}

void fs_experiment_free(fs_experiment *x)
{
    fs_engine_free(x->engine);
    if (x->have_task) fs_task_free(&x->task);
    fs_tokenizer_free(x->tok);
    fs_mllm_free(x->model);
    bool quiet = x->quiet;
    memset(x, 0, sizeof *x); /* provenance too: it describes what was loaded */
    x->quiet = quiet;
}

/* The identity of cfg's methods[method] (-1: of the cell): a hex digest of
 * fs_config_identity_yaml and x->provenance. */
static int identity_of(const fs_experiment *x, const fs_config *cfg, int method, char out[17])
{
    char *yaml = fs_config_identity_yaml(cfg, method);
    if (!yaml) return -1;
    uint64_t h = fs_hash64(FS_HASH64_SEED, yaml, strlen(yaml));
    h = fs_hash64(h, x->provenance, strlen(x->provenance));
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    free(yaml);
    return 0;
}

/* The line of provenance text p that starts with word (e.g. "model"), as
 * "%.*s" arguments: its length (0: none) and *at. */
static int provenance_line(const char *p, const char *word, const char **at)
{
    size_t n = strlen(word);
    for (const char *s = p; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
        if (!strncmp(s, word, n) && s[n] == ' ') {
            *at = s;
            return (int)strcspn(s, "\n");
        }
    return 0;
}

/* The config keys (and with this run's provenance, when given, the model,
 * data, backend and version) that differ between stored entry e and cfg,
 * as text into what; how many. */
static int differences(const char *path, const fs_result_entry *e, const fs_config *cfg,
                       int method, const char *provenance, char *what, size_t cap)
{
    fs_config *was = malloc(sizeof *was);
    char where[600];
    int n = 0;
    what[0] = 0;
    snprintf(where, sizeof where, "%s:/%s/%s", path, e->cell, e->method);
    if (was && !fs_config_load_string(e->config_yaml, where, NULL, 0, was))
        n = fs_config_diff(was, cfg, method, what, cap);
    free(was);
    static const char *const parts[] = {"fedsim", "backend", "model", "data"};
    for (int i = 0; provenance && i < 4; i++) {
        const char *a = NULL, *b = NULL;
        int na = provenance_line(e->provenance, parts[i], &a);
        int nb = provenance_line(provenance, parts[i], &b);
        if (na == nb && (!na || !strncmp(a, b, (size_t)na))) continue;
        size_t used = strlen(what);
        snprintf(what + used, cap - used, "%s%.*s -> %.*s", used ? ", " : "", na ? na : 4,
                 na ? a : "none", nb, b);
        n++;
    }
    return n < 0 ? 0 : n;
}

/* Fails naming what differs between the stored entry e and this run
 * (provenance NULL: the config only, before anything is loaded). */
static int refuse(const char *path, const fs_result_entry *e, const fs_config *cfg, int method,
                  const char *provenance, bool others)
{
    char what[2048];
    if (!e->identity[0])
        snprintf(what, sizeof what, "it was written by a fedsim that did not record what its "
                 "numbers depend on");
    else if (!differences(path, e, cfg, method, provenance, what, sizeof what))
        snprintf(what, sizeof what, "its identity %s is not this run's", e->identity);
    return fs_fail("results file '%s' already holds /%s/%s%s, computed under another "
                   "configuration: %s. Re-run with --force to replace %s (the old results stay "
                   "until the new ones are complete), or write elsewhere (--set output.dir=DIR "
                   "or --set name=NAME)",
                   path, e->cell, e->method, others ? " (and other methods of this cell)" : "",
                   what, others ? "them" : "it");
}

/* The index of method name in cfg, or -1. */
static int method_index(const fs_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_methods; i++)
        if (!strcmp(name, cfg->methods[i].method->name)) return i;
    return -1;
}

/* Settings that differ are told before the model and data load (minutes for
 * a 7B model): the finished methods of the cell (e[0..n)) whose stored config
 * differs from cfg, or that predate identities. -1 (with the message) when
 * one does and there is no --force. */
static int refuse_other_settings(const char *path, const fs_result_entry *e, int n,
                                 const fs_config *cfg, bool force)
{
    const fs_result_entry *first = NULL;
    int count = 0, first_method = -1;
    char what[2048];
    for (int j = 0; j < n && !force; j++) {
        if (!e[j].complete) continue;
        int m = method_index(cfg, e[j].method);
        if (e[j].identity[0] && !differences(path, &e[j], cfg, m, NULL, what, sizeof what))
            continue;
        if (!count++) first = &e[j], first_method = m;
    }
    return first ? refuse(path, first, cfg, first_method, NULL, count > 1) : 0;
}

int fs_experiment_run_cell(fs_experiment *x, const fs_config *cfg, fs_results *results,
                           const char *cell, const fs_cell_opts *opts)
{
    fs_result_entry *e = NULL;
    int n = 0;
    /* Rank 0's results decide (the other ranks have none): every rank must
     * run the same methods. */
    if (results && (fs_results_list_cell(fs_results_path(results), cell, &e, &n) ||
                    refuse_other_settings(fs_results_path(results), e, n, cfg, opts->force))) {
        fs_results_list_free(e, n);
        return -1;
    }
    fs_partition_plan plan;
    /* the memory plan comes before anything that grows with the config */
    if (fs_experiment_prepare(x, cfg) || fs_memory_plan_check(cfg, &x->task, x->model, !x->quiet) ||
        fs_plan_partition(&x->task, cfg, &plan)) {
        fs_results_list_free(e, n);
        return -1;
    }
    if (cfg->validation > 0 && !x->quiet)
        fprintf(stderr, "fedsim: evaluating on a validation split (%d of the training samples, "
                "data.validation %g), not on test\n", plan.global_test.n, cfg->validation);
    char cell_id[17], ids[FS_MAX_METHODS][17];
    const char *names[FS_MAX_METHODS], *idp[FS_MAX_METHODS];
    bool done[FS_MAX_METHODS] = {0};
    int rc = -1, ran = 0;
    char *cell_yaml = fs_config_to_yaml(cfg);
    if (!cell_yaml || identity_of(x, cfg, -1, cell_id)) goto out;
    for (int i = 0; i < cfg->n_methods; i++) {
        names[i] = cfg->methods[i].method->name;
        idp[i] = ids[i];
        if (identity_of(x, cfg, i, ids[i])) goto out;
    }
    if (results) {
        const fs_result_entry *conflict = NULL;
        int conflict_method = -1, conflicts = 0;
        for (int j = 0; j < n; j++) {
            if (!e[j].complete) continue;
            int m = method_index(cfg, e[j].method);
            bool same = !strcmp(e[j].cell_identity, cell_id) &&
                        (m < 0 || !strcmp(e[j].identity, ids[m]));
            if (same && m >= 0) done[m] = true;
            if (same) continue;
            if (!conflicts++) conflict = &e[j], conflict_method = m;
            if (opts->force && !x->quiet)
                fprintf(stderr, "fedsim: --force: %s/%s holds results of another configuration; "
                        "%s\n", cell, e[j].method, m >= 0 ? "re-running it"
                        : "it goes once a new method of the cell is complete");
        }
        if (conflicts && !opts->force) {
            refuse(fs_results_path(results), conflict, cfg, conflict_method, x->provenance,
                   conflicts > 1);
            goto out;
        }
        fs_results_stamp stamp = {.cell = cell, .cell_identity = cell_id, .config_yaml = cell_yaml,
                                  .provenance = x->provenance, .axes = opts->axes,
                                  .n_axes = opts->n_axes, .methods = names,
                                  .method_identities = idp, .n_methods = cfg->n_methods};
        if (fs_results_set_stamp(results, &stamp)) goto out;
    }
    rc = 0;
    for (int i = 0; i < cfg->n_methods && !rc; i++) {
        if ((rc = fs_comm_broadcast(&done[i], sizeof done[i]))) break;
        if (done[i]) {
            if (!x->quiet) fprintf(stderr, "fedsim: %s %s already complete, skipped\n", cell, names[i]);
            continue;
        }
        fs_progress_opts progress = {.quiet = x->quiet, .label = cell};
        rc = fs_run_method(x->engine, &x->task, cfg, &cfg->methods[i], &plan, results, cell,
                           &progress, NULL);
        ran++;
    }
out:
    if (results) fs_results_set_stamp(results, NULL);
    fs_results_list_free(e, n);
    free(cell_yaml);
    fs_plan_free(&plan);
    return rc ? -1 : ran;
}

int fs_make_output_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0755) && errno != EEXIST) break;
            *p = '/';
        }
    if (mkdir(path, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create the output directory: %s", dir, strerror(errno));
    return 0;
}
