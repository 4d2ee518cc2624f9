/* Local training only (lower bound): each client trains its own adapter for
 * the whole budget and never communicates. */
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    /* Adapters persist in r->local across rounds (initialised from the common
     * LoRA init before round 1). Evaluation groups all clients, not this
     * round's participants, so every rank keeps every client's adapter. */
    if (fs_train_groups(r, &r->local, &r->opts, participants, n, loss)) return -1;
    return fs_share_slots(r, &r->local, participants, n);
}

const fs_method fs_method_local = {
    .name = "local",
    .summary = "local training only, no communication (lower bound)",
    .paper = true,
    .fit = fit,
    .aggregate = fs_aggregate_none,
    .answer = fs_answer_personal,
};
