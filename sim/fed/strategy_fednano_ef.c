/* FedNano-EF: FedNano with the empirical Fisher — per-sample squared
 * gradients with the true labels, accumulated during the last local epoch
 * from the training backward passes themselves (no extra pass). */
#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    fs_bank_zero(&r->extra);
    fs_local_opts saved = r->opts;
    r->opts.ef_fisher = &r->extra;
    int rc = fs_fit_from_global(r, participants, n, loss);
    r->opts = saved;
    return rc;
}

static size_t upload(const fs_fed_run *r) { return 2 * fs_adapter_params(&r->global.shape); }

const fs_strategy fs_strategy_fednano_ef = {
    .name = "fednano_ef",
    .fit = fit,
    .aggregate = fs_aggregate_fisher,
    .evaluate = fs_evaluate_global,
    .upload_floats = upload,
    .uses_extra_bank = true,
};
