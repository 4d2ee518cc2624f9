/* CPU dense ops: matmul, linear, add/axpy/sum, embedding.
 * Fast vs reference: matmul/linear use atol 1e-4 + rtol 1e-4 (fp32 GEMM with
 * K <= 97 against a double-accumulated reference; values in [-1, 1]); the
 * elementwise ops and embedding must match exactly or to 1 ulp-ish (1e-6).
 * Backward references are checked by central finite differences (eps 1e-2,
 * atol 1e-3, rtol 1e-2 on a weighted-sum loss computed in double). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

#define MM_ATOL 1e-4f
#define MM_RTOL 1e-4f

static float *copy_of(const float *x, long n)
{
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    cr_assert(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* ---------------- matmul ---------------- */

Test(cpu_dense, matmul_ref_hand_computed)
{
    /* A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[2,-1]] (3x2):
     * A B = [[7,-1],[16,-1]]. Also through the transposed storage of both. */
    float A[] = {1, 2, 3, 4, 5, 6};
    float B[] = {1, 0, 0, 1, 2, -1};
    float At[] = {1, 4, 2, 5, 3, 6};   /* A^T stored 3x2 */
    float Bt[] = {1, 0, 2, 0, 1, -1};  /* B^T stored 2x3 */
    float want[] = {7, -1, 16, -1};
    float C[4];
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int fast = 0; fast < 2; fast++) {
                memset(C, 0, sizeof C);
                (fast ? fs_cpu_matmul : fs_cpu_matmul_ref)(C, ta ? At : A, tb ? Bt : B, 1, 2, 2, 3,
                                                           ta, tb, 1.0f, 0.0f, 0, 0, 0);
                tu_assert_close(C, want, 4, 0, 0, fast ? "matmul hand" : "matmul_ref hand");
            }
        }
    /* alpha/beta: C = 2 A B + 0.5 C0 with C0 = [1,2,3,4]. */
    float C0[] = {1, 2, 3, 4};
    float want2[] = {14.5f, -1.0f, 33.5f, 0.0f};
    for (int fast = 0; fast < 2; fast++) {
        memcpy(C, C0, sizeof C);
        (fast ? fs_cpu_matmul : fs_cpu_matmul_ref)(C, A, B, 1, 2, 2, 3, false, false, 2.0f, 0.5f,
                                                   0, 0, 0);
        tu_assert_close(C, want2, 4, 0, 0, "matmul alpha/beta hand");
    }
}

Test(cpu_dense, matmul_fast_matches_ref_all_transposes_batched)
{
    tu_rng r = tu_rng_new(1);
    const int batch = 3, M = 37, N = 29, K = 97;
    /* Padded strides so a wrong stride shows up. */
    const long sA = (long)M * K + 11, sB = (long)K * N + 5, sC = (long)M * N + 7;
    float *A = tu_rand_array(&r, sA * batch, -1, 1);
    float *B = tu_rand_array(&r, sB * batch, -1, 1);
    float *C0 = tu_rand_array(&r, sC * batch, -1, 1);
    const float alphas[] = {1.0f, 0.7f, -1.3f};
    const float betas[] = {0.0f, 1.0f, 0.3f};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int ab = 0; ab < 3; ab++) {
                float *Cr = copy_of(C0, sC * batch), *Cf = copy_of(C0, sC * batch);
                fs_cpu_matmul_ref(Cr, A, B, batch, M, N, K, ta, tb, alphas[ab], betas[ab], sA, sB,
                                  sC);
                fs_cpu_matmul(Cf, A, B, batch, M, N, K, ta, tb, alphas[ab], betas[ab], sA, sB, sC);
                char what[96];
                snprintf(what, sizeof what, "matmul transA=%d transB=%d alpha=%g beta=%g", ta, tb,
                         alphas[ab], betas[ab]);
                tu_assert_close(Cf, Cr, sC * batch, MM_ATOL, MM_RTOL, what);
                /* The padding between batch items is never written. */
                for (int b = 0; b < batch; b++)
                    for (long i = (long)M * N; i < sC; i++)
                        cr_assert(Cf[b * sC + i] == C0[b * sC + i] &&
                                      Cr[b * sC + i] == C0[b * sC + i],
                                  "%s wrote padding", what);
                free(Cr);
                free(Cf);
            }
    /* Spot-check the reference itself on one element of one transposed case:
     * C[1][2][3] with transA, transB = sum_k A_1[k][2] B_1[3][k]. */
    float *Cr = copy_of(C0, sC * batch);
    fs_cpu_matmul_ref(Cr, A, B, batch, M, N, K, true, true, 1.0f, 0.0f, sA, sB, sC);
    double acc = 0;
    for (int k = 0; k < K; k++) acc += (double)A[sA + (long)k * M + 2] * B[sB + 3L * K + k];
    cr_assert(fabs(Cr[sC + 2L * N + 3] - acc) < 1e-5, "matmul_ref TT element: %g vs %g",
              Cr[sC + 2L * N + 3], acc);
    free(Cr);
    free(A);
    free(B);
    free(C0);
}

Test(cpu_dense, matmul_beta_zero_ignores_nan_in_C)
{
    tu_rng r = tu_rng_new(2);
    const int M = 5, N = 6, K = 7;
    float *A = tu_rand_array(&r, M * K, -1, 1), *B = tu_rand_array(&r, K * N, -1, 1);
    float Cr[30], Cf[30];
    for (int i = 0; i < M * N; i++) Cr[i] = Cf[i] = NAN;
    fs_cpu_matmul_ref(Cr, A, B, 1, M, N, K, false, false, 1.0f, 0.0f, 0, 0, 0);
    fs_cpu_matmul(Cf, A, B, 1, M, N, K, false, false, 1.0f, 0.0f, 0, 0, 0);
    for (int i = 0; i < M * N; i++) cr_assert(isfinite(Cr[i]) && isfinite(Cf[i]));
    tu_assert_close(Cf, Cr, M * N, MM_ATOL, MM_RTOL, "matmul beta=0");
    free(A);
    free(B);
}

/* ---------------- linear ---------------- */

typedef struct {
    const float *x, *Wd, *bd, *R;
    float *y;
    int n, in, out, use_bias;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    int64_t ws[2] = {c->out, c->in}, bs[1] = {c->out};
    fs_tensor W = tu_tensor((float *)c->Wd, 2, ws), b = tu_tensor((float *)c->bd, 1, bs);
    fs_cpu_linear_fwd_ref(c->y, c->x, &W, c->use_bias ? &b : NULL, c->n, c->in, c->out);
    return tu_dot(c->R, c->y, (long)c->n * c->out);
}

Test(cpu_dense, linear_fwd_hand_computed)
{
    /* x = [[1,2]], W = [[1,1],[2,-1],[0,3]], b = [0.5,0,-1] -> y = [[3.5, 0, 5]] */
    float x[] = {1, 2}, w[] = {1, 1, 2, -1, 0, 3}, bb[] = {0.5f, 0, -1}, want[] = {3.5f, 0, 5};
    float want_nb[] = {3, 0, 6};
    int64_t ws[2] = {3, 2}, bs[1] = {3};
    fs_tensor W = tu_tensor(w, 2, ws), b = tu_tensor(bb, 1, bs);
    float y[3];
    fs_cpu_linear_fwd_ref(y, x, &W, &b, 1, 2, 3);
    tu_assert_close(y, want, 3, 0, 0, "linear_fwd_ref hand");
    fs_cpu_linear_fwd(y, x, &W, &b, 1, 2, 3);
    tu_assert_close(y, want, 3, 0, 0, "linear_fwd hand");
    fs_cpu_linear_fwd_ref(y, x, &W, NULL, 1, 2, 3);
    tu_assert_close(y, want_nb, 3, 0, 0, "linear_fwd_ref hand no bias");
    fs_cpu_linear_fwd(y, x, &W, NULL, 1, 2, 3);
    tu_assert_close(y, want_nb, 3, 0, 0, "linear_fwd hand no bias");
}

Test(cpu_dense, linear_fwd_fast_matches_ref)
{
    tu_rng r = tu_rng_new(3);
    const int n = 23, in = 61, out = 45;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1);
    float *w = tu_rand_array(&r, (long)out * in, -1, 1);
    float *bb = tu_rand_array(&r, out, -1, 1);
    int64_t ws[2] = {out, in}, bs[1] = {out};
    fs_tensor W = tu_tensor(w, 2, ws), b = tu_tensor(bb, 1, bs);
    float *yr = tu_rand_array(&r, (long)n * out, -1, 1), *yf = tu_rand_array(&r, (long)n * out, 5, 6);
    for (int use_bias = 0; use_bias < 2; use_bias++) {
        fs_cpu_linear_fwd_ref(yr, x, &W, use_bias ? &b : NULL, n, in, out);
        fs_cpu_linear_fwd(yf, x, &W, use_bias ? &b : NULL, n, in, out);
        tu_assert_close(yf, yr, (long)n * out, MM_ATOL, MM_RTOL,
                        use_bias ? "linear_fwd with bias" : "linear_fwd without bias");
    }
    free(x);
    free(w);
    free(bb);
    free(yr);
    free(yf);
}

Test(cpu_dense, linear_bwd_ref_finite_differences)
{
    tu_rng r = tu_rng_new(4);
    const int n = 4, in = 6, out = 5;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1);
    float *w = tu_rand_array(&r, (long)out * in, -1, 1);
    float *bb = tu_rand_array(&r, out, -1, 1);
    float *R = tu_rand_array(&r, (long)n * out, -1, 1);
    float *y = calloc((size_t)n * out, sizeof *y);
    float *dx = calloc((size_t)n * in, sizeof *dx), *dW = calloc((size_t)out * in, sizeof *dW);
    float *db = calloc(out, sizeof *db);
    int64_t ws[2] = {out, in};
    fs_tensor W = tu_tensor(w, 2, ws);
    fs_cpu_linear_bwd_ref(dx, dW, db, R, x, &W, n, in, out);
    lin_ctx c = {x, w, bb, R, y, n, in, out, 1};
    tu_check_grad(lin_loss, &c, x, (long)n * in, dx, 1e-2f, 1e-3f, 1e-2f, 1000, "linear dx");
    tu_check_grad(lin_loss, &c, w, (long)out * in, dW, 1e-2f, 1e-3f, 1e-2f, 1000, "linear dW");
    tu_check_grad(lin_loss, &c, bb, out, db, 1e-2f, 1e-3f, 1e-2f, 1000, "linear db");
    free(x);
    free(w);
    free(bb);
    free(R);
    free(y);
    free(dx);
    free(dW);
    free(db);
}

Test(cpu_dense, linear_bwd_fast_matches_ref_accumulates_and_skips_null)
{
    tu_rng r = tu_rng_new(5);
    const int n = 33, in = 47, out = 70;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1);
    float *w = tu_rand_array(&r, (long)out * in, -1, 1);
    float *dy = tu_rand_array(&r, (long)n * out, -1, 1);
    int64_t ws[2] = {out, in};
    fs_tensor W = tu_tensor(w, 2, ws);
    const long nx = (long)n * in, nw = (long)out * in;
    /* Gradients from zero (reference). */
    float *dx0 = calloc(nx, sizeof(float)), *dW0 = calloc(nw, sizeof(float)),
          *db0 = calloc(out, sizeof(float));
    fs_cpu_linear_bwd_ref(dx0, dW0, db0, dy, x, &W, n, in, out);
    /* Pre-filled buffers: both versions must add onto them. */
    float *px = tu_rand_array(&r, nx, -2, 2), *pW = tu_rand_array(&r, nw, -2, 2),
          *pb = tu_rand_array(&r, out, -2, 2);
    float *ex = copy_of(px, nx), *eW = copy_of(pW, nw), *eb = copy_of(pb, out);
    for (long i = 0; i < nx; i++) ex[i] += dx0[i];
    for (long i = 0; i < nw; i++) eW[i] += dW0[i];
    for (long i = 0; i < out; i++) eb[i] += db0[i];
    for (int fast = 0; fast < 2; fast++) {
        float *gx = copy_of(px, nx), *gW = copy_of(pW, nw), *gb = copy_of(pb, out);
        (fast ? fs_cpu_linear_bwd : fs_cpu_linear_bwd_ref)(gx, gW, gb, dy, x, &W, n, in, out);
        tu_assert_close(gx, ex, nx, MM_ATOL, MM_RTOL, fast ? "linear_bwd dx +=" : "ref dx +=");
        tu_assert_close(gW, eW, nw, MM_ATOL, MM_RTOL, fast ? "linear_bwd dW +=" : "ref dW +=");
        tu_assert_close(gb, eb, out, MM_ATOL, MM_RTOL, fast ? "linear_bwd db +=" : "ref db +=");
        /* NULL skips: each gradient alone, and none at all (must not crash). */
        float *hx = copy_of(px, nx), *hW = copy_of(pW, nw), *hb = copy_of(pb, out);
        void (*bwd)(float *, float *, float *, const float *, const float *, const fs_tensor *,
                    int, int, int) = fast ? fs_cpu_linear_bwd : fs_cpu_linear_bwd_ref;
        bwd(hx, NULL, NULL, dy, x, &W, n, in, out);
        bwd(NULL, hW, NULL, dy, x, &W, n, in, out);
        bwd(NULL, NULL, hb, dy, x, &W, n, in, out);
        bwd(NULL, NULL, NULL, dy, x, &W, n, in, out);
        tu_assert_close(hx, ex, nx, MM_ATOL, MM_RTOL, "linear_bwd dx alone");
        tu_assert_close(hW, eW, nw, MM_ATOL, MM_RTOL, "linear_bwd dW alone");
        tu_assert_close(hb, eb, out, MM_ATOL, MM_RTOL, "linear_bwd db alone");
        free(gx), free(gW), free(gb), free(hx), free(hW), free(hb);
    }
    free(x), free(w), free(dy), free(dx0), free(dW0), free(db0);
    free(px), free(pW), free(pb), free(ex), free(eW), free(eb);
}

/* ---------------- add / axpy / sum ---------------- */

Test(cpu_dense, add_axpy_sum_hand_computed)
{
    float a[] = {1, -2, 3.5f}, b[] = {0.5f, 2, -1}, y[3];
    float want_add[] = {1.5f, 0, 2.5f};
    fs_cpu_add_ref(y, a, b, 3);
    tu_assert_close(y, want_add, 3, 0, 0, "add_ref");
    fs_cpu_add(y, a, b, 3);
    tu_assert_close(y, want_add, 3, 0, 0, "add");
    float want_axpy[] = {1 - 1.0f, -2 - 4.0f, 3.5f + 2.0f}; /* a += -2 b */
    float t[3];
    memcpy(t, a, sizeof t);
    fs_cpu_axpy_ref(t, -2.0f, b, 3);
    tu_assert_close(t, want_axpy, 3, 0, 0, "axpy_ref");
    memcpy(t, a, sizeof t);
    fs_cpu_axpy(t, -2.0f, b, 3);
    tu_assert_close(t, want_axpy, 3, 0, 0, "axpy");
    cr_assert_eq(fs_cpu_sum_ref(a, 3), 2.5);
    cr_assert_eq(fs_cpu_sum(a, 3), 2.5);
    cr_assert_eq(fs_cpu_sum(a, 0), 0.0);
}

Test(cpu_dense, add_axpy_sum_fast_match_ref_large)
{
    tu_rng r = tu_rng_new(6);
    const long n = 300001; /* above the OpenMP threshold, odd length */
    float *a = tu_rand_array(&r, n, -1, 1), *b = tu_rand_array(&r, n, -1, 1);
    float *yr = malloc(n * sizeof *yr), *yf = malloc(n * sizeof *yf);
    fs_cpu_add_ref(yr, a, b, n);
    fs_cpu_add(yf, a, b, n);
    tu_assert_close(yf, yr, n, 0, 0, "add large");
    /* aliasing: y = a + y */
    memcpy(yf, b, n * sizeof *yf);
    fs_cpu_add(yf, a, yf, n);
    tu_assert_close(yf, yr, n, 0, 0, "add aliased");
    memcpy(yr, a, n * sizeof *yr);
    memcpy(yf, a, n * sizeof *yf);
    fs_cpu_axpy_ref(yr, 0.37f, b, n);
    fs_cpu_axpy(yf, 0.37f, b, n);
    tu_assert_close(yf, yr, n, 1e-6f, 1e-6f, "axpy large");
    double sr = fs_cpu_sum_ref(a, n), sf = fs_cpu_sum(a, n);
    cr_assert(fabs(sr - sf) <= 1e-9 * (1 + fabs(sr)), "sum %.17g vs ref %.17g", sf, sr);
    /* Double accumulation: 2^24 + many ones would be lost in float. */
    const long m = 1L << 20;
    float *ones = malloc((m + 1) * sizeof *ones);
    ones[0] = 16777216.0f;
    for (long i = 1; i <= m; i++) ones[i] = 1.0f;
    cr_assert_eq(fs_cpu_sum_ref(ones, m + 1), 16777216.0 + (double)m);
    cr_assert_eq(fs_cpu_sum(ones, m + 1), 16777216.0 + (double)m);
    free(ones);
    free(a), free(b), free(yr), free(yf);
}

/* ---------------- embedding ---------------- */

typedef struct {
    const int32_t *ids;
    float *table, *y;
    const float *R;
    int n, vocab, dim;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    int64_t ts[2] = {c->vocab, c->dim};
    fs_tensor T = tu_tensor(c->table, 2, ts);
    fs_cpu_embedding_fwd_ref(c->y, c->ids, &T, c->n, c->dim);
    return tu_dot(c->R, c->y, (long)c->n * c->dim);
}

Test(cpu_dense, embedding_fwd_hand_and_fast)
{
    float tab[] = {0, 1, 10, 11, 20, 21}; /* vocab 3, dim 2 */
    int32_t ids[] = {2, 0, 2};
    float want[] = {20, 21, 0, 1, 20, 21}, y[6];
    int64_t ts[2] = {3, 2};
    fs_tensor T = tu_tensor(tab, 2, ts);
    fs_cpu_embedding_fwd_ref(y, ids, &T, 3, 2);
    tu_assert_close(y, want, 6, 0, 0, "embedding_fwd_ref");
    fs_cpu_embedding_fwd(y, ids, &T, 3, 2);
    tu_assert_close(y, want, 6, 0, 0, "embedding_fwd");

    tu_rng r = tu_rng_new(7);
    const int vocab = 50, dim = 1000, n = 300;
    float *table = tu_rand_array(&r, (long)vocab * dim, -1, 1);
    int32_t *id = tu_rand_ints(&r, n, 0, vocab);
    int64_t ts2[2] = {vocab, dim};
    fs_tensor T2 = tu_tensor(table, 2, ts2);
    float *yr = malloc((size_t)n * dim * sizeof *yr), *yf = malloc((size_t)n * dim * sizeof *yf);
    fs_cpu_embedding_fwd_ref(yr, id, &T2, n, dim);
    fs_cpu_embedding_fwd(yf, id, &T2, n, dim);
    tu_assert_close(yf, yr, (long)n * dim, 0, 0, "embedding_fwd large");
    free(table), free(id), free(yr), free(yf);
}

Test(cpu_dense, embedding_bwd_hand_finite_differences_and_fast)
{
    /* Repeated id 2 gets both rows' gradients added onto the pre-filled value. */
    float dtab[] = {1, 1, 1, 1, 1, 1};
    float dy[] = {1, 2, 3, 4, 5, 6};
    int32_t ids[] = {2, 0, 2};
    float want[] = {1 + 3, 1 + 4, 1, 1, 1 + 1 + 5, 1 + 2 + 6};
    float t2[6];
    memcpy(t2, dtab, sizeof t2);
    fs_cpu_embedding_bwd_ref(t2, dy, ids, 3, 2, 3);
    tu_assert_close(t2, want, 6, 0, 0, "embedding_bwd_ref hand");
    memcpy(t2, dtab, sizeof t2);
    fs_cpu_embedding_bwd(t2, dy, ids, 3, 2, 3);
    tu_assert_close(t2, want, 6, 0, 0, "embedding_bwd hand");

    tu_rng r = tu_rng_new(8);
    {
        const int vocab = 7, dim = 5, n = 12; /* more rows than vocab: repeats */
        float *table = tu_rand_array(&r, (long)vocab * dim, -1, 1);
        int32_t *id = tu_rand_ints(&r, n, 0, vocab);
        float *R = tu_rand_array(&r, (long)n * dim, -1, 1);
        float *y = malloc((size_t)n * dim * sizeof *y);
        float *g = calloc((size_t)vocab * dim, sizeof *g);
        fs_cpu_embedding_bwd_ref(g, R, id, n, dim, vocab);
        emb_ctx c = {id, table, y, R, n, vocab, dim};
        tu_check_grad(emb_loss, &c, table, (long)vocab * dim, g, 1e-2f, 1e-3f, 1e-2f, 1000,
                      "embedding dtable");
        free(table), free(id), free(R), free(y), free(g);
    }
    /* Fast vs ref on a size that takes the parallel path, with many repeats:
     * bit-identical by construction (same addition order per element). */
    const int vocab = 64, dim = 1536, n = 512;
    int32_t *id = tu_rand_ints(&r, n, 0, vocab);
    float *g = tu_rand_array(&r, (long)n * dim, -1, 1);
    float *dr = tu_rand_array(&r, (long)vocab * dim, -1, 1);
    float *df = copy_of(dr, (long)vocab * dim);
    fs_cpu_embedding_bwd_ref(dr, g, id, n, dim, vocab);
    fs_cpu_embedding_bwd(df, g, id, n, dim, vocab);
    tu_assert_close(df, dr, (long)vocab * dim, 0, 0, "embedding_bwd large");
    free(id), free(g), free(dr), free(df);
}

/* ---------------- 16-bit (BF16 / F16) weights ---------------- */

/* n random weights of dtype, magnitudes 2^-8 .. 1 (malloc'd), and *values the
 * exact f32 values they hold. */
static uint16_t *rand_16bit(tu_rng *r, long n, fs_dtype dt, float **values)
{
    int32_t *u = tu_rand_ints(r, n, 0, 1 << 14);
    uint16_t *h = malloc((size_t)n * sizeof *h);
    *values = malloc((size_t)n * sizeof **values);
    cr_assert(h && *values);
    for (long i = 0; i < n; i++) { /* sign bit, exponent e - 8 (e in 0..7), 10 fraction bits */
        unsigned sign = u[i] & 1, e = (u[i] >> 1) & 7, m = (unsigned)u[i] >> 4;
        h[i] = dt == FS_BF16 ? (uint16_t)(sign << 15 | (e + 119) << 7 | m >> 3)
                             : (uint16_t)(sign << 15 | (e + 7) << 10 | m);
    }
    fs_convert_to_f32(*values, h, dt, (size_t)n);
    free(u);
    return h;
}

Test(cpu_dense, bf16_and_f16_weights_match_their_f32_values)
{
    /* out * in > 2^20 floats: the fast linear converts W in two row blocks. */
    tu_rng r = tu_rng_new(9);
    const int n = 5, in = 300, out = 3600, vocab = 40, dim = 300;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1);
    float *bb = tu_rand_array(&r, out, -1, 1);
    float *dy = tu_rand_array(&r, (long)n * out, -1, 1);
    int32_t *ids = tu_rand_ints(&r, n, 0, vocab);
    float *y32 = malloc((size_t)n * out * sizeof *y32), *y16 = malloc((size_t)n * out * sizeof *y16);
    float *dx32 = malloc((size_t)n * in * sizeof *dx32), *dx16 = malloc((size_t)n * in * sizeof *dx16);
    int64_t bs[1] = {out};
    fs_tensor b = tu_tensor(bb, 1, bs);
    for (fs_dtype dt = FS_BF16; dt <= FS_F16; dt++) {
        float *w;
        uint16_t *w16 = rand_16bit(&r, (long)out * in, dt, &w);
        fs_tensor W32 = tu_tensor(w, 2, (int64_t[]){out, in});
        fs_tensor W16 = {.data = w16, .dtype = dt, .ndim = 2, .shape = {out, in}};
        const char *name = fs_dtype_name(dt);
        for (int fast = 0; fast < 2; fast++) {
            void (*fwd)(float *, const float *, const fs_tensor *, const fs_tensor *, int, int, int) =
                fast ? fs_cpu_linear_fwd : fs_cpu_linear_fwd_ref;
            void (*bwd)(float *, float *, float *, const float *, const float *, const fs_tensor *,
                        int, int, int) = fast ? fs_cpu_linear_bwd : fs_cpu_linear_bwd_ref;
            fwd(y32, x, &W32, &b, n, in, out);
            fwd(y16, x, &W16, &b, n, in, out);
            cr_log_info("%s %s", name, fast ? "fast" : "ref");
            tu_assert_close(y16, y32, (long)n * out, MM_ATOL, MM_RTOL, "linear_fwd, 16-bit W");
            memset(dx32, 0, (size_t)n * in * sizeof *dx32);
            memset(dx16, 0, (size_t)n * in * sizeof *dx16);
            bwd(dx32, NULL, NULL, dy, x, &W32, n, in, out);
            bwd(dx16, NULL, NULL, dy, x, &W16, n, in, out);
            tu_assert_close(dx16, dx32, (long)n * in, MM_ATOL, MM_RTOL, "linear_bwd dx, 16-bit W");
        }
        /* Embedding rows are converted exactly. */
        fs_tensor T32 = tu_tensor(w, 2, (int64_t[]){vocab, dim});
        fs_tensor T16 = {.data = w16, .dtype = dt, .ndim = 2, .shape = {vocab, dim}};
        for (int fast = 0; fast < 2; fast++) {
            (fast ? fs_cpu_embedding_fwd : fs_cpu_embedding_fwd_ref)(y32, ids, &T32, n, dim);
            (fast ? fs_cpu_embedding_fwd : fs_cpu_embedding_fwd_ref)(y16, ids, &T16, n, dim);
            tu_assert_close(y16, y32, (long)n * dim, 0, 0, "embedding_fwd, 16-bit table");
        }
        free(w), free(w16);
    }
    free(x), free(bb), free(dy), free(ids), free(y32), free(y16), free(dx32), free(dx16);
}
