/* Diagonal Fisher of grouped LoRA adapters from per-sample gradients (FedNano
 * and FedNano-EF). Samples never interact inside the frozen LLM, so the input
 * gradient rows of one backward pass already separate by sample; each sample's
 * adapter gradient is a small GEMM over its own rows, squared and accumulated
 * right away. */
#include <stdlib.h>
#include <string.h>

#include "kernels/backends/cpu/cpu_ops.h"

void fs_cpu_scale_rows_ref(float *y, const float *x, const float *s, int n, int dim)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) y[(size_t)i * dim + j] = s[i] * x[(size_t)i * dim + j];
}

void fs_cpu_scale_rows(float *y, const float *x, const float *s, int n, int dim)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) y[(size_t)i * dim + j] = s[i] * x[(size_t)i * dim + j];
}

/* One sample's gradients into dA [r, in] and dB [out, r] (zeroed here), then
 * squared into the Fisher of its group. du is scratch [r]. */
static void accumulate_sample(float *FA, float *FB, const float *dy, const float *x,
                              const float *u, const float *B, const int32_t *rows, int nrows,
                              int in, int out, int r, float scale, float weight, float *dA,
                              float *dB, float *du)
{
    memset(dA, 0, (size_t)r * in * sizeof *dA);
    memset(dB, 0, (size_t)out * r * sizeof *dB);
    for (int k = 0; k < nrows; k++) {
        int i = rows[k];
        const float *dyi = dy + (size_t)i * out, *xi = x + (size_t)i * in, *ui = u + (size_t)i * r;
        for (int o = 0; o < out; o++)
            for (int j = 0; j < r; j++) dB[(size_t)o * r + j] += scale * dyi[o] * ui[j];
        for (int j = 0; j < r; j++) {
            float s = 0;
            for (int o = 0; o < out; o++) s += B[(size_t)o * r + j] * dyi[o];
            du[j] = scale * s;
        }
        for (int j = 0; j < r; j++)
            for (int c = 0; c < in; c++) dA[(size_t)j * in + c] += du[j] * xi[c];
    }
    for (size_t e = 0; e < (size_t)r * in; e++) FA[e] += weight * dA[e] * dA[e];
    for (size_t e = 0; e < (size_t)out * r; e++) FB[e] += weight * dB[e] * dB[e];
}

/* Rows grouped by sample (counting sort): rows_of[start[j] .. start[j+1]). */
static int32_t *rows_by_sample(const int32_t *sample_of_row, int n, int nsamples, int32_t **start_out)
{
    int32_t *start = fs_cpu_scratch(((size_t)nsamples + 1) * sizeof *start, "LoRA Fisher scratch");
    int32_t *rows = fs_cpu_scratch((size_t)(n ? n : 1) * sizeof *rows, "LoRA Fisher scratch");
    memset(start, 0, ((size_t)nsamples + 1) * sizeof *start);
    for (int i = 0; i < n; i++)
        if (sample_of_row[i] >= 0) start[sample_of_row[i] + 1]++;
    for (int j = 0; j < nsamples; j++) start[j + 1] += start[j];
    int32_t *fill =
        fs_cpu_scratch((size_t)(nsamples ? nsamples : 1) * sizeof *fill, "LoRA Fisher scratch");
    memcpy(fill, start, (size_t)nsamples * sizeof *fill);
    for (int i = 0; i < n; i++)
        if (sample_of_row[i] >= 0) rows[fill[sample_of_row[i]]++] = i;
    free(fill);
    *start_out = start;
    return rows;
}

void fs_cpu_lora_fisher_accum_ref(float *FA, float *FB, const float *dy, const float *x,
                                  const float *u, const float *B, const int32_t *sample_of_row,
                                  const int32_t *group_of_sample, const float *sample_weight,
                                  int n, int nsamples, int in, int out, int r, float scale)
{
    int32_t *start, *rows = rows_by_sample(sample_of_row, n, nsamples, &start);
    float *dA = fs_cpu_scratch((size_t)r * in * sizeof *dA, "LoRA Fisher scratch");
    float *dB = fs_cpu_scratch((size_t)out * r * sizeof *dB, "LoRA Fisher scratch");
    float *du = fs_cpu_scratch((size_t)r * sizeof *du, "LoRA Fisher scratch");
    for (int j = 0; j < nsamples; j++) {
        int g = group_of_sample[j];
        if (g < 0 || start[j] == start[j + 1]) continue;
        accumulate_sample(FA + (size_t)g * r * in, FB + (size_t)g * out * r, dy, x, u,
                          B + (size_t)g * out * r, rows + start[j], start[j + 1] - start[j], in,
                          out, r, scale, sample_weight[j], dA, dB, du);
    }
    free(dA), free(dB), free(du), free(rows), free(start);
}

void fs_cpu_lora_fisher_accum(float *FA, float *FB, const float *dy, const float *x,
                              const float *u, const float *B, const int32_t *sample_of_row,
                              const int32_t *group_of_sample, const float *sample_weight, int n,
                              int nsamples, int in, int out, int r, float scale)
{
    int32_t *start, *rows = rows_by_sample(sample_of_row, n, nsamples, &start);
    int ngroups = 0;
    for (int j = 0; j < nsamples; j++)
        if (group_of_sample[j] + 1 > ngroups) ngroups = group_of_sample[j] + 1;
    /* Threads own groups, so no two threads ever add into the same Fisher block. */
#pragma omp parallel
    {
        float *dA = fs_cpu_scratch((size_t)r * in * sizeof *dA, "LoRA Fisher scratch");
        float *dB = fs_cpu_scratch((size_t)out * r * sizeof *dB, "LoRA Fisher scratch");
        float *du = fs_cpu_scratch((size_t)r * sizeof *du, "LoRA Fisher scratch");
#pragma omp for schedule(dynamic)
        for (int g = 0; g < ngroups; g++)
            for (int j = 0; j < nsamples; j++) {
                if (group_of_sample[j] != g || start[j] == start[j + 1]) continue;
                accumulate_sample(FA + (size_t)g * r * in, FB + (size_t)g * out * r, dy, x, u,
                                  B + (size_t)g * out * r, rows + start[j],
                                  start[j + 1] - start[j], in, out, r, scale, sample_weight[j], dA,
                                  dB, du);
            }
        free(dA), free(dB), free(du);
    }
    free(rows), free(start);
}
