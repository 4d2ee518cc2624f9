/* The federated engine on a tiny random model: lockstep client batching equals
 * simulating clients one after another; the fused per-sample Fisher equals
 * brute force; FedProx's proximal term; FedAvg and Fisher-merge aggregation
 * against hand-computed values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/fisher.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"
#include "sim/model/presets.h"
#include "tests/helpers/testutil.h"

/* FedDPA-F's instance weight of the global adapter for an item with hidden
 * state h: scale * mean over refs[0..k) of cos(h, refs[j]) (0 when k = 0);
 * defined in sim/fed/strategy_feddpa_f.c, declared here for its test only. */
double fs_feddpa_instance_weight(const float *h, const float *const *refs, int k, int d,
                                 double scale);

enum { NSAMPLES = 24 };

typedef struct {
    fs_mllm *m;
    fs_task task;
    fs_engine *e;
    fs_adapter_shape shape;
} world;

static void make_world(world *w, int max_rows)
{
    fs_llava_config cfg = fs_llava_config_tiny();
    cfg.v_layers = 2, cfg.t_layers = 2, cfg.t_vocab = 64, cfg.image_token_index = 63;
    cfg.v_image_size = 16; /* 4 image tokens */
    w->m = fs_mllm_new_random(&cfg, fs_backend_cpu(), 5);
    cr_assert(w->m, "%s", fs_last_error());
    int ntok = w->m->n_image_tokens, S = cfg.v_image_size;
    tu_rng r = tu_rng_new(9);
    fs_task *t = &w->task;
    memset(t, 0, sizeof *t);
    t->n = NSAMPLES;
    t->samples = calloc(NSAMPLES, sizeof *t->samples);
    t->n_images = NSAMPLES;
    t->image_size = S;
    t->pixels = tu_rand_array(&r, (long)NSAMPLES * 3 * S * S, -1, 1);
    t->pad_id = 0;
    for (int c = 0; c < FS_MAX_CHOICES; c++) t->letter_ids[c] = 40 + c;
    for (int i = 0; i < NSAMPLES; i++) {
        fs_sample *s = &t->samples[i];
        s->len = 8 + ntok + i % 5;
        s->ids = malloc((size_t)s->len * sizeof *s->ids);
        s->image = i % 4 == 3 ? -1 : i; /* some text-only samples */
        s->image_pos = 2;
        for (int p = 0; p < s->len; p++) {
            int img = s->image >= 0 && p >= 2 && p < 2 + ntok;
            s->ids[p] = img ? cfg.image_token_index : 1 + (int)(tu_uniform(&r, 0, 1) * 38);
        }
        s->n_choices = 2 + i % 3;
        s->answer = i % s->n_choices;
        s->category = i % 3;
    }
    w->e = fs_engine_new(w->m, t, max_rows);
    cr_assert(w->e, "%s", fs_last_error());
    cr_assert_eq(fs_engine_cache_features(w->e), 0, "%s", fs_last_error());
    w->shape = (fs_adapter_shape){.rank = 4, .dim = cfg.t_hidden, .scale = 2.0f,
                                  .targets = {true, true}};
}

static void free_world(world *w)
{
    fs_engine_free(w->e);
    for (int i = 0; i < w->task.n; i++) free(w->task.samples[i].ids);
    free(w->task.samples);
    free(w->task.pixels);
    fs_mllm_free(w->m);
}

static int client_samples[3][10] = {{0, 3, 6, 9, 12}, {1, 4, 7, 10, 13, 16, 19, 22, 2}, {5, 8, 11}};
static const int client_n[3] = {5, 9, 3};

static void shards_of(fs_shard *sh)
{
    for (int k = 0; k < 3; k++) sh[k] = (fs_shard){client_n[k], client_samples[k]};
}

static float *bank_host(const fs_adapter_bank *b)
{
    size_t n = fs_bank_numel(b);
    float *h = malloc(n * sizeof *h);
    b->ops->to_host(h, b->data, n * sizeof *h);
    return h;
}

static void train(world *w, fs_adapter_bank *bank, fs_adapter_bank *ef, const int *slots, int n,
                  double *loss)
{
    fs_train_state st;
    fs_shard sh[3];
    shards_of(sh);
    cr_assert_eq(fs_train_state_init(&st, bank), 0);
    fs_local_opts opts = {.epochs = 2, .batch_size = 4, .lr = 0.05f, .weight_decay = 0.01f,
                          .sq_grads = ef, .seed = 77};
    cr_assert_eq(fs_train_lockstep(w->e, bank, &st, slots, n, sh, &opts, loss), 0, "%s",
                 fs_last_error());
    fs_train_state_free(&st);
}

Test(lockstep, equals_clients_simulated_one_after_another)
{
    world w;
    make_world(&w, 40); /* small passes: micro-batches are chunked too */
    fs_adapter_bank together, alone, ef_together, ef_alone;
    cr_assert_eq(fs_bank_init(&together, fs_backend_cpu(), &w.shape, 3), 0);
    cr_assert_eq(fs_bank_init(&alone, fs_backend_cpu(), &w.shape, 3), 0);
    cr_assert_eq(fs_bank_init(&ef_together, fs_backend_cpu(), &w.shape, 3), 0);
    cr_assert_eq(fs_bank_init(&ef_alone, fs_backend_cpu(), &w.shape, 3), 0);
    fs_bank_init_lora(&together, 3);
    fs_bank_init_lora(&alone, 3);
    int all[3] = {0, 1, 2};
    double loss_together[3], loss_alone[3];
    train(&w, &together, &ef_together, all, 3, loss_together);
    for (int k = 0; k < 3; k++) train(&w, &alone, &ef_alone, &all[k], 1, &loss_alone[k]);
    float *a = bank_host(&together), *b = bank_host(&alone);
    float *fa = bank_host(&ef_together), *fb = bank_host(&ef_alone);
    size_t n = fs_bank_numel(&together);
    tu_assert_close(a, b, (long)n, 1e-5f, 1e-4f, "adapters: lockstep vs one client at a time");
    tu_assert_close(fa, fb, (long)n, 1e-7f, 1e-3f, "empirical Fisher: lockstep vs one at a time");
    float fmax_abs = 0;
    for (size_t j = 0; j < n; j++) fmax_abs = fabsf(fa[j]) > fmax_abs ? fabsf(fa[j]) : fmax_abs;
    cr_assert(fmax_abs > 1e-8f, "the empirical Fisher stayed zero (max %g)", fmax_abs);
    float *init = malloc(n * sizeof *init);
    fs_adapter_bank fresh;
    fs_bank_init(&fresh, fs_backend_cpu(), &w.shape, 3);
    fs_bank_init_lora(&fresh, 3);
    fresh.ops->to_host(init, fresh.data, n * sizeof *init);
    cr_assert(tu_max_abs_diff(a, init, (long)n) > 1e-3f, "training did not move the adapters");
    for (int k = 0; k < 3; k++)
        cr_assert_float_eq(loss_together[k], loss_alone[k], 1e-5, "client %d loss", k);
    free(a), free(b), free(fa), free(fb), free(init);
    fs_bank_free(&together), fs_bank_free(&alone), fs_bank_free(&ef_together);
    fs_bank_free(&ef_alone), fs_bank_free(&fresh);
    free_world(&w);
}

/* Squared per-item gradients summed with weights, one item at a time. */
static float *brute_fisher(world *w, const fs_adapter_bank *bank, const fs_item *items, int n,
                           const int *target, const float *weight)
{
    fs_adapter_bank g, acc;
    fs_bank_init(&g, fs_backend_cpu(), &bank->shape, bank->clients);
    fs_bank_init(&acc, fs_backend_cpu(), &bank->shape, bank->clients);
    fs_adapter_use use = {.bank = bank};
    float one = 1.0f;
    size_t numel = fs_bank_numel(bank);
    for (int i = 0; i < n; i++) {
        fs_bank_zero(&g);
        cr_assert_eq(fs_engine_backward(w->e, &items[i], 1, &use, 1, &one,
                                        target ? &target[i] : NULL, &g, NULL, NULL, NULL),
                     0);
        /* only this item's client block is non-zero */
        for (size_t j = 0; j < numel; j++) acc.data[j] += weight[i] * g.data[j] * g.data[j];
    }
    fs_bank_free(&g);
    return acc.data;
}

/* Three banks shaped like the world's adapters; the first gets random values
 * (B != 0, so A and B both have gradients). */
static void three_banks(world *w, int clients, fs_adapter_bank b[3], uint64_t seed)
{
    for (int i = 0; i < 3; i++)
        cr_assert_eq(fs_bank_init(&b[i], fs_backend_cpu(), &w->shape, clients), 0);
    tu_rng r = tu_rng_new(seed);
    tu_fill(&r, b[0].data, (long)fs_bank_numel(&b[0]), -0.3f, 0.3f);
}

static void free_banks(fs_adapter_bank b[3])
{
    for (int i = 0; i < 3; i++) fs_bank_free(&b[i]);
}

/* The Fisher tests' fixture: the world, three 3-client banks (b[0] random)
 * and the three clients' shards. */
static void fisher_world(world *w, fs_adapter_bank b[3], uint64_t seed, fs_shard sh[3])
{
    make_world(w, 200);
    three_banks(w, 3, b, seed);
    shards_of(sh);
}

Test(lockstep, fused_fisher_equals_per_sample_brute_force)
{
    world w;
    make_world(&w, 200);
    fs_adapter_bank b[3], bank = {0}, scratch = {0}, fisher = {0};
    three_banks(&w, 3, b, 4);
    bank = b[0], scratch = b[1], fisher = b[2];
    fs_item items[7];
    float lw[7], fw[7];
    int target[7];
    for (int i = 0; i < 7; i++) {
        items[i] = (fs_item){i * 3, i % 3};
        lw[i] = 0.25f + 0.1f * i; /* training-style loss weights, undone by the engine */
        fw[i] = 0.5f + i;
        target[i] = (i + 1) % w.task.samples[i * 3].n_choices;
    }
    fs_adapter_use use = {.bank = &bank};
    cr_assert_eq(fs_engine_backward(w.e, items, 7, &use, 1, lw, target, &scratch, &fisher, fw,
                                    NULL),
                 0);
    float *want = brute_fisher(&w, &bank, items, 7, target, fw);
    tu_assert_close(fisher.data, want, (long)fs_bank_numel(&bank), 1e-9f, 1e-3f,
                    "fused Fisher vs per-sample brute force");
    free(want);
    free_banks(b);
    free_world(&w);
}

Test(lockstep, expected_model_fisher_equals_brute_force)
{
    world w;
    fs_adapter_bank b[3], bank = {0}, scratch = {0}, fisher = {0};
    fs_shard sh[3];
    fisher_world(&w, b, 6, sh);
    bank = b[0], scratch = b[1], fisher = b[2];
    int slots[3] = {0, 1, 2};
    /* n_samples >= every shard: every sample counts, weight 1/n_k */
    cr_assert_eq(fs_fisher_diag(w.e, &bank, slots, 3, sh, 100, FS_FISHER_EXPECTED, 1, &fisher, &scratch), 0,
                 "%s", fs_last_error());
    /* brute force: sum_c p(c) g_c^2 / n_k, one sample and one choice at a time */
    size_t numel = fs_bank_numel(&bank);
    float *want = calloc(numel, sizeof *want);
    fs_adapter_use use = {.bank = &bank};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < sh[k].n; i++) {
            fs_item it = {sh[k].samples[i], k};
            float logp[FS_MAX_CHOICES];
            cr_assert_eq(fs_engine_forward(w.e, &it, 1, &use, 1, NULL, logp), 0);
            int nc = w.task.samples[it.sample].n_choices;
            double z = 0;
            for (int c = 0; c < nc; c++) z += exp(logp[c]);
            for (int c = 0; c < nc; c++) {
                float weight = (float)(exp(logp[c]) / z / sh[k].n);
                float *part = brute_fisher(&w, &bank, &it, 1, &c, &weight);
                for (size_t j = 0; j < numel; j++) want[j] += part[j];
                free(part);
            }
        }
    tu_assert_close(fisher.data, want, (long)numel, 1e-9f, 1e-3f,
                    "expected model Fisher vs brute force");
    free(want);
    free_banks(b);
    free_world(&w);
}

static double l2(const float *x, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (double)x[j] * x[j];
    return sqrt(s);
}

/* The sampled model Fisher differentiates the distribution it samples from
 * (the softmax over the item's choice letters), so its per-sample gradients
 * average to zero; and the average of many sampled estimates is the expected
 * (exact) one. */
Test(lockstep, sampled_model_fisher_has_zero_mean_score_and_averages_to_the_expected)
{
    world w;
    fs_adapter_bank b[3], bank = {0}, grads = {0}, fisher = {0}, expected = {0};
    fs_shard sh[3];
    fisher_world(&w, b, 12, sh);
    bank = b[0], grads = b[1], fisher = b[2];
    cr_assert_eq(fs_bank_init(&expected, fs_backend_cpu(), &w.shape, 3), 0);
    tu_rng r = tu_rng_new(13); /* larger adapters: choices far from uniform */
    tu_fill(&r, bank.data, (long)fs_bank_numel(&bank), -1.5f, 1.5f);
    int slots[3] = {0, 1, 2}, draws = 300, items = 0;
    for (int k = 0; k < 3; k++) items += sh[k].n;
    size_t numel = fs_bank_numel(&bank);
    double *grad_sum = calloc(numel, sizeof *grad_sum), *fisher_sum = calloc(numel, sizeof *fisher_sum);
    for (int d = 0; d < draws; d++) {
        fs_bank_zero(&grads), fs_bank_zero(&fisher);
        cr_assert_eq(fs_fisher_diag(w.e, &bank, slots, 3, sh, 100, FS_FISHER_SAMPLED, 1000 + d,
                                    &fisher, &grads),
                     0, "%s", fs_last_error());
        for (size_t j = 0; j < numel; j++) grad_sum[j] += grads.data[j], fisher_sum[j] += fisher.data[j];
    }
    fs_bank_zero(&expected), fs_bank_zero(&grads);
    cr_assert_eq(fs_fisher_diag(w.e, &bank, slots, 3, sh, 100, FS_FISHER_EXPECTED, 1, &expected,
                                &grads),
                 0);
    float *mean_grad = malloc(numel * sizeof *mean_grad), *rms = malloc(numel * sizeof *rms);
    float *mean_fisher = malloc(numel * sizeof *mean_fisher), *diff = malloc(numel * sizeof *diff);
    for (size_t j = 0; j < numel; j++) {
        /* grads sums each client's items; the Fisher is a per-client mean */
        mean_grad[j] = (float)(grad_sum[j] / ((double)draws * items / 3));
        mean_fisher[j] = (float)(fisher_sum[j] / draws);
        rms[j] = sqrtf(mean_fisher[j]);
        diff[j] = mean_fisher[j] - expected.data[j];
    }
    /* sampling error of a mean over draws x items scores: about rms / sqrt(1700) */
    double score_ratio = l2(mean_grad, numel) / l2(rms, numel);
    cr_assert(score_ratio < 0.1, "mean sampled score / its rms = %.3f, not about 0", score_ratio);
    double fisher_ratio = l2(diff, numel) / l2(expected.data, numel);
    cr_assert(fisher_ratio < 0.1, "mean of sampled Fishers vs expected: relative error %.3f",
              fisher_ratio);
    cr_assert(l2(expected.data, numel) > 0, "the expected Fisher is zero");
    free(grad_sum), free(fisher_sum), free(mean_grad), free(rms), free(mean_fisher), free(diff);
    fs_bank_free(&expected);
    free_banks(b);
    free_world(&w);
}

/* FedNano-EF at: final takes the training loss's per-sample squared
 * gradients (true labels, full vocabulary) at the given adapters. */
Test(lockstep, empirical_fisher_at_final_equals_brute_force)
{
    world w;
    fs_adapter_bank b[3], bank = {0}, scratch = {0}, fisher = {0};
    fs_shard sh[3];
    fisher_world(&w, b, 14, sh);
    bank = b[0], scratch = b[1], fisher = b[2];
    int slots[3] = {0, 1, 2};
    cr_assert_eq(fs_fisher_diag(w.e, &bank, slots, 3, sh, 1 << 30, FS_FISHER_TRUE_LABELS, 1,
                                &fisher, &scratch),
                 0, "%s", fs_last_error());
    fs_item items[17];
    float weight[17];
    int n = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < sh[k].n; i++)
            items[n] = (fs_item){sh[k].samples[i], k}, weight[n++] = 1.0f / (float)sh[k].n;
    float *want = brute_fisher(&w, &bank, items, n, NULL, weight);
    tu_assert_close(fisher.data, want, (long)fs_bank_numel(&bank), 1e-9f, 1e-3f,
                    "empirical Fisher at the final adapters vs brute force");
    free(want);
    free_banks(b);
    free_world(&w);
}

Test(feddpa_f, instance_weight_by_hand)
{
    const float h[3] = {1, 0, 0}, r0[3] = {2, 0, 0}, r1[3] = {0, 1, 0}, r2[3] = {1, 1, 0},
                r3[3] = {-1, 0, 0}, zero[3] = {0, 0, 0};
    const float *refs[4] = {r0, r1, r2, r3};
    /* cosines 1, 0, 1/sqrt(2), -1; scale 0.5; not clamped */
    cr_assert_float_eq(fs_feddpa_instance_weight(h, refs, 3, 3, 0.5),
                       0.5 * (1 + 0 + 1 / sqrt(2.0)) / 3, 1e-7);
    cr_assert_float_eq(fs_feddpa_instance_weight(h, refs, 4, 3, 0.5),
                       0.5 * (1 + 0 + 1 / sqrt(2.0) - 1) / 4, 1e-7);
    const float *same[2] = {h, r0};
    /* an in-distribution item (cosine 1) gets w = scale: 0.5, the global
     * adapter's share during local training (1 - mix with mix = 0.5) */
    cr_assert_float_eq(fs_feddpa_instance_weight(h, same, 2, 3, 0.5), 0.5, 1e-7);
    const float *none[1] = {zero};
    cr_assert_float_eq(fs_feddpa_instance_weight(h, none, 1, 3, 0.5), 0.0, 1e-12);
    cr_assert_float_eq(fs_feddpa_instance_weight(h, NULL, 0, 3, 0.5), 0.0, 1e-12);
}

/* Local training sees local x mix + frozen global x (1 - mix): its loss is the
 * forward loss of that mix, and only the local adapter moves. */
Test(feddpa_f, local_training_uses_the_fixed_mix)
{
    world w;
    make_world(&w, 200);
    fs_adapter_bank b[3], local = {0}, global = {0}, before = {0};
    three_banks(&w, 1, b, 15);
    local = b[0], global = b[1], before = b[2];
    tu_rng r = tu_rng_new(16);
    tu_fill(&r, global.data, (long)fs_bank_numel(&global), -0.5f, 0.5f);
    memcpy(before.data, global.data, fs_bank_numel(&global) * sizeof(float));
    int samples[4] = {0, 1, 2, 5}, slot = 0;
    fs_shard sh = {4, samples};
    fs_train_state st;
    cr_assert_eq(fs_train_state_init(&st, &local), 0);
    const float mix = 0.3f;
    fs_local_opts opts = {.epochs = 1, .batch_size = 4, .sgd = true, .lr = 0.5f, .seed = 1,
                          .frozen_extra = &global, .mix = mix};
    double train_loss;
    float *theta0 = bank_host(&local);
    cr_assert_eq(fs_train_lockstep(w.e, &local, &st, &slot, 1, &sh, &opts, &train_loss), 0);
    /* the loss of the (only) step is taken before it, at theta0 */
    fs_adapter_bank start;
    cr_assert_eq(fs_bank_init(&start, fs_backend_cpu(), &w.shape, 1), 0);
    memcpy(start.data, theta0, fs_bank_numel(&start) * sizeof(float));
    fs_item items[4];
    float wl[4], wg[4], loss[4];
    for (int i = 0; i < 4; i++) items[i] = (fs_item){samples[i], 0}, wl[i] = mix, wg[i] = 1 - mix;
    fs_adapter_use uses[2] = {{.bank = &start, .item_weight = wl},
                              {.bank = &global, .item_weight = wg, .single = true}};
    cr_assert_eq(fs_engine_forward(w.e, items, 4, uses, 2, loss, NULL), 0);
    double want = (loss[0] + loss[1] + loss[2] + loss[3]) / 4;
    cr_assert_float_eq(train_loss, want, 1e-5, "training loss %g vs mixed forward %g", train_loss,
                       want);
    for (int i = 0; i < 4; i++) wl[i] = 1, wg[i] = 1; /* the unmixed sum differs */
    cr_assert_eq(fs_engine_forward(w.e, items, 4, uses, 2, loss, NULL), 0);
    double unmixed = (loss[0] + loss[1] + loss[2] + loss[3]) / 4;
    cr_assert(fabs(unmixed - want) > 1e-4, "mix had no effect (%g vs %g)", unmixed, want);
    cr_assert(tu_max_abs_diff(global.data, before.data, (long)fs_bank_numel(&global)) == 0,
              "the frozen global adapter moved");
    cr_assert(tu_max_abs_diff(local.data, theta0, (long)fs_bank_numel(&local)) > 0,
              "the local adapter did not move");
    free(theta0);
    fs_bank_free(&start);
    fs_train_state_free(&st);
    free_banks(b);
    free_world(&w);
}

Test(lockstep, fedprox_adds_the_proximal_gradient)
{
    world w;
    make_world(&w, 200);
    fs_adapter_bank b[3], plain = {0}, prox = {0}, anchor = {0};
    three_banks(&w, 1, b, 8);
    plain = b[0], prox = b[1], anchor = b[2];
    memcpy(prox.data, plain.data, fs_bank_numel(&plain) * sizeof(float));
    tu_rng r = tu_rng_new(9);
    tu_fill(&r, anchor.data, (long)fs_bank_numel(&anchor), -0.3f, 0.3f);
    float *theta0 = bank_host(&plain);
    fs_train_state st;
    fs_train_state_init(&st, &plain);
    int samples[3] = {0, 1, 2}, slot = 0;
    fs_shard sh = {3, samples};
    const float lr = 0.1f, mu = 0.5f;
    fs_local_opts opts = {.epochs = 1, .batch_size = 3, .sgd = true, .lr = lr, .seed = 1};
    cr_assert_eq(fs_train_lockstep(w.e, &plain, &st, &slot, 1, &sh, &opts, NULL), 0);
    /* FedProx's gradient hook, as the federation loop installs it */
    fs_config *cfg = malloc(sizeof *cfg);
    cr_assert_eq(fs_config_load_string("model: {path: m}\nmethods: [{name: fedprox, mu: 0.5}]\n",
                                       "prox.yaml", NULL, 0, cfg), 0, "%s", fs_last_error());
    fs_fed_run run = {.method = cfg->methods[0].method, .params = cfg->methods[0].params,
                      .global = anchor, .opts = opts};
    opts = fs_method_local_opts(&run);
    cr_assert_not_null(opts.grad_hook);
    cr_assert_eq(fs_train_lockstep(w.e, &prox, &st, &slot, 1, &sh, &opts, NULL), 0);
    free(cfg);
    /* one SGD step: prox - plain = -lr * mu * (theta0 - anchor) */
    size_t n = fs_bank_numel(&plain);
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    for (size_t j = 0; j < n; j++) {
        want[j] = -lr * mu * (theta0[j] - anchor.data[j]);
        got[j] = prox.data[j] - plain.data[j];
    }
    tu_assert_close(got, want, (long)n, 1e-6f, 1e-4f, "FedProx proximal step");
    free(want), free(got), free(theta0);
    fs_train_state_free(&st);
    free_banks(b);
    free_world(&w);
}

Test(aggregation, weighted_mean_and_fisher_merge_by_hand)
{
    fs_adapter_shape shape = {.rank = 1, .dim = 1, .scale = 1, .targets = {false, true}};
    fs_fed_run r = {.clients = 3};
    int s0[1] = {0}, s1[3] = {0, 1, 2}, s2[2] = {0, 1};
    fs_shard train[3] = {{1, s0}, {3, s1}, {2, s2}};
    r.train = train;
    fs_bank_init(&r.global, fs_backend_cpu(), &shape, 1);
    fs_bank_init(&r.local, fs_backend_cpu(), &shape, 3);
    fs_bank_init(&r.extra, fs_backend_cpu(), &shape, 3);
    /* per client: (A, B) */
    float theta[3][2] = {{1, 10}, {2, 20}, {4, 40}};
    float fisher[3][2] = {{1, 0}, {3, 0}, {0, 0}}; /* B has no Fisher mass anywhere */
    for (int k = 0; k < 3; k++) {
        fs_bank_set_client(&r.local, k, theta[k]);
        fs_bank_set_client(&r.extra, k, fisher[k]);
    }
    int participants[2] = {1, 2}; /* weights 3/5, 2/5 */
    cr_assert_eq(fs_aggregate_mean(&r, participants, 2), 0);
    float got[2];
    fs_bank_get_client(&r.global, 0, got);
    cr_assert_float_eq(got[0], 0.6f * 2 + 0.4f * 4, 1e-6);
    cr_assert_float_eq(got[1], 0.6f * 20 + 0.4f * 40, 1e-5);
    int all[3] = {0, 1, 2}; /* weights 1/6, 3/6, 2/6 */
    cr_assert_eq(fs_aggregate_fisher(&r, all, 3), 0);
    fs_bank_get_client(&r.global, 0, got);
    double num = (1.0 / 6) * 1 * 1 + (3.0 / 6) * 3 * 2, den = (1.0 / 6) * 1 + (3.0 / 6) * 3;
    cr_assert_float_eq(got[0], num / den, 1e-5, "Fisher-weighted A");
    cr_assert_float_eq(got[1], (1.0 / 6) * 10 + (3.0 / 6) * 20 + (2.0 / 6) * 40, 1e-4,
                       "zero Fisher everywhere falls back to the weighted mean");
    fs_bank_free(&r.global), fs_bank_free(&r.local), fs_bank_free(&r.extra);
}
