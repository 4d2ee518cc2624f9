/* Grouped LoRA: one low-rank adapter per client, rows tagged by client.
 *
 * A: [G, r, in], B: [G, out, r]. For each row i with g = group[i] >= 0:
 *   u[i] = A_g x[i],  y[i] += scale * B_g u[i]
 * Rows with g < 0: u[i] = 0, y[i] untouched (and nothing in the backward).
 * Backward: du = scale * B_g^T dy; dB_g += scale * dy u^T; dA_g += du x^T;
 * dx += A_g^T du.
 *
 * Fast version: rows are cut into runs of consecutive rows with the same
 * group (a client's rows are normally contiguous), and runs into chunks of at
 * most LORA_CHUNK rows. Per-row outputs (u, y, dx) are computed chunk by chunk
 * in parallel with single-threaded fs_cpu_sgemm (blas.c) directly on the
 * row-major slices (no gathering). The adapter gradients dA/dB, which many rows share,
 * are split by columns instead: each thread owns a column range of every
 * dA_g (in) and a row range of every dB_g (out) and walks all runs, so the
 * accumulation is race-free and deterministic whatever the grouping. */
#include "kernels/backends/cpu/cpu_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------- reference ---------------- */

void fs_cpu_lora_fwd_ref(float *y, float *u, const float *x, const float *A, const float *B,
                         const int32_t *group, int n, int in, int out, int r, float scale)
{
    for (int i = 0; i < n; i++) {
        float *ui = u + (size_t)i * r;
        int g = group[i];
        if (g < 0) {
            for (int k = 0; k < r; k++) ui[k] = 0;
            continue;
        }
        const float *Ag = A + (size_t)g * r * in, *Bg = B + (size_t)g * out * r;
        const float *xi = x + (size_t)i * in;
        for (int k = 0; k < r; k++) {
            double s = 0;
            for (int c = 0; c < in; c++) s += (double)Ag[(size_t)k * in + c] * xi[c];
            ui[k] = (float)s;
        }
        float *yi = y + (size_t)i * out;
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int k = 0; k < r; k++) s += (double)Bg[(size_t)o * r + k] * ui[k];
            yi[o] += (float)(scale * s);
        }
    }
}

void fs_cpu_lora_bwd_ref(float *dx, float *dA, float *dB, const float *dy, const float *x,
                         const float *u, const float *A, const float *B, const int32_t *group,
                         int n, int in, int out, int r, float scale)
{
    double *du = fs_cpu_scratch((size_t)(r > 0 ? r : 1) * sizeof *du, "LoRA backward scratch");
    for (int i = 0; i < n; i++) {
        int g = group[i];
        if (g < 0) continue;
        const float *Ag = A + (size_t)g * r * in, *Bg = B + (size_t)g * out * r;
        const float *xi = x + (size_t)i * in, *ui = u + (size_t)i * r, *gi = dy + (size_t)i * out;
        for (int k = 0; k < r; k++) {
            double s = 0;
            for (int o = 0; o < out; o++) s += (double)Bg[(size_t)o * r + k] * gi[o];
            du[k] = scale * s;
        }
        if (dB) {
            float *dBg = dB + (size_t)g * out * r;
            for (int o = 0; o < out; o++)
                for (int k = 0; k < r; k++) dBg[(size_t)o * r + k] += (float)(scale * (double)gi[o] * ui[k]);
        }
        if (dA) {
            float *dAg = dA + (size_t)g * r * in;
            for (int k = 0; k < r; k++)
                for (int c = 0; c < in; c++) dAg[(size_t)k * in + c] += (float)(du[k] * xi[c]);
        }
        if (dx) {
            float *dxi = dx + (size_t)i * in;
            for (int c = 0; c < in; c++) {
                double s = 0;
                for (int k = 0; k < r; k++) s += (double)Ag[(size_t)k * in + c] * du[k];
                dxi[c] += (float)s;
            }
        }
    }
    free(du);
}

/* ---------------- fast ---------------- */

#define LORA_CHUNK 128

typedef struct {
    int start, len, g;
} lora_run;

/* Runs of consecutive rows with the same group >= 0, each at most maxlen long
 * (maxlen <= 0: unlimited). Returns the count; *out is malloc'd. */
static int lora_runs(const int32_t *group, int n, int maxlen, lora_run **out)
{
    lora_run *runs = fs_cpu_scratch((size_t)(n > 0 ? n : 1) * sizeof *runs, "LoRA scratch");
    int nr = 0;
    for (int i = 0; i < n;) {
        int g = group[i];
        if (g < 0) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < n && group[j] == g && (maxlen <= 0 || j - i < maxlen)) j++;
        runs[nr++] = (lora_run){i, j - i, g};
        i = j;
    }
    *out = runs;
    return nr;
}

void fs_cpu_lora_fwd(float *y, float *u, const float *x, const float *A, const float *B,
                     const int32_t *group, int n, int in, int out, int r, float scale)
{
    if (n <= 0 || r <= 0) return;
    if (in <= 0 || out <= 0) { /* degenerate shapes: BLAS rejects zero leading dimensions */
        fs_cpu_lora_fwd_ref(y, u, x, A, B, group, n, in, out, r, scale);
        return;
    }
    /* group < 0 rows: u = 0 */
    for (int i = 0; i < n; i++)
        if (group[i] < 0) memset(u + (size_t)i * r, 0, (size_t)r * sizeof *u);
    lora_run *runs;
    int nr = lora_runs(group, n, LORA_CHUNK, &runs);
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < nr; c++) {
        const lora_run *R = &runs[c];
        const float *Ag = A + (size_t)R->g * r * in, *Bg = B + (size_t)R->g * out * r;
        float *uc = u + (size_t)R->start * r;
        /* U = X A_g^T  (len x r) */
        fs_cpu_sgemm(false, true, R->len, r, in, 1.0f, x + (size_t)R->start * in, in, Ag, in, 0.0f,
                     uc, r);
        /* Y += scale * U B_g^T  (len x out) */
        fs_cpu_sgemm(false, true, R->len, out, r, scale, uc, r, Bg, r, 1.0f, y + (size_t)R->start *
                     out, out);
    }
    free(runs);
}

void fs_cpu_lora_bwd(float *dx, float *dA, float *dB, const float *dy, const float *x,
                     const float *u, const float *A, const float *B, const int32_t *group, int n,
                     int in, int out, int r, float scale)
{
    if (!dx && !dA && !dB) return;
    if (n <= 0 || r <= 0) return;
    if (in <= 0 || out <= 0) {
        fs_cpu_lora_bwd_ref(dx, dA, dB, dy, x, u, A, B, group, n, in, out, r, scale);
        return;
    }
    lora_run *chunks, *runs;
    int nc = lora_runs(group, n, LORA_CHUNK, &chunks);
    int nr = lora_runs(group, n, 0, &runs);
    /* du = scale * dY B_g  ([n, r]; rows of group < 0 unused) */
    float *du = NULL;
    if (dx || dA) {
        du = fs_cpu_scratch((size_t)n * r * sizeof *du, "LoRA backward scratch");
#pragma omp parallel for schedule(dynamic, 1)
        for (int c = 0; c < nc; c++) {
            const lora_run *R = &chunks[c];
            const float *Ag = A + (size_t)R->g * r * in, *Bg = B + (size_t)R->g * out * r;
            float *duc = du + (size_t)R->start * r;
            fs_cpu_sgemm(false, false, R->len, r, out, scale, dy + (size_t)R->start * out, out, Bg,
                         r, 0.0f, duc, r);
            /* dX += dU A_g */
            if (dx)
                fs_cpu_sgemm(false, false, R->len, in, r, 1.0f, duc, r, Ag, in, 1.0f, dx +
                             (size_t)R->start * in, in);
        }
    }
    if (dA || dB) {
#pragma omp parallel
        {
            int nt = 1, tid = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            tid = omp_get_thread_num();
#endif
            /* This thread's columns of dA_g and rows of dB_g. */
            int c0 = (int)((long)in * tid / nt), c1 = (int)((long)in * (tid + 1) / nt);
            int o0 = (int)((long)out * tid / nt), o1 = (int)((long)out * (tid + 1) / nt);
            for (int q = 0; q < nr; q++) {
                const lora_run *R = &runs[q];
                /* dA_g[:, c0:c1] += dU^T X[:, c0:c1]  (r x (c1-c0)) */
                if (dA && c1 > c0)
                    fs_cpu_sgemm(true, false, r, c1 - c0, R->len, 1.0f, du + (size_t)R->start * r,
                                 r, x + (size_t)R->start * in + c0, in, 1.0f, dA + (size_t)R->g * r
                                 * in + c0, in);
                /* dB_g[o0:o1, :] += scale * dY[:, o0:o1]^T U  ((o1-o0) x r) */
                if (dB && o1 > o0)
                    fs_cpu_sgemm(true, false, o1 - o0, r, R->len, scale, dy + (size_t)R->start * out
                                 + o0, out, u + (size_t)R->start * r, r, 1.0f, dB + (size_t)R->g *
                                 out * r + (size_t)o0 * r, r);
            }
        }
    }
    free(du);
    free(chunks);
    free(runs);
}
