/* Diagonal Fisher of grouped LoRA adapters from per-sample gradients, and
 * per-row scaling.
 *
 * A sample's adapter gradient must be complete before it is squared, and the
 * rows of a sample need not be contiguous. The host therefore builds, once
 * per call, the row list of every sample (a counting sort of sample_of_row,
 * copied back from the device: one small synchronous transfer). A block then
 * owns (sample, 256 columns): each thread sums its column of the sample's
 * gradient over the sample's rows in registers, 8 ranks at a time, squares
 * it and adds weight * grad^2 into the Fisher with atomicAdd (several samples
 * share a group). No per-sample gradient is ever stored. */
#include "common.cuh"

#include <string.h>

/* rowgroup[i] = group_of_sample[sample_of_row[i]], or -1 for skipped rows. */
__global__ void fisher_rowgroup_kernel(int32_t *rowgroup, const int32_t *sample_of_row,
                                       const int32_t *group_of_sample, int n, int nsamples)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int s = sample_of_row[i];
        rowgroup[i] = s >= 0 && s < nsamples ? group_of_sample[s] : -1;
    }
}

/* du[i, k] = s * sum_o B[g, o, k] dy[i, o]; same loop shape as lora_rowdot in
 * lora.cu but kept simple: one warp per (row, rank). */
__global__ void fisher_du_kernel(float *du, const float *dy, const float *B,
                                 const int32_t *rowgroup, int n, int out, int r, float s)
{
    const int lane = threadIdx.x & 31;
    const long nwarps = ((long)gridDim.x * blockDim.x) >> 5;
    for (long task = (blockIdx.x * (long)blockDim.x + threadIdx.x) >> 5; task < (long)n * r;
         task += nwarps) {
        const int i = (int)(task / r), k = (int)(task % r);
        const int g = rowgroup[i];
        float acc = 0.f;
        if (g >= 0) {
            const float *Bg = B + (long)g * out * r, *dyi = dy + (long)i * out;
            for (int o = lane; o < out; o += 32) acc = fmaf(Bg[(long)o * r + k], dyi[o], acc);
        }
        acc = fs_warp_sum(acc);
        if (lane == 0) du[task] = s * acc;
    }
}

/* F[g](k, j) += w_j * (s * sum_{i in sample} L[i, k] R[i, j])^2, with
 * F[g](k, j) at F + g*fg + k*fk + j*fj. */
__global__ void fisher_square_kernel(float *F, long fg, long fk, long fj, const float *L,
                                     const float *R, const int32_t *rows, const int32_t *start,
                                     const int32_t *group_of_sample, const float *sample_weight,
                                     int nsamples, int J, int K, float s)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= J) return; /* no barriers below */
    for (int smp = blockIdx.y; smp < nsamples; smp += gridDim.y) {
        const int g = group_of_sample[smp];
        const int r0 = start[smp], r1 = start[smp + 1];
        if (g < 0 || r0 == r1) continue;
        const float w = sample_weight[smp];
        for (int k0 = 0; k0 < K; k0 += 8) {
            float acc[8];
#pragma unroll
            for (int kk = 0; kk < 8; kk++) acc[kk] = 0.f;
            for (int e = r0; e < r1; e++) {
                const long i = rows[e];
                const float rv = R[i * J + j];
                const float *li = L + i * K + k0;
#pragma unroll
                for (int kk = 0; kk < 8; kk++)
                    if (k0 + kk < K) acc[kk] = fmaf(li[kk], rv, acc[kk]);
            }
#pragma unroll
            for (int kk = 0; kk < 8; kk++) {
                if (k0 + kk >= K) break;
                float gval = s * acc[kk];
                atomicAdd(F + g * fg + (long)(k0 + kk) * fk + (long)j * fj, w * gval * gval);
            }
        }
    }
}

void fs_cuda_lora_fisher_accum(float *FA, float *FB, const float *dy, const float *x,
                               const float *u, const float *B, const int32_t *sample_of_row,
                               const int32_t *group_of_sample, const float *sample_weight, int n,
                               int nsamples, int in, int out, int r, float scale)
{
    FS_NVTX("lora_fisher_accum");
    if (n <= 0 || nsamples <= 0 || r <= 0 || (!FA && !FB)) return;

    /* Row lists per sample: rows[start[j] .. start[j+1]). */
    int32_t *h_sor = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
    int32_t *h_rows = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
    int32_t *h_start = (int32_t *)calloc((size_t)nsamples + 1, sizeof(int32_t));
    if (!h_sor || !h_rows || !h_start) FS_CUDA_FATAL("lora_fisher_accum: out of host memory");
    CUDA_CHECK(cudaMemcpy(h_sor, sample_of_row, sizeof(int32_t) * (size_t)n,
                          cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        if (h_sor[i] >= 0 && h_sor[i] < nsamples) h_start[h_sor[i] + 1]++;
    for (int j = 0; j < nsamples; j++) h_start[j + 1] += h_start[j];
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * (size_t)nsamples);
    if (!fill) FS_CUDA_FATAL("lora_fisher_accum: out of host memory");
    memcpy(fill, h_start, sizeof(int32_t) * (size_t)nsamples);
    for (int i = 0; i < n; i++)
        if (h_sor[i] >= 0 && h_sor[i] < nsamples) h_rows[fill[h_sor[i]]++] = i;
    free(fill);

    /* Device scratch: rows [n], start [nsamples + 1], rowgroup [n]. */
    size_t nints = (size_t)n * 2 + (size_t)nsamples + 1;
    int32_t *d_rows = (int32_t *)fs_cuda_scratch(FS_SCRATCH_FISHER, sizeof(int32_t) * nints);
    int32_t *d_start = d_rows + n;
    int32_t *d_rowgroup = d_start + nsamples + 1;
    CUDA_CHECK(cudaMemcpy(d_rows, h_rows, sizeof(int32_t) * (size_t)n, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_start, h_start, sizeof(int32_t) * ((size_t)nsamples + 1),
                          cudaMemcpyHostToDevice));
    free(h_sor);
    free(h_rows);
    free(h_start);

    dim3 block(256);
    const unsigned gy = nsamples < 65535 ? (unsigned)nsamples : 65535u;
    if (FB && out > 0) {
        /* dB_j[o, k] = scale * sum_i dy[i, o] u[i, k]; FB is [G, out, r]. */
        dim3 grid((out + 255) / 256, gy);
        fisher_square_kernel<<<grid, block>>>(FB, (long)out * r, 1, r, u, dy, d_rows, d_start,
                                              group_of_sample, sample_weight, nsamples, out, r,
                                              scale);
        CUDA_CHECK_LAUNCH();
    }
    if (FA && in > 0) {
        /* du[i] = scale * B_g^T dy_i, then dA_j[k, c] = sum_i du[i, k] x[i, c]; FA is [G, r, in]. */
        fisher_rowgroup_kernel<<<fs_cuda_blocks(n, 256), 256>>>(d_rowgroup, sample_of_row,
                                                                group_of_sample, n, nsamples);
        CUDA_CHECK_LAUNCH();
        float *du = (float *)fs_cuda_scratch(FS_SCRATCH_LORA, sizeof(float) * (size_t)n * r);
        if (out > 0) {
            fisher_du_kernel<<<fs_cuda_blocks((long)n * r * 32, 256), 256>>>(
                du, dy, B, d_rowgroup, n, out, r, scale);
            CUDA_CHECK_LAUNCH();
        } else {
            CUDA_CHECK(cudaMemsetAsync(du, 0, sizeof(float) * (size_t)n * r, 0));
        }
        dim3 grid((in + 255) / 256, gy);
        fisher_square_kernel<<<grid, block>>>(FA, (long)r * in, in, 1, du, x, d_rows, d_start,
                                              group_of_sample, sample_weight, nsamples, in, r,
                                              1.0f);
        CUDA_CHECK_LAUNCH();
    }
}

/* y[i, :] = s[i] * x[i, :]; one block per row, elementwise so y may alias x. */
__global__ void scale_rows_kernel(float *y, const float *x, const float *s, int dim)
{
    const long row = blockIdx.x;
    const float sv = s[row];
    for (int j = threadIdx.x; j < dim; j += blockDim.x) y[row * dim + j] = sv * x[row * dim + j];
}

void fs_cuda_scale_rows(float *y, const float *x, const float *s, int n, int dim)
{
    FS_NVTX("scale_rows");
    if (n <= 0 || dim <= 0) return;
    int threads = dim >= 256 ? 256 : ((dim + 31) / 32) * 32;
    scale_rows_kernel<<<n, threads>>>(y, x, s, dim);
    CUDA_CHECK_LAUNCH();
}
