/* libfedsim's public API (include/fedsim.h) over the simulator's modules:
 * the experiment runner (experiment.h), the config loader and the results
 * store. Everything else in the library is internal. */
#include "fedsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/api/experiment.h"
#include "sim/io/error.h"
#include "sim/model/mllm.h"

struct fedsim_model {
    fs_mllm *m;
};

struct fedsim_run {
    fs_config cfg;
    fs_experiment x;
    fs_results *results; /* opened (and locked) on the first method run */
    char path[4400];
};

const char *fedsim_version(void) { return FEDSIM_VERSION; }
const char *fedsim_last_error(void) { return fs_last_error(); }

_Static_assert(FEDSIM_OP_OUT_OF_MEMORY == (int)FS_OP_OUT_OF_MEMORY &&
                   FEDSIM_OP_BAD_INPUT == (int)FS_OP_BAD_INPUT &&
                   FEDSIM_OP_DEVICE == (int)FS_OP_DEVICE &&
                   FEDSIM_OP_INTERNAL == (int)FS_OP_INTERNAL,
               "fedsim.h's op error kinds are kernels/ops.h's");

static fedsim_op_error_handler user_handler;

static void to_user_handler(fs_op_error_kind kind, const char *message, void *ctx)
{
    user_handler((int)kind, message, ctx);
}

void fedsim_set_op_error_handler(fedsim_op_error_handler h, void *ctx)
{
    user_handler = h;
    fs_set_op_error_handler(h ? to_user_handler : NULL, ctx);
}

fedsim_model *fedsim_model_load(const char *dir, const char *backend)
{
    const char *why = NULL;
    const fs_ops *ops = fs_backend_by_name(backend ? backend : "auto", &why);
    if (!ops) {
        fs_fail("backend %s: %s", backend, why ? why : "not available");
        return NULL;
    }
    fedsim_model *m = calloc(1, sizeof *m);
    if (!m) {
        fs_fail("out of memory");
        return NULL;
    }
    if (!(m->m = fs_mllm_load_frozen(dir, ops))) {
        free(m);
        return NULL;
    }
    return m;
}

long long fedsim_model_parameters(const fedsim_model *m)
{
    fs_param_counts pc;
    return m && !fs_mllm_count_params(&m->m->cfg, &pc) ? (long long)pc.total : -1;
}

int fedsim_model_hidden_size(const fedsim_model *m) { return m ? m->m->cfg.t_hidden : -1; }

void fedsim_model_free(fedsim_model *m)
{
    if (!m) return;
    fs_mllm_free(m->m);
    free(m);
}

/* A config as a run takes it: one cell, named after the config. */
static fedsim_run *run_new(fedsim_run *r, int loaded)
{
    if (!r) {
        fs_fail("out of memory");
        return NULL;
    }
    if (loaded) {
        free(r);
        return NULL;
    }
    if (r->cfg.n_sweep) {
        fs_fail("%s: has a sweep: section; libfedsim runs one cell (run its cells with "
                "'fedsim sweep')", r->cfg.source_path);
        free(r);
        return NULL;
    }
    snprintf(r->path, sizeof r->path, "%s/%s.h5", r->cfg.output_dir, r->cfg.name);
    return r;
}

fedsim_run *fedsim_run_from_file(const char *config_path, const char *const *overrides,
                                 int n_overrides)
{
    fedsim_run *r = calloc(1, sizeof *r);
    return run_new(r, r ? fs_config_load(config_path, overrides, n_overrides, &r->cfg) : 0);
}

fedsim_run *fedsim_run_from_yaml(const char *yaml, const char *name, const char *const *overrides,
                                 int n_overrides)
{
    fedsim_run *r = calloc(1, sizeof *r);
    return run_new(r, r ? fs_config_load_string(yaml, name ? name : "(yaml)", overrides,
                                                n_overrides, &r->cfg)
                        : 0);
}

int fedsim_run_method_count(const fedsim_run *r) { return r ? r->cfg.n_methods : 0; }

const char *fedsim_run_method_name(const fedsim_run *r, int i)
{
    return r && i >= 0 && i < r->cfg.n_methods ? r->cfg.methods[i].method->name : NULL;
}

const char *fedsim_run_results_path(const fedsim_run *r) { return r ? r->path : NULL; }

void fedsim_run_set_quiet(fedsim_run *r, int quiet)
{
    if (r) r->x.quiet = quiet != 0;
}

/* Runs the methods of cfg (all of r's, or one) as the run's cell. */
static int run_cell(fedsim_run *r, const fs_config *cfg)
{
    if (!r->results &&
        (fs_make_output_dir(r->cfg.output_dir) || !(r->results = fs_results_open(r->path))))
        return -1;
    fs_cell_opts opts = {0};
    return fs_experiment_run_cell(&r->x, cfg, r->results, r->cfg.name, &opts) < 0 ? -1 : 0;
}

int fedsim_run_all(fedsim_run *r)
{
    if (!r) return fs_fail("fedsim_run_all: no run");
    return run_cell(r, &r->cfg);
}

int fedsim_run_method(fedsim_run *r, const char *method)
{
    if (!r || !method) return fs_fail("fedsim_run_method: no run or method");
    for (int i = 0; i < r->cfg.n_methods; i++)
        if (!strcmp(method, r->cfg.methods[i].method->name)) {
            fs_config *one = malloc(sizeof *one);
            if (!one) return fs_fail("out of memory");
            *one = r->cfg;
            one->methods[0] = r->cfg.methods[i];
            one->n_methods = 1;
            int rc = run_cell(r, one);
            free(one);
            return rc;
        }
    return fs_fail("%s: method '%s' is not among the config's methods", r->cfg.source_path, method);
}

void fedsim_run_free(fedsim_run *r)
{
    if (!r) return;
    fs_results_close(r->results);
    fs_experiment_free(&r->x);
    free(r);
}

int fedsim_results_summary(const char *path, const char *cell, const char *method,
                           fedsim_summary *out)
{
    if (!path || !cell || !method || !out) return fs_fail("fedsim_results_summary: NULL argument");
    fs_result_entry *e;
    int n, i = 0, rc = -1;
    if (fs_results_list_cell(path, cell, &e, &n)) return -1;
    while (i < n && strcmp(e[i].method, method)) i++;
    fs_round_row *rows = NULL;
    int nrows = 0, rounds = 0;
    if (i == n)
        fs_fail("%s: no results for /%s/%s", path, cell, method);
    else if (!e[i].complete)
        fs_fail("%s: /%s/%s is not finished", path, cell, method);
    else if (!fs_results_read_rounds(path, cell, method, &rows, &nrows))
        rc = 0;
    for (int k = 0; k < nrows; k++)
        if (rows[k].round + 1 > rounds) rounds = rows[k].round + 1;
    if (!rc) {
        const fs_summary *s = &e[i].summary;
        *out = (fedsim_summary){.mean_acc = s->mean_acc, .worst_acc = s->worst_acc,
                                .global_acc = s->global_acc, .pooled_acc = s->sample_weighted_acc,
                                .upload_mb = s->upload_mb, .download_mb = s->download_mb,
                                .seconds = s->seconds, .clients_evaluated = s->clients_evaluated,
                                .rounds = rounds};
    }
    free(rows);
    fs_results_list_free(e, n);
    return rc;
}

int fedsim_run_summary(const fedsim_run *r, const char *method, fedsim_summary *out)
{
    if (!r) return fs_fail("fedsim_run_summary: no run");
    return fedsim_results_summary(r->path, r->cfg.name, method, out);
}
