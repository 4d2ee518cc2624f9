/* FedNano (Zhang et al. 2025): local training as FedAvg, then each client
 * estimates the diagonal model Fisher of its NanoAdapters (labels drawn from,
 * and gradients taken of, the softmax over the item's choice letters; or its
 * exact expectation); the server merges elementwise,
 * theta = sum n_k F_k theta_k / (sum n_k F_k + eps) (fs_aggregate_fisher).
 * Clients upload theta and F. */
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    if (fs_fit_from_global(r, participants, n, loss)) return -1;
    return fs_fisher_of_participants(r, participants, n, r->method->fisher_samples,
                                     r->method->fisher_expected ? FS_FISHER_EXPECTED
                                                                : FS_FISHER_SAMPLED);
}

static size_t upload(const fs_fed_run *r) { return 2 * fs_adapter_params(&r->global.shape); }

const fs_strategy fs_strategy_fednano = {
    .name = "fednano",
    .fit = fit,
    .aggregate = fs_aggregate_fisher,
    .evaluate = fs_evaluate_global,
    .upload_floats = upload,
    .uses_extra_bank = true,
};
