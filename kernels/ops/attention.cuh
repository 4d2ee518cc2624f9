/* Pieces shared by the flash-style attention forward (attention.cu) and
 * backward (attention_bwd.cu).
 *
 * Work layout (all three kernels): a block of 8 warps handles one 32-row tile
 * of its "own" rows (queries for forward/dQ, keys for dK/dV) and streams the
 * other side through shared memory in 32-row tiles. Each warp owns 4 of the
 * block's rows; within a score tile, lane j holds the score of the warp's
 * rows against streamed row j, so row-wise softmax statistics are warp
 * shuffles, and the probabilities are broadcast back with __shfl_sync for the
 * P V style products, where lanes own head-dimension columns d = lane + 32c.
 * No T x T matrix ever touches global memory.
 *
 * Shared tiles read by "the warp's own row" (same address across a warp,
 * a broadcast) use row stride Dp = D rounded up to 4; tiles read by "lane j's
 * row" use stride ps, Dp padded so that ps/4 is odd, which makes the float4
 * reads of 8 consecutive lanes hit distinct bank groups. Columns D..Dp-1 are
 * zero so float4 dot products need no tail. */
#ifndef FEDSIM_CUDA_ATTENTION_CUH
#define FEDSIM_CUDA_ATTENTION_CUH

#include "common.cuh"

#define ATT_TILE 32
#define ATT_WARPS 8
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_RPW (ATT_TILE / ATT_WARPS) /* rows per warp */
#define ATT_MAX_D 256                  /* DC = D/32 column chunks per lane, at most 8 */

struct AttnDims {
    int B, T, Hq, Hkv, D;
    int Dp;    /* D rounded up to a multiple of 4 */
    int ps;    /* padded stride for lane-indexed tiles */
    int group; /* query heads per kv head */
    float scale;
    bool causal;
};

static inline AttnDims attn_dims(int B, int T, int Hq, int Hkv, int D, bool causal,
                                 const char *op)
{
    if (D > ATT_MAX_D) FS_CUDA_FATAL("%s: head_dim %d > %d is not supported", op, D, ATT_MAX_D);
    if (Hkv <= 0 || Hq % Hkv != 0)
        FS_CUDA_FATAL("%s: Hq (%d) must be a multiple of Hkv (%d)", op, Hq, Hkv);
    AttnDims a;
    a.B = B;
    a.T = T;
    a.Hq = Hq;
    a.Hkv = Hkv;
    a.D = D;
    a.Dp = (D + 3) & ~3;
    a.ps = 4 * ((a.Dp / 4) | 1);
    a.group = Hq / Hkv;
    a.scale = 1.0f / sqrtf((float)D);
    a.causal = causal;
    return a;
}

/* Loads rows t0..t0+31 of head h of a [B, T, H, D] tensor into a shared tile
 * with the given row stride, zero-filling rows past T and columns past D. */
__device__ __forceinline__ void attn_load_tile(float *s, int stride, const float *X, int H, int b,
                                               int h, int t0, const AttnDims &a)
{
    for (int e = threadIdx.x; e < ATT_TILE * a.Dp; e += blockDim.x) {
        int r = e / a.Dp, d = e - r * a.Dp, t = t0 + r;
        float v = 0.f;
        if (t < a.T && d < a.D) v = X[(((long)b * a.T + t) * H + h) * a.D + d];
        s[r * stride + d] = v;
    }
}

/* s[r] = dot(own row (warp + 8r) of `own` (stride Dp), lane's row `lrow`). */
__device__ __forceinline__ void attn_dot_rows(float s[ATT_RPW], const float *own, int warp,
                                              const float *lrow, int Dp)
{
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) s[r] = 0.f;
    for (int d = 0; d < Dp; d += 4) {
        float4 l = *reinterpret_cast<const float4 *>(lrow + d);
#pragma unroll
        for (int r = 0; r < ATT_RPW; r++) {
            float4 o = *reinterpret_cast<const float4 *>(own + (warp + ATT_WARPS * r) * Dp + d);
            s[r] = fmaf(o.x, l.x, s[r]);
            s[r] = fmaf(o.y, l.y, s[r]);
            s[r] = fmaf(o.z, l.z, s[r]);
            s[r] = fmaf(o.w, l.w, s[r]);
        }
    }
}

/* Dynamic shared memory above 48 KiB must be opted into per kernel. */
template <class K> static void attn_smem_optin(K kernel, size_t bytes, size_t *configured)
{
    if (bytes > 48 * 1024 && bytes > *configured) {
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)bytes));
        *configured = bytes;
    }
}

#endif
