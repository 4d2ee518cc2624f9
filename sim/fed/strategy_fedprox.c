/* FedProx (Li et al. 2020): FedAvg plus (mu/2)||theta - theta_global||^2 in
 * each client's objective, i.e. mu (theta - theta_global) added to its gradient. */
#include <math.h>
#include <stddef.h>

#include "sim/fed/strategy.h"

typedef struct {
    double mu;
} params;

static const fs_param param_table[] = {
    {.key = "mu", .type = FS_PARAM_FLOAT, .def = "0.01", .min = 0, .max = INFINITY,
     .doc = "a non-negative number", .offset = offsetof(params, mu)},
};

static void proximal_term(const fs_fed_run *r, fs_adapter_bank *grads, const fs_adapter_bank *bank,
                          const int *active, int nactive)
{
    const params *p = r->params;
    float mu = (float)p->mu;
    if (!(mu > 0)) return;
    const fs_ops *o = bank->ops;
    long pn = (long)bank->part_numel;
    for (int a = 0; a < nactive; a++)
        for (int q = 0; q < bank->nparts; q++) {
            float *g = fs_bank_part(grads, q, active[a]);
            o->axpy(g, mu, fs_bank_part(bank, q, active[a]), pn);
            o->axpy(g, -mu, fs_bank_part(&r->global, q, 0), pn);
        }
}

const fs_method fs_method_fedprox = {
    .name = "fedprox",
    .summary = "FedProx: FedAvg with a proximal term mu/2 ||theta - theta_global||^2",
    .paper = true,
    .params = param_table,
    .n_params = 1,
    .params_size = sizeof(params),
    .upload_copies = 1,
    .download_copies = 1,
    .client_gradient = proximal_term,
};
