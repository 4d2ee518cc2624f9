/* fedsim run | sweep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/api/experiment.h"
#include "sim/cli/commands.h"
#include "sim/cli/report.h"
#include "sim/fed/comm.h"
#include "sim/io/error.h"
#include "sim/io/interrupt.h"
#include "sim/io/progress.h"

enum { MAX_OVERRIDES = 64, MAX_CELLS_UNASKED = 10000 };

typedef struct {
    const char *config;
    const char *overrides[MAX_OVERRIDES + 2];
    int n_overrides;
    const char *sweeps[FS_MAX_SWEEP_KEYS]; /* --sweep key=v1,v2 */
    int n_sweeps;
    bool quiet, force, yes;
} run_args;

static void run_usage(FILE *f, const char *cmd)
{
    fprintf(f,
            "usage: fedsim %s CONFIG [--set key.sub=value]... [--backend cpu|cuda|auto]\n"
            "                 [--threads N] [--force] [--quiet]%s\n"
            "\n"
            "  CONFIG           YAML experiment (see configs/example.yaml)\n"
            "  --set k=v        override any key of the YAML (repeatable), e.g. --set federation.rounds=3\n"
            "  --backend NAME   same as --set runtime.backend=NAME\n"
            "  --threads N      same as --set runtime.threads=N\n"
            "  --force          re-run methods whose stored results came from another config\n"
            "                   (without it such a re-run stops and names the keys that differ)\n"
            "%s"
            "  --quiet          no progress lines\n"
            "%s"
            "Under 'mpirun -np N fedsim %s' the clients are shared out over N processes (one\n"
            "GPU each with the cuda backend), with the same results for any N.\n",
            cmd, !strcmp(cmd, "sweep") ? " [--sweep key=v1,v2]... [--yes]" : "",
            !strcmp(cmd, "sweep")
                ? "  --sweep k=v1,v2  sweep key k over these values (repeatable): replaces the\n"
                  "                   config's sweep values of k, or adds k as an axis\n"
                  "  --yes            run a sweep of more than 10,000 cells\n"
                : "",
            !strcmp(cmd, "sweep")
                ? "\nRuns every cell of the config's sweep: section (the cartesian product of its\n"
                  "values) into one HDF5 file; a config without one runs as a single cell. A\n"
                  "restarted sweep skips cells finished under the same config.\n"
                : "\nRuns every listed method; writes <output.dir>/<name>.h5 and <name>.png and\n"
                  "prints the results table. A re-run skips methods finished under the same config.\n",
            cmd);
    fs_methods_print(f);
}

/* 0 ok, 1 help shown, 2 usage error */
static int parse(int argc, char **argv, const char *cmd, run_args *a)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},         {"quiet", no_argument, NULL, 'q'},
        {"force", no_argument, NULL, 'f'},        {"yes", no_argument, NULL, 'y'},
        {"sweep", required_argument, NULL, 'w'},  {"set", required_argument, NULL, 's'},
        {"backend", required_argument, NULL, 'b'}, {"threads", required_argument, NULL, 't'},
        {0}};
    static char backend[64], threads[64];
    bool sweep = !strcmp(cmd, "sweep");
    memset(a, 0, sizeof *a);
    for (int c; (c = fs_cli_getopt(argc, argv, cmd, "hq", opts)) != -1;) {
        const char *v = optarg;
        switch (c) {
        case 'h': run_usage(stdout, cmd); return 1;
        case 'q': a->quiet = true; continue;
        case 'f': a->force = true; continue;
        case 'y':
            if (!sweep) break;
            a->yes = true;
            continue;
        case 'w':
            if (!sweep) {
                fprintf(stderr, "fedsim run: --sweep makes a sweep; use 'fedsim sweep CONFIG "
                                "--sweep %s'\n", v);
                return 2;
            }
            if (a->n_sweeps == FS_MAX_SWEEP_KEYS) {
                fprintf(stderr, "fedsim sweep: at most %d --sweep keys\n", FS_MAX_SWEEP_KEYS);
                return 2;
            }
            a->sweeps[a->n_sweeps++] = v;
            continue;
        case 's': case 'b': case 't':
            if (a->n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "fedsim %s: at most %d overrides\n", cmd, MAX_OVERRIDES);
                return 2;
            }
            if (c == 'b') snprintf(backend, sizeof backend, "runtime.backend=%s", v), v = backend;
            if (c == 't') snprintf(threads, sizeof threads, "runtime.threads=%s", v), v = threads;
            a->overrides[a->n_overrides++] = v;
            continue;
        }
        if (c == 'y') fprintf(stderr, "fedsim run: unknown option '--yes' (a sweep's)\n\n");
        run_usage(stderr, cmd);
        return 2;
    }
    if (fs_cli_operand(argc, argv, cmd, &a->config) || !a->config) {
        run_usage(stderr, cmd);
        return 2;
    }
    return 0;
}

/* Prints why the command failed and returns rc; under mpirun the failing rank
 * says which it is and ends the whole job, so that no rank waits forever for
 * it in a collective. */
static int failed(const char *cmd, int rc)
{
    if (fs_comm_size() > 1) {
        fprintf(stderr, "fedsim %s: rank %d of %d: %s\n", cmd, fs_comm_rank(), fs_comm_size(),
                fs_last_error());
        fs_comm_abort(rc);
    }
    fprintf(stderr, "fedsim %s: %s\n", cmd, fs_last_error());
    return rc;
}

static int run_or_sweep(int argc, char **argv, bool sweep)
{
    const char *cmd = sweep ? "sweep" : "run";
    run_args a;
    int p = parse(argc, argv, cmd, &a);
    if (p) return p == 1 ? 0 : 2;
    fs_config cfg;
    if (fs_config_load(a.config, a.overrides, a.n_overrides, &cfg)) return failed(cmd, 2);
    if (fs_comm_size() > 1 && cfg.checkpoint_every > 0) {
        fs_fail("%s: output.checkpoint_every: mid-run checkpoints are not supported under "
                "mpirun yet; set it to 0 (finished methods are still saved)", cfg.source_path);
        return failed(cmd, 2);
    }
    if (!sweep && cfg.n_sweep) {
        fprintf(stderr, "fedsim run: %s has a sweep: section; use 'fedsim sweep %s'\n", a.config,
                a.config);
        return 2;
    }
    for (int i = 0; i < a.n_sweeps; i++)
        if (fs_config_add_sweep(&cfg, a.sweeps[i])) return failed(cmd, 2);
    long cells = fs_config_sweep_cells(&cfg);
    if (sweep && cells > MAX_CELLS_UNASKED && !a.yes) {
        fs_fail("%s: the sweep has %ld cells (over %d); pass --yes to run them all, or sweep "
                "fewer values", a.config, cells, MAX_CELLS_UNASKED);
        return failed(cmd, 2);
    }
    char h5[4400], png[4400];
    snprintf(h5, sizeof h5, "%s/%s.h5", cfg.output_dir, cfg.name);
    snprintf(png, sizeof png, "%s/%s.png", cfg.output_dir, cfg.name);
    /* Under mpirun every rank runs every cell (each its share of the clients);
     * rank 0 alone writes the results, reports and talks. */
    bool writer = fs_comm_rank() == 0;
    fs_results *res = NULL;
    fs_experiment x = {.quiet = a.quiet || !writer};
    int rc = 1;
    if (sweep && !cfg.n_sweep && !x.quiet)
        fprintf(stderr, "fedsim sweep: %s has no sweep: section (and no --sweep); running it as "
                "one cell, '%s'\n", a.config, cfg.name);
    /* The results file is locked first: a second writer is refused before
     * any model is loaded. */
    if (fs_interrupt_install() ||
        (writer && (fs_make_output_dir(cfg.output_dir) || !(res = fs_results_open(h5)))))
        goto fail;
    double run_seconds = 0;
    int cells_run = 0;
    for (long c = 0; c < cells; c++) {
        if (fs_interrupted()) {
            fs_fail("interrupted before cell %ld of %ld", c + 1, cells);
            goto fail;
        }
        fs_config cell_cfg = cfg;
        char label[256];
        fs_cell_axis axes[FS_MAX_SWEEP_KEYS];
        const char *values[FS_MAX_SWEEP_KEYS];
        fs_cell_opts opts = {.axes = axes, .n_axes = cfg.n_sweep, .force = a.force};
        if (cfg.n_sweep) {
            if (fs_config_sweep_cell(&cfg, c, &cell_cfg, label, sizeof label) ||
                fs_config_sweep_values(&cfg, c, values))
                goto fail;
            for (int k = 0; k < cfg.n_sweep; k++)
                axes[k] = (fs_cell_axis){cfg.sweep[k].key, values[k],
                                         fs_config_key_type(cfg.sweep[k].key)};
        } else {
            snprintf(label, sizeof label, "%s", cfg.name);
        }
        if (sweep && !x.quiet) {
            /* ETA from the cells that ran methods (skipped ones take no time). */
            char eta[64] = "";
            if (cells_run)
                snprintf(eta, sizeof eta, ", ETA %.0f s", run_seconds / cells_run * (double)(cells - c));
            fprintf(stderr, "fedsim sweep: cell %ld/%ld (%ld done%s): %s\n", c + 1, cells, c, eta,
                    label);
        }
        double t0 = fs_now();
        int ran = fs_experiment_run_cell(&x, &cell_cfg, res, label, &opts);
        if (ran < 0) goto fail;
        if (ran) run_seconds += fs_now() - t0, cells_run++;
    }
    fs_results_close(res);
    res = NULL;
    fs_experiment_free(&x);
    if (writer) {
        if (fs_report(h5, png, a.quiet)) goto fail;
        printf("results: %s\n", h5);
    }
    return 0;
fail:
    if (fs_comm_size() > 1) failed(cmd, fs_interrupted() ? fs_interrupt_exit_code() : rc);
    fprintf(stderr, "fedsim %s: %s\n", cmd, fs_last_error());
    if (fs_interrupted()) { /* every finished method is already durable in h5 */
        fprintf(stderr, "fedsim %s: stopped; finished methods are saved in %s; %s\n", cmd, h5,
                cfg.checkpoint_every > 0
                    ? "run the same command again to resume from the last checkpoint (finished "
                      "methods are skipped)"
                    : "run the same command again to resume (finished methods are skipped)");
        rc = fs_interrupt_exit_code();
    }
    if (res) fs_results_close(res);
    fs_experiment_free(&x);
    return rc;
}

int fs_cmd_run(int argc, char **argv) { return run_or_sweep(argc, argv, false); }
int fs_cmd_sweep(int argc, char **argv) { return run_or_sweep(argc, argv, true); }
