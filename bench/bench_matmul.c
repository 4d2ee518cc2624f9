/* Benchmarks fedsim's CPU dense ops (fs_cpu_linear_fwd, fs_cpu_matmul) against
 * a direct cblas_sgemm call on the same shapes, in the same run.
 *
 *   bench_matmul [--quick] [--threads N]
 *
 * Per shape: one warm-up call of each, then alternating timed calls (fedsim,
 * cblas, fedsim, ...) until a time budget is spent (at least 5 of each, 3 with
 * --quick); the median time of each is reported as GFLOP/s (2*M*N*K*batch
 * flops; the bias add of linear layers is not counted) with the ratio
 * fedsim / cblas. --quick skips the largest shape and spends less time per
 * shape. Both sides call the same OpenBLAS, so ratios far from 1 on large
 * shapes mean the cores were shared with something else during the run. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backends/cpu/cpu_ops.h"

typedef enum { K_LINEAR, K_MATMUL } kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    int batch, M, N, K; /* linear: M = rows n, N = out, K = in */
    bool transA, transB, bias, big;
} shape_t;

static const shape_t shapes[] = {
    {"LLaMA-7B q/k/v/o proj", K_LINEAR, 1, 512, 4096, 4096, false, true, false, false},
    {"LLaMA-7B MLP gate/up", K_LINEAR, 1, 512, 11008, 4096, false, true, false, true},
    {"CLIP-L attn proj", K_LINEAR, 1, 577, 1024, 1024, false, true, true, false},
    {"CLIP-L MLP fc1", K_LINEAR, 1, 577, 4096, 1024, false, true, true, false},
    {"small linear", K_LINEAR, 1, 64, 256, 256, false, true, true, false},
    {"tiny linear", K_LINEAR, 1, 16, 64, 64, false, true, true, false},
    {"attn scores QK^T x16 heads", K_MATMUL, 16, 577, 577, 64, false, true, false, false},
    {"attn P V x16 heads", K_MATMUL, 16, 577, 64, 577, false, false, false, false},
    {"weight grad dy^T x (TN)", K_MATMUL, 1, 4096, 4096, 512, true, false, false, false},
    {"small batched x64", K_MATMUL, 64, 32, 32, 32, false, false, false, false},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *rand_buf(size_t n, unsigned *state)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_matmul: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (float)((*state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
    return p;
}

typedef struct {
    const shape_t *s;
    float *A, *B, *bias, *Cf, *Cb;
    fs_tensor W, bT;
    long sA, sB, sC;
} run_t;

static void run_fedsim(run_t *r)
{
    const shape_t *s = r->s;
    if (s->kind == K_LINEAR)
        fs_cpu_linear_fwd(r->Cf, r->A, &r->W, s->bias ? &r->bT : NULL, s->M, s->K, s->N);
    else
        fs_cpu_matmul(r->Cf, r->A, r->B, s->batch, s->M, s->N, s->K, s->transA, s->transB, 1.0f,
                      0.0f, r->sA, r->sB, r->sC);
}

static void run_cblas(run_t *r)
{
    const shape_t *s = r->s;
    const int lda = s->transA ? s->M : s->K, ldb = s->transB ? s->K : s->N;
    for (int b = 0; b < s->batch; b++)
        cblas_sgemm(CblasRowMajor, s->transA ? CblasTrans : CblasNoTrans,
                    s->transB ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f,
                    r->A + b * r->sA, lda, r->B + b * r->sB, ldb, 0.0f, r->Cb + b * r->sC, s->N);
}

int main(int argc, char **argv)
{
    bool quick = false;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--threads N]\n", argv[0]);
            return 2;
        }
    }
    if (threads > 0) {
        openblas_set_num_threads(threads);
        fs_set_threads(threads);
    }
    const double budget = quick ? 0.15 : 1.0; /* seconds of timed calls per shape */
    const int min_reps = quick ? 3 : 5, max_reps = 500;

    int omp_threads = 1;
#ifdef _OPENMP
    omp_threads = omp_get_max_threads();
#endif
    printf("bench_matmul%s: fedsim CPU dense ops vs direct cblas_sgemm (fp32)\n",
           quick ? " --quick" : "");
    printf("OpenBLAS: %s; %d BLAS threads, %d OpenMP threads\n", openblas_get_config(),
           openblas_get_num_threads(), omp_threads);
    printf("linear = fs_cpu_linear_fwd (y = x W^T [+ b]) vs cblas_sgemm(N,T) without bias;\n"
           "matmul = fs_cpu_matmul vs one cblas_sgemm per batch item. Median of reps.\n\n");
    printf("%-28s %-6s %5s %6s %6s %6s %4s %4s | %10s %9s | %10s %9s | %6s | %s\n", "shape", "op",
           "batch", "M/n", "N/out", "K/in", "bias", "reps", "fedsim ms", "GFLOP/s", "cblas ms",
           "GFLOP/s", "ratio", "max|diff|");

    double t_start = now_s();
    unsigned seed = 12345u;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape_t *s = &shapes[si];
        if (quick && s->big) continue;
        run_t r = {.s = s};
        r.sA = (long)s->M * s->K;
        r.sB = (long)s->K * s->N;
        r.sC = (long)s->M * s->N;
        r.A = rand_buf((size_t)r.sA * s->batch, &seed);
        r.B = rand_buf((size_t)r.sB * s->batch, &seed);
        r.bias = rand_buf((size_t)s->N, &seed);
        r.Cf = rand_buf((size_t)r.sC * s->batch, &seed);
        r.Cb = rand_buf((size_t)r.sC * s->batch, &seed);
        int64_t wshape[2] = {s->N, s->K}, bshape[1] = {s->N};
        r.W = (fs_tensor){.data = r.B, .dtype = FS_F32, .ndim = 2};
        memcpy(r.W.shape, wshape, sizeof wshape);
        r.bT = (fs_tensor){.data = r.bias, .dtype = FS_F32, .ndim = 1};
        memcpy(r.bT.shape, bshape, sizeof bshape);

        run_fedsim(&r); /* warm-up: page faults, BLAS thread start-up, caches */
        run_cblas(&r);

        double *tf = malloc(max_reps * sizeof *tf), *tb = malloc(max_reps * sizeof *tb);
        int reps = 0;
        double spent = 0;
        while (reps < max_reps && (reps < min_reps || spent < budget)) {
            double t0 = now_s();
            run_fedsim(&r);
            double t1 = now_s();
            run_cblas(&r);
            double t2 = now_s();
            tf[reps] = t1 - t0;
            tb[reps] = t2 - t1;
            spent += t2 - t0;
            reps++;
        }
        /* Results agree (bias added back to the plain GEMM for linear layers). */
        double maxdiff = 0;
        for (long b = 0; b < s->batch; b++)
            for (long i = 0; i < r.sC; i++) {
                double want = r.Cb[b * r.sC + i] + (s->bias ? r.bias[i % s->N] : 0.0f);
                double d = fabs(r.Cf[b * r.sC + i] - want);
                if (d > maxdiff || isnan(d)) maxdiff = d;
            }
        const double flops = 2.0 * s->batch * s->M * s->N * (double)s->K;
        const double mf = median(tf, reps), mb = median(tb, reps);
        char opname[16];
        snprintf(opname, sizeof opname, "%s%s%s", s->kind == K_LINEAR ? "linear" : "mm",
                 s->kind == K_MATMUL ? (s->transA ? "T" : "N") : "",
                 s->kind == K_MATMUL ? (s->transB ? "T" : "N") : "");
        printf("%-28s %-6s %5d %6d %6d %6d %4s %4d | %10.3f %9.1f | %10.3f %9.1f | %6.3f | %.2g\n",
               s->name, opname, s->batch, s->M, s->N, s->K, s->bias ? "yes" : "no", reps,
               mf * 1e3, flops / mf * 1e-9, mb * 1e3, flops / mb * 1e-9, mb / mf, maxdiff);
        fflush(stdout);
        free(tf), free(tb), free(r.A), free(r.B), free(r.bias), free(r.Cf), free(r.Cb);
    }
    printf("\nratio = fedsim GFLOP/s / cblas GFLOP/s (1.0 = no overhead). Total %.1f s.\n",
           now_s() - t_start);
    return 0;
}
