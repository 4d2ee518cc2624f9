/* FedNano's diagonal Fisher of the adapter parameters, per client. */
#ifndef FEDSIM_FISHER_H
#define FEDSIM_FISHER_H

#include <stdbool.h>

#include "sim/fed/schedule.h"

/* Model Fisher of bank slots[0..n): F_k = mean over up to n_samples of client
 * k's training samples of g^2, g = grad log p(y | x) with y drawn from the
 * model's own distribution over the answer choices (expected = false) or the
 * exact expectation sum_c p(c) g_c^2 (expected = true). Accumulated into
 * fisher (zero it first); scratch receives throwaway summed gradients. */
int fs_model_fisher(fs_engine *e, const fs_adapter_bank *bank, const int *slots, int n,
                    const fs_shard *shards, int n_samples, bool expected, uint64_t seed,
                    fs_adapter_bank *fisher, fs_adapter_bank *scratch);

#endif
