/* `fedsim sweep --jobs N`: independent cells in N job processes, one writer.
 *
 * The sweep process (the parent) holds the results file's writer lock and
 * alone writes it. It forks N job processes, each keeping its model and data
 * loaded across the cells it is given, and hands them cells one at a time.
 * A job runs a cell into a results file of its own,
 * <output.dir>/<name>.jobs/cell-<hash of the label>.h5, which it first fills
 * with the cell as the results file holds it (finished methods, the
 * unfinished method of a stopped run, stamps): the cell then runs exactly as
 * in a one-process sweep (skips, identity checks, --force, checkpoints).
 * When the job is done with the cell, the parent copies the cell back into
 * the results file (in cell order, so the file lists cells as a one-process
 * sweep does) and deletes the job file.
 *
 * Stops: a job that fails prints its error and the sweep runs no new cell; a
 * signal to the sweep (Ctrl-C, SIGTERM) is passed to the jobs, which stop
 * after their round as a one-process sweep does; jobs die with the sweep
 * (kill -9 included). Job files a stopped sweep leaves behind are copied
 * back by the next `fedsim sweep` of the same output (with or without
 * --jobs) before it runs anything, so a restart resumes where it stopped. */
#ifndef FEDSIM_SWEEP_JOBS_H
#define FEDSIM_SWEEP_JOBS_H

#include <stdbool.h>

#include "sim/api/experiment.h"

/* Cell c of cfg's sweep (the whole config when it has no sweep: section):
 * its config, label and sweep values. */
typedef struct {
    fs_config cfg;
    char label[256];
    fs_cell_axis axes[FS_MAX_SWEEP_KEYS];
    const char *values[FS_MAX_SWEEP_KEYS];
    int n_axes;
} fs_sweep_cell;
int fs_sweep_cell_at(const fs_config *cfg, long c, fs_sweep_cell *out);

/* Cores this process may run on (its CPU affinity), at least 1. */
int fs_sweep_cores(void);
/* Jobs when --jobs is not given: one per core with the CPU backend; 1 with
 * a GPU (one GPU shared by several processes gains nothing) or under mpirun. */
int fs_sweep_default_jobs(const fs_config *cfg);

/* Copies back into res the cells that job files of a stopped
 * `sweep --jobs` hold, and deletes those files. 0, or -1 with the error. */
int fs_sweep_jobs_recover(fs_results *res, const fs_config *cfg, bool quiet);

typedef struct {
    const fs_config *cfg; /* with its sweep axes */
    long cells;
    int jobs;
    bool quiet, force;
    fs_results *res;
} fs_sweep_jobs_args;

/* Runs every cell of a->cfg in a->jobs job processes into a->res. 0, or -1
 * with the error (fs_interrupted() when a signal stopped it); what finished
 * is in a->res either way. */
int fs_sweep_run_jobs(const fs_sweep_jobs_args *a);

#endif
