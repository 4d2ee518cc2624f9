/* The memory plan of a run: before a cell allocates anything that grows with
 * its config (partition tables, adapter banks, optimizer state, adapter
 * activations, per-client rows, the results file in memory), estimate it and
 * refuse, with the estimate and the limit, when it cannot fit. Without it a
 * run of 100,000,000 clients grew to 23.6 GB and was OOM-killed with no
 * message, and in a 3 GB cgroup a run was killed (137).
 *
 * The limit is the smallest of: MemAvailable, the cgroup's limit less what
 * the cgroup uses (v2 memory.max / memory.current, v1 memory.limit_in_bytes
 * / memory.usage_in_bytes, page cache it could reclaim counted as free), and
 * an address-space limit (ulimit -v) less what is mapped. With the cuda
 * backend, the banks, optimizer state and activations are compared with the
 * GPU's free memory (fs_ops.mem_info) and the rest with the host's.
 * FEDSIM_MEMORY_LIMIT=SIZE (e.g. 64G, 500M; decimal units) replaces the
 * detected figures; FEDSIM_MEMORY_LIMIT=off skips the check. */
#ifndef FEDSIM_MEMORY_PLAN_H
#define FEDSIM_MEMORY_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/fed/task.h"
#include "sim/io/config.h"
#include "sim/model/mllm.h"

typedef struct {
    /* Already in memory when a cell starts (for the total shown). */
    double weights;  /* the model's weight files as stored */
    double features; /* the image feature cache */
    double buffers;  /* the LLM activation pool and the engine's pass buffers */
    double runtime;  /* fedsim itself: code, libraries, BLAS buffers (what is resident beyond the rest) */
    /* What the cell allocates on top, for its hungriest method. On the
     * backend's memory: */
    double adapters;    /* global, per-client and extra adapter banks */
    double optimizer;   /* gradients and AdamW moments of every client */
    double activations; /* rank-sized adapter activations, the choice-letter mask */
    /* On the host: */
    double clients; /* partition tables, per-client rows, FedDPA-F references, aggregation */
    double results; /* the results file built in memory (rows of every round) */
} fs_memory_plan;

/* The plan of cell cfg on the loaded task and model (model_dir: its files'
 * sizes stand for the weights). */
void fs_memory_plan_estimate(const fs_config *cfg, const fs_task *task, const fs_mllm *m,
                             const char *model_dir, fs_memory_plan *p);
/* The cell's additional bytes: on the backend, on the host. */
double fs_memory_plan_device(const fs_memory_plan *p);
double fs_memory_plan_host(const fs_memory_plan *p);
double fs_memory_plan_total(const fs_memory_plan *p);

/* Host memory available now, bytes; why gets what limits it ("MemAvailable
 * 23 GB", "cgroup limit 3.0 GB, 2.8 GB in use", ...). */
double fs_memory_host_available(char *why, size_t cap);

/* Estimates the cell and refuses (-1 + message naming the estimate, the
 * limit and what to change) when it does not fit; verbose prints the
 * estimate on stderr. */
int fs_memory_plan_check(const fs_config *cfg, const fs_task *task, const fs_mllm *m,
                         bool verbose);

#endif
