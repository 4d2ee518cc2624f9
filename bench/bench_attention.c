/* Times the CPU attention kernels (fs_cpu_attention_fwd / _bwd) and, as a
 * same-run reference point, plain cblas_sgemm on the equivalent per-head
 * GEMM shapes.
 *
 * FLOP counting (FlashAttention's convention):
 *   forward  = 4 * B * Hq * T * T * D   (Q K^T and P V, 2*T*T*D each per head),
 *              halved when causal (only the lower triangle is useful work);
 *   backward = 2.5 * forward            (five T x T x D products: the recomputed
 *              Q K^T, dO V^T, P^T dO, dS K, dS^T Q).
 *   Softmax/exp work is not counted.
 * sgemm reference: for each of the B * Hq heads, S = Q K^T ([T,D] x [D,T]) then
 * O = S V ([T,T] x [T,D]) on contiguous buffers, OpenBLAS with its default
 * threading; 4 * T * T * D flops per head. "ratio" = attention GFLOP/s /
 * sgemm GFLOP/s (so a causal kernel that skips the masked half can score
 * near 1 even though it does half the arithmetic of the dense GEMMs).
 *
 * Usage: bench_attention [--quick]   (--quick: smaller time per measurement) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backends/cpu/cpu_ops.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rand_array(size_t n, unsigned *state, float lo, float hi)
{
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_attention: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(*state >> 8) / 16777216.0f;
    }
    return x;
}

typedef struct {
    const char *name;
    int B, T, Hq, Hkv, D;
    bool causal;
} shape;

typedef struct {
    const shape *s;
    float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv;
    float *gq, *gk, *gv, *gs, *go; /* sgemm reference buffers (one head) */
} bufs;

static void run_fwd(bufs *b)
{
    const shape *s = b->s;
    fs_cpu_attention_fwd(b->out, b->lse, b->q, b->k, b->v, s->B, s->T, s->Hq, s->Hkv, s->D,
                         s->causal);
}

static void run_bwd(bufs *b)
{
    const shape *s = b->s;
    fs_cpu_attention_bwd(b->dq, b->dk, b->dv, b->dout, b->q, b->k, b->v, b->out, b->lse, s->B,
                         s->T, s->Hq, s->Hkv, s->D, s->causal);
}

static void run_sgemm(bufs *b)
{
    const shape *s = b->s;
    int T = s->T, D = s->D;
    for (int h = 0; h < s->B * s->Hq; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 0.125f, b->gq, D, b->gk, D,
                    0.0f, b->gs, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, b->gs, T, b->gv, D,
                    0.0f, b->go, D);
    }
}

/* Seconds per call: one warm-up call, then TRIALS trials, each repeating the
 * call until min_time / TRIALS has passed; the fastest trial's average is
 * reported (the cores may be shared with other work, which only ever slows
 * a trial down). */
#define TRIALS 5
static double time_it(void (*fn)(bufs *), bufs *b, double min_time)
{
    fn(b);
    double best = 1e30;
    for (int trial = 0; trial < TRIALS; trial++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            fn(b);
            reps++;
            t = now() - t0;
        } while (t < min_time / TRIALS);
        if (t / reps < best) best = t / reps;
    }
    return best;
}

int main(int argc, char **argv)
{
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    const double min_time = quick ? 0.25 : 1.5;
    const shape shapes[] = {
        {"llama-ish causal", 4, 256, 8, 8, 64, true},
        {"CLIP ViT-L/14-336 bidir", 1, 577, 16, 16, 64, false},
        {"GQA causal 16q/4kv", 2, 512, 16, 4, 64, true},
    };
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("bench_attention: OpenMP threads %d, OpenBLAS threads %d%s\n", threads,
           openblas_get_num_threads(), quick ? " (quick)" : "");
    printf("flops: fwd 4*B*Hq*T^2*D (/2 causal), bwd 2.5x fwd; sgemm = Q K^T + P V per head, "
           "4*T^2*D per head\n\n");
    printf("%-26s %3s %4s %3s %3s %3s %-6s | %9s %7s %6s | %9s %7s %6s | %7s\n", "shape", "B",
           "T", "Hq", "Hkv", "D", "mask", "fwd ms", "GFLOP/s", "ratio", "bwd ms", "GFLOP/s",
           "ratio", "sgemm");
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const shape *s = &shapes[c];
        unsigned st = 12345u + (unsigned)c;
        size_t nq = (size_t)s->B * s->T * s->Hq * s->D, nk = (size_t)s->B * s->T * s->Hkv * s->D;
        size_t T = s->T, D = s->D;
        bufs b = {.s = s};
        b.q = rand_array(nq, &st, -1, 1);
        b.k = rand_array(nk, &st, -1, 1);
        b.v = rand_array(nk, &st, -1, 1);
        b.dout = rand_array(nq, &st, -1, 1);
        b.out = calloc(nq, sizeof(float));
        b.lse = calloc((size_t)s->B * s->Hq * s->T, sizeof(float));
        b.dq = calloc(nq, sizeof(float));
        b.dk = calloc(nk, sizeof(float));
        b.dv = calloc(nk, sizeof(float));
        b.gq = rand_array(T * D, &st, -1, 1);
        b.gk = rand_array(T * D, &st, -1, 1);
        b.gv = rand_array(T * D, &st, -1, 1);
        b.gs = calloc(T * T, sizeof(float));
        b.go = calloc(T * D, sizeof(float));

        double dense = 4.0 * s->B * s->Hq * (double)T * T * D;
        double fwd_flops = s->causal ? dense / 2 : dense;
        double bwd_flops = 2.5 * fwd_flops;
        double tf = time_it(run_fwd, &b, min_time);
        double tb = time_it(run_bwd, &b, min_time);
        double tg = time_it(run_sgemm, &b, min_time);
        double gf = fwd_flops / tf * 1e-9, gb = bwd_flops / tb * 1e-9, gg = dense / tg * 1e-9;
        printf("%-26s %3d %4d %3d %3d %3d %-6s | %9.2f %7.1f %6.2f | %9.2f %7.1f %6.2f | %7.1f\n",
               s->name, s->B, s->T, s->Hq, s->Hkv, s->D, s->causal ? "causal" : "bidir", tf * 1e3,
               gf, gf / gg, tb * 1e3, gb, gb / gg, gg);
        fflush(stdout);
        float *bufs_to_free[] = {b.q, b.k, b.v, b.dout, b.out, b.lse, b.dq, b.dk,
                                 b.dv, b.gq, b.gk, b.gv, b.gs, b.go};
        for (size_t i = 0; i < sizeof bufs_to_free / sizeof bufs_to_free[0]; i++)
            free(bufs_to_free[i]);
    }
    return 0;
}
