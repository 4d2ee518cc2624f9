/* Pieces the strategies share: broadcast + lockstep fit, weighted and Fisher
 * aggregation, evaluation with the global or each client's own adapter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/strategy.h"
#include "sim/io/error.h"

const fs_strategy *fs_strategy_for(fs_method_kind kind)
{
    switch (kind) {
    case FS_METHOD_FEDAVG: return &fs_strategy_fedavg;
    case FS_METHOD_FEDPROX: return &fs_strategy_fedprox;
    case FS_METHOD_FEDDPA_F: return &fs_strategy_feddpa_f;
    case FS_METHOD_FEDNANO: return &fs_strategy_fednano;
    case FS_METHOD_FEDNANO_EF: return &fs_strategy_fednano_ef;
    case FS_METHOD_CENTRALIZED: return &fs_strategy_centralized;
    case FS_METHOD_LOCAL: return &fs_strategy_local;
    default: return NULL;
    }
}

int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss)
{
    for (int i = 0; i < n; i++) fs_bank_copy_client(&r->local, participants[i], &r->global, 0);
    return fs_train_lockstep(r->engine, &r->local, &r->state, participants, n, r->train, &r->opts,
                             loss);
}

int fs_aggregate_none(fs_fed_run *r, const int *participants, int n)
{
    (void)r, (void)participants, (void)n;
    return 0;
}

size_t fs_upload_none(const fs_fed_run *r)
{
    (void)r;
    return 0;
}

/* Participants' weights n_k / sum n_k. */
static double *data_weights(const fs_fed_run *r, const int *participants, int n)
{
    double *w = malloc((size_t)(n ? n : 1) * sizeof *w), total = 0;
    if (!w) return NULL;
    for (int i = 0; i < n; i++) total += r->train[participants[i]].n;
    for (int i = 0; i < n; i++) w[i] = total > 0 ? r->train[participants[i]].n / total : 1.0 / n;
    return w;
}

int fs_aggregate_mean(fs_fed_run *r, const int *participants, int n)
{
    double *w = data_weights(r, participants, n);
    if (!w) return fs_fail("out of memory");
    const fs_ops *o = r->global.ops;
    fs_bank_zero(&r->global);
    for (int p = 0; p < r->global.nparts; p++)
        for (int i = 0; i < n; i++)
            o->axpy(fs_bank_part(&r->global, p, 0), (float)w[i],
                    fs_bank_part(&r->local, p, participants[i]), (long)r->global.part_numel);
    free(w);
    return 0;
}

/* Elementwise on the host: the merge needs a division no op provides, and
 * adapters are small (a few hundred thousand floats per client at 7B). */
int fs_aggregate_fisher(fs_fed_run *r, const int *participants, int n)
{
    const double eps = 1e-8;
    size_t P = fs_adapter_params(&r->global.shape);
    double *w = data_weights(r, participants, n);
    double *num = calloc(P, sizeof *num), *den = calloc(P, sizeof *den), *avg = calloc(P, sizeof *avg);
    float *theta = malloc(P * sizeof *theta), *fisher = malloc(P * sizeof *fisher);
    if (!w || !num || !den || !avg || !theta || !fisher) {
        free(w), free(num), free(den), free(avg), free(theta), free(fisher);
        return fs_fail("out of memory merging adapters");
    }
    for (int i = 0; i < n; i++) {
        fs_bank_get_client(&r->local, participants[i], theta);
        fs_bank_get_client(&r->extra, participants[i], fisher);
        for (size_t j = 0; j < P; j++) {
            num[j] += w[i] * fisher[j] * theta[j];
            den[j] += w[i] * fisher[j];
            avg[j] += w[i] * theta[j];
        }
    }
    /* With no Fisher mass anywhere the eps terms leave the plain weighted
     * average; with Fisher mass they vanish. */
    for (size_t j = 0; j < P; j++) theta[j] = (float)((num[j] + eps * avg[j]) / (den[j] + eps));
    fs_bank_set_client(&r->global, 0, theta);
    free(w), free(num), free(den), free(avg), free(theta), free(fisher);
    return 0;
}

int fs_correct(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses, int nuses,
               unsigned char *correct)
{
    float *logp = malloc((size_t)(n ? n : 1) * FS_MAX_CHOICES * sizeof *logp);
    if (!logp) return fs_fail("out of memory");
    if (fs_engine_forward(e, items, n, uses, nuses, NULL, logp)) {
        free(logp);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const float *lp = logp + (size_t)i * FS_MAX_CHOICES;
        const fs_sample *s = fs_engine_sample(e, items[i].sample);
        int best = 0;
        for (int c = 1; c < s->n_choices; c++)
            if (lp[c] > lp[best]) best = c;
        correct[i] = best == s->answer;
    }
    free(logp);
    return 0;
}

fs_item *fs_items_per_client(const fs_shard *shards, int clients, bool same_slot, int *offsets,
                             int *n)
{
    int total = 0;
    for (int k = 0; k < clients; k++) offsets[k] = total, total += shards[k].n;
    offsets[clients] = total;
    fs_item *items = malloc((size_t)(total ? total : 1) * sizeof *items);
    if (!items) return fs_fail("out of memory"), NULL;
    for (int k = 0; k < clients; k++)
        for (int i = 0; i < shards[k].n; i++)
            items[offsets[k] + i] = (fs_item){shards[k].samples[i], same_slot ? 0 : k};
    *n = total;
    return items;
}

void fs_accuracy_per_client(const unsigned char *correct, const int *offsets, int clients,
                            int n, double *acc)
{
    (void)n;
    for (int k = 0; k < clients; k++) {
        int c = 0, cnt = offsets[k + 1] - offsets[k];
        for (int i = offsets[k]; i < offsets[k + 1]; i++) c += correct[i];
        acc[k] = cnt ? (double)c / cnt : 0.0;
    }
}

/* Evaluates every client's own test split and the global test set, in two
 * lockstep passes. own_uses / global_uses pick the adapters; when
 * global_per_client, each client answers the whole global test with its own adapter. */
static int evaluate(fs_fed_run *r, const fs_adapter_use *uses, int nuses, bool same_slot,
                    double *acc, double *global_acc)
{
    int C = r->clients, n, rc = -1;
    int *offsets = malloc((size_t)(C + 1) * sizeof *offsets);
    fs_shard *globals = malloc((size_t)C * sizeof *globals);
    if (!offsets || !globals) {
        free(offsets), free(globals);
        return fs_fail("out of memory");
    }
    for (int k = 0; k < C; k++) globals[k] = r->global_test;
    int nglob_clients = same_slot ? 1 : C; /* a shared adapter answers the global test once */
    fs_item *items = fs_items_per_client(r->test, C, same_slot, offsets, &n);
    unsigned char *correct = items ? malloc((size_t)(n ? n : 1)) : NULL;
    if (!correct || fs_correct(r->engine, items, n, uses, nuses, correct)) goto done;
    fs_accuracy_per_client(correct, offsets, C, n, acc);
    free(items), free(correct);
    items = fs_items_per_client(globals, nglob_clients, same_slot, offsets, &n);
    correct = items ? malloc((size_t)(n ? n : 1)) : NULL;
    if (!correct || fs_correct(r->engine, items, n, uses, nuses, correct)) goto done;
    fs_accuracy_per_client(correct, offsets, nglob_clients, n, global_acc);
    for (int k = nglob_clients; k < C; k++) global_acc[k] = global_acc[0];
    rc = 0;
done:
    free(items), free(correct), free(offsets), free(globals);
    return rc;
}

int fs_evaluate_global(fs_fed_run *r, double *acc, double *global_acc)
{
    fs_adapter_use use = {.bank = &r->global, .single = true};
    return evaluate(r, &use, 1, true, acc, global_acc);
}

int fs_evaluate_personal(fs_fed_run *r, double *acc, double *global_acc)
{
    fs_adapter_use use = {.bank = &r->local};
    return evaluate(r, &use, 1, false, acc, global_acc);
}
