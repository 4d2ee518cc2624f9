/* Softmax cross-entropy: known values, numerical stability, ignored rows,
 * fast vs reference, backward by finite differences, accumulate / NULL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef void (*fwd_fn)(float *, const float *, const int32_t *, int, int);
typedef void (*bwd_fn)(float *, const float *, const float *, const int32_t *, int, int);
static const fwd_fn fwds[2] = {fs_cpu_xent_fwd_ref, fs_cpu_xent_fwd};
static const bwd_fn bwds[2] = {fs_cpu_xent_bwd_ref, fs_cpu_xent_bwd};
static const char *names[2] = {"ref", "fast"};

Test(cpu_xent, known_values)
{
    for (int f = 0; f < 2; f++) {
        /* uniform logits: loss = log V whatever the level */
        const int V = 1000;
        float *l = malloc(3 * V * sizeof *l);
        for (int i = 0; i < V; i++) {
            l[i] = 0.0f;
            l[V + i] = 5.5f;
            l[2 * V + i] = -300.0f;
        }
        int32_t t[3] = {0, 999, 17};
        float loss[3];
        fwds[f](loss, l, t, 3, V);
        for (int i = 0; i < 3; i++)
            cr_assert_float_eq(loss[i], logf(1000.0f), 2e-6, "%s: uniform row %d: %g != log V",
                               names[f], i, loss[i]);

        /* softmax {1/4, 1/4, 1/2}: losses log 4 and log 2 */
        float l3[6] = {0, 0, logf(2.0f), 7, 7, 7 + logf(2.0f)};
        int32_t t3[2] = {1, 2};
        float w3[2] = {logf(4.0f), logf(2.0f)};
        fwds[f](loss, l3, t3, 2, 3);
        tu_assert_close(loss, w3, 2, 1e-6f, 1e-6f, names[f]);

        /* huge logits do not overflow: {1000, 1000} -> log 2; {1000, 0} -> 1000 for the small one */
        float lb[4] = {1000, 1000, 1000, 0};
        int32_t tb[2] = {0, 1};
        float wb[2] = {logf(2.0f), 1000.0f};
        fwds[f](loss, lb, tb, 2, 2);
        tu_assert_close(loss, wb, 2, 1e-5f, 1e-6f, "large logits");

        /* gradient of uniform logits: dloss * (1/V - onehot) */
        float *d = calloc(V, sizeof *d);
        float dl = 2.0f;
        bwds[f](d, &dl, l, t, 1, V);
        for (int i = 0; i < V; i++) {
            float want = 2.0f * (1.0f / V - (i == 0 ? 1.0f : 0.0f));
            cr_assert_float_eq(d[i], want, 1e-7, "%s: uniform grad[%d] %g != %g", names[f], i, d[i],
                               want);
        }
        free(d);
        free(l);
    }
}

Test(cpu_xent, ignored_rows)
{
    const int n = 4, V = 10;
    tu_rng r = tu_rng_new(7);
    float *l = tu_rand_array(&r, n * V, -3, 3);
    int32_t t[4] = {3, -1, 9, -100};
    float dloss[4] = {1, 1, 1, 1};
    for (int f = 0; f < 2; f++) {
        float loss[4] = {42, 42, 42, 42};
        fwds[f](loss, l, t, n, V);
        cr_assert(loss[1] == 0.0f && loss[3] == 0.0f, "%s: ignored rows must give 0", names[f]);
        cr_assert(loss[0] > 0.0f && loss[2] > 0.0f, "%s: other rows positive", names[f]);
        float *d = malloc(n * V * sizeof *d);
        for (int i = 0; i < n * V; i++) d[i] = 0.25f;
        bwds[f](d, dloss, l, t, n, V);
        for (int i = 0; i < V; i++) {
            cr_assert(d[V + i] == 0.25f && d[3 * V + i] == 0.25f,
                      "%s: ignored row gradients must be untouched", names[f]);
        }
        /* a real row's gradient sums to zero (softmax - onehot) */
        double s = 0;
        for (int i = 0; i < V; i++) s += d[i] - 0.25f;
        cr_assert(fabs(s) < 1e-6, "%s: gradient row sum %g", names[f], s);
        free(d);
    }
    free(l);
}

Test(cpu_xent, fast_matches_ref)
{
    const int sizes[][2] = {{37, 1003}, {5, 7}, {3, 32000}, {64, 1}};
    for (int c = 0; c < 4; c++) {
        int n = sizes[c][0], V = sizes[c][1];
        tu_rng r = tu_rng_new(100 + c);
        float *l = tu_rand_array(&r, (long)n * V, -8, 8);
        int32_t *t = tu_rand_ints(&r, n, -1, V); /* some ignored */
        float *dloss = tu_rand_array(&r, n, -2, 2);
        float *lr = malloc(n * sizeof *lr), *lf = malloc(n * sizeof *lf);
        fs_cpu_xent_fwd_ref(lr, l, t, n, V);
        fs_cpu_xent_fwd(lf, l, t, n, V);
        tu_assert_close(lf, lr, n, 2e-6f, 2e-6f, "xent fwd fast vs ref");
        float *init = tu_rand_array(&r, (long)n * V, -1, 1);
        float *dr = malloc((size_t)n * V * sizeof *dr), *df = malloc((size_t)n * V * sizeof *df);
        memcpy(dr, init, (size_t)n * V * sizeof *dr);
        memcpy(df, init, (size_t)n * V * sizeof *df);
        fs_cpu_xent_bwd_ref(dr, dloss, l, t, n, V);
        fs_cpu_xent_bwd(df, dloss, l, t, n, V);
        tu_assert_close(df, dr, (long)n * V, 1e-6f, 1e-5f, "xent bwd fast vs ref");
        fs_cpu_xent_bwd(NULL, dloss, l, t, n, V); /* NULL: no-op */
        fs_cpu_xent_bwd_ref(NULL, dloss, l, t, n, V);
        free(l);
        free(t);
        free(dloss);
        free(lr);
        free(lf);
        free(init);
        free(dr);
        free(df);
    }
}

typedef struct {
    float *logits, *loss;
    const float *w;
    const int32_t *t;
    int n, V;
    int fast;
} xctx;

static double xent_loss(void *p)
{
    xctx *c = p;
    fwds[c->fast](c->loss, c->logits, c->t, c->n, c->V);
    return tu_dot(c->w, c->loss, c->n);
}

Test(cpu_xent, backward_finite_differences_and_accumulate)
{
    const int n = 6, V = 9;
    for (int f = 0; f < 2; f++) {
        tu_rng r = tu_rng_new(200 + f);
        float *l = tu_rand_array(&r, n * V, -3, 3);
        float *w = tu_rand_array(&r, n, -2, 2); /* dloss */
        int32_t t[6] = {0, 8, -1, 4, 4, 2};
        float loss[6];
        float *d = calloc(n * V, sizeof *d);
        bwds[f](d, w, l, t, n, V);
        xctx c = {l, loss, w, t, n, V, f};
        tu_check_grad(xent_loss, &c, l, n * V, d, 1e-2f, 1e-4f, 1e-2f, n * V,
                      f ? "xent dlogits (fast)" : "xent dlogits (ref)");
        /* accumulate */
        float *acc = tu_rand_array(&r, n * V, -1, 1), *want = malloc(n * V * sizeof *want);
        for (int i = 0; i < n * V; i++) want[i] = acc[i] + d[i];
        bwds[f](acc, w, l, t, n, V);
        tu_assert_close(acc, want, n * V, 1e-6f, 1e-6f, "xent bwd accumulates");
        free(l);
        free(w);
        free(d);
        free(acc);
        free(want);
    }
}
