/* The small elementwise/reduction ops of the CUDA backend (add, axpy, sum);
 * kernels/ops/elementwise.c is the CPU reference. */
#include "common.cuh"

__global__ void add_kernel(float *y, const float *a, const float *b, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

void fs_cuda_add(float *y, const float *a, const float *b, long n)
{
    FS_NVTX("add");
    if (n <= 0) return;
    add_kernel<<<fs_cuda_blocks(n, 256), 256>>>(y, a, b, n);
    CUDA_CHECK_LAUNCH();
}

__global__ void axpy_kernel(float *y, float alpha, const float *x, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] += alpha * x[i];
}

void fs_cuda_axpy(float *y, float alpha, const float *x, long n)
{
    FS_NVTX("axpy");
    if (n <= 0) return;
    axpy_kernel<<<fs_cuda_blocks(n, 256), 256>>>(y, alpha, x, n);
    CUDA_CHECK_LAUNCH();
}

/* Two-pass sum in double: per-block partials, then one block adds them in a
 * fixed order, so the result is deterministic (no atomics). */
#define SUM_THREADS 256
#define SUM_MAX_BLOCKS 1024

__device__ double block_sum_d(double v)
{
    __shared__ double sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = fs_warp_sum_d(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
    return fs_warp_sum_d(v);
}

__global__ void sum_partial_kernel(double *partial, const float *x, long n)
{
    double s = 0.0;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        s += (double)x[i];
    s = block_sum_d(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_final_kernel(double *result, const double *partial, int nblocks)
{
    double s = 0.0;
    for (int i = threadIdx.x; i < nblocks; i += blockDim.x) s += partial[i];
    s = block_sum_d(s);
    if (threadIdx.x == 0) *result = s;
}

double fs_cuda_sum(const float *x, long n)
{
    FS_NVTX("sum");
    if (n <= 0) return 0.0;
    long nb = (n + SUM_THREADS - 1) / SUM_THREADS;
    int nblocks = (int)(nb < SUM_MAX_BLOCKS ? nb : SUM_MAX_BLOCKS);
    double *buf = (double *)fs_cuda_scratch(FS_SCRATCH_SUM, sizeof(double) * (SUM_MAX_BLOCKS + 1));
    sum_partial_kernel<<<nblocks, SUM_THREADS>>>(buf + 1, x, n);
    CUDA_CHECK_LAUNCH();
    sum_final_kernel<<<1, SUM_THREADS>>>(buf, buf + 1, nblocks);
    CUDA_CHECK_LAUNCH();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpy(&result, buf, sizeof result, cudaMemcpyDeviceToHost));
    return result;
}
