/* FedDPA-F (Yang et al., NeurIPS 2024, fine-tuning variant): the global
 * adapter is trained as in FedAvg; each client then learns a private local
 * adapter with the global one frozen. At inference an instance-wise weight
 * alpha_i = clamp(mean cosine similarity of the instance's representation to
 * its top-K most similar local training representations, 0, 1) mixes them:
 * x' = x + (1 - alpha_i) lora_global(x) + alpha_i lora_local(x).
 * Representations are the mean frozen input embeddings (image features and
 * token embeddings), which need no extra model pass.
 * Local adapters are re-learned from the current global adapter at every
 * evaluation, so the accuracy curve is the method's at each round. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/comm.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"

static double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) ab += (double)a[j] * b[j], aa += (double)a[j] * a[j], bb += (double)b[j] * b[j];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

/* alpha of each item against the training representations of its slot's client. */
static int instance_weights(fs_fed_run *r, const fs_item *items, int n, float *alpha)
{
    const float *reps = fs_engine_representations(r->engine);
    if (!reps) return -1;
    int d = fs_engine_dim(r->engine), K = r->method->top_k;
    int maxn = 1;
    for (int k = 0; k < r->clients; k++) maxn = r->train[k].n > maxn ? r->train[k].n : maxn;
    double *sims = malloc((size_t)maxn * sizeof *sims);
    if (!sims) return fs_fail("out of memory");
    for (int i = 0; i < n; i++) {
        const fs_shard *sh = &r->train[items[i].slot];
        const float *q = reps + (size_t)items[i].sample * d;
        for (int j = 0; j < sh->n; j++) sims[j] = cosine(q, reps + (size_t)sh->samples[j] * d, d);
        qsort(sims, (size_t)sh->n, sizeof *sims, cmp_desc);
        int k = K < sh->n ? K : sh->n;
        double mean = 0;
        for (int j = 0; j < k; j++) mean += sims[j] / k;
        alpha[i] = (float)(mean < 0 ? 0 : mean > 1 ? 1 : mean);
    }
    free(sims);
    return 0;
}

static int train_local_adapters(fs_fed_run *r)
{
    int C = r->clients, rc;
    int *all = malloc((size_t)C * sizeof *all);
    if (!all) return fs_fail("out of memory");
    for (int k = 0; k < C; k++) all[k] = k;
    fs_bank_init_lora(&r->extra, r->cfg->seed + 17);
    fs_local_opts opts = r->opts;
    opts.epochs = r->method->dpa_local_epochs;
    opts.frozen_extra = &r->global;
    /* The groups of all clients, as evaluate's: each rank trains what it evaluates. */
    rc = fs_train_groups(r, &r->extra, &opts, all, C, NULL);
    free(all);
    return rc;
}

/* Accuracy per client of items (offsets per client) under the alpha mix. */
static int mixed_accuracy(fs_fed_run *r, const fs_item *items, const int *offsets, int nclients,
                          int n, double *acc)
{
    float *alpha = malloc((size_t)(n ? n : 1) * sizeof *alpha);
    float *one_minus = malloc((size_t)(n ? n : 1) * sizeof *one_minus);
    unsigned char *correct = malloc((size_t)(n ? n : 1));
    int rc = -1;
    if (!alpha || !one_minus || !correct) {
        fs_fail("out of memory");
        goto done;
    }
    if (instance_weights(r, items, n, alpha)) goto done;
    for (int i = 0; i < n; i++) one_minus[i] = 1.0f - alpha[i];
    fs_adapter_use uses[2] = {{.bank = &r->extra, .item_weight = alpha},
                              {.bank = &r->global, .item_weight = one_minus, .single = true}};
    if (fs_correct(r->engine, items, n, uses, 2, correct)) goto done;
    fs_accuracy_per_client(correct, offsets, nclients, n, acc);
    rc = 0;
done:
    free(alpha), free(one_minus), free(correct);
    return rc;
}

static int evaluate(fs_fed_run *r, double *acc, double *global_acc)
{
    int C = r->clients, n, rc = -1;
    if (train_local_adapters(r)) return -1;
    int *offsets = malloc((size_t)(r->group_size + 1) * sizeof *offsets);
    fs_shard *globals = malloc((size_t)C * sizeof *globals);
    fs_item *items = NULL;
    if (!offsets || !globals) {
        fs_fail("out of memory");
        goto done;
    }
    for (int k = 0; k < C; k++) globals[k] = r->global_test;
    for (int s = -1, len; fs_comm_next_run(C, r->group_size, &s, &len);) {
        if (!(items = fs_items_per_client(r->test, s, len, false, offsets, &n)) ||
            mixed_accuracy(r, items, offsets, len, n, acc + s))
            goto done;
        free(items);
        if (!(items = fs_items_per_client(globals, s, len, false, offsets, &n)) ||
            mixed_accuracy(r, items, offsets, len, n, global_acc + s))
            goto done;
        free(items);
        items = NULL;
    }
    rc = 0;
done:
    free(offsets), free(globals), free(items);
    return rc;
}

static size_t upload(const fs_fed_run *r) { return fs_adapter_params(&r->global.shape); }

const fs_strategy fs_strategy_feddpa_f = {
    .name = "feddpa_f",
    .fit = fs_fit_from_global,
    .aggregate = fs_aggregate_mean,
    .evaluate = evaluate,
    .upload_floats = upload,
    .uses_extra_bank = true,
};
