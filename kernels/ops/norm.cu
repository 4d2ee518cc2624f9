/* LayerNorm and RMSNorm, forward and backward. One block per row with block
 * reductions; weight/bias gradients use the deterministic column reduction.
 * Norm weights and biases may be F32, BF16 or F16 (loaded as f32). */
#include "common.cuh"

static int row_threads(int dim)
{
    if (dim <= 256) return ((dim + 31) / 32) * 32; /* dim >= 1, so at least one warp */
    return dim <= 4096 ? 256 : 512;
}

/* ---- LayerNorm ---- */
__global__ void layernorm_fwd_kernel(float *y, float *mean, float *rstd, const float *x,
                                     FsWeight w, FsWeight b, int dim, float eps)
{
    __shared__ float sh[32];
    long row = blockIdx.x;
    const float *xr = x + row * dim;
    float *yr = y + row * dim;
    float s = 0.f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) s += xr[j];
    float mu = fs_block_sum(s, sh) / dim;
    /* Two passes (mean, then centred squares) avoid the cancellation of
     * E[x^2] - E[x]^2; the row is re-read from cache. Biased variance. */
    float q = 0.f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float d = xr[j] - mu;
        q += d * d;
    }
    float var = fs_block_sum(q, sh) / dim;
    float rs = 1.0f / sqrtf(var + eps);
    if (threadIdx.x == 0) {
        if (mean) mean[row] = mu;
        if (rstd) rstd[row] = rs;
    }
    for (int j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = (xr[j] - mu) * rs * w(j) + b(j);
}

void fs_cuda_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w,
                           const fs_tensor *b, int n, int dim, float eps)
{
    FS_NVTX("layernorm_fwd");
    if (n <= 0 || dim <= 0) return;
    layernorm_fwd_kernel<<<n, row_threads(dim)>>>(y, mean, rstd, x, fs_weight(w, 1.f),
                                                  fs_weight(b, 0.f), dim, eps);
    CUDA_CHECK_LAUNCH();
}

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. */
__global__ void layernorm_bwd_dx_kernel(float *dx, const float *dy, const float *x, FsWeight w,
                                        const float *mean, const float *rstd, int dim)
{
    __shared__ float sh[32];
    long row = blockIdx.x;
    const float *xr = x + row * dim, *dyr = dy + row * dim;
    float *dxr = dx + row * dim;
    float mu = mean[row], rs = rstd[row];
    float sg = 0.f, sgx = 0.f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float g = dyr[j] * w(j);
        sg += g;
        sgx += g * (xr[j] - mu) * rs;
    }
    float mg = fs_block_sum(sg, sh) / dim;
    float mgx = fs_block_sum(sgx, sh) / dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float xhat = (xr[j] - mu) * rs;
        dxr[j] += rs * (dyr[j] * w(j) - mg - xhat * mgx);
    }
}

/* dw += sum_rows dy * xhat; db += sum_rows dy. */
struct LayerNormParamGradF {
    const float *dy, *x, *mean, *rstd;
    int dim;
    __device__ void operator()(int r, int c, float *acc) const
    {
        long i = (long)r * dim + c;
        float g = dy[i];
        acc[0] += g * (x[i] - mean[r]) * rstd[r];
        acc[1] += g;
    }
};

void fs_cuda_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const fs_tensor *w, const float *mean, const float *rstd, int n,
                           int dim)
{
    FS_NVTX("layernorm_bwd");
    if (n <= 0 || dim <= 0) return;
    if (dx) {
        layernorm_bwd_dx_kernel<<<n, row_threads(dim)>>>(dx, dy, x, fs_weight(w, 1.f), mean, rstd,
                                                         dim);
        CUDA_CHECK_LAUNCH();
    }
    LayerNormParamGradF f = {dy, x, mean, rstd, dim};
    FsColDst<2> dst = {{dw, db}};
    fs_colreduce<2>(f, n, dim, dst);
}

/* ---- RMSNorm (LLaMA): y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) ---- */
__global__ void rmsnorm_fwd_kernel(float *y, float *rstd, const float *x, FsWeight w, int dim,
                                   float eps)
{
    __shared__ float sh[32];
    long row = blockIdx.x;
    const float *xr = x + row * dim;
    float *yr = y + row * dim;
    float q = 0.f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) q += xr[j] * xr[j];
    float rs = 1.0f / sqrtf(fs_block_sum(q, sh) / dim + eps);
    if (threadIdx.x == 0 && rstd) rstd[row] = rs;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = xr[j] * rs * w(j);
}

void fs_cuda_rmsnorm_fwd(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim,
                         float eps)
{
    FS_NVTX("rmsnorm_fwd");
    if (n <= 0 || dim <= 0) return;
    rmsnorm_fwd_kernel<<<n, row_threads(dim)>>>(y, rstd, x, fs_weight(w, 1.f), dim, eps);
    CUDA_CHECK_LAUNCH();
}

/* dx += rstd * (g - xhat * mean(g * xhat)), g = dy * w, xhat = x * rstd. */
__global__ void rmsnorm_bwd_dx_kernel(float *dx, const float *dy, const float *x, FsWeight w,
                                      const float *rstd, int dim)
{
    __shared__ float sh[32];
    long row = blockIdx.x;
    const float *xr = x + row * dim, *dyr = dy + row * dim;
    float *dxr = dx + row * dim;
    float rs = rstd[row];
    float sgx = 0.f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) sgx += dyr[j] * w(j) * xr[j] * rs;
    float mgx = fs_block_sum(sgx, sh) / dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x)
        dxr[j] += rs * (dyr[j] * w(j) - xr[j] * rs * mgx);
}

struct RmsNormWeightGradF {
    const float *dy, *x, *rstd;
    int dim;
    __device__ void operator()(int r, int c, float *acc) const
    {
        long i = (long)r * dim + c;
        acc[0] += dy[i] * x[i] * rstd[r];
    }
};

void fs_cuda_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w,
                         const float *rstd, int n, int dim)
{
    FS_NVTX("rmsnorm_bwd");
    if (n <= 0 || dim <= 0) return;
    if (dx) {
        rmsnorm_bwd_dx_kernel<<<n, row_threads(dim)>>>(dx, dy, x, fs_weight(w, 1.f), rstd, dim);
        CUDA_CHECK_LAUNCH();
    }
    RmsNormWeightGradF f = {dy, x, rstd, dim};
    FsColDst<1> dst = {{dw}};
    fs_colreduce<1>(f, n, dim, dst);
}
