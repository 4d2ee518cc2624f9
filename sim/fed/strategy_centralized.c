/* Centralized (upper bound): one client holding the union of all training
 * data, taking per round as many optimizer steps as an average client. */
#include <math.h>

#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    double steps = 0;
    for (int k = 0; k < r->clients; k++) steps += fs_local_steps(r->train[k].n, &r->opts);
    fs_local_opts saved = r->opts;
    r->opts.max_steps = (int)lround(steps / r->clients);
    if (r->opts.max_steps < 1) r->opts.max_steps = 1;
    /* Slot 0 of the client bank stands in for the central trainer; the shard
     * list passed is indexed by slot, so slot 0 reads the union. */
    int slot = 0;
    double central_loss = 0;
    fs_bank_copy_client(&r->local, 0, &r->global, 0);
    int rc = fs_train_lockstep(r->engine, &r->local, &r->state, &slot, 1, &r->all_train, &r->opts,
                               &central_loss);
    r->opts = saved;
    if (rc) return rc;
    fs_bank_copy_client(&r->global, 0, &r->local, 0);
    for (int i = 0; i < n; i++) loss[i] = central_loss;
    (void)participants;
    return 0;
}

const fs_strategy fs_strategy_centralized = {
    .name = "centralized",
    .fit = fit,
    .aggregate = fs_aggregate_none,
    .evaluate = fs_evaluate_global,
    .upload_floats = fs_upload_none,
};
