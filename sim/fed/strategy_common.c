/* Pieces the strategies share: broadcast + lockstep fit in groups, sharing
 * the uploads between ranks, weighted and Fisher aggregation, evaluation with
 * the global or each client's own adapter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/comm.h"
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

int fs_train_groups(fs_fed_run *r, fs_adapter_bank *bank, const fs_local_opts *opts,
                    const int *clients, int n, double *loss)
{
    for (int s = -1, len; fs_comm_next_run(n, r->group_size, &s, &len);)
        if (fs_train_lockstep(r->engine, bank, &r->state, clients + s, len, r->train, opts,
                              loss ? loss + s : NULL))
            return -1;
    return 0;
}

int fs_share_slots(const fs_fed_run *r, fs_adapter_bank *bank, const int *clients, int n)
{
    if (fs_comm_size() == 1 || n == 0) return 0;
    size_t P = fs_adapter_params(&bank->shape);
    float *rows = malloc((size_t)n * P * sizeof *rows);
    if (!rows) return fs_fail("out of memory sharing the adapters of %d clients", n);
    for (int s = -1, len; fs_comm_next_run(n, r->group_size, &s, &len);)
        for (int i = s; i < s + len; i++) fs_bank_get_client(bank, clients[i], rows + (size_t)i * P);
    int rc = fs_comm_share_rows(rows, P * sizeof *rows, n, r->group_size);
    if (!rc)
        for (int i = 0; i < n; i++) fs_bank_set_client(bank, clients[i], rows + (size_t)i * P);
    free(rows);
    return rc;
}

int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss)
{
    for (int i = 0; i < n; i++) fs_bank_copy_client(&r->local, participants[i], &r->global, 0);
    return fs_train_groups(r, &r->local, &r->opts, participants, n, loss);
}

/* In the groups the participants were trained in: each rank estimates what it trained. */
int fs_fisher_of_participants(fs_fed_run *r, const int *participants, int n, int samples,
                              fs_fisher_labels labels)
{
    fs_bank_zero(&r->extra);
    for (int s = -1, len; fs_comm_next_run(n, r->group_size, &s, &len);)
        if (fs_fisher_diag(r->engine, &r->local, participants + s, len, r->train, samples,
                           labels, r->opts.seed ^ 0xF15E5ull, &r->extra,
                           &r->state.grads))
            return -1;
    return 0;
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
    if (fs_share_slots(r, &r->local, participants, n)) return -1;
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
    if (fs_share_slots(r, &r->local, participants, n) ||
        fs_share_slots(r, &r->extra, participants, n))
        return -1;
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

fs_item *fs_items_per_client(const fs_shard *shards, int first, int clients, bool same_slot,
                             int *offsets, int *n)
{
    int total = 0;
    for (int k = 0; k < clients; k++) offsets[k] = total, total += shards[first + k].n;
    offsets[clients] = total;
    fs_item *items = malloc((size_t)(total ? total : 1) * sizeof *items);
    if (!items) return fs_fail("out of memory"), NULL;
    for (int k = 0; k < clients; k++) {
        const fs_shard *sh = &shards[first + k];
        for (int i = 0; i < sh->n; i++)
            items[offsets[k] + i] = (fs_item){sh->samples[i], same_slot ? 0 : first + k};
    }
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
        acc[k] = cnt ? (double)c / cnt : NAN;
    }
}

/* correct[] of the items of clients first..first+count-1 of shards, in one
 * lockstep pass (offsets as fs_items_per_client's); NULL on failure. */
static unsigned char *answers(fs_fed_run *r, const fs_shard *shards, int first, int count,
                              bool same_slot, const fs_adapter_use *uses, int nuses, int *offsets,
                              int *n)
{
    fs_item *items = fs_items_per_client(shards, first, count, same_slot, offsets, n);
    unsigned char *correct = items ? malloc((size_t)(*n ? *n : 1)) : NULL;
    if (items && !correct) fs_fail("out of memory");
    if (correct && fs_correct(r->engine, items, *n, uses, nuses, correct)) {
        free(correct);
        correct = NULL;
    }
    free(items);
    return correct;
}

/* Evaluates the clients of this rank's groups on their own test splits and
 * on the global test set. A shared adapter (same_slot) answers the global
 * test once: group j the j-th of as many slices as there are groups, whose
 * counts of right answers every rank then adds up; otherwise each client
 * answers all of it with its own adapter. */
static int evaluate(fs_fed_run *r, const fs_adapter_use *uses, int nuses, bool same_slot,
                    double *acc, double *global_acc)
{
    int C = r->clients, G = r->group_size, groups = (C + G - 1) / G, n, rc = -1;
    const fs_shard *gt = &r->global_test;
    int *offsets = malloc((size_t)(G + 1) * sizeof *offsets);
    int *right = calloc((size_t)groups, sizeof *right);
    fs_shard *globals = malloc((size_t)C * sizeof *globals);
    unsigned char *correct = NULL;
    if (!offsets || !right || !globals) {
        fs_fail("out of memory");
        goto done;
    }
    for (int k = 0; k < C; k++) globals[k] = *gt;
    for (int s = -1, len; fs_comm_next_run(C, G, &s, &len);) {
        if (!(correct = answers(r, r->test, s, len, same_slot, uses, nuses, offsets, &n))) goto done;
        fs_accuracy_per_client(correct, offsets, len, n, acc + s);
        free(correct);
        if (same_slot) {
            int j = s / G, lo = (int)((long)gt->n * j / groups);
            fs_shard slice = {(int)((long)gt->n * (j + 1) / groups) - lo, gt->samples + lo};
            if (!(correct = answers(r, &slice, 0, 1, true, uses, nuses, offsets, &n))) goto done;
            for (int i = 0; i < n; i++) right[j] += correct[i];
        } else {
            if (!(correct = answers(r, globals, s, len, false, uses, nuses, offsets, &n))) goto done;
            fs_accuracy_per_client(correct, offsets, len, n, global_acc + s);
        }
        free(correct);
        correct = NULL;
    }
    if (same_slot) {
        if (fs_comm_share_rows(right, sizeof *right, groups, 1)) goto done;
        long total = 0;
        for (int j = 0; j < groups; j++) total += right[j];
        for (int k = 0; k < C; k++) global_acc[k] = gt->n ? (double)total / gt->n : 0.0;
    }
    rc = 0;
done:
    free(correct), free(offsets), free(right), free(globals);
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
