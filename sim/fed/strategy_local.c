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

static int aggregate(fs_fed_run *r, const int *participants, int n)
{
    (void)r, (void)participants, (void)n;
    return 0;
}

static size_t upload(const fs_fed_run *r)
{
    (void)r;
    return 0;
}

const fs_strategy fs_strategy_local = {
    .name = "local",
    .fit = fit,
    .aggregate = aggregate,
    .evaluate = fs_evaluate_personal,
    .upload_floats = upload,
};
