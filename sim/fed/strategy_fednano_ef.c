/* FedNano-EF: FedNano with the empirical Fisher, per-sample squared
 * gradients of the training loss with the true labels.
 *   at: last_epoch (default) - accumulated during the last local epoch from
 *       the training backward passes themselves, so each sample's gradient is
 *       taken at the adapters of the step that saw it (no extra pass);
 *   at: final - one extra per-sample pass over the client's training data
 *       at its final adapters theta_k, the point the server merges. */
#include <limits.h>
#include <stddef.h>

#include "sim/fed/strategy.h"

typedef struct {
    int at;
} params;
enum { AT_LAST_EPOCH, AT_FINAL };
static const char *const points[] = {"last_epoch", "final", NULL};
static const fs_param param_table[] = {
    {.key = "at", .type = FS_PARAM_CHOICE, .def = "last_epoch", .choices = points,
     .doc = "one of last_epoch | final", .offset = offsetof(params, at)},
};

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    const params *p = r->params;
    if (p->at == AT_FINAL) return fs_fit_from_global(r, participants, n, loss);
    fs_bank_zero(&r->extra);
    r->opts.sq_grads = &r->extra;
    int rc = fs_fit_from_global(r, participants, n, loss);
    r->opts.sq_grads = NULL;
    return rc;
}

static int fisher_at_final(fs_fed_run *r, const int *participants, int n)
{
    const params *p = r->params;
    if (p->at != AT_FINAL) return 0;
    return fs_fisher_of_participants(r, participants, n, INT_MAX, FS_FISHER_TRUE_LABELS);
}

const fs_method fs_method_fednano_ef = {
    .name = "fednano_ef",
    .summary = "FedNano-EF: FedNano with the empirical Fisher (per-sample squared gradients)",
    .paper = true,
    .params = param_table,
    .n_params = 1,
    .params_size = sizeof(params),
    .client_state = true, /* the participants' Fisher */
    .upload_copies = 2,   /* theta and F */
    .download_copies = 1,
    .fit = fit,
    .after_local = fisher_at_final,
    .aggregate = fs_aggregate_fisher,
};
