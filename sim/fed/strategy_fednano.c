/* FedNano (Zhang et al. 2025): local training as FedAvg, then each client
 * estimates the diagonal model Fisher of its NanoAdapters (labels drawn from,
 * and gradients taken of, the softmax over the item's choice letters; or its
 * exact expectation); the server merges elementwise,
 * theta = sum n_k F_k theta_k / (sum n_k F_k + eps) (fs_aggregate_fisher).
 * Clients upload theta and F. */
#include <stddef.h>

#include "sim/fed/strategy.h"

typedef struct {
    int samples, labels;
} params;
static const char *const labels[] = {"sampled", "expected", NULL};
static const fs_param param_table[] = {
    {.key = "fisher.samples", .type = FS_PARAM_INT, .def = "64", .min = 1,
     .doc = "a positive integer", .offset = offsetof(params, samples)},
    {.key = "fisher.labels", .type = FS_PARAM_CHOICE, .def = "sampled", .choices = labels,
     .doc = "one of sampled | expected", .offset = offsetof(params, labels)},
};

static int fisher(fs_fed_run *r, const int *participants, int n)
{
    const params *p = r->params;
    return fs_fisher_of_participants(r, participants, n, p->samples,
                                     p->labels ? FS_FISHER_EXPECTED : FS_FISHER_SAMPLED);
}

const fs_method fs_method_fednano = {
    .name = "fednano",
    .summary = "FedNano: Fisher-weighted merge of the clients' adapters (model Fisher)",
    .paper = true,
    .params = param_table,
    .n_params = 2,
    .params_size = sizeof(params),
    .client_state = true, /* the participants' Fisher */
    .upload_copies = 2,   /* theta and F */
    .download_copies = 1,
    .after_local = fisher,
    .aggregate = fs_aggregate_fisher,
};
