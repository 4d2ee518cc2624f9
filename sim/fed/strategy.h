/* The strategy interface (after Flower's configure_fit / aggregate_fit /
 * evaluate): one short file per federated method, sharing the helpers below.
 *
 * The run holds a global adapter (one slot) and a bank of client adapters
 * (one slot per client). A round: fit (broadcast + lockstep local training
 * of the participants, plus whatever the method computes on the client),
 * then aggregate (server side), and every eval_every rounds, evaluate. */
#ifndef FEDSIM_STRATEGY_H
#define FEDSIM_STRATEGY_H

#include <stdbool.h>

#include "sim/fed/schedule.h"
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
} fs_fed_run;

typedef struct fs_strategy {
    const char *name;
    /* Client side: receive what the server sends, train, compute uploads.
     * loss[i] gets participant i's mean training loss. */
    int (*fit)(fs_fed_run *r, const int *participants, int n, double *loss);
    /* Server side: combine the participants' uploads into the global adapter. */
    int (*aggregate)(fs_fed_run *r, const int *participants, int n);
    /* Accuracy of each client on its own test split and on the global test set. */
    int (*evaluate)(fs_fed_run *r, double *acc, double *global_acc);
    /* Floats each participant uploads per round (0: no communication). */
    size_t (*upload_floats)(const fs_fed_run *r);
    bool uses_extra_bank;
} fs_strategy;

const fs_strategy *fs_strategy_for(fs_method_kind kind);

extern const fs_strategy fs_strategy_fedavg, fs_strategy_fedprox, fs_strategy_feddpa_f,
    fs_strategy_fednano, fs_strategy_fednano_ef, fs_strategy_centralized, fs_strategy_local;

/* ---- shared pieces ---- */
/* Copies the global adapter into each participant's slot, then trains them in lockstep. */
int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss);
/* global = sum_k n_k theta_k / sum_k n_k over the participants. */
int fs_aggregate_mean(fs_fed_run *r, const int *participants, int n);
/* global = sum_k n_k F_k theta_k / (sum_k n_k F_k + eps); where every F is zero,
 * the plain weighted mean (see strategy_fednano.c). Fisher in r->extra. */
int fs_aggregate_fisher(fs_fed_run *r, const int *participants, int n);
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
/* Items of every client's shard in one array (shards[k] with slot k, or slot 0
 * when same_slot), for one lockstep pass; offsets[k] = first item of client k. */
fs_item *fs_items_per_client(const fs_shard *shards, int clients, bool same_slot, int *offsets,
                             int *n);
/* acc[k] = mean of correct[] over client k's items. */
void fs_accuracy_per_client(const unsigned char *correct, const int *offsets, int clients,
                            int n, double *acc);

#endif
