#include "sim/fed/federation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/fed/checkpoint.h"
#include "sim/fed/comm.h"
#include "sim/fed/partition.h"
#include "sim/io/error.h"
#include "sim/io/interrupt.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int shard_alloc(fs_shard *s, int n)
{
    s->n = 0;
    s->samples = malloc((size_t)(n ? n : 1) * sizeof *s->samples);
    return s->samples ? 0 : fs_fail("out of memory");
}

void fs_plan_free(fs_partition_plan *p)
{
    for (int k = 0; k < p->clients; k++) {
        if (p->train) free(p->train[k].samples);
        if (p->test) free(p->test[k].samples);
    }
    free(p->train), free(p->test), free(p->global_test.samples), free(p->all_train.samples);
    free(p->counts), free(p->proportions);
    memset(p, 0, sizeof *p);
}

/* Partitions the samples of one source dataset over clients [lo, hi):
 * Dirichlet label skew on the training split, the same per-category client
 * shares on the test split. */
static int partition_source(const fs_task *task, const fs_config *cfg, int src, int lo, int hi,
                            const int *train_idx, int ntrain, const int *test_idx, int ntest,
                            fs_partition_plan *p)
{
    int C = p->clients, K = p->categories, Cs = hi - lo, rc = -1;
    int n = ntrain > ntest ? ntrain : ntest;
    int *keys = malloc((size_t)(n ? n : 1) * sizeof *keys), *which = malloc((size_t)(n ? n : 1) * sizeof *which);
    int *client_of = malloc((size_t)(n ? n : 1) * sizeof *client_of);
    int *counts = calloc((size_t)Cs * K, sizeof *counts);
    double *share = calloc((size_t)Cs * K, sizeof *share);
    if (!keys || !which || !client_of || !counts || !share) {
        fs_fail("out of memory partitioning");
        goto done;
    }
    int m = 0;
    for (int i = 0; i < ntrain; i++)
        if (task->samples[train_idx[i]].source == src)
            which[m] = train_idx[i], keys[m++] = task->samples[train_idx[i]].category;
    if (fs_partition_dirichlet(cfg->seed + (uint64_t)src, keys, m, K, Cs, cfg->dirichlet_alpha,
                               cfg->min_samples_per_client, share, client_of, counts)) {
        fs_fail_context("partitioning %d training samples over %d clients", m, Cs);
        goto done;
    }
    for (int c = 0; c < K; c++)
        for (int k = 0; k < Cs; k++) {
            p->proportions[(size_t)c * C + lo + k] = share[(size_t)c * Cs + k];
            p->counts[(size_t)(lo + k) * K + c] = counts[(size_t)k * K + c];
        }
    for (int i = 0; i < m; i++) {
        fs_shard *sh = &p->train[lo + client_of[i]];
        sh->samples[sh->n++] = which[i];
    }
    m = 0;
    for (int i = 0; i < ntest; i++)
        if (task->samples[test_idx[i]].source == src)
            which[m] = test_idx[i], keys[m++] = task->samples[test_idx[i]].category;
    fs_rng r = fs_rng_seed(cfg->seed ^ (0x7E57ull + (uint64_t)src));
    fs_partition_by_proportions(&r, keys, m, K, Cs, share, client_of, counts);
    for (int i = 0; i < m; i++) {
        if (client_of[i] < 0) continue;
        fs_shard *sh = &p->test[lo + client_of[i]];
        sh->samples[sh->n++] = which[i];
    }
    rc = 0;
done:
    free(keys), free(which), free(client_of), free(counts), free(share);
    return rc;
}

/* Moves a uniformly random k of idx[0..n) to the front (a partial
 * Fisher-Yates shuffle drawn from seed). */
static void pick_seeded_subset(int *idx, int n, int k, uint64_t seed)
{
    fs_rng pick = fs_rng_seed(seed);
    for (int i = 0; i < k; i++) {
        int j = i + (int)fs_rng_below(&pick, (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

/* data.validation: a seeded random fraction of the training pool replaces the
 * test split, so budgets and learning rates can be chosen without looking at
 * test. It is carved before max_train_samples, so a tuned cap draws from the
 * same remaining pool for every validation fraction and seed. */
static int hold_out_validation(const fs_config *cfg, int *train_idx, int *ntrain, int **test_idx,
                               int *ntest)
{
    int n = *ntrain, nval = (int)lround(cfg->validation * n);
    if (nval < 1 || nval >= n) {
        fs_fail("data.validation %g of %d training samples leaves %s: choose a fraction that "
                "keeps both splits non-empty", cfg->validation, n, nval < 1 ? "no validation items" : "nothing to train on");
        return -1;
    }
    pick_seeded_subset(train_idx, n, nval, cfg->seed ^ 0x7A11D5ull);
    int *val = realloc(*test_idx, (size_t)nval * sizeof *val);
    if (!val) {
        fs_fail("out of memory holding out %d validation samples", nval);
        return -1;
    }
    memcpy(val, train_idx, (size_t)nval * sizeof *val);
    memmove(train_idx, train_idx + nval, (size_t)(n - nval) * sizeof *train_idx);
    qsort(val, (size_t)nval, sizeof *val, cmp_int);
    qsort(train_idx, (size_t)(n - nval), sizeof *train_idx, cmp_int);
    *test_idx = val, *ntest = nval, *ntrain = n - nval;
    return 0;
}

int fs_plan_partition(const fs_task *task, const fs_config *cfg, fs_partition_plan *p)
{
    memset(p, 0, sizeof *p);
    int C = cfg->clients, K = task->n_categories, ntrain = 0, ntest = 0;
    for (int i = 0; i < task->n; i++) ntrain += task->samples[i].split == FS_SPLIT_TRAIN;
    ntest = task->n - ntrain;
    p->clients = C, p->categories = K;
    p->train = calloc((size_t)C, sizeof *p->train);
    p->test = calloc((size_t)C, sizeof *p->test);
    p->counts = calloc((size_t)C * K, sizeof *p->counts);
    p->proportions = calloc((size_t)C * K, sizeof *p->proportions);
    int *train_idx = malloc((size_t)(ntrain ? ntrain : 1) * sizeof(int));
    int *test_idx = malloc((size_t)(ntest ? ntest : 1) * sizeof(int));
    int rc = -1;
    if (!p->train || !p->test || !p->counts || !p->proportions || !train_idx || !test_idx) {
        fs_fail("out of memory partitioning %d samples", task->n);
        goto done;
    }
    int a = 0, b = 0;
    for (int i = 0; i < task->n; i++) {
        if (task->samples[i].split == FS_SPLIT_TRAIN) train_idx[a++] = i;
        else test_idx[b++] = i;
    }
    if (cfg->validation > 0 && hold_out_validation(cfg, train_idx, &ntrain, &test_idx, &ntest)) goto done;
    if (cfg->max_train_samples > 0 && ntrain > cfg->max_train_samples) {
        /* a seeded subset, kept in dataset order */
        pick_seeded_subset(train_idx, ntrain, cfg->max_train_samples, cfg->seed ^ 0x5B5E7ull);
        ntrain = cfg->max_train_samples;
        qsort(train_idx, (size_t)ntrain, sizeof *train_idx, cmp_int);
    }
    for (int k = 0; k < C; k++)
        if (shard_alloc(&p->train[k], ntrain) || shard_alloc(&p->test[k], ntest)) goto done;
    if (shard_alloc(&p->all_train, ntrain) || shard_alloc(&p->global_test, ntest)) goto done;
    for (int i = 0; i < ntrain; i++) p->all_train.samples[p->all_train.n++] = train_idx[i];
    for (int i = 0; i < ntest; i++) p->global_test.samples[p->global_test.n++] = test_idx[i];
    /* Cross-task mixes: the clients are split into one contiguous block per
     * source dataset, and each block partitions only its own dataset. */
    int nsrc = 1;
    for (int i = 0; i < task->n; i++) nsrc = task->samples[i].source + 1 > nsrc ? task->samples[i].source + 1 : nsrc;
    if (C < nsrc) {
        fs_fail("data.partition.clients is %d but the task mixes %d datasets: use at least one "
                "client per dataset", C, nsrc);
        goto done;
    }
    for (int src = 0; src < nsrc; src++)
        if (partition_source(task, cfg, src, src * C / nsrc, (src + 1) * C / nsrc, train_idx,
                             ntrain, test_idx, ntest, p))
            goto done;
    rc = 0;
done:
    free(train_idx), free(test_idx);
    if (rc) fs_plan_free(p);
    return rc;
}

/* Seeded choice of ceil(participation * C) clients (at least one), sorted. */
static int choose_participants(const fs_config *cfg, int round, int *out)
{
    int C = cfg->clients, n = (int)ceil(cfg->participation * C - 1e-9);
    if (n < 1) n = 1;
    if (n >= C) {
        for (int k = 0; k < C; k++) out[k] = k;
        return C;
    }
    int *perm = malloc((size_t)C * sizeof *perm);
    if (!perm) return fs_fail("out of memory");
    for (int k = 0; k < C; k++) perm[k] = k;
    fs_rng r = fs_rng_seed(cfg->seed * 1000003ull + (uint64_t)round);
    for (int i = 0; i < n; i++) {
        int j = i + (int)fs_rng_below(&r, (uint64_t)(C - i));
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    char *chosen = calloc((size_t)C, 1);
    if (!chosen) {
        free(perm);
        return fs_fail("out of memory");
    }
    for (int i = 0; i < n; i++) chosen[perm[i]] = 1;
    int m = 0;
    for (int k = 0; k < C; k++)
        if (chosen[k]) out[m++] = k;
    free(perm), free(chosen);
    return m;
}

/* Unweighted mean and minimum over the clients that have a score (NaN: a
 * client without test items, left out rather than scored 0); *counted gets
 * how many there were. NaN when none. worst and counted may be NULL. */
static void mean_worst(const double *x, int n, double *mean, double *worst, int *counted)
{
    double sum = 0, low = INFINITY;
    int m = 0;
    for (int k = 0; k < n; k++)
        if (!isnan(x[k])) sum += x[k], low = x[k] < low ? x[k] : low, m++;
    *mean = m ? sum / m : NAN;
    if (worst) *worst = m ? low : NAN;
    if (counted) *counted = m;
}

/* Accuracy over the pooled test items of all clients (each weighted by its count). */
static double sample_weighted(const double *acc, const fs_shard *test, int n)
{
    double right = 0, total = 0;
    for (int k = 0; k < n; k++)
        if (test[k].n > 0) right += acc[k] * test[k].n, total += test[k].n;
    return total > 0 ? right / total : NAN;
}

/* A non-finite training loss or adapter stops the method: every later
 * number would be noise presented as a result. */
static int check_finite(const fs_fed_run *r, int round, const int *participants, int n,
                        const double *loss)
{
    static const char *const hint =
        "the model's weights may hold NaN or infinite values ('fedsim info MODEL_DIR "
        "--check-values' checks them), or the learning rate (federation.optimizer.lr) is too large";
    for (int i = 0; i < n; i++)
        if (!isfinite(loss[i]))
            return fs_fail("round %d, client %d: the training loss is %g, not a finite number: %s",
                           round, participants[i], loss[i], hint);
    size_t P = fs_adapter_params(&r->global.shape), j = P;
    float *theta = malloc(P * sizeof *theta);
    if (!theta) return fs_fail("out of memory");
    /* each participant's trained adapter (i < n), then the global one (i = n) */
    int i = 0;
    for (; i <= n && j == P; i++) {
        if (i < n) fs_bank_get_client(&r->local, participants[i], theta);
        else fs_bank_get_client(&r->global, 0, theta);
        for (j = 0; j < P && isfinite(theta[j]);) j++;
    }
    free(theta);
    if (j == P) return 0;
    i--;
    if (i < n)
        return fs_fail("round %d, client %d: the trained adapter holds a non-finite value "
                       "(parameter %zu): %s", round, participants[i], j, hint);
    return fs_fail("round %d: the aggregated adapter holds a non-finite value (parameter %zu): %s",
                   round, j, hint);
}

/* One results row per client plus the aggregate row (client -1). */
static int record_round(fs_results *res, int round, int C, const int *participants, int np,
                        const double *loss, const double *acc, const double *gacc, bool evaluated,
                        size_t up_bytes, size_t down_bytes, double seconds, fs_round_row *rows)
{
    char *took = calloc((size_t)C, 1);
    double *lossk = malloc((size_t)C * sizeof *lossk);
    if (!took || !lossk) {
        free(took), free(lossk);
        return fs_fail("out of memory");
    }
    for (int k = 0; k < C; k++) lossk[k] = NAN;
    for (int i = 0; i < np; i++) took[participants[i]] = 1, lossk[participants[i]] = loss[i];
    double mean_loss = 0, mean_acc, mean_g;
    for (int i = 0; i < np; i++) mean_loss += loss[i] / np;
    mean_worst(acc, C, &mean_acc, NULL, NULL);
    mean_worst(gacc, C, &mean_g, NULL, NULL);
    for (int k = 0; k < C; k++) {
        rows[k] = (fs_round_row){.round = round, .client = k, .train_loss = lossk[k],
                                 .test_acc = evaluated ? acc[k] : NAN,
                                 .global_acc = evaluated ? gacc[k] : NAN,
                                 .bytes_up = took[k] ? (int64_t)up_bytes : 0,
                                 .bytes_down = took[k] ? (int64_t)down_bytes : 0,
                                 .seconds = seconds};
    }
    rows[C] = (fs_round_row){.round = round, .client = -1, .train_loss = np ? mean_loss : NAN,
                             .test_acc = evaluated ? mean_acc : NAN,
                             .global_acc = evaluated ? mean_g : NAN,
                             .bytes_up = (int64_t)(up_bytes * np),
                             .bytes_down = (int64_t)(down_bytes * np), .seconds = seconds};
    free(took), free(lossk);
    return res ? fs_results_append_rounds(res, rows, C + 1) : 0;
}

/* Every client's accuracies on every rank (each rank evaluates its groups). */
static int evaluate(fs_fed_run *r, double *acc, double *gacc)
{
    if (fs_evaluate(r, acc, gacc) ||
        fs_comm_share_rows(acc, sizeof *acc, r->clients, r->group_size) ||
        fs_comm_share_rows(gacc, sizeof *gacc, r->clients, r->group_size))
        return -1;
    return 0;
}

/* What a client keeps (the NanoEdge split): encoder (and Q-Former), projector
 * and token embeddings (bf16, as deployed) plus its fp32 adapters. */
static double client_storage_mb(const fs_engine *e, const fs_adapter_shape *shape)
{
    fs_param_counts pc;
    if (fs_mllm_count_params(&fs_engine_model(e)->cfg, &pc)) return NAN;
    return (pc.client * 2.0 + fs_adapter_params(shape) * 4.0) / 1e6;
}

int fs_run_method(fs_engine *engine, const fs_task *task, const fs_config *cfg,
                  const fs_method_cfg *method, const fs_partition_plan *plan, fs_results *results,
                  const char *cell, const fs_progress_opts *progress, fs_summary *summary)
{
    const fs_method *m = method->method;
    const fs_ops *o = fs_engine_ops(engine);
    const char *name = m->name;
    if (fs_interrupted()) return fs_fail("interrupted before %s (%s)", name, cell);
    int C = cfg->clients, rc = -1;
    fs_fed_run r = {.engine = engine, .task = task, .cfg = cfg, .method = m,
                    .params = method->params, .clients = C,
                    .train = plan->train, .test = plan->test, .global_test = plan->global_test,
                    .all_train = plan->all_train,
                    /* As many clients as one frozen-model pass holds the
                     * mini-batches of: lockstep gains nothing beyond that. */
                    .group_size = fs_engine_items_per_pass(engine) / cfg->batch_size};
    if (r.group_size < 1) r.group_size = 1;
    fs_adapter_shape shape = {.rank = cfg->rank, .dim = fs_engine_dim(engine),
                              .scale = (float)(cfg->adapter_alpha / cfg->rank),
                              .targets = {cfg->target_image, cfg->target_text}};
    r.opts = (fs_local_opts){.epochs = cfg->local_epochs, .batch_size = cfg->batch_size,
                             .sgd = !strcmp(cfg->optimizer, "sgd"), .lr = (float)cfg->lr,
                             .weight_decay = (float)cfg->weight_decay};
    int *participants = malloc((size_t)C * sizeof *participants);
    double *loss = calloc((size_t)C, sizeof *loss);
    double *acc = calloc((size_t)C, sizeof *acc), *gacc = calloc((size_t)C, sizeof *gacc);
    fs_round_row *rows = malloc((size_t)(C + 1) * sizeof *rows);
    fs_final_row *final = malloc((size_t)C * sizeof *final);
    char *yaml = fs_config_to_yaml(cfg);
    if (!participants || !loss || !acc || !gacc || !rows || !final || !yaml) {
        fs_fail("out of memory starting %s", name);
        goto done;
    }
    if (fs_bank_init(&r.global, o, &shape, 1) || fs_bank_init(&r.local, o, &shape, C) ||
        (m->client_state && fs_bank_init(&r.extra, o, &shape, C)) ||
        (m->server_slots > 0 && fs_bank_init(&r.server, o, &shape, m->server_slots)) ||
        fs_train_state_init(&r.state, &r.local))
        goto done;
    if (r.extra.data) fs_bank_zero(&r.extra);
    if (r.server.data) fs_bank_zero(&r.server);
    fs_bank_init_lora(&r.global, cfg->seed);
    for (int k = 0; k < C; k++) fs_bank_copy_client(&r.local, k, &r.global, 0);
    /* A checkpoint of a killed run: its banks, and the rows of rounds <= its round. */
    fs_checkpoint ck;
    fs_checkpoint_progress done_so_far = {0};
    if (fs_checkpoint_init(&ck, cfg, cell, method)) goto done;
    /* Checkpoints hold one process's banks (mpirun refuses checkpoint_every):
     * under mpirun a single-process run's leftover is not resumed from, and
     * rank 0 alone deletes it once the method is done. */
    bool single = fs_comm_size() == 1;
    int resumed = single ? fs_checkpoint_load(&ck, &r, &done_so_far) : 0;
    if (resumed < 0) goto done;
    if (resumed) {
        if (results && fs_results_resume(results, cell, name, (done_so_far.round + 1) * (C + 1),
                                         done_so_far.round)) {
            fs_fail_context("cannot continue from checkpoint %s (delete it to start over)",
                            ck.path);
            goto done;
        }
        fprintf(stderr, "fedsim: resuming %s/%s from round %d\n", cell, name, done_so_far.round);
    } else if (results && (fs_results_begin(results, cell, name, yaml) ||
                           fs_results_write_partition(results, plan->counts, C, plan->categories,
                                                      (const char *const *)task->category_names,
                                                      cfg->partition_key))) {
        goto done;
    }

    size_t P = fs_adapter_params(&shape), up = (size_t)m->upload_copies * P * sizeof(float);
    size_t down = (size_t)m->download_copies * P * sizeof(float);
    double t0 = fs_now() - done_so_far.seconds, total_up = done_so_far.bytes_up,
           total_down = done_so_far.bytes_down;
    fs_progress bar;
    fs_progress_start(&bar, progress ? progress->label : cell, name, cfg->rounds,
                      progress && progress->quiet);
    bar.start = t0; /* a resumed method's clock and ETA count its earlier rounds */
    /* Round 0: the untuned model (every method starts from the same adapters). */
    if (!resumed && (evaluate(&r, acc, gacc) ||
                     record_round(results, 0, C, participants, 0, loss, acc, gacc, true, 0, 0,
                                  fs_now() - t0, rows)))
        goto done;
    for (int round = done_so_far.round + 1; round <= cfg->rounds; round++) {
        r.round = round;
        r.opts.seed = cfg->seed * 0x100000001B3ull + (uint64_t)round;
        int np = choose_participants(cfg, round, participants);
        if (np < 0 || (m->fit ? m->fit : fs_fit_from_global)(&r, participants, np, loss) ||
            (m->after_local && m->after_local(&r, participants, np)) ||
            fs_comm_share_rows(loss, sizeof *loss, np, r.group_size) ||
            (m->aggregate ? m->aggregate : fs_aggregate_mean)(&r, participants, np) ||
            check_finite(&r, round, participants, np, loss))
            goto done;
        bool eval = round % cfg->eval_every == 0 || round == cfg->rounds;
        if (eval && evaluate(&r, acc, gacc)) goto done;
        total_up += (double)up * np, total_down += (double)down * np;
        if (record_round(results, round, C, participants, np, loss, acc, gacc, eval, up, down,
                         fs_now() - t0, rows))
            goto done;
        fs_progress_update(&bar, round, rows[C].train_loss, eval ? rows[C].test_acc : NAN);
        bool stopping = fs_interrupted() && round < cfg->rounds;
        /* After its rows (a kill in between resumes from the previous one);
         * on a stop too, as it costs what a scheduled one does. */
        if (cfg->checkpoint_every > 0 && round < cfg->rounds &&
            (round % cfg->checkpoint_every == 0 || stopping) &&
            fs_checkpoint_save(&ck, &r, &(fs_checkpoint_progress){round, fs_now() - t0,
                                                                  total_up, total_down}))
            goto done;
        if (stopping) {
            fs_fail("interrupted after round %d of %d", round, cfg->rounds);
            goto done;
        }
    }
    double mean, worst, gmean;
    int evaluated;
    mean_worst(acc, C, &mean, &worst, &evaluated);
    mean_worst(gacc, C, &gmean, NULL, NULL);
    for (int k = 0; k < C; k++)
        final[k] = (fs_final_row){.client = k, .n_train = plan->train[k].n,
                                  .n_test = plan->test[k].n, .test_acc = acc[k],
                                  .global_acc = gacc[k]};
    fs_summary s = {.mean_acc = mean, .worst_acc = worst, .global_acc = gmean,
                    .upload_mb = total_up / 1e6, .download_mb = total_down / 1e6,
                    .client_storage_mb = client_storage_mb(engine, &shape),
                    .seconds = fs_now() - t0,
                    .sample_weighted_acc = sample_weighted(acc, plan->test, C),
                    .clients_evaluated = evaluated};
    fs_progress_finish(&bar, mean, s.seconds);
    /* The checkpoint goes first: a kill in between re-runs the method rather
     * than finding a finished method with a checkpoint. */
    if ((fs_comm_rank() == 0 && fs_checkpoint_remove(&ck)) ||
        (results && fs_results_finish(results, final, C, &s)))
        goto done;
    if (summary) *summary = s;
    rc = 0;
done:
    if (rc) fs_fail_context("%s (%s)", name, cell);
    fs_bank_free(&r.global), fs_bank_free(&r.local), fs_bank_free(&r.extra), fs_bank_free(&r.server);
    fs_train_state_free(&r.state);
    free(participants), free(loss), free(acc), free(gacc), free(rows), free(final), free(yaml);
    return rc;
}
