/* Dense algebra on the CPU: batched matmul and the linear layer.
 *
 * The fast versions are thin wrappers around fs_cpu_sgemm (blas.c: oneDNN,
 * which threads the GEMM itself on OpenMP's pool). */
#include "kernels/backends/cpu/cpu_ops.h"

#include <stdlib.h>
#include <string.h>

/* ---- matmul ---- */

/* Element (i, k) of op(A) when op(A) is M x K. */
static inline float op_at(const float *A, bool trans, int rows, int cols, int i, int k)
{
    /* Not transposed: A is stored rows x cols = M x K.
     * Transposed: A is stored K x M, so op(A)[i][k] = A[k][i]. */
    return trans ? A[(long)k * rows + i] : A[(long)i * cols + k];
}

void fs_cpu_matmul_ref(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                       bool transA, bool transB, float alpha, float beta, long strideA,
                       long strideB, long strideC)
{
    for (int b = 0; b < batch; b++) {
        const float *Ab = A + b * strideA;
        const float *Bb = B + b * strideB;
        float *Cb = C + b * strideC;
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (double)op_at(Ab, transA, M, K, i, k) *
                           (double)op_at(Bb, transB, K, N, k, j);
                float *c = &Cb[(long)i * N + j];
                /* As in BLAS, beta == 0 means C is not read (it may hold NaN). */
                *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + (double)beta * *c);
            }
        }
    }
}

void fs_cpu_matmul(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                   bool transA, bool transB, float alpha, float beta, long strideA, long strideB,
                   long strideC)
{
    if (batch <= 0 || M <= 0 || N <= 0) return;
    if (K <= 0) {
        /* Empty inner dimension: C = beta * C (BLAS would reject lda = 0). */
        for (int b = 0; b < batch; b++) {
            float *Cb = C + b * strideC;
            for (long i = 0; i < (long)M * N; i++) Cb[i] = beta == 0.0f ? 0.0f : beta * Cb[i];
        }
        return;
    }
    const int lda = transA ? M : K;
    const int ldb = transB ? K : N;
    for (int b = 0; b < batch; b++)
        fs_cpu_sgemm(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb,
                     beta, C + b * strideC, N);
}

/* ---- linear: y = x W^T + bias, W is [out, in] ---- */

/* A 16-bit W is used in blocks of output rows converted to f32 (about 4 MiB
 * each), so a memory-mapped bf16 checkpoint is never copied whole. An F32 W is
 * one block read in place. */
static long block_rows(const fs_tensor *W, long out, long in)
{
    long rows = W->dtype == FS_F32 ? out : (1L << 20) / (in > 0 ? in : 1);
    return rows < 1 ? 1 : rows < out ? rows : out;
}

static float *block_scratch(const fs_tensor *W, long rows, long in)
{
    return W->dtype == FS_F32 ? NULL
                              : fs_cpu_scratch((size_t)(rows * in) * sizeof(float),
                                               "a 16-bit weight block converted to f32");
}

void fs_cpu_linear_fwd_ref(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias,
                           int n, int in, int out)
{
    float *scratch = block_scratch(W, out, in);
    const float *w = fs_cpu_weight_rows_f32(W, 0, out, in, scratch);
    const float *bv = bias ? fs_cpu_weight_f32(bias) : NULL;
    for (int r = 0; r < n; r++) {
        for (int o = 0; o < out; o++) {
            double acc = bv ? bv[o] : 0.0;
            for (int i = 0; i < in; i++) acc += (double)x[(long)r * in + i] * w[(long)o * in + i];
            y[(long)r * out + o] = (float)acc;
        }
    }
    free(scratch);
}

void fs_cpu_linear_fwd(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n,
                       int in, int out)
{
    if (n <= 0 || out <= 0) return;
    float beta = 0.0f;
    if (bias) {
        /* Broadcast the bias into y and let the GEMM add onto it. */
        const float *bv = fs_cpu_weight_f32(bias);
        for (int r = 0; r < n; r++) memcpy(y + (long)r * out, bv, (size_t)out * sizeof *y);
        beta = 1.0f;
    }
    if (in <= 0) {
        if (!bias) memset(y, 0, (size_t)n * out * sizeof *y);
        return;
    }
    long blk = block_rows(W, out, in);
    float *scratch = block_scratch(W, blk, in);
    for (long o0 = 0; o0 < out; o0 += blk) {
        long nr = out - o0 < blk ? out - o0 : blk;
        const float *w = fs_cpu_weight_rows_f32(W, o0, nr, in, scratch);
        fs_cpu_sgemm(false, true, n, (int)nr, in, 1.0f, x, in, w, in, beta, y + o0, out);
    }
    free(scratch);
}

void fs_cpu_linear_bwd_ref(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                           const fs_tensor *W, int n, int in, int out)
{
    if (dx) { /* dx[r, i] += sum_o dy[r, o] W[o, i] */
        float *scratch = block_scratch(W, out, in);
        const float *w = fs_cpu_weight_rows_f32(W, 0, out, in, scratch);
        for (int r = 0; r < n; r++)
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int o = 0; o < out; o++)
                    acc += (double)dy[(long)r * out + o] * w[(long)o * in + i];
                dx[(long)r * in + i] += (float)acc;
            }
        free(scratch);
    }
    if (dW) { /* dW[o, i] += sum_r dy[r, o] x[r, i] */
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int r = 0; r < n; r++)
                    acc += (double)dy[(long)r * out + o] * x[(long)r * in + i];
                dW[(long)o * in + i] += (float)acc;
            }
    }
    if (dbias) { /* dbias[o] += sum_r dy[r, o] */
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int r = 0; r < n; r++) acc += dy[(long)r * out + o];
            dbias[o] += (float)acc;
        }
    }
}

void fs_cpu_linear_bwd(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                       const fs_tensor *W, int n, int in, int out)
{
    if (n <= 0 || in <= 0 || out <= 0) return;
    if (dx) { /* dx[n, in] += dy[n, out] W[out, in], summed over blocks of output rows */
        long blk = block_rows(W, out, in);
        float *scratch = block_scratch(W, blk, in);
        for (long o0 = 0; o0 < out; o0 += blk) {
            long nr = out - o0 < blk ? out - o0 : blk;
            const float *w = fs_cpu_weight_rows_f32(W, o0, nr, in, scratch);
            fs_cpu_sgemm(false, false, n, in, (int)nr, 1.0f, dy + o0, out, w, in, 1.0f, dx, in);
        }
        free(scratch);
    }
    if (dW) /* dW[out, in] += dy^T[out, n] x[n, in] */
        fs_cpu_sgemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (dbias) {
        /* Column sums of dy, row by row (contiguous), in blocks that stay in L1. */
        enum { BLK = 512 };
        float acc[BLK];
        for (int o0 = 0; o0 < out; o0 += BLK) {
            int len = out - o0 < BLK ? out - o0 : BLK;
            memset(acc, 0, sizeof acc);
            for (int r = 0; r < n; r++) {
                const float *row = dy + (long)r * out + o0;
                for (int j = 0; j < len; j++) acc[j] += row[j];
            }
            for (int j = 0; j < len; j++) dbias[o0 + j] += acc[j];
        }
    }
}
