/* What a method's hooks (sim/fed/method.h) work on, and the pieces the
 * method files (sim/fed/strategy_*.c) share.
 *
 * The run holds a global adapter (one slot), a bank of client adapters (one
 * slot per client), and the state a method declares: one slot per client in
 * extra, server_slots slots in server.
 *
 * Lockstep groups: fit cuts the participant list, and evaluate the list of
 * all clients, into runs of group_size clients; each run is one lockstep
 * batch, on the rank that owns it (sim/fed/comm.h). group_size depends only
 * on the model, data and config, never on the number of ranks, so a run
 * gives the same numbers on 1 or N processes. Every rank holds every slot;
 * fit and evaluate fill in the rows of the groups this rank owns, and the
 * uploads are shared before aggregate reads them. */
#ifndef FEDSIM_STRATEGY_H
#define FEDSIM_STRATEGY_H

#include <stdbool.h>

#include "sim/fed/fisher.h"
#include "sim/fed/method.h"
#include "sim/io/config.h"

typedef struct fs_fed_run {
    fs_engine *engine;
    const fs_task *task;
    const fs_config *cfg;
    const fs_method *method;
    const void *params; /* the method's parameter struct (its fs_method_cfg's) */
    int clients;
    fs_shard *train, *test; /* per client */
    fs_shard global_test;
    fs_shard all_train; /* union of the clients' training data */
    fs_adapter_bank global, local; /* 1 slot; clients slots */
    fs_adapter_bank extra;         /* method state: a slot per client (method->client_state) */
    fs_adapter_bank server;        /* method state: method->server_slots slots */
    fs_train_state state;
    fs_local_opts opts;
    int round;
    int group_size; /* clients per lockstep group (see above) */
} fs_fed_run;

/* ---- shared pieces ---- */
/* Trains the bank slots of this rank's groups of clients[0..n) (sorted) in
 * lockstep, one call per group; loss (may be NULL) as fs_train_lockstep's. */
int fs_train_groups(fs_fed_run *r, fs_adapter_bank *bank, const fs_local_opts *opts,
                    const int *clients, int n, double *loss);
/* Copies the slots of clients[0..n) from the ranks that own them (runs of
 * group_size) to every rank. */
int fs_share_slots(const fs_fed_run *r, fs_adapter_bank *bank, const int *clients, int n);
/* The local options of this round with the method's gradient hook. */
fs_local_opts fs_method_local_opts(const fs_fed_run *r);
/* Copies the global adapter into each participant's slot, then trains them
 * in lockstep with fs_method_local_opts (the default fit). */
int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss);
/* Participants' weights n_k / sum n_k (malloc'd; NULL + fs_fail on OOM). */
double *fs_data_weights(const fs_fed_run *r, const int *participants, int n);
/* global = sum_k n_k theta_k / sum_k n_k over the participants (whose
 * adapters it first shares, as clients upload them): the default aggregate. */
int fs_aggregate_mean(fs_fed_run *r, const int *participants, int n);
/* global = sum_k n_k F_k theta_k / (sum_k n_k F_k + eps); where every F is zero,
 * the plain weighted mean. Fisher in r->extra; shares
 * both banks' participant slots first. */
int fs_aggregate_fisher(fs_fed_run *r, const int *participants, int n);
/* Zeroes r->extra and fills the participants' slots with their diagonal
 * Fisher (fs_fisher_diag) at their adapters in r->local. */
int fs_fisher_of_participants(fs_fed_run *r, const int *participants, int n, int samples,
                              fs_fisher_labels labels);
/* Nothing to aggregate (methods that never communicate). */
int fs_aggregate_none(fs_fed_run *r, const int *participants, int n);
/* The answer hook of methods whose clients each keep their own adapter (r->local). */
int fs_answer_personal(fs_fed_run *r, const fs_item *items, int n, unsigned char *correct);
/* Accuracy of every client of this rank's groups on its own test split and
 * on the global test set, from the method's answer hook: each distinct
 * (adapter, test item) pair is answered once (a client's test split is part
 * of the global test set). */
int fs_evaluate(fs_fed_run *r, double *acc, double *global_acc);
/* correct[i] = 1 when the highest-likelihood choice letter of item i is its answer. */
int fs_correct(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses, int nuses,
               unsigned char *correct);
#endif
