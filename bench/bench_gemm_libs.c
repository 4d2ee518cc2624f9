/* The GEMM libraries Debian packages for small and mid-size matrices, against
 * OpenBLAS, on fedsim's own shapes, one thread, in the same run.
 *
 *   bench_gemm_libs [--rows N] [--budget S]
 *
 * Libraries: OpenBLAS (cblas_sgemm), BLIS (bli_sgemm, strides give the
 * transposes for free; dlopen'ed with its own symbol scope, since BLIS also
 * exports cblas_sgemm and would otherwise take OpenBLAS's place), libxsmm 1.17 (JIT kernels via libxsmm_smmdispatch,
 * called on blocks of --block rows since a JIT kernel has no cache blocking
 * of its own), oneDNN (dnnl_sgemm, row-major). Each shape: one warm-up call of
 * every library, then rounds that call each library once in turn (so load
 * from other jobs hits every library alike) until --budget seconds are spent
 * (default 0.4, at least 5 rounds); the median per library, as GFLOP/s, and
 * its ratio to OpenBLAS. Every result is checked against OpenBLAS's. The
 * last column, fedsim, is fs_cpu_sgemm (kernels/backends/cpu/blas.c) on the same call:
 * oneDNN behind fedsim's wrapper.
 *
 * Shapes (row-major, C[M,N] = op(A) op(B), the CPU backend's calls):
 *   fwd   y = x W^T           NT  M = rows, N = out, K = in, beta 0
 *   dx    dx += dy W          NN  M = rows, N = in, K = out, beta 1
 *   dW    dW += dy^T x        TN  M = out, N = in, K = rows, beta 1 (pretraining only)
 * for the shipped model (models/tiny-llava: hidden 96, intermediate 192,
 * vocabulary 512) and bench_round's `small` (hidden 512, intermediate 1376,
 * vocabulary 32064), with rows = tokens of a lockstep pass (--rows, default
 * 1952 = 32 quickstart samples of 61 tokens) and the LM head on one row per
 * sample, and the per-head products of one sample's attention (T tokens, head
 * size D; attention.c calls them inside its own threads). q|k|v and gate|up also appear fused (one GEMM of the concatenated
 * weights). */
#include <cblas.h> /* OpenBLAS's, before blis.h pulls in the BLIS one */
#include <blis.h> /* from /usr/include/<triplet>/blis-openmp; for its types only */
#include <dlfcn.h>
#include <libxsmm.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backends/cpu/cpu_ops.h"

typedef struct {
    const char *name;
    char op; /* 'f' fwd NT, 'x' dx NN, 'w' dW TN */
    int M, N, K;
} shape_t;

enum { LIB_OPENBLAS, LIB_BLIS, LIB_XSMM, LIB_DNNL, LIB_FEDSIM, NLIB };
static const char *lib_names[NLIB] = {"OpenBLAS", "BLIS", "libxsmm", "oneDNN", "fedsim"};
static int xsmm_block = 64;

static struct {
    void (*sgemm)(trans_t, trans_t, dim_t, dim_t, dim_t, float *, float *, inc_t, inc_t, float *,
                  inc_t, inc_t, float *, float *, inc_t, inc_t);
    void (*set_threads)(dim_t);
    const char *(*version)(void);
} blis;

static void blis_open(void)
{
    void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) return;
    *(void **)&blis.sgemm = dlsym(h, "bli_sgemm");
    *(void **)&blis.set_threads = dlsym(h, "bli_thread_set_num_threads");
    *(void **)&blis.version = dlsym(h, "bli_info_get_version_str");
    if (!blis.sgemm || !blis.set_threads || !blis.version) blis.sgemm = NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rand_buf(size_t n, unsigned *s)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) fprintf(stderr, "bench_gemm_libs: out of memory\n"), exit(1);
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = (float)((*s >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    return p;
}

/* Row-major C = op(A) op(B) on block rows [r0, r0 + rows) with libxsmm: the
 * column-major kernel C^T = op(B)^T op(A)^T, m = N, n = rows, k = K. */
static int xsmm_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    const float alpha = 1.0f;
    for (int r0 = 0; r0 < M; r0 += xsmm_block) {
        int rows = M - r0 < xsmm_block ? M - r0 : xsmm_block;
        int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
        libxsmm_blasint m = N, n = rows, k = K, la = ldb, lb = lda, lc = ldc;
        libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &alpha, &beta, &flags, NULL);
        if (!f) return -1;
        const float *Ablk = ta ? A + r0 : A + (long)r0 * lda;
        f(B, Ablk, C + (long)r0 * ldc);
    }
    return 0;
}

static int call(int lib, bool ta, bool tb, int M, int N, int K, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc)
{
    switch (lib) {
    case LIB_OPENBLAS:
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return 0;
    case LIB_BLIS: {
        float one = 1.0f;
        if (!blis.sgemm) return -1;
        blis.sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                  M, N, K, &one, (float *)A, lda, 1, (float *)B, ldb, 1, &beta, C, ldc, 1);
        return 0;
    }
    case LIB_XSMM: return xsmm_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    case LIB_FEDSIM:
        fs_cpu_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return 0;
    case LIB_DNNL:
        return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                          ldc) == dnnl_success ? 0 : -1;
    }
    return -1;
}

static void bench_shape(const char *model, const shape_t *s, double budget)
{
    bool ta = s->op == 'w', tb = s->op == 'f';
    float beta = s->op == 'f' ? 0.0f : 1.0f;
    int M = s->M, N = s->N, K = s->K;
    int lda = ta ? M : K, ldb = tb ? K : N;
    unsigned seed = 7;
    float *A = rand_buf((size_t)M * K, &seed), *B = rand_buf((size_t)K * N, &seed);
    float *C0 = rand_buf((size_t)M * N, &seed), *C[NLIB], *ref = malloc((size_t)M * N * 4);
    for (int l = 0; l < NLIB; l++) C[l] = malloc((size_t)M * N * sizeof(float));
    enum { MAXR = 4096 };
    static double t[NLIB][MAXR];
    bool ok[NLIB];
    /* Check every library once against OpenBLAS (beta 1 adds onto C0). */
    memcpy(ref, C0, (size_t)M * N * 4);
    call(LIB_OPENBLAS, ta, tb, M, N, K, A, lda, B, ldb, beta, ref, N);
    for (int l = 0; l < NLIB; l++) {
        memcpy(C[l], C0, (size_t)M * N * 4);
        ok[l] = !call(l, ta, tb, M, N, K, A, lda, B, ldb, beta, C[l], N);
        double err = 0;
        for (size_t i = 0; ok[l] && i < (size_t)M * N; i++)
            err = fmax(err, fabs(C[l][i] - ref[i]) / (1 + fabs(ref[i])));
        if (ok[l] && err > 1e-4) {
            printf("  %s: result differs from OpenBLAS (%.2g)\n", lib_names[l], err);
            ok[l] = false;
        }
    }
    int rounds = 0;
    double t0 = now_s();
    while (rounds < MAXR && (rounds < 5 || now_s() - t0 < budget)) {
        for (int l = 0; l < NLIB; l++) {
            if (!ok[l]) continue;
            double a = now_s();
            call(l, ta, tb, M, N, K, A, lda, B, ldb, beta, C[l], N);
            t[l][rounds] = now_s() - a;
        }
        rounds++;
    }
    double flops = 2.0 * M * N * K, gf[NLIB];
    for (int l = 0; l < NLIB; l++) {
        qsort(t[l], (size_t)rounds, sizeof(double), cmp_double);
        gf[l] = ok[l] ? flops / t[l][rounds / 2] * 1e-9 : NAN;
    }
    printf("| %s | %s | %s | %d | %d | %d |", model, s->name,
           s->op == 'f' ? "NT" : s->op == 'x' ? "NN" : "TN", M, N, K);
    for (int l = 0; l < NLIB; l++) printf(" %.1f |", gf[l]);
    for (int l = 1; l < NLIB; l++) printf(" %.2f |", gf[l] / gf[0]);
    printf(" %d |\n", rounds);
    fflush(stdout);
    free(A), free(B), free(C0), free(ref);
    for (int l = 0; l < NLIB; l++) free(C[l]);
}

int main(int argc, char **argv)
{
    int rows = 1952;
    double budget = 0.4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--budget")) budget = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--block")) xsmm_block = atoi(argv[i + 1]);
        else return fprintf(stderr, "usage: bench_gemm_libs [--rows N] [--budget S] [--block B]\n"), 1;
    }
    if (rows < 1 || xsmm_block < 1 || !(budget > 0)) return fprintf(stderr, "bad option\n"), 1;
    openblas_set_num_threads(1);
    blis_open();
    if (blis.sgemm) blis.set_threads(1);
    libxsmm_init();
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("%s (core %s, OPENBLAS_CORETYPE=%s); BLIS %s; libxsmm %s (%s); "
           "oneDNN %d.%d.%d; 1 thread; rows %d; libxsmm blocks of %d rows\n\n",
           openblas_get_config(), openblas_get_corename(), ct ? ct : "(unset)", blis.sgemm ? blis.version() : "not found", LIBXSMM_VERSION, libxsmm_get_target_arch(),
           dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, rows, xsmm_block);
    printf("| model | GEMM | op | M | N | K |");
    for (int l = 0; l < NLIB; l++) printf(" %s GFLOP/s |", lib_names[l]);
    for (int l = 1; l < NLIB; l++) printf(" %s / OpenBLAS |", lib_names[l]);
    printf(" rounds |\n|---|---|---|---:|---:|---:|");
    for (int l = 0; l < 2 * NLIB; l++) printf("---:|");
    printf("\n");
    const struct {
        const char *model;
        int d, inter, V, T, D; /* not I: blis.h includes complex.h */
    } models[] = {{"shipped", 96, 192, 512, 61, 12}, {"small", 512, 1376, 32064, 96, 64}};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        int d = models[m].d, I_ = models[m].inter, V = models[m].V, T = models[m].T, D = models[m].D, tg = rows / T;
        const shape_t shapes[] = {
            {"q/k/v/o fwd", 'f', rows, d, d},      {"q|k|v fused fwd", 'f', rows, 3 * d, d},
            {"gate/up fwd", 'f', rows, I_, d},      {"gate|up fused fwd", 'f', rows, 2 * I_, d},
            {"down fwd", 'f', rows, d, I_},         {"q/k/v/o dx", 'x', rows, d, d},
            {"q|k|v fused dx", 'x', rows, d, 3 * d}, {"gate/up dx", 'x', rows, d, I_},
            {"gate|up fused dx", 'x', rows, d, 2 * I_}, {"down dx", 'x', rows, I_, d},
            {"LM head fwd", 'f', tg, V, d},        {"LM head dx", 'x', tg, d, V},
            {"q dW", 'w', d, d, rows},             {"gate dW", 'w', I_, d, rows},
            {"attention S = Q K^T, 1 head", 'f', T, T, D}, {"attention P V, 1 head", 'x', T, D, T},
        };
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            bench_shape(models[m].model, &shapes[s], budget);
    }
    return 0;
}
