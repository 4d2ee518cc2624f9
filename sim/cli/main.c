/* fedsim command line: subcommand dispatch. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/cli/commands.h"
#include "sim/fed/comm.h"
#include "sim/io/error.h"

static void usage(FILE *f)
{
    fprintf(f,
            "fedsim %s — federated tuning of multimodal LLMs, simulated\n"
            "\n"
            "usage: fedsim <command> [options]\n"
            "\n"
            "commands:\n"
            "  run       run the methods of an experiment config (YAML) -> HDF5 results, table, plot\n"
            "  sweep     run every cell of a config's sweep: section (resumable)\n"
            "  report    statistics table (mean ± 95 %% CI over seeds, paired difference to fedavg)\n"
            "            and figures of a results file\n"
            "  export    a results file's round rows as one tidy CSV table (pandas.read_csv)\n"
            "  pretrain  train the tiny LLaVA model on the synthetic source-domain corpus\n"
            "  info      parameter and byte accounting of a model directory\n"
            "  data      make synthetic datasets, show dataset statistics\n"
            "  demo      load (or create) a LLaVA-architecture model and run forward/backward on a sample\n"
            "\n"
            "Run 'fedsim <command> --help' for the options of a command.\n",
            FEDSIM_VERSION);
}

/* Idle OpenMP threads sleep by default. libgomp's default lets an idle thread
 * spin for its core between parallel regions; when other processes share the
 * cores (another run, a build, a second sweep job) the spinning threads take
 * the cores the working ones need, and runs here became 10x slower (83 % of
 * the samples in libgomp's spin loops, issue 20). libgomp reads
 * OMP_WAIT_POLICY once, when it loads, before main: so when the user has not
 * chosen a policy, fedsim sets PASSIVE and runs itself again (same pid, same
 * arguments; the variable is then set, so it happens once). Only the
 * commands that compute do it: loading fedsim's libraries again costs a
 * start (tens of ms), which report, export, info and data need not pay. A
 * user's own OMP_WAIT_POLICY (e.g. ACTIVE) or GOMP_SPINCOUNT (which libgomp
 * lets decide over the policy) is kept. Under valgrind the exec
 * would leave valgrind, so it is skipped there; a failed exec goes on as
 * before. */
static void wait_passively(int argc, char **argv)
{
    static const char *const computing[] = {"run", "sweep", "pretrain", "demo"};
    bool computes = false;
    for (size_t i = 0; argc > 1 && i < sizeof computing / sizeof *computing; i++)
        computes |= !strcmp(argv[1], computing[i]);
    if (!computes || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    wait_passively(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("fedsim %s (%s)\n", FEDSIM_VERSION, FEDSIM_GIT_SHA[0] ? FEDSIM_GIT_SHA : "unknown");
        return 0;
    }
    if (!strcmp(argv[1], "run") || !strcmp(argv[1], "sweep")) {
        /* The commands that run under mpirun (sim/fed/comm.h). */
        if (fs_comm_init(&argc, &argv)) {
            fprintf(stderr, "fedsim %s: %s\n", argv[1], fs_last_error());
            return 2;
        }
        int rc = (!strcmp(argv[1], "run") ? fs_cmd_run : fs_cmd_sweep)(argc - 1, argv + 1);
        fs_comm_finalize();
        return rc;
    }
    if (!strcmp(argv[1], "report")) return fs_cmd_report(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export")) return fs_cmd_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "data")) return fs_cmd_data(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pretrain")) return fs_cmd_pretrain(argc - 1, argv + 1);
    if (!strcmp(argv[1], "demo")) return fs_cmd_demo(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return fs_cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "fedsim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
