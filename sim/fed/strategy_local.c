/* Local training only (lower bound): each client trains its own adapter for
 * the whole budget and never communicates. */
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    /* Adapters persist in r->local across rounds (initialised from the common
     * LoRA init before round 1). */
    return fs_train_lockstep(r->engine, &r->local, &r->state, participants, n, r->train, &r->opts,
                             loss);
}

const fs_strategy fs_strategy_local = {
    .name = "local",
    .fit = fit,
    .aggregate = fs_aggregate_none,
    .evaluate = fs_evaluate_personal,
    .upload_floats = fs_upload_none,
};
