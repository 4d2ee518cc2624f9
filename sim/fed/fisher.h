/* The diagonal Fisher of the adapter parameters, per client (for
 * Fisher-weighted merging). */
#ifndef FEDSIM_FISHER_H
#define FEDSIM_FISHER_H

#include "sim/fed/schedule.h"

/* Which labels the per-sample gradients g = grad log p(y | x) take. */
typedef enum {
    /* The model Fisher, y drawn from p = the softmax over the item's choice
     * letters; g is the gradient of that same restricted log-softmax, so
     * E_y[g] = 0 as a Fisher requires. */
    FS_FISHER_SAMPLED,
    /* Its exact expectation over y: sum_c p(c) g_c^2. */
    FS_FISHER_EXPECTED,
    /* The empirical Fisher: y = the true answer, g = the gradient of the
     * training loss. */
    FS_FISHER_TRUE_LABELS,
} fs_fisher_labels;

/* F_k = mean over up to n_samples of client k's training samples (a seeded
 * subset) of g^2, for bank slots[0..n), accumulated into fisher (zero it
 * first); scratch receives throwaway summed gradients. */
int fs_fisher_diag(fs_engine *e, const fs_adapter_bank *bank, const int *slots, int n,
                   const fs_shard *shards, int n_samples, fs_fisher_labels labels, uint64_t seed,
                   fs_adapter_bank *fisher, fs_adapter_bank *scratch);

#endif
