/* Elementwise activations: exact GELU, quick GELU (CLIP), SwiGLU (LLaMA).
 * Accurate libdevice erfcf/expf (no fast-math intrinsics) so results track the
 * CPU reference to a few ulp. Backward ops accumulate into dx / dgate / dup. */
#include "common.cuh"

#define GRID_STRIDE(i, n)                                                                      \
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n);                        \
         i += (long)gridDim.x * blockDim.x)

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ---- GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) ----
 * Written, as the CPU twin, with Phi(x) = erfc(-x / sqrt 2) / 2: the same
 * function without the cancellation of 1 + erf() for x < -3 (1e-3 relative
 * error at -4, exactly 0 below -5.6). */
__global__ void gelu_fwd_kernel(float *y, const float *x, long n)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        y[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f);
    }
}

/* d/dx = Phi(x) + x phi(x), phi the standard normal density. */
__global__ void gelu_bwd_kernel(float *dx, const float *dy, const float *x, long n)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        float cdf = 0.5f * erfcf(-v * 0.70710678118654752f);
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

void fs_cuda_gelu_fwd(float *y, const float *x, long n)
{
    FS_NVTX("gelu_fwd");
    if (n <= 0) return;
    gelu_fwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(y, x, n);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_gelu_bwd(float *dx, const float *dy, const float *x, long n)
{
    FS_NVTX("gelu_bwd");
    if (n <= 0 || !dx) return;
    gelu_bwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(dx, dy, x, n);
    CUDA_CHECK_LAUNCH();
}

/* ---- quick GELU: x * sigmoid(1.702 x) ---- */
__global__ void quick_gelu_fwd_kernel(float *y, const float *x, long n)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        y[i] = v * sigmoidf_(1.702f * v);
    }
}

/* d/dx = s + 1.702 x s (1 - s), s = sigmoid(1.702 x). */
__global__ void quick_gelu_bwd_kernel(float *dx, const float *dy, const float *x, long n)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        float s = sigmoidf_(1.702f * v);
        dx[i] += dy[i] * (s + 1.702f * v * s * (1.0f - s));
    }
}

void fs_cuda_quick_gelu_fwd(float *y, const float *x, long n)
{
    FS_NVTX("quick_gelu_fwd");
    if (n <= 0) return;
    quick_gelu_fwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(y, x, n);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_quick_gelu_bwd(float *dx, const float *dy, const float *x, long n)
{
    FS_NVTX("quick_gelu_bwd");
    if (n <= 0 || !dx) return;
    quick_gelu_bwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(dx, dy, x, n);
    CUDA_CHECK_LAUNCH();
}

/* ---- SwiGLU: y = silu(gate) * up, silu(g) = g sigmoid(g) ---- */
__global__ void swiglu_fwd_kernel(float *y, const float *gate, const float *up, long n)
{
    GRID_STRIDE(i, n)
    {
        float gv = gate[i];
        y[i] = gv * sigmoidf_(gv) * up[i];
    }
}

/* dgate += dy up (s + g s (1 - s)); dup += dy silu(g). */
__global__ void swiglu_bwd_kernel(float *dgate, float *dup, const float *dy, const float *gate,
                                  const float *up, long n)
{
    GRID_STRIDE(i, n)
    {
        float gv = gate[i], s = sigmoidf_(gv), d = dy[i];
        if (dgate) dgate[i] += d * up[i] * (s + gv * s * (1.0f - s));
        if (dup) dup[i] += d * gv * s;
    }
}

void fs_cuda_swiglu_fwd(float *y, const float *gate, const float *up, long n)
{
    FS_NVTX("swiglu_fwd");
    if (n <= 0) return;
    swiglu_fwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(y, gate, up, n);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_swiglu_bwd(float *dgate, float *dup, const float *dy, const float *gate,
                        const float *up, long n)
{
    FS_NVTX("swiglu_bwd");
    if (n <= 0 || (!dgate && !dup)) return;
    swiglu_bwd_kernel<<<fs_cuda_blocks(n, 256), 256>>>(dgate, dup, dy, gate, up, n);
    CUDA_CHECK_LAUNCH();
}
