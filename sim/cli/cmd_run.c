/* fedsim run | sweep */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/fed/checkpoint.h"
#include "sim/fed/comm.h"
#include "sim/io/error.h"
#include "sim/io/interrupt.h"

enum { MAX_OVERRIDES = 64 };

typedef struct {
    const char *config;
    const char *overrides[MAX_OVERRIDES + 2];
    int n_overrides;
    bool quiet;
} run_args;

static void run_usage(FILE *f, const char *cmd)
{
    fprintf(f,
            "usage: fedsim %s CONFIG [--set key.sub=value]... [--backend cpu|cuda|auto]\n"
            "                 [--threads N] [--quiet]\n"
            "\n"
            "  CONFIG           YAML experiment (see configs/example.yaml)\n"
            "  --set k=v        override any key of the YAML (repeatable), e.g. --set federation.rounds=3\n"
            "  --backend NAME   same as --set runtime.backend=NAME\n"
            "  --threads N      same as --set runtime.threads=N\n"
            "  --quiet          no progress lines\n"
            "%s"
            "Under 'mpirun -np N fedsim %s' the clients are shared out over N processes (one\n"
            "GPU each with the cuda backend), with the same results for any N.\n",
            cmd,
            !strcmp(cmd, "sweep")
                ? "\nRuns every cell of the config's sweep: section (the cartesian product of its\n"
                  "values) into one HDF5 file; a restarted sweep skips cells already finished.\n"
                : "\nRuns every listed method; writes <output.dir>/<name>.h5 and <name>.png and\n"
                  "prints the results table.\n",
            cmd);
}

/* 0 ok, 1 help shown, 2 usage error */
static int parse(int argc, char **argv, const char *cmd, run_args *a)
{
    static char backend[64], threads[64];
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            run_usage(stdout, cmd);
            return 1;
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if ((!strcmp(s, "--set") || !strcmp(s, "--backend") || !strcmp(s, "--threads")) &&
                   i + 1 < argc) {
            if (a->n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "fedsim %s: at most %d overrides\n", cmd, MAX_OVERRIDES);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(s, "--backend")) {
                snprintf(backend, sizeof backend, "runtime.backend=%s", v);
                v = backend;
            } else if (!strcmp(s, "--threads")) {
                snprintf(threads, sizeof threads, "runtime.threads=%s", v);
                v = threads;
            }
            a->overrides[a->n_overrides++] = v;
        } else if (s[0] != '-' && !a->config) {
            a->config = s;
        } else {
            fprintf(stderr, "fedsim %s: unknown option or missing value: '%s'\n\n", cmd, s);
            run_usage(stderr, cmd);
            return 2;
        }
    }
    if (!a->config) {
        run_usage(stderr, cmd);
        return 2;
    }
    return 0;
}

static int make_dir(const char *dir)
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
    char h5[4400], png[4400];
    snprintf(h5, sizeof h5, "%s/%s.h5", cfg.output_dir, cfg.name);
    snprintf(png, sizeof png, "%s/%s.png", cfg.output_dir, cfg.name);
    /* Under mpirun every rank runs every cell (each its share of the clients);
     * rank 0 alone writes the results, reports and talks. */
    bool writer = fs_comm_rank() == 0;
    fs_results *res = NULL;
    fs_experiment x = {.quiet = a.quiet || !writer};
    int rc = 1;
    if (fs_interrupt_install() ||
        (writer && (make_dir(cfg.output_dir) || !(res = fs_results_open(h5)))))
        goto fail;
    long cells = sweep ? fs_config_sweep_cells(&cfg) : 1;
    for (long c = 0; c < cells; c++) {
        if (fs_interrupted()) {
            fs_fail("interrupted before cell %ld of %ld", c + 1, cells);
            goto fail;
        }
        fs_config cell_cfg = cfg;
        char label[256];
        if (sweep) {
            if (fs_config_sweep_cell(&cfg, c, &cell_cfg, label, sizeof label)) goto fail;
            if (!x.quiet) fprintf(stderr, "fedsim sweep: cell %ld/%ld: %s\n", c + 1, cells, label);
        } else {
            snprintf(label, sizeof label, "%s", cfg.name);
        }
        /* A run starts each method over unless it has a mid-run checkpoint
         * to resume from; a sweep resumes. */
        if (!sweep && writer)
            for (int i = 0; i < cfg.n_methods; i++) {
                fs_checkpoint ck;
                if (fs_checkpoint_init(&ck, &cfg, label, &cfg.methods[i])) goto fail;
                if (!fs_checkpoint_exists(&ck) &&
                    fs_results_remove(res, label, fs_method_name(cfg.methods[i].kind)))
                    goto fail;
            }
        if (fs_experiment_run_cell(&x, &cell_cfg, res, label, sweep)) goto fail;
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
                sweep ? "run the same 'fedsim sweep' command again to resume (finished methods are skipped)"
                : cfg.checkpoint_every > 0
                    ? "run the same 'fedsim run' command again to resume from the last checkpoint"
                    : "'fedsim run' starts over when run again");
        rc = fs_interrupt_exit_code();
    }
    if (res) fs_results_close(res);
    fs_experiment_free(&x);
    return rc;
}

int fs_cmd_run(int argc, char **argv) { return run_or_sweep(argc, argv, false); }
int fs_cmd_sweep(int argc, char **argv) { return run_or_sweep(argc, argv, true); }
