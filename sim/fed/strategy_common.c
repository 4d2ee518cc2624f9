/* Pieces the method files share: broadcast + lockstep fit in groups, sharing
 * the uploads between ranks, weighted and Fisher aggregation, and evaluation
 * through the methods' answer hooks. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/comm.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"

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

static void method_gradient(const void *ctx, fs_adapter_bank *grads, const fs_adapter_bank *bank,
                            const int *active, int nactive)
{
    const fs_fed_run *r = ctx;
    r->method->client_gradient(r, grads, bank, active, nactive);
}

fs_local_opts fs_method_local_opts(const fs_fed_run *r)
{
    fs_local_opts opts = r->opts;
    if (r->method->client_gradient) opts.grad_hook = method_gradient, opts.grad_ctx = r;
    return opts;
}

int fs_fit_from_global(fs_fed_run *r, const int *participants, int n, double *loss)
{
    fs_local_opts opts = fs_method_local_opts(r);
    for (int i = 0; i < n; i++) fs_bank_copy_client(&r->local, participants[i], &r->global, 0);
    return fs_train_groups(r, &r->local, &opts, participants, n, loss);
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

double *fs_data_weights(const fs_fed_run *r, const int *participants, int n)
{
    double *w = malloc((size_t)(n ? n : 1) * sizeof *w), total = 0;
    if (!w) return fs_fail("out of memory"), NULL;
    for (int i = 0; i < n; i++) total += r->train[participants[i]].n;
    for (int i = 0; i < n; i++) w[i] = total > 0 ? r->train[participants[i]].n / total : 1.0 / n;
    return w;
}

int fs_aggregate_mean(fs_fed_run *r, const int *participants, int n)
{
    if (fs_share_slots(r, &r->local, participants, n)) return -1;
    double *w = fs_data_weights(r, participants, n);
    if (!w) return -1;
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
    double *w = fs_data_weights(r, participants, n);
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


int fs_answer_personal(fs_fed_run *r, const fs_item *items, int n, unsigned char *correct)
{
    fs_adapter_use use = {.bank = &r->local};
    return fs_correct(r->engine, items, n, &use, 1, correct);
}

static int answer_global(fs_fed_run *r, const fs_item *items, int n, unsigned char *correct)
{
    fs_adapter_use use = {.bank = &r->global, .single = true};
    return fs_correct(r->engine, items, n, &use, 1, correct);
}

/* pos[sample] = the sample's index in the global test set, -1 for none;
 * NULL when some client's test item is not in it (the evaluation below
 * reads a client's answers off the global test set's). */
static int *global_positions(const fs_fed_run *r)
{
    const fs_shard *gt = &r->global_test;
    int *pos = malloc((size_t)(r->task->n ? r->task->n : 1) * sizeof *pos);
    if (!pos) return fs_fail("out of memory"), NULL;
    for (int i = 0; i < r->task->n; i++) pos[i] = -1;
    for (int i = 0; i < gt->n; i++) pos[gt->samples[i]] = i;
    for (int k = 0; k < r->clients; k++)
        for (int i = 0; i < r->test[k].n; i++)
            if (pos[r->test[k].samples[i]] < 0) {
                free(pos);
                return fs_fail("internal error: client %d's test item %d is not in the global "
                               "test set", k, r->test[k].samples[i]), NULL;
            }
    return pos;
}

/* Share of right answers (NaN without items). */
static double accuracy(const unsigned char *correct, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += correct[i];
    return n ? (double)c / n : NAN;
}

/* Accuracy on a test split, from the answers to the global test set. */
static double split_accuracy(const fs_shard *test, const int *pos, const unsigned char *correct)
{
    int c = 0;
    for (int i = 0; i < test->n; i++) c += correct[pos[test->samples[i]]];
    return test->n ? (double)c / test->n : NAN;
}

/* Every client answers the whole global test set with its own adapter, in
 * this rank's groups. */
static int evaluate_per_client(fs_fed_run *r, const int *pos, double *acc, double *global_acc)
{
    const fs_shard *gt = &r->global_test;
    int G = r->group_size, rc = -1;
    fs_item *items = malloc((size_t)G * (gt->n ? gt->n : 1) * sizeof *items);
    unsigned char *correct = malloc((size_t)G * (gt->n ? gt->n : 1));
    if (!items || !correct) {
        fs_fail("out of memory");
        goto done;
    }
    for (int s = -1, len; fs_comm_next_run(r->clients, G, &s, &len);) {
        for (int j = 0; j < len; j++)
            for (int i = 0; i < gt->n; i++)
                items[(size_t)j * gt->n + i] = (fs_item){gt->samples[i], s + j};
        if (r->method->answer(r, items, len * gt->n, correct)) goto done;
        for (int j = 0; j < len; j++) {
            global_acc[s + j] = accuracy(correct + (size_t)j * gt->n, gt->n);
            acc[s + j] = split_accuracy(&r->test[s + j], pos, correct + (size_t)j * gt->n);
        }
    }
    rc = 0;
done:
    free(items), free(correct);
    return rc;
}

/* The global adapter answers the global test set once: group j the j-th of
 * as many slices as there are groups, whose answers every rank then gets. */
static int evaluate_shared(fs_fed_run *r, const int *pos, double *acc, double *global_acc)
{
    const fs_shard *gt = &r->global_test;
    int C = r->clients, G = r->group_size, groups = (C + G - 1) / G, rc = -1;
    size_t row = (size_t)(gt->n + groups - 1) / groups + 1;
    unsigned char *rows = calloc((size_t)groups, row), *correct = malloc((size_t)(gt->n ? gt->n : 1));
    fs_item *items = malloc(row * sizeof *items);
    if (!rows || !correct || !items) {
        fs_fail("out of memory");
        goto done;
    }
    for (int s = -1, len; fs_comm_next_run(C, G, &s, &len);) {
        int j = s / G, lo = (int)((long)gt->n * j / groups), hi = (int)((long)gt->n * (j + 1) / groups);
        for (int i = lo; i < hi; i++) items[i - lo] = (fs_item){gt->samples[i], 0};
        if (answer_global(r, items, hi - lo, rows + (size_t)j * row)) goto done;
    }
    if (fs_comm_share_rows(rows, row, groups, 1)) goto done;
    long right = 0;
    for (int j = 0; j < groups; j++) {
        int lo = (int)((long)gt->n * j / groups), hi = (int)((long)gt->n * (j + 1) / groups);
        memcpy(correct + lo, rows + (size_t)j * row, (size_t)(hi - lo));
    }
    for (int i = 0; i < gt->n; i++) right += correct[i];
    for (int k = 0; k < C; k++) {
        acc[k] = split_accuracy(&r->test[k], pos, correct);
        global_acc[k] = gt->n ? (double)right / gt->n : 0.0;
    }
    rc = 0;
done:
    free(rows), free(correct), free(items);
    return rc;
}

int fs_evaluate(fs_fed_run *r, double *acc, double *global_acc)
{
    int *pos = global_positions(r);
    if (!pos) return -1;
    int rc = r->method->answer ? evaluate_per_client(r, pos, acc, global_acc)
                               : evaluate_shared(r, pos, acc, global_acc);
    free(pos);
    return rc;
}
