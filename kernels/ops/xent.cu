/* Softmax cross-entropy over rows of logits [n, V]. One block per row; the
 * log-sum-exp is an online (max, sum) reduction, so each row is read once in
 * the forward and twice in the backward. */
#include "common.cuh"

#define XENT_THREADS 512

/* Merges two partial (max, sum of exp(x - max)) pairs. An empty side has
 * max = -inf and must not turn into exp(-inf - -inf) = NaN. */
__device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2)
{
    if (m2 == -INFINITY) return;
    if (m == -INFINITY) {
        m = m2;
        s = s2;
        return;
    }
    float mn = fmaxf(m, m2);
    s = s * expf(m - mn) + s2 * expf(m2 - mn);
    m = mn;
}

/* The row max m and log s, s = sum_j exp(row[j] - m), over the block; every
 * thread gets them. Kept apart, as in the CPU twin, so the loss is
 * (m - x_t) + log s and the softmax exp((x - m) - log s): no large
 * log-sum-exp is ever subtracted from a nearby logit. */
struct RowLogSum {
    float m, log_s;
};
__device__ RowLogSum block_logsum(const float *row, int V)
{
    __shared__ float shm[32];
    __shared__ float shs[32];
    float m = -INFINITY, s = 0.f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float x = row[j];
        if (x > m) {
            s = (m == -INFINITY ? 0.f : s * expf(m - x)) + 1.f;
            m = x;
        } else if (x != -INFINITY) {
            s += expf(x - m);
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) {
        shm[warp] = m;
        shs[warp] = s;
    }
    __syncthreads();
    m = lane < nw ? shm[lane] : -INFINITY;
    s = lane < nw ? shs[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    return RowLogSum{m, logf(s)};
}

/* loss[i] = (m - row[target]) + log s; ignored rows (target < 0) give 0. A
 * target >= V has no defined loss: NaN makes the bug visible. */
__global__ void xent_fwd_kernel(float *loss, const float *logits, const int32_t *targets, int V)
{
    long i = blockIdx.x;
    int t = targets[i];
    if (t < 0) { /* uniform across the block: no thread reaches a barrier */
        if (threadIdx.x == 0) loss[i] = 0.f;
        return;
    }
    const float *row = logits + i * V;
    RowLogSum r = block_logsum(row, V);
    if (threadIdx.x == 0) loss[i] = t < V ? (r.m - row[t]) + r.log_s : NAN;
}

/* dlogits[i, j] += dloss[i] * softmax_j, then -= dloss[i] at the target
 * (two roundings, as the CPU twin). */
__global__ void xent_bwd_kernel(float *dlogits, const float *dloss, const float *logits,
                                const int32_t *targets, int V)
{
    long i = blockIdx.x;
    int t = targets[i];
    if (t < 0) return;
    const float *row = logits + i * V;
    float *drow = dlogits + i * V;
    RowLogSum r = block_logsum(row, V);
    float g = dloss[i];
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float d = drow[j] + g * expf((row[j] - r.m) - r.log_s);
        drow[j] = j == t ? d - g : d;
    }
}

void fs_cuda_xent_fwd(float *loss, const float *logits, const int32_t *targets, int n, int V)
{
    FS_NVTX("xent_fwd");
    if (n <= 0) return;
    xent_fwd_kernel<<<n, XENT_THREADS>>>(loss, logits, targets, V);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_xent_bwd(float *dlogits, const float *dloss, const float *logits,
                      const int32_t *targets, int n, int V)
{
    FS_NVTX("xent_bwd");
    if (n <= 0 || V <= 0 || !dlogits) return;
    xent_bwd_kernel<<<n, XENT_THREADS>>>(dlogits, dloss, logits, targets, V);
    CUDA_CHECK_LAUNCH();
}
