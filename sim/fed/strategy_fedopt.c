/* FedAdam and FedYogi (Reddi et al. 2021, "Adaptive Federated
 * Optimization", Algorithm 2): clients train as in FedAvg; the server
 * treats the data-weighted mean client update delta = sum_k w_k (theta_k - x)
 * as a pseudo-gradient and, elementwise, with m, v in r->server slots 0 and
 * 1 (m = 0, v = tau^2 before the first round; no bias correction),
 *   m = beta1 m + (1 - beta1) delta
 *   v = beta2 v + (1 - beta2) delta^2              (Adam)
 *   v = v - (1 - beta2) delta^2 sign(v - delta^2)  (Yogi: v grows no faster
 *                                                   than additively)
 *   x = x + server_lr m / (sqrt(v) + tau).
 * One file for the two: they differ only in v. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "sim/fed/strategy.h"
#include "sim/io/error.h"

typedef struct {
    double server_lr, beta1, beta2, tau;
} params;
static const fs_param param_table[] = {
    {.key = "server_lr", .type = FS_PARAM_FLOAT, .def = "0.01", .min = 0, .min_open = true,
     .max = INFINITY, .doc = "a positive number", .offset = offsetof(params, server_lr)},
    {.key = "beta1", .type = FS_PARAM_FLOAT, .def = "0.9", .min = 0, .max = 1,
     .doc = "a number in [0, 1]", .offset = offsetof(params, beta1)},
    {.key = "beta2", .type = FS_PARAM_FLOAT, .def = "0.99", .min = 0, .max = 1,
     .doc = "a number in [0, 1]", .offset = offsetof(params, beta2)},
    {.key = "tau", .type = FS_PARAM_FLOAT, .def = "0.001", .min = 0, .min_open = true,
     .max = INFINITY, .doc = "a positive number", .offset = offsetof(params, tau)},
};

/* Elementwise on the host in double (adapters are small), identically on every rank. */
static int server_step(fs_fed_run *r, const int *participants, int n,
                       double (*second_moment)(double v, double delta_sq, double beta2))
{
    const params *p = r->params;
    size_t P = fs_adapter_params(&r->global.shape);
    if (fs_share_slots(r, &r->local, participants, n)) return -1;
    double *w = fs_data_weights(r, participants, n), *delta = calloc(P, sizeof *delta);
    float *x = malloc(P * sizeof *x), *y = malloc(P * sizeof *y), *m = malloc(P * sizeof *m),
          *v = malloc(P * sizeof *v);
    int rc = -1;
    if (!w || !delta || !x || !y || !m || !v) {
        fs_fail("out of memory in the server optimiser");
        goto done;
    }
    fs_bank_get_client(&r->global, 0, x);
    fs_bank_get_client(&r->server, 0, m);
    fs_bank_get_client(&r->server, 1, v);
    if (r->round == 1) /* Algorithm 2: m_{-1} = 0, v_{-1} = tau^2 */
        for (size_t j = 0; j < P; j++) m[j] = 0, v[j] = (float)(p->tau * p->tau);
    for (int i = 0; i < n; i++) {
        fs_bank_get_client(&r->local, participants[i], y);
        for (size_t j = 0; j < P; j++) delta[j] += w[i] * ((double)y[j] - x[j]);
    }
    for (size_t j = 0; j < P; j++) {
        double mj = p->beta1 * m[j] + (1 - p->beta1) * delta[j];
        double vj = second_moment(v[j], delta[j] * delta[j], p->beta2);
        m[j] = (float)mj, v[j] = (float)vj;
        x[j] = (float)(x[j] + p->server_lr * mj / (sqrt(vj) + p->tau));
    }
    fs_bank_set_client(&r->global, 0, x);
    fs_bank_set_client(&r->server, 0, m);
    fs_bank_set_client(&r->server, 1, v);
    rc = 0;
done:
    free(w), free(delta), free(x), free(y), free(m), free(v);
    return rc;
}

static double adam_v(double v, double delta_sq, double beta2)
{
    return beta2 * v + (1 - beta2) * delta_sq;
}

static double yogi_v(double v, double delta_sq, double beta2)
{
    double d = v - delta_sq;
    return v - (1 - beta2) * delta_sq * (double)((d > 0) - (d < 0));
}

static int adam_step(fs_fed_run *r, const int *participants, int n)
{
    return server_step(r, participants, n, adam_v);
}

static int yogi_step(fs_fed_run *r, const int *participants, int n)
{
    return server_step(r, participants, n, yogi_v);
}

#define SERVER_OPTIMIZER                                                                   \
    .params = param_table, .n_params = 4, .params_size = sizeof(params),                   \
    .server_slots = 2 /* m, v */, .upload_copies = 1, .download_copies = 1

const fs_method fs_method_fedadam = {
    .name = "fedadam",
    .summary = "FedAdam: an Adam step of the server on the mean client update",
    SERVER_OPTIMIZER,
    .aggregate = adam_step,
};

const fs_method fs_method_fedyogi = {
    .name = "fedyogi",
    .summary = "FedYogi: a Yogi step of the server on the mean client update",
    SERVER_OPTIMIZER,
    .aggregate = yogi_step,
};
