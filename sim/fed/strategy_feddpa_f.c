/* FedDPA-F (Yang et al., NeurIPS 2024; F = the fine-tuning variant), as the
 * official code does it (github Lydia-yang/FedDPA: code/main.py,
 * code/fed_utils/client.py, code/GlobalModel_generated.py):
 *
 * - The global adapter theta_g is trained and averaged as in FedAvg.
 * - Each participant also trains a private local adapter theta_l on top of
 *   the global adapter it received, which stays frozen, with a fixed mix:
 *   x' = x + mix * lora_l(x) + (1 - mix) * lora_g(x) (mix = 0.5). As in the
 *   official main loop, local training starts in the second round (from a
 *   fresh adapter) and continues from the client's previous local adapter.
 * - At test time item i of client k gets w_i = scale * mean_j cos(h_i, h_j)
 *   over `instances` training items j of client k drawn at random for that
 *   item, h = the last-layer hidden state of the last prompt token computed
 *   with the local adapter alone; then x' = x + w_i lora_g(x) + (1 - w_i)
 *   lora_l(x). With scale 0.5 an in-distribution item (cos = 1) gets the
 *   training mix. w_i is not clamped (the official code does not).
 *
 * The training items' states are computed once per evaluation, for the
 * union of the items drawn, and reused by every test item. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/comm.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"
#include "sim/io/rng.h"

typedef struct {
    int local_epochs;
    double mix;
    int instances;
    double scale;
} params;
static const fs_param param_table[] = {
    {.key = "local_epochs", .type = FS_PARAM_INT, .def = "1", .min = 1,
     .doc = "a positive integer", .offset = offsetof(params, local_epochs)},
    {.key = "mix", .type = FS_PARAM_FLOAT, .def = "0.5", .min = 0, .max = 1,
     .doc = "a fraction in [0, 1]", .offset = offsetof(params, mix)},
    {.key = "instances", .type = FS_PARAM_INT, .def = "5", .min = 1,
     .doc = "a positive integer", .offset = offsetof(params, instances)},
    {.key = "scale", .type = FS_PARAM_FLOAT, .def = "0.5", .min = 0, .max = INFINITY,
     .doc = "a non-negative number", .offset = offsetof(params, scale)},
};

/* Not static: tests/test_lockstep.c checks it by hand. */
double fs_feddpa_instance_weight(const float *h, const float *const *refs, int k, int d,
                                 double scale)
{
    double sum = 0;
    for (int j = 0; j < k; j++) {
        double hr = 0, hh = 0, rr = 0;
        for (int t = 0; t < d; t++)
            hr += (double)h[t] * refs[j][t], hh += (double)h[t] * h[t],
                rr += (double)refs[j][t] * refs[j][t];
        /* torch.cosine_similarity's eps keeps a zero vector at similarity 0 */
        sum += hr / fmax(sqrt(hh * rr), 1e-8);
    }
    return k ? scale * sum / k : 0.0;
}

static int fit(fs_fed_run *r, const int *participants, int n, double *loss)
{
    const params *p = r->params;
    if (r->round >= 2) {
        if (r->round == 2) fs_bank_init_lora(&r->extra, r->cfg->seed + 17);
        fs_local_opts opts = r->opts;
        opts.epochs = p->local_epochs;
        opts.frozen_extra = &r->global;
        opts.mix = (float)p->mix;
        opts.seed ^= 0xD9Aull;
        if (fs_train_groups(r, &r->extra, &opts, participants, n, NULL) ||
            fs_share_slots(r, &r->extra, participants, n))
            return -1;
    }
    return fs_fit_from_global(r, participants, n, loss);
}

/* Training items drawn for each test item, and their hidden states. */
typedef struct {
    int K;           /* instances per test item */
    int *drawn;      /* [n_test x K]: row of the item's j-th instance in hidden, -1 = none */
    int *n_drawn;    /* [n_test] */
    float *hidden;   /* [rows x d] */
    fs_item *items;  /* [rows] the training items whose states are held */
    int rows;
} reference_states;

static void references_free(reference_states *ref)
{
    free(ref->drawn), free(ref->n_drawn), free(ref->hidden), free(ref->items);
    memset(ref, 0, sizeof *ref);
}

/* Draws, for each test item, min(K, n) distinct training items of its
 * client's shard (a stream per round, client and item), then computes the
 * union's hidden states in one pass with the local adapters alone. */
static int draw_references(fs_fed_run *r, const fs_item *test, int n, reference_states *ref)
{
    const params *p = r->params;
    int K = p->instances, C = r->clients, d = fs_engine_dim(r->engine);
    ref->K = K;
    int **row_of = calloc((size_t)C, sizeof *row_of); /* per client: train index -> row */
    ref->drawn = malloc((size_t)(n ? n : 1) * K * sizeof *ref->drawn);
    ref->n_drawn = malloc((size_t)(n ? n : 1) * sizeof *ref->n_drawn);
    ref->items = malloc((size_t)(n ? n : 1) * K * sizeof *ref->items);
    int rc = -1;
    if (!row_of || !ref->drawn || !ref->n_drawn || !ref->items) goto oom;
    for (int i = 0; i < n; i++) {
        int k = test[i].slot;
        const fs_shard *sh = &r->train[k];
        if (!row_of[k]) {
            if (!(row_of[k] = malloc((size_t)(sh->n ? sh->n : 1) * sizeof **row_of))) goto oom;
            for (int j = 0; j < sh->n; j++) row_of[k][j] = -1;
        }
        fs_rng g = fs_rng_seed(r->cfg->seed ^ 0xFEDD9Aull ^ ((uint64_t)r->round << 20) ^
                               (0x9E3779B97F4A7C15ull * (uint64_t)(k + 1)) ^
                               (0xC2B2AE3D27D4EB4Full * (uint64_t)(test[i].sample + 1)));
        int take = K < sh->n ? K : sh->n, *out = ref->drawn + (size_t)i * K;
        for (int j = 0; j < take;) {
            int idx = (int)fs_rng_below(&g, (uint64_t)sh->n), dup = 0;
            for (int q = 0; q < j; q++) dup |= out[q] == idx;
            if (!dup) out[j++] = idx;
        }
        for (int j = 0; j < take; j++) {
            int idx = out[j];
            if (row_of[k][idx] < 0) {
                row_of[k][idx] = ref->rows;
                ref->items[ref->rows++] = (fs_item){sh->samples[idx], k};
            }
            out[j] = row_of[k][idx];
        }
        ref->n_drawn[i] = take;
    }
    if (!(ref->hidden = malloc((size_t)(ref->rows ? ref->rows : 1) * d * sizeof *ref->hidden)))
        goto oom;
    fs_adapter_use local = {.bank = &r->extra};
    rc = fs_engine_last_hidden(r->engine, ref->items, ref->rows, &local, 1, ref->hidden);
    goto done;
oom:
    fs_fail("out of memory drawing FedDPA-F's reference instances");
done:
    if (row_of)
        for (int k = 0; k < C; k++) free(row_of[k]);
    free(row_of);
    return rc;
}

/* correct[i] for test items under the instance-weighted global/local mix. */
static int mixed_answers(fs_fed_run *r, const fs_item *items, int n, unsigned char *correct)
{
    const params *p = r->params;
    int d = fs_engine_dim(r->engine), rc = -1;
    reference_states ref = {0};
    float *h = malloc((size_t)(n ? n : 1) * d * sizeof *h);
    float *w = malloc((size_t)(n ? n : 1) * 2 * sizeof *w);
    const float **refs = malloc((size_t)p->instances * sizeof *refs);
    fs_adapter_use local = {.bank = &r->extra};
    if (!h || !w || !refs) {
        fs_fail("out of memory");
        goto done;
    }
    if (draw_references(r, items, n, &ref) ||
        fs_engine_last_hidden(r->engine, items, n, &local, 1, h))
        goto done;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < ref.n_drawn[i]; j++)
            refs[j] = ref.hidden + (size_t)ref.drawn[(size_t)i * ref.K + j] * d;
        w[i] = (float)fs_feddpa_instance_weight(h + (size_t)i * d, refs, ref.n_drawn[i], d,
                                                p->scale);
        w[n + i] = 1.0f - w[i];
    }
    fs_adapter_use uses[2] = {{.bank = &r->global, .item_weight = w, .single = true},
                              {.bank = &r->extra, .item_weight = w + n}};
    rc = fs_correct(r->engine, items, n, uses, 2, correct);
done:
    references_free(&ref);
    free(h), free(w), free(refs);
    return rc;
}

/* The memory plan's share: the reference states of one evaluation pass. */
static double host_bytes(const void *values, int clients, int n_train, int n_test, int dim)
{
    const params *p = values;
    double refs = fmin((double)n_test * p->instances, n_train);
    return refs * ((double)dim * 4 + 16) + clients * 8.0 + n_train * 4.0;
}

const fs_method fs_method_feddpa_f = {
    .name = "feddpa_f",
    .summary = "FedDPA-F: a global adapter averaged as FedAvg plus a private local one, "
               "mixed per test item",
    .paper = true,
    .params = param_table,
    .n_params = 4,
    .params_size = sizeof(params),
    .client_state = true, /* the private local adapters */
    .upload_copies = 1,
    .download_copies = 1,
    .fit = fit,
    .host_bytes = host_bytes,
    .answer = mixed_answers,
};
