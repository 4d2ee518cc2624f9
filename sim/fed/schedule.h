/* Lockstep local training: all participating clients' local steps run
 * together. Global step g takes every client that still has a step g and
 * joins their mini-batches into one micro-batch through the shared frozen
 * model; then each active client takes its own optimizer step. Every client
 * sees exactly the batches and steps it would see alone, so the result equals
 * simulating clients one after another (tests/test_lockstep.c). */
#ifndef FEDSIM_SCHEDULE_H
#define FEDSIM_SCHEDULE_H

#include <stdbool.h>

#include "sim/fed/engine.h"

typedef struct {
    int n;
    int *samples; /* indices into task->samples */
} fs_shard;

typedef struct {
    int epochs, batch_size;
    bool sgd; /* plain SGD instead of AdamW */
    float lr, weight_decay;
    /* Called after each backward, before the optimizer step: adds a
     * method's term to the gradients of the active slots (NULL: none). */
    void (*grad_hook)(const void *ctx, fs_adapter_bank *grads, const fs_adapter_bank *bank,
                      const int *active, int nactive);
    const void *grad_ctx;
    /* A single-slot adapter applied to every item and not trained; the
     * trained bank's output is weighted by mix and this one's by 1 - mix. */
    const fs_adapter_bank *frozen_extra;
    float mix;
    fs_adapter_bank *sq_grads;            /* per-sample squared grads of the last epoch, or NULL */
    int max_steps;                        /* > 0: stop each client after this many steps (a compute budget) */
    uint64_t seed;                        /* shuffling: a stream per (seed, slot, epoch) */
} fs_local_opts;

/* Optimizer state and gradient buffers shaped like the trained bank. */
typedef struct {
    fs_adapter_bank grads, m, v;
} fs_train_state;

int fs_train_state_init(fs_train_state *s, const fs_adapter_bank *like);
void fs_train_state_free(fs_train_state *s);

/* Trains bank slots[0..nslots) on shards[slot] (indexed by slot). Optimizer
 * state starts fresh (clients are stateless between rounds). mean_loss
 * (host, [nslots], may be NULL) receives each client's mean training loss. */
int fs_train_lockstep(fs_engine *e, fs_adapter_bank *bank, fs_train_state *st, const int *slots,
                      int nslots, const fs_shard *shards, const fs_local_opts *opt,
                      double *mean_loss);

/* Steps a client with n samples takes per local training call. */
int fs_local_steps(int n, const fs_local_opts *opt);

#endif
