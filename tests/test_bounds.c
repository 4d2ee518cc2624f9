/* The bounds bound: on the shipped pretrained model and a small learnable
 * synthetic task (8 clients with 30 training items each), Centralized (all
 * the data, the same local epochs over it) ends at or above FedAvg, and
 * FedAvg at or above Local (clients alone), both on the clients' own test
 * items and on the shared global test set. */
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
            "              optimizer: { name: adamw, lr: 4.0e-3 } }\n"
            "adapter: { rank: 4, alpha: 8 }\nmethods: [fedavg, centralized, local]\n"
            "runtime: { backend: cpu, threads: 2 }\noutput: { dir: %s/out }\n",
            tu_source_path("models/tiny-llava"), dir, dir);
    fclose(f);
    cr_assert_eq(cli_sh("'%s' run '%s' --quiet > '%s' 2>&1", fedsim, config, log), 0, "%s",
                 cli_slurp_log(log));
    snprintf(h5, sizeof h5, "%s/out/bounds.h5", dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 3);
    const fs_summary *fedavg = &e[0].summary, *central = &e[1].summary, *local = &e[2].summary;
    cr_assert_str_eq(e[1].method, "centralized");
    fprintf(stderr, "bounds: mean acc %.4f >= %.4f >= %.4f, global acc %.4f >= %.4f >= %.4f\n",
            central->mean_acc, fedavg->mean_acc, local->mean_acc, central->global_acc,
            fedavg->global_acc, local->global_acc);
    cr_assert_geq(central->mean_acc, fedavg->mean_acc, "centralized below fedavg (mean acc)");
    cr_assert_geq(fedavg->mean_acc, local->mean_acc, "fedavg below local (mean acc)");
    cr_assert_geq(central->global_acc, fedavg->global_acc, "centralized below fedavg (global)");
    cr_assert_geq(fedavg->global_acc, local->global_acc, "fedavg below local (global)");
    cr_assert_gt(central->mean_acc, local->mean_acc, "the bounds do not separate");
    fs_results_list_free(e, n);
}
