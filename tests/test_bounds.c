/* The bounds: on the shipped pretrained model and a small learnable
 * synthetic task (8 clients with 30 training items each), Centralized (all
 * the data, the same local epochs over it) ends at or above FedAvg and above
 * Local (clients alone), in mean client accuracy averaged over three seeds.
 * One seed is not enough: with about 10 test items a client, the partition a
 * seed draws moves FedAvg by 15 points (seed 2 puts it 12 points above
 * Centralized), and rounding differences between GEMM libraries flip single
 * seeds. FedAvg against Local is not asserted: with label-skewed clients
 * evaluated on their own items, Local can win (docs/RESULTS.md). The lr,
 * 1e-3 at batch 8, is the one the validation search chose. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

Test(bounds, centralized_at_least_fedavg_at_least_local, .timeout = 900)
{
    const char *dir = tu_tmpdir_tracked(), *build = getenv("FEDSIM_BUILD_DIR");
    char fedsim[1024], config[600], log[600], h5[600];
    snprintf(fedsim, sizeof fedsim, "%s/fedsim", build ? build : "build");
    cr_assert(access(fedsim, X_OK) == 0, "no fedsim binary at %s", fedsim);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    cr_assert_eq(cli_sh("'%s' data synth synth-scienceqa --out '%s/data' --train 240 --test 80 "
                        "> '%s' 2>&1", fedsim, dir, log),
                 0, "%s", cli_slurp_log(log));
    snprintf(config, sizeof config, "%s/bounds.yaml", dir);
    FILE *f = fopen(config, "w");
    cr_assert(f);
    fprintf(f,
            "name: bounds\nseed: 0\nmodel: { path: %s }\n"
            "data:\n  dataset: synth-scienceqa\n  root: %s/data\n"
            "  partition: { clients: 8, dirichlet_alpha: 0.5, key: category }\n"
            "federation: { rounds: 3, local_epochs: 3, batch_size: 8, eval_every: 3,\n"
            "              optimizer: { name: adamw, lr: 1.0e-3 } }\n"
            "adapter: { rank: 4, alpha: 8 }\nmethods: [fedavg, centralized, local]\n"
            "runtime: { backend: cpu, threads: 2 }\noutput: { dir: %s/out }\n"
            "sweep: { seed: [0, 1, 2] }\n",
            tu_source_path("models/tiny-llava"), dir, dir);
    fclose(f);
    cr_assert_eq(cli_sh("'%s' sweep '%s' --quiet --yes > '%s' 2>&1", fedsim, config, log), 0,
                 "%s", cli_slurp_log(log));
    snprintf(h5, sizeof h5, "%s/out/bounds.h5", dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 9, "3 seeds x 3 methods, got %d entries", n);
    const char *methods[3] = {"fedavg", "centralized", "local"};
    double mean[3] = {0};
    for (int i = 0; i < n; i++)
        for (int m = 0; m < 3; m++)
            if (!strcmp(e[i].method, methods[m])) {
                mean[m] += e[i].summary.mean_acc / 3;
                fprintf(stderr, "bounds: %s %s mean acc %.4f\n", e[i].cell, e[i].method,
                        e[i].summary.mean_acc);
            }
    fprintf(stderr, "bounds: over seeds 0-2, centralized %.4f, fedavg %.4f, local %.4f\n", mean[1],
            mean[0], mean[2]);
    cr_assert_geq(mean[1], mean[0], "centralized below fedavg (mean acc over seeds)");
    cr_assert_gt(mean[1], mean[2], "centralized not above local (mean acc over seeds)");
    fs_results_list_free(e, n);
}
