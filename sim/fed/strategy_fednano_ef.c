/* FedNano-EF: FedNano with the empirical Fisher, per-sample squared
 * gradients of the training loss with the true labels.
 *   at: last_epoch (default) - accumulated during the last local epoch from
 *       the training backward passes themselves, so each sample's gradient is
 *       taken at the adapters of the step that saw it (no extra pass);
 *   at: final - one extra per-sample pass over the client's training data
 *       at its final adapters theta_k, the point the server merges. */
#include <limits.h>

#include "sim/fed/strategy.h"

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    if (r->method->ef_at_final)
        return fs_fit_from_global(r, participants, n, loss) ||
                       fs_fisher_of_participants(r, participants, n, INT_MAX,
                                                 FS_FISHER_TRUE_LABELS)
                   ? -1
                   : 0;
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
