/* FedProx (Li et al. 2020): FedAvg plus (mu/2)||theta - theta_global||^2 in
 * each client's objective, i.e. mu (theta - theta_global) added to its gradient. */
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    fs_local_opts saved = r->opts;
    r->opts.prox_mu = (float)r->method->mu;
    r->opts.prox_anchor = &r->global;
    int rc = fs_fit_from_global(r, participants, n, loss);
    r->opts = saved;
    return rc;
}

static size_t upload(const fs_fed_run *r) { return fs_adapter_params(&r->global.shape); }

const fs_strategy fs_strategy_fedprox = {
    .name = "fedprox",
    .fit = fit,
    .aggregate = fs_aggregate_mean,
    .evaluate = fs_evaluate_global,
    .upload_floats = upload,
};
