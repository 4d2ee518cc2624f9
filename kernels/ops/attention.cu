/* Flash-style attention forward: per (batch, query head, 32-query tile), an
 * online softmax over 32-key tiles; out and the per-row log-sum-exp are
 * written, scores never leave the SM. GQA maps query head h to kv head
 * h / (Hq / Hkv). See attention.cuh for the thread layout. */
#include "attention.cuh"

template <int DC>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_fwd_kernel(float *out, float *lse, const float *q, const float *k, const float *v,
                    AttnDims a)
{
    extern __shared__ float4 att_smem4[];
    float *Qs = reinterpret_cast<float *>(att_smem4); /* [32][Dp], own rows */
    float *Ks = Qs + ATT_TILE * a.Dp;                 /* [32][ps], lane rows */
    float *Vs = Ks + ATT_TILE * a.ps;                 /* [32][Dp], lanes over d */
    const int qt = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int hk = h / a.group;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int q0 = qt * ATT_TILE;

    attn_load_tile(Qs, a.Dp, q, a.Hq, b, h, q0, a);

    float m[ATT_RPW], l[ATT_RPW], o[ATT_RPW][DC];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int c = 0; c < DC; c++) o[r][c] = 0.f;
    }

    int nkt = (a.T + ATT_TILE - 1) / ATT_TILE;
    if (a.causal && nkt > qt + 1) nkt = qt + 1; /* key tiles past the diagonal are fully masked */
    for (int kt = 0; kt < nkt; kt++) {
        __syncthreads(); /* everyone is done with the previous K/V tile */
        attn_load_tile(Ks, a.ps, k, a.Hkv, b, hk, kt * ATT_TILE, a);
        attn_load_tile(Vs, a.Dp, v, a.Hkv, b, hk, kt * ATT_TILE, a);
        __syncthreads();

        const int key = kt * ATT_TILE + lane;
        float s[ATT_RPW], p[ATT_RPW];
        attn_dot_rows(s, Qs, warp, Ks + lane * a.ps, a.Dp);
#pragma unroll
        for (int r = 0; r < ATT_RPW; r++) {
            int qi = q0 + warp + ATT_WARPS * r;
            bool ok = key < a.T && (!a.causal || key <= qi);
            float sv = ok ? s[r] * a.scale : -INFINITY;
            float mnew = fmaxf(m[r], fs_warp_max(sv));
            /* ok implies mnew is finite; a row with nothing visible yet keeps
             * m = -inf and must not produce exp(-inf - -inf) = NaN. */
            p[r] = ok ? expf(sv - mnew) : 0.f;
            float alpha = m[r] == -INFINITY ? 0.f : expf(m[r] - mnew);
            l[r] = l[r] * alpha + fs_warp_sum(p[r]);
            m[r] = mnew;
#pragma unroll
            for (int c = 0; c < DC; c++) o[r][c] *= alpha;
        }
        /* o[r] += sum_j p[r][j] V[j]: each V element is loaded once and used
         * for the warp's 4 rows. */
        for (int j = 0; j < ATT_TILE; j++) {
            float pj[ATT_RPW];
#pragma unroll
            for (int r = 0; r < ATT_RPW; r++) pj[r] = __shfl_sync(0xffffffffu, p[r], j);
            const float *vr = Vs + j * a.Dp;
#pragma unroll
            for (int c = 0; c < DC; c++) {
                int d = lane + 32 * c;
                if (d < a.D) {
                    float vv = vr[d];
#pragma unroll
                    for (int r = 0; r < ATT_RPW; r++) o[r][c] = fmaf(pj[r], vv, o[r][c]);
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int qi = q0 + warp + ATT_WARPS * r;
        if (qi >= a.T) continue;
        /* Key 0 is visible to every query, so l > 0. */
        float inv = 1.0f / l[r];
        long base = (((long)b * a.T + qi) * a.Hq + h) * a.D;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            int d = lane + 32 * c;
            if (d < a.D) out[base + d] = o[r][c] * inv;
        }
        if (lane == 0 && lse) lse[((long)b * a.Hq + h) * a.T + qi] = m[r] + logf(l[r]);
    }
}

template <int DC>
static void attn_fwd_launch(float *out, float *lse, const float *q, const float *k, const float *v,
                            const AttnDims &a)
{
    static size_t configured = 0;
    size_t smem = sizeof(float) * ATT_TILE * (size_t)(2 * a.Dp + a.ps);
    attn_smem_optin(attn_fwd_kernel<DC>, smem, &configured);
    dim3 grid((a.T + ATT_TILE - 1) / ATT_TILE, a.Hq, a.B);
    attn_fwd_kernel<DC><<<grid, ATT_THREADS, smem>>>(out, lse, q, k, v, a);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_attention_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                           int B, int T, int Hq, int Hkv, int D, bool causal)
{
    FS_NVTX("attention_fwd");
    if (B <= 0 || T <= 0 || Hq <= 0 || D <= 0) return;
    AttnDims a = attn_dims(B, T, Hq, Hkv, D, causal, "attention_fwd");
    switch ((D + 31) / 32) {
    case 1: attn_fwd_launch<1>(out, lse, q, k, v, a); break;
    case 2: attn_fwd_launch<2>(out, lse, q, k, v, a); break;
    case 3: attn_fwd_launch<3>(out, lse, q, k, v, a); break;
    case 4: attn_fwd_launch<4>(out, lse, q, k, v, a); break;
    case 5: attn_fwd_launch<5>(out, lse, q, k, v, a); break;
    case 6: attn_fwd_launch<6>(out, lse, q, k, v, a); break;
    case 7: attn_fwd_launch<7>(out, lse, q, k, v, a); break;
    default: attn_fwd_launch<8>(out, lse, q, k, v, a); break;
    }
}
