/* The finished runs of a results file grouped the way `fedsim report`
 * compares them: one group per cell group (the cell label without its seed,
 * cell_label.h) and method, holding that method's run for each seed; plus the
 * per-round curves of a group's aggregate rows (client == -1). */
#ifndef FEDSIM_RUN_GROUPS_H
#define FEDSIM_RUN_GROUPS_H

#include <stdbool.h>

#include "sim/io/results.h"

typedef struct {
    int entry;       /* index into the fs_results_list entries */
    bool seed_known; /* fs_run_seed found one */
    long seed;
} fs_run;

typedef struct {
    char cell_group[256], method[64];
    int n;
    fs_run *run; /* malloc'd, n runs in file order */
} fs_run_group;

typedef struct {
    int n;
    fs_run_group *group; /* malloc'd; a cell group's methods are adjacent */
    int incomplete;      /* unfinished runs, left out */
} fs_run_groups;

/* Groups the finished entries; groups are ordered by the first appearance
 * of their cell group, then of their method within it. */
int fs_run_groups_build(const fs_result_entry *e, int n, fs_run_groups *out);
void fs_run_groups_free(fs_run_groups *g);
/* Index of the group (cell_group, method), or -1. */
int fs_run_groups_find(const fs_run_groups *g, const char *cell_group, const char *method);

/* A group's aggregate rows by round: [run x round] arrays, NAN where a run
 * has no aggregate row for that round (or it holds no value). */
typedef struct {
    int n_runs, n_rounds; /* rounds 0 .. n_rounds - 1 */
    double *test_acc;     /* fraction 0..1 */
    double *train_loss;
    double *cum_bytes_up; /* sum of bytes_up over the aggregate rows up to the round */
} fs_group_curves;

int fs_group_curves_load(const char *path, const fs_result_entry *e, const fs_run_group *g,
                         fs_group_curves *out);
void fs_group_curves_free(fs_group_curves *c);

#endif
