/* One experiment cell: the Dirichlet partition of a task over clients, and
 * the federated run of each method on it, recorded round by round. */
#ifndef FEDSIM_FEDERATION_H
#define FEDSIM_FEDERATION_H

#include <stdbool.h>

#include "sim/fed/strategy.h"
#include "sim/io/results.h"

typedef struct {
    int clients, categories;
    fs_shard *train, *test; /* per client */
    fs_shard global_test, all_train;
    int32_t *counts;        /* [clients x categories] training examples */
    double *proportions;    /* [categories x clients] */
} fs_partition_plan;

/* Splits the task's train samples over cfg->clients with Dirichlet(alpha)
 * label skew on the category key, and each client's test split with the same
 * category mix; the global test set is the whole test split. */
int fs_plan_partition(const fs_task *task, const fs_config *cfg, fs_partition_plan *plan);
void fs_plan_free(fs_partition_plan *plan);

typedef struct {
    bool quiet;
    const char *label; /* progress prefix, e.g. the cell name */
} fs_progress_opts;

/* Runs one method on the plan; rows go to results under (cell, method name).
 * results is NULL on MPI ranks other than 0, which compute the same rows but
 * write nothing. summary (may be NULL) receives the final figures. */
int fs_run_method(fs_engine *engine, const fs_task *task, const fs_config *cfg,
                  const fs_method_cfg *method, const fs_partition_plan *plan, fs_results *results,
                  const char *cell, const fs_progress_opts *progress, fs_summary *summary);

#endif
