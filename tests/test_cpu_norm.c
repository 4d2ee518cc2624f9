/* CPU LayerNorm and RMSNorm.
 * Fast vs reference: atol 1e-5 + rtol 1e-4 on outputs (float arithmetic with
 * double row statistics vs all-double reference); 1e-4/1e-4 on gradients
 * (dw/db sum over up to 40 rows in float). Backward references are checked by
 * central finite differences (eps 1e-2, atol 1e-3, rtol 1e-2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

static float *copy_of(const float *x, long n)
{
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    cr_assert(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

static float *zeros(long n)
{
    float *y = calloc((size_t)(n > 0 ? n : 1), sizeof *y);
    cr_assert(y);
    return y;
}

/* ---------------- LayerNorm ---------------- */

Test(cpu_norm, layernorm_fwd_hand_computed)
{
    /* x = [1, 2, 3, 6]: mean 3, biased var (4+1+0+9)/4 = 3.5, eps 0.5 -> rstd 0.5.
     * y = (x - 3) * 0.5 * w + b with w = [1, 2, -1, 0.5], b = [0, 1, 2, -1]. */
    float x[] = {1, 2, 3, 6}, w[] = {1, 2, -1, 0.5f}, b[] = {0, 1, 2, -1};
    float want[] = {-1.0f, 0.0f, 2.0f, -0.25f};
    int64_t s[1] = {4};
    fs_tensor W = tu_tensor(w, 1, s), B = tu_tensor(b, 1, s);
    for (int fast = 0; fast < 2; fast++) {
        float y[4], mean, rstd;
        (fast ? fs_cpu_layernorm_fwd : fs_cpu_layernorm_fwd_ref)(y, &mean, &rstd, x, &W, &B, 1, 4,
                                                                 0.5f);
        tu_assert_close(y, want, 4, 1e-6f, 1e-6f, fast ? "layernorm hand" : "layernorm_ref hand");
        cr_assert(fabsf(mean - 3.0f) < 1e-6f && fabsf(rstd - 0.5f) < 1e-6f, "mean %g rstd %g",
                  mean, rstd);
    }
}

Test(cpu_norm, layernorm_fwd_fast_matches_ref)
{
    tu_rng r = tu_rng_new(11);
    /* Second case is large enough for the OpenMP path; offset mean tests cancellation. */
    const int shapes[2][2] = {{5, 33}, {40, 1024}};
    for (int sh = 0; sh < 2; sh++) {
        const int n = shapes[sh][0], dim = shapes[sh][1];
        const long N = (long)n * dim;
        float *x = tu_rand_array(&r, N, 2, 4);
        float *w = tu_rand_array(&r, dim, -1.5f, 1.5f), *b = tu_rand_array(&r, dim, -1, 1);
        int64_t s[1] = {dim};
        fs_tensor W = tu_tensor(w, 1, s), B = tu_tensor(b, 1, s);
        float *yr = zeros(N), *yf = zeros(N), *mr = zeros(n), *mf = zeros(n), *rr = zeros(n),
              *rf = zeros(n);
        fs_cpu_layernorm_fwd_ref(yr, mr, rr, x, &W, &B, n, dim, 1e-5f);
        fs_cpu_layernorm_fwd(yf, mf, rf, x, &W, &B, n, dim, 1e-5f);
        tu_assert_close(yf, yr, N, 1e-5f, 1e-4f, "layernorm y");
        tu_assert_close(mf, mr, n, 1e-6f, 1e-6f, "layernorm mean");
        tu_assert_close(rf, rr, n, 1e-6f, 1e-5f, "layernorm rstd");
        /* Statistics are what they claim to be (direct double computation). */
        for (int i = 0; i < n; i++) {
            double mu = 0, var = 0;
            for (int j = 0; j < dim; j++) mu += x[(long)i * dim + j];
            mu /= dim;
            for (int j = 0; j < dim; j++) var += pow(x[(long)i * dim + j] - mu, 2);
            var /= dim;
            cr_assert(fabs(mr[i] - mu) < 1e-6 && fabs(rr[i] - 1 / sqrt(var + 1e-5)) < 1e-5 * rr[i],
                      "row %d stats", i);
        }
        /* Without affine (w, b NULL) = with w = 1, b = 0. */
        float *ones = malloc(dim * sizeof *ones), *zb = zeros(dim);
        for (int j = 0; j < dim; j++) ones[j] = 1;
        fs_tensor W1 = tu_tensor(ones, 1, s), B0 = tu_tensor(zb, 1, s);
        fs_cpu_layernorm_fwd_ref(yr, mr, rr, x, &W1, &B0, n, dim, 1e-5f);
        fs_cpu_layernorm_fwd(yf, mf, rf, x, NULL, NULL, n, dim, 1e-5f);
        tu_assert_close(yf, yr, N, 1e-5f, 1e-4f, "layernorm y no affine");
        fs_cpu_layernorm_fwd_ref(yf, mf, rf, x, NULL, NULL, n, dim, 1e-5f);
        tu_assert_close(yf, yr, N, 0, 0, "layernorm_ref y no affine");
        free(ones), free(zb);
        free(x), free(w), free(b), free(yr), free(yf), free(mr), free(mf), free(rr), free(rf);
    }
}

typedef struct {
    float *x, *w, *b, *y, *mean, *rstd;
    const float *R;
    int n, dim;
    float eps;
    int rms;
} norm_ctx;

static double norm_loss(void *p)
{
    norm_ctx *c = p;
    int64_t s[1] = {c->dim};
    fs_tensor W = tu_tensor(c->w, 1, s), B = tu_tensor(c->b, 1, s);
    if (c->rms)
        fs_cpu_rmsnorm_fwd_ref(c->y, c->rstd, c->x, &W, c->n, c->dim, c->eps);
    else
        fs_cpu_layernorm_fwd_ref(c->y, c->mean, c->rstd, c->x, &W, &B, c->n, c->dim, c->eps);
    return tu_dot(c->R, c->y, (long)c->n * c->dim);
}

Test(cpu_norm, layernorm_bwd_ref_finite_differences)
{
    tu_rng r = tu_rng_new(12);
    const int n = 3, dim = 7;
    const long N = (long)n * dim;
    float *x = tu_rand_array(&r, N, -2, 2), *w = tu_rand_array(&r, dim, 0.5f, 1.5f);
    float *b = tu_rand_array(&r, dim, -1, 1), *R = tu_rand_array(&r, N, -1, 1);
    float *y = zeros(N), *mean = zeros(n), *rstd = zeros(n);
    /* Non-trivial eps so a missing eps shows up too. */
    norm_ctx c = {x, w, b, y, mean, rstd, R, n, dim, 0.1f, 0};
    norm_loss(&c); /* saves mean/rstd at the unperturbed point */
    float *sm = copy_of(mean, n), *sr = copy_of(rstd, n);
    float *dx = zeros(N), *dw = zeros(dim), *db = zeros(dim);
    int64_t s[1] = {dim};
    fs_tensor W = tu_tensor(w, 1, s);
    fs_cpu_layernorm_bwd_ref(dx, dw, db, R, x, &W, sm, sr, n, dim);
    tu_check_grad(norm_loss, &c, x, N, dx, 1e-2f, 1e-3f, 1e-2f, 1000, "layernorm dx");
    tu_check_grad(norm_loss, &c, w, dim, dw, 1e-2f, 1e-3f, 1e-2f, 1000, "layernorm dw");
    tu_check_grad(norm_loss, &c, b, dim, db, 1e-2f, 1e-3f, 1e-2f, 1000, "layernorm db");
    free(x), free(w), free(b), free(R), free(y), free(mean), free(rstd), free(sm), free(sr);
    free(dx), free(dw), free(db);
}

Test(cpu_norm, layernorm_bwd_fast_matches_ref_accumulates_and_skips_null)
{
    tu_rng r = tu_rng_new(13);
    const int shapes[2][2] = {{6, 45}, {40, 1100}};
    for (int sh = 0; sh < 2; sh++) {
        const int n = shapes[sh][0], dim = shapes[sh][1];
        const long N = (long)n * dim;
        float *x = tu_rand_array(&r, N, -2, 3), *w = tu_rand_array(&r, dim, -1.5f, 1.5f);
        float *b = tu_rand_array(&r, dim, -1, 1), *dy = tu_rand_array(&r, N, -1, 1);
        int64_t s[1] = {dim};
        fs_tensor W = tu_tensor(w, 1, s), B = tu_tensor(b, 1, s);
        float *y = zeros(N), *mean = zeros(n), *rstd = zeros(n);
        fs_cpu_layernorm_fwd_ref(y, mean, rstd, x, &W, &B, n, dim, 1e-5f);
        float *dx0 = zeros(N), *dw0 = zeros(dim), *db0 = zeros(dim);
        fs_cpu_layernorm_bwd_ref(dx0, dw0, db0, dy, x, &W, mean, rstd, n, dim);
        float *px = tu_rand_array(&r, N, -1, 1), *pw = tu_rand_array(&r, dim, -1, 1),
              *pb = tu_rand_array(&r, dim, -1, 1);
        float *ex = copy_of(px, N), *ew = copy_of(pw, dim), *eb = copy_of(pb, dim);
        for (long i = 0; i < N; i++) ex[i] += dx0[i];
        for (int j = 0; j < dim; j++) ew[j] += dw0[j], eb[j] += db0[j];
        for (int fast = 0; fast < 2; fast++) {
            void (*bwd)(float *, float *, float *, const float *, const float *, const fs_tensor *,
                        const float *, const float *, int, int) =
                fast ? fs_cpu_layernorm_bwd : fs_cpu_layernorm_bwd_ref;
            float *gx = copy_of(px, N), *gw = copy_of(pw, dim), *gb = copy_of(pb, dim);
            bwd(gx, gw, gb, dy, x, &W, mean, rstd, n, dim);
            tu_assert_close(gx, ex, N, 1e-4f, 1e-4f, "layernorm dx +=");
            tu_assert_close(gw, ew, dim, 1e-4f, 1e-4f, "layernorm dw +=");
            tu_assert_close(gb, eb, dim, 1e-4f, 1e-4f, "layernorm db +=");
            float *hx = copy_of(px, N), *hw = copy_of(pw, dim), *hb = copy_of(pb, dim);
            bwd(hx, NULL, NULL, dy, x, &W, mean, rstd, n, dim);
            bwd(NULL, hw, NULL, dy, x, &W, mean, rstd, n, dim);
            bwd(NULL, NULL, hb, dy, x, &W, mean, rstd, n, dim);
            bwd(NULL, NULL, NULL, dy, x, &W, mean, rstd, n, dim);
            tu_assert_close(hx, ex, N, 1e-4f, 1e-4f, "layernorm dx alone");
            tu_assert_close(hw, ew, dim, 1e-4f, 1e-4f, "layernorm dw alone");
            tu_assert_close(hb, eb, dim, 1e-4f, 1e-4f, "layernorm db alone");
            free(gx), free(gw), free(gb), free(hx), free(hw), free(hb);
        }
        free(x), free(w), free(b), free(dy), free(y), free(mean), free(rstd);
        free(dx0), free(dw0), free(db0), free(px), free(pw), free(pb), free(ex), free(ew), free(eb);
    }
}

/* ---------------- RMSNorm ---------------- */

Test(cpu_norm, rmsnorm_fwd_hand_computed)
{
    /* x = [1, -1, 3, 1]: mean(x^2) = 3, eps 1 -> rstd 0.5; y = x * 0.5 * w. */
    float x[] = {1, -1, 3, 1}, w[] = {2, 1, -1, 0.5f};
    float want[] = {1.0f, -0.5f, -1.5f, 0.25f};
    int64_t s[1] = {4};
    fs_tensor W = tu_tensor(w, 1, s);
    for (int fast = 0; fast < 2; fast++) {
        float y[4], rstd;
        (fast ? fs_cpu_rmsnorm_fwd : fs_cpu_rmsnorm_fwd_ref)(y, &rstd, x, &W, 1, 4, 1.0f);
        tu_assert_close(y, want, 4, 1e-6f, 1e-6f, fast ? "rmsnorm hand" : "rmsnorm_ref hand");
        cr_assert(fabsf(rstd - 0.5f) < 1e-6f, "rstd %g", rstd);
    }
}

Test(cpu_norm, rmsnorm_fwd_fast_matches_ref)
{
    tu_rng r = tu_rng_new(14);
    const int shapes[2][2] = {{5, 33}, {40, 1024}};
    for (int sh = 0; sh < 2; sh++) {
        const int n = shapes[sh][0], dim = shapes[sh][1];
        const long N = (long)n * dim;
        float *x = tu_rand_array(&r, N, -3, 3), *w = tu_rand_array(&r, dim, -1.5f, 1.5f);
        int64_t s[1] = {dim};
        fs_tensor W = tu_tensor(w, 1, s);
        float *yr = zeros(N), *yf = zeros(N), *rr = zeros(n), *rf = zeros(n);
        fs_cpu_rmsnorm_fwd_ref(yr, rr, x, &W, n, dim, 1e-6f);
        fs_cpu_rmsnorm_fwd(yf, rf, x, &W, n, dim, 1e-6f);
        tu_assert_close(yf, yr, N, 1e-5f, 1e-4f, "rmsnorm y");
        tu_assert_close(rf, rr, n, 1e-6f, 1e-5f, "rmsnorm rstd");
        for (int i = 0; i < n; i++) {
            double ms = 0;
            for (int j = 0; j < dim; j++) ms += pow(x[(long)i * dim + j], 2);
            cr_assert(fabs(rr[i] - 1 / sqrt(ms / dim + 1e-6)) < 1e-5 * rr[i], "row %d rstd", i);
        }
        free(x), free(w), free(yr), free(yf), free(rr), free(rf);
    }
}

Test(cpu_norm, rmsnorm_bwd_ref_finite_differences)
{
    tu_rng r = tu_rng_new(15);
    const int n = 3, dim = 7;
    const long N = (long)n * dim;
    float *x = tu_rand_array(&r, N, -2, 2), *w = tu_rand_array(&r, dim, 0.5f, 1.5f);
    float *R = tu_rand_array(&r, N, -1, 1);
    float *y = zeros(N), *rstd = zeros(n);
    norm_ctx c = {x, w, NULL, y, NULL, rstd, R, n, dim, 0.1f, 1};
    norm_loss(&c);
    float *sr = copy_of(rstd, n);
    float *dx = zeros(N), *dw = zeros(dim);
    int64_t s[1] = {dim};
    fs_tensor W = tu_tensor(w, 1, s);
    fs_cpu_rmsnorm_bwd_ref(dx, dw, R, x, &W, sr, n, dim);
    tu_check_grad(norm_loss, &c, x, N, dx, 1e-2f, 1e-3f, 1e-2f, 1000, "rmsnorm dx");
    tu_check_grad(norm_loss, &c, w, dim, dw, 1e-2f, 1e-3f, 1e-2f, 1000, "rmsnorm dw");
    free(x), free(w), free(R), free(y), free(rstd), free(sr), free(dx), free(dw);
}

Test(cpu_norm, rmsnorm_bwd_fast_matches_ref_accumulates_and_skips_null)
{
    tu_rng r = tu_rng_new(16);
    const int shapes[2][2] = {{6, 45}, {40, 1100}};
    for (int sh = 0; sh < 2; sh++) {
        const int n = shapes[sh][0], dim = shapes[sh][1];
        const long N = (long)n * dim;
        float *x = tu_rand_array(&r, N, -2, 2), *w = tu_rand_array(&r, dim, -1.5f, 1.5f);
        float *dy = tu_rand_array(&r, N, -1, 1);
        int64_t s[1] = {dim};
        fs_tensor W = tu_tensor(w, 1, s);
        float *y = zeros(N), *rstd = zeros(n);
        fs_cpu_rmsnorm_fwd_ref(y, rstd, x, &W, n, dim, 1e-6f);
        float *dx0 = zeros(N), *dw0 = zeros(dim);
        fs_cpu_rmsnorm_bwd_ref(dx0, dw0, dy, x, &W, rstd, n, dim);
        float *px = tu_rand_array(&r, N, -1, 1), *pw = tu_rand_array(&r, dim, -1, 1);
        float *ex = copy_of(px, N), *ew = copy_of(pw, dim);
        for (long i = 0; i < N; i++) ex[i] += dx0[i];
        for (int j = 0; j < dim; j++) ew[j] += dw0[j];
        for (int fast = 0; fast < 2; fast++) {
            void (*bwd)(float *, float *, const float *, const float *, const fs_tensor *,
                        const float *, int, int) = fast ? fs_cpu_rmsnorm_bwd : fs_cpu_rmsnorm_bwd_ref;
            float *gx = copy_of(px, N), *gw = copy_of(pw, dim);
            bwd(gx, gw, dy, x, &W, rstd, n, dim);
            tu_assert_close(gx, ex, N, 1e-4f, 1e-4f, "rmsnorm dx +=");
            tu_assert_close(gw, ew, dim, 1e-4f, 1e-4f, "rmsnorm dw +=");
            float *hx = copy_of(px, N), *hw = copy_of(pw, dim);
            bwd(hx, NULL, dy, x, &W, rstd, n, dim);
            bwd(NULL, hw, dy, x, &W, rstd, n, dim);
            bwd(NULL, NULL, dy, x, &W, rstd, n, dim);
            tu_assert_close(hx, ex, N, 1e-4f, 1e-4f, "rmsnorm dx alone");
            tu_assert_close(hw, ew, dim, 1e-4f, 1e-4f, "rmsnorm dw alone");
            free(gx), free(gw), free(hx), free(hw);
        }
        free(x), free(w), free(dy), free(y), free(rstd), free(dx0), free(dw0);
        free(px), free(pw), free(ex), free(ew);
    }
}
