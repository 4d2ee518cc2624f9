/* SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled
 * Averaging for Federated Learning", Algorithm 1 with option II).
 * Client i keeps a control variate c_i (r->extra), the server keeps c
 * (r->server slot 0); both start at 0.
 *   local step:  y <- y - eta_l (g(y) - c_i + c): the correction c - c_i is
 *                added to the gradient before the local optimizer (AdamW by
 *                default, so its step is not the paper's plain SGD step);
 *   after K local steps from x: c_i+ = c_i - c + (x - y_i) / (K eta_l),
 *                K the client's own step count, eta_l = federation.optimizer.lr;
 *   server:      x <- x + server_lr * sum_i w_i (y_i - x) (w_i = n_i / sum n,
 *                as FedAvg weighs clients), c <- c + (|S| / N) mean_i (c_i+ - c_i).
 * The simulator computes c_i+ with the server's update (aggregate below): it
 * depends only on what the client received and uploads.
 * Each participant uploads y_i and c_i+ and downloads x and c: two adapters
 * each way. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "sim/fed/strategy.h"
#include "sim/io/error.h"

typedef struct {
    double server_lr;
} params;

static const fs_param param_table[] = {
    {.key = "server_lr", .type = FS_PARAM_FLOAT, .def = "1", .min = 0, .min_open = true,
     .max = INFINITY, .doc = "a positive number (the paper's global step size eta_g)",
     .offset = offsetof(params, server_lr)},
};

static void correction(const fs_fed_run *r, fs_adapter_bank *grads, const fs_adapter_bank *bank,
                       const int *active, int nactive)
{
    const fs_ops *o = bank->ops;
    long pn = (long)bank->part_numel;
    for (int a = 0; a < nactive; a++)
        for (int q = 0; q < bank->nparts; q++) {
            float *g = fs_bank_part(grads, q, active[a]);
            o->axpy(g, 1.0f, fs_bank_part(&r->server, q, 0), pn);
            o->axpy(g, -1.0f, fs_bank_part(&r->extra, q, active[a]), pn);
        }
}

/* Server side, identically on every rank, from what the participants
 * upload: each participant's option-II control variate (from the x and c it
 * received and its y_i), then the server's x and c. */
static int aggregate(fs_fed_run *r, const int *participants, int n)
{
    const params *p = r->params;
    size_t P = fs_adapter_params(&r->global.shape);
    if (fs_share_slots(r, &r->local, participants, n)) return -1;
    double *w = fs_data_weights(r, participants, n), *dx = calloc(P, sizeof *dx),
           *dc = calloc(P, sizeof *dc);
    float *x = malloc(P * sizeof *x), *y = malloc(P * sizeof *y), *c = malloc(P * sizeof *c),
          *ci = malloc(P * sizeof *ci);
    int rc = -1;
    if (!w || !dx || !dc || !x || !y || !c || !ci) {
        fs_fail("out of memory in SCAFFOLD's aggregation");
        goto done;
    }
    fs_bank_get_client(&r->global, 0, x);
    fs_bank_get_client(&r->server, 0, c);
    for (int i = 0; i < n; i++) {
        int k = participants[i], K = r->train[k].n ? fs_local_steps(r->train[k].n, &r->opts) : 0;
        fs_bank_get_client(&r->local, k, y);
        for (size_t j = 0; j < P; j++) dx[j] += w[i] * ((double)y[j] - x[j]);
        if (K == 0) continue; /* no local step: c_i stays */
        fs_bank_get_client(&r->extra, k, ci);
        double Keta = (double)K * r->opts.lr;
        for (size_t j = 0; j < P; j++) {
            double next = (double)ci[j] - c[j] + ((double)x[j] - y[j]) / Keta;
            dc[j] += next - ci[j];
            ci[j] = (float)next;
        }
        fs_bank_set_client(&r->extra, k, ci);
    }
    /* c += (|S| / N) mean_S delta c_i = sum_S delta c_i / N */
    for (size_t j = 0; j < P; j++)
        x[j] = (float)(x[j] + p->server_lr * dx[j]), c[j] = (float)(c[j] + dc[j] / r->clients);
    fs_bank_set_client(&r->global, 0, x);
    fs_bank_set_client(&r->server, 0, c);
    rc = 0;
done:
    free(w), free(dx), free(dc), free(x), free(y), free(c), free(ci);
    return rc;
}

const fs_method fs_method_scaffold = {
    .name = "scaffold",
    .summary = "SCAFFOLD: local steps corrected by control variates c - c_i (option II)",
    .params = param_table,
    .n_params = 1,
    .params_size = sizeof(params),
    .client_state = true, /* c_i */
    .server_slots = 1,    /* c */
    .upload_copies = 2,   /* y_i and c_i */
    .download_copies = 2, /* x and c */
    .client_gradient = correction,
    .aggregate = aggregate,
};
