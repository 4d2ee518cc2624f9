#include "sim/cli/experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/task_builder.h"
#include "sim/fed/comm.h"
#include "sim/io/error.h"

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
        /* Frozen: the run never changes the MLLM, so its matrices stay as stored
         * (a 7B bf16 checkpoint is mmapped on the CPU, 14 GB on the GPU). */
        if (!(x->model = fs_mllm_load_frozen(cfg->model_path, ops)) ||
            !(x->tok = fs_tokenizer_load(cfg->model_path)) ||
            fs_clip_options_load(cfg->model_path, x->model->cfg.v_image_size, &x->clip)) {
            fs_fail_context("model.path %s", cfg->model_path);
            return -1;
        }
        snprintf(x->model_key, sizeof x->model_key, "%s", model_key);
    }
    fs_engine_free(x->engine);
    x->engine = NULL;
    if (x->have_task) fs_task_free(&x->task);
    x->have_task = false;
    if (load_task(x, cfg)) return -1;
    x->have_task = true;
    if (!(x->engine = fs_engine_new(x->model, &x->task, cfg->rows_per_pass)) ||
        fs_engine_cache_features(x->engine))
        return -1;
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
    memset(x, 0, sizeof *x);
    x->quiet = quiet;
}

int fs_experiment_run_cell(fs_experiment *x, const fs_config *cfg, fs_results *results,
                           const char *cell, bool skip_complete)
{
    fs_partition_plan plan;
    if (fs_experiment_prepare(x, cfg) || fs_plan_partition(&x->task, cfg, &plan)) return -1;
    int rc = 0;
    for (int i = 0; i < cfg->n_methods && !rc; i++) {
        const char *name = fs_method_name(cfg->methods[i].kind);
        /* Rank 0's results decide (the other ranks have none): every rank
         * must run the same methods. */
        bool done = skip_complete && results && fs_results_is_complete(results, cell, name);
        if ((rc = fs_comm_broadcast(&done, sizeof done))) break;
        if (done) {
            if (!x->quiet) fprintf(stderr, "fedsim: %s %s already complete, skipped\n", cell, name);
            continue;
        }
        fs_progress_opts progress = {.quiet = x->quiet, .label = cell};
        rc = fs_run_method(x->engine, &x->task, cfg, &cfg->methods[i], &plan, results, cell,
                           &progress, NULL);
    }
    fs_plan_free(&plan);
    return rc;
}
