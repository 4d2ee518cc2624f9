/* FedNano (Zhang et al. 2025): local training as FedAvg, then each client
 * estimates the diagonal model Fisher of its NanoAdapters; the server merges
 * elementwise, theta = sum n_k F_k theta_k / (sum n_k F_k + eps)
 * (fs_aggregate_fisher). Clients upload theta and F. */
#include "sim/fed/comm.h"
#include "sim/fed/fisher.h"
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    if (fs_fit_from_global(r, participants, n, loss)) return -1;
    fs_bank_zero(&r->extra);
    /* The same groups as the training: each rank estimates what it trained. */
    for (int s = -1, len; fs_comm_next_run(n, r->group_size, &s, &len);)
        if (fs_model_fisher(r->engine, &r->local, participants + s, len, r->train,
                            r->method->fisher_samples, r->method->fisher_expected,
                            r->opts.seed ^ 0xF15E5ull, &r->extra, &r->state.grads))
            return -1;
    return 0;
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
