/* The strategy interface (after Flower's configure_fit / aggregate_fit /
 * evaluate): one short file per federated method, sharing the helpers below.
 *
 * The run holds a global adapter (one slot) and a bank of client adapters
 * (one slot per client). A round: fit (broadcast + lockstep local training
 * of the participants, plus whatever the method computes on the client),
 * then aggregate (server side), and every eval_every rounds, evaluate.
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
#include "sim/io/config.h"

typedef struct fs_fed_run {
    fs_engine *engine;
    const fs_task *task;
    const fs_config *cfg;
    const fs_method_cfg *method;
    int clients;
    fs_shard *train, *test; /* per client */
    fs_shard global_test;
    fs_shard all_train; /* union of the clients' training data (centralized) */
    fs_adapter_bank global, local; /* 1 slot; clients slots */
    fs_adapter_bank extra;         /* method-specific: Fisher (FedNano) or private adapters (FedDPA-F) */
    fs_train_state state;
    fs_local_opts opts;
    int round;
    int group_size; /* clients per lockstep group (see above) */
} fs_fed_run;

typedef struct fs_strategy {
    const char *name;
    /* Client side: receive what the server sends, train, compute uploads.
     * loss[i] gets participant i's mean training loss (on the rank owning i). */
    int (*fit)(fs_fed_run *r, const int *participants, int n, double *loss);
    /* Server side: combine the participants' uploads into the global adapter,
     * identically on every rank. */
    int (*aggregate)(fs_fed_run *r, const int *participants, int n);
    /* Accuracy of each client on its own test split and on the global test
     * set (the clients of this rank's groups). */
    int (*evaluate)(fs_fed_run *r, double *acc, double *global_acc);
    /* Floats each participant uploads per round (0: no communication). */
    size_t (*upload_floats)(const fs_fed_run *r);
    bool uses_extra_bank;
} fs_strategy;

const fs_strategy *fs_strategy_for(fs_method_kind kind);

extern const fs_strategy fs_strategy_fedavg, fs_strategy_fedprox, fs_strategy_feddpa_f,
    fs_strategy_fednano, fs_strategy_fednano_ef, fs_strategy_centralized, fs_strategy_local;

/* ---- shared pieces ---- */
/* Trains the bank slots of this rank's groups of clients[0..n) (sorted) in
 * lockstep, one call per group; loss (may be NULL) as fs_train_lockstep's. */
int fs_train_groups(fs_fed_run *r, fs_adapter_bank *bank, const fs_local_opts *opts,
                    const int *clients, int n, double *loss);
/* Copies the slots of clients[0..n) from the ranks that own them (runs of
 * group_size) to every rank. */
int fs_share_slots(const fs_fed_run *r, fs_adapter_bank *bank, const int *clients, int n);
/* Copies the global adapter into each participant's slot, then trains them in lockstep. */
int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss);
/* global = sum_k n_k theta_k / sum_k n_k over the participants (whose
 * adapters it first shares, as clients upload them). */
int fs_aggregate_mean(fs_fed_run *r, const int *participants, int n);
/* global = sum_k n_k F_k theta_k / (sum_k n_k F_k + eps); where every F is zero,
 * the plain weighted mean (see strategy_fednano.c). Fisher in r->extra; shares
 * both banks' participant slots first. */
int fs_aggregate_fisher(fs_fed_run *r, const int *participants, int n);
/* Zeroes r->extra and fills the participants' slots with their diagonal
 * Fisher (fs_fisher_diag) at their adapters in r->local. */
int fs_fisher_of_participants(fs_fed_run *r, const int *participants, int n, int samples,
                              fs_fisher_labels labels);
/* The bounds never communicate: nothing to aggregate, nothing uploaded. */
int fs_aggregate_none(fs_fed_run *r, const int *participants, int n);
size_t fs_upload_none(const fs_fed_run *r);
/* Every client evaluated with the global adapter (client test split and global test). */
int fs_evaluate_global(fs_fed_run *r, double *acc, double *global_acc);
/* Every client evaluated with its own adapter in r->local. */
int fs_evaluate_personal(fs_fed_run *r, double *acc, double *global_acc);
/* correct[i] = 1 when the highest-likelihood choice letter of item i is its answer. */
int fs_correct(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses, int nuses,
               unsigned char *correct);
/* Items of clients first..first+clients-1 in one array (shards[k] with slot
 * k, or slot 0 when same_slot), for one lockstep pass; offsets[i] = first item
 * of client first + i. */
fs_item *fs_items_per_client(const fs_shard *shards, int first, int clients, bool same_slot,
                             int *offsets, int *n);
/* FedDPA-F's instance weight of the global adapter for an item with hidden
 * state h: scale * mean over refs[0..k) of cos(h, refs[j]) (0 when k = 0). */
double fs_feddpa_instance_weight(const float *h, const float *const *refs, int k, int d,
                                 double scale);
/* acc[k] = mean of correct[] over client k's items (NaN for a client without items). */
void fs_accuracy_per_client(const unsigned char *correct, const int *offsets, int clients,
                            int n, double *acc);

#endif
