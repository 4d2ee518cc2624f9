/* Centralized (upper bound): one client holding the union of all clients'
 * training data, trained from the global adapter each round.
 *   budget: data (default) - the same local epochs per round over the pooled
 *           data, so it sees every training sample the federation sees;
 *   budget: compute - only as many optimizer steps per round as an average
 *           client takes (a compute-matched reference, not an upper bound). */
#include <math.h>
#include <stddef.h>

#include "sim/fed/comm.h"
#include "sim/fed/strategy.h"

typedef struct {
    int budget;
} params;
enum { BUDGET_DATA, BUDGET_COMPUTE };
static const char *const budgets[] = {"data", "compute", NULL};
static const fs_param param_table[] = {
    {.key = "budget", .type = FS_PARAM_CHOICE, .def = "data", .choices = budgets,
     .doc = "one of data | compute", .offset = offsetof(params, budget)},
};

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    const params *p = r->params;
    fs_local_opts opts = r->opts;
    if (p->budget == BUDGET_COMPUTE) {
        double steps = 0;
        for (int k = 0; k < r->clients; k++) steps += fs_local_steps(r->train[k].n, &r->opts);
        opts.max_steps = (int)lround(steps / r->clients);
        if (opts.max_steps < 1) opts.max_steps = 1;
    }
    /* Slot 0 of the client bank stands in for the central trainer; the shard
     * list passed is indexed by slot, so slot 0 reads the union. It is the
     * one entry of a one-entry list: its owner (rank 0) trains, and every
     * rank receives the result. */
    int slot = 0, s = -1, len;
    double central_loss = 0;
    fs_bank_copy_client(&r->local, 0, &r->global, 0);
    if (fs_comm_next_run(1, r->group_size, &s, &len) &&
        fs_train_lockstep(r->engine, &r->local, &r->state, &slot, 1, &r->all_train, &opts,
                          &central_loss))
        return -1;
    if (fs_share_slots(r, &r->local, &slot, 1) ||
        fs_comm_share_rows(&central_loss, sizeof central_loss, 1, r->group_size))
        return -1;
    fs_bank_copy_client(&r->global, 0, &r->local, 0);
    for (int i = 0; i < n; i++) loss[i] = central_loss;
    (void)participants;
    return 0;
}

const fs_method fs_method_centralized = {
    .name = "centralized",
    .summary = "one client holding all the training data (upper bound)",
    .paper = true,
    .params = param_table,
    .n_params = 1,
    .params_size = sizeof(params),
    .fit = fit,
    .aggregate = fs_aggregate_none,
};
