/* Flash-style attention backward. Probabilities are recomputed from q, k and
 * the saved lse (P = exp(scale q.k - lse)), never stored. With
 * delta_i = dout_i . out_i:
 *   dV_j += sum_i P_ij dout_i
 *   dS_ij = P_ij (dout_i . v_j - delta_i)
 *   dQ_i += scale sum_j dS_ij k_j
 *   dK_j += scale sum_i dS_ij q_i
 * Two kernels, one owning query tiles (dQ) and one owning key tiles of a kv
 * head (dK, dV, summed over that head's query heads for GQA). Each gradient
 * element has exactly one writer and a fixed summation order: no atomics,
 * deterministic results, at the price of computing the scores twice. */
#include "attention.cuh"

/* delta[b, h, t] = sum_d dout[b, t, h, d] * out[b, t, h, d]; one warp per row. */
__global__ void attn_delta_kernel(float *delta, const float *dout, const float *out, AttnDims a)
{
    long nrows = (long)a.B * a.T * a.Hq;
    long warp = (blockIdx.x * (long)blockDim.x + threadIdx.x) >> 5;
    long nwarps = ((long)gridDim.x * blockDim.x) >> 5;
    int lane = threadIdx.x & 31;
    for (long row = warp; row < nrows; row += nwarps) {
        const float *dr = dout + row * a.D, *orow = out + row * a.D;
        float s = 0.f;
        for (int d = lane; d < a.D; d += 32) s += dr[d] * orow[d];
        s = fs_warp_sum(s);
        if (lane == 0) {
            int h = (int)(row % a.Hq);
            long bt = row / a.Hq;
            int t = (int)(bt % a.T);
            long b = bt / a.T;
            delta[(b * a.Hq + h) * a.T + t] = s;
        }
    }
}

/* dQ: one block per (query tile, query head, batch). */
template <int DC>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_bwd_dq_kernel(float *dq, const float *dout, const float *q, const float *k,
                       const float *v, const float *lse, const float *delta, AttnDims a)
{
    extern __shared__ float4 att_smem4[];
    float *Qs = reinterpret_cast<float *>(att_smem4); /* [32][Dp], own rows */
    float *dOs = Qs + ATT_TILE * a.Dp;                /* [32][Dp], own rows */
    float *Ks = dOs + ATT_TILE * a.Dp;                /* [32][ps], lane rows */
    float *Vs = Ks + ATT_TILE * a.ps;                 /* [32][ps], lane rows */
    const int qt = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int hk = h / a.group;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int q0 = qt * ATT_TILE;

    attn_load_tile(Qs, a.Dp, q, a.Hq, b, h, q0, a);
    attn_load_tile(dOs, a.Dp, dout, a.Hq, b, h, q0, a);

    float rlse[ATT_RPW], rdelta[ATT_RPW], acc[ATT_RPW][DC];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int qi = q0 + warp + ATT_WARPS * r;
        long idx = ((long)b * a.Hq + h) * a.T + qi;
        rlse[r] = qi < a.T ? lse[idx] : 0.f;
        rdelta[r] = qi < a.T ? delta[idx] : 0.f;
#pragma unroll
        for (int c = 0; c < DC; c++) acc[r][c] = 0.f;
    }

    int nkt = (a.T + ATT_TILE - 1) / ATT_TILE;
    if (a.causal && nkt > qt + 1) nkt = qt + 1;
    for (int kt = 0; kt < nkt; kt++) {
        __syncthreads();
        attn_load_tile(Ks, a.ps, k, a.Hkv, b, hk, kt * ATT_TILE, a);
        attn_load_tile(Vs, a.ps, v, a.Hkv, b, hk, kt * ATT_TILE, a);
        __syncthreads();

        const int key = kt * ATT_TILE + lane;
        float s[ATT_RPW], dp[ATT_RPW], ds[ATT_RPW];
        attn_dot_rows(s, Qs, warp, Ks + lane * a.ps, a.Dp);
        attn_dot_rows(dp, dOs, warp, Vs + lane * a.ps, a.Dp);
#pragma unroll
        for (int r = 0; r < ATT_RPW; r++) {
            int qi = q0 + warp + ATT_WARPS * r;
            bool ok = qi < a.T && key < a.T && (!a.causal || key <= qi);
            float p = ok ? expf(s[r] * a.scale - rlse[r]) : 0.f;
            ds[r] = p * (dp[r] - rdelta[r]);
        }
        for (int j = 0; j < ATT_TILE; j++) {
            float dsj[ATT_RPW];
#pragma unroll
            for (int r = 0; r < ATT_RPW; r++) dsj[r] = __shfl_sync(0xffffffffu, ds[r], j);
            const float *kr = Ks + j * a.ps;
#pragma unroll
            for (int c = 0; c < DC; c++) {
                int d = lane + 32 * c;
                if (d < a.D) {
                    float kv = kr[d];
#pragma unroll
                    for (int r = 0; r < ATT_RPW; r++) acc[r][c] = fmaf(dsj[r], kv, acc[r][c]);
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int qi = q0 + warp + ATT_WARPS * r;
        if (qi >= a.T) continue;
        long base = (((long)b * a.T + qi) * a.Hq + h) * a.D;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            int d = lane + 32 * c;
            if (d < a.D) dq[base + d] += a.scale * acc[r][c];
        }
    }
}

/* dK, dV: one block per (key tile, kv head, batch), looping over the query
 * heads that share this kv head and over the query tiles that see the keys. */
template <int DC>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_bwd_dkv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *lse, const float *delta, AttnDims a)
{
    extern __shared__ float4 att_smem4[];
    float *Ks = reinterpret_cast<float *>(att_smem4); /* [32][Dp], own rows */
    float *Vs = Ks + ATT_TILE * a.Dp;                 /* [32][Dp], own rows */
    float *Qs = Vs + ATT_TILE * a.Dp;                 /* [32][ps], lane rows */
    float *dOs = Qs + ATT_TILE * a.ps;                /* [32][ps], lane rows */
    float *lse_s = dOs + ATT_TILE * a.ps;             /* [32] */
    float *delta_s = lse_s + ATT_TILE;                /* [32] */
    const int kt = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int k0 = kt * ATT_TILE;

    attn_load_tile(Ks, a.Dp, k, a.Hkv, b, hk, k0, a);
    attn_load_tile(Vs, a.Dp, v, a.Hkv, b, hk, k0, a);

    float accK[ATT_RPW][DC], accV[ATT_RPW][DC];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++)
#pragma unroll
        for (int c = 0; c < DC; c++) accK[r][c] = accV[r][c] = 0.f;

    const int nqt = (a.T + ATT_TILE - 1) / ATT_TILE;
    const int qt0 = a.causal ? kt : 0; /* earlier queries cannot see these keys */
    for (int hh = 0; hh < a.group; hh++) {
        const int h = hk * a.group + hh;
        for (int qt = qt0; qt < nqt; qt++) {
            const int q0 = qt * ATT_TILE;
            __syncthreads();
            attn_load_tile(Qs, a.ps, q, a.Hq, b, h, q0, a);
            attn_load_tile(dOs, a.ps, dout, a.Hq, b, h, q0, a);
            if (threadIdx.x < ATT_TILE) {
                int qi = q0 + threadIdx.x;
                long idx = ((long)b * a.Hq + h) * a.T + qi;
                lse_s[threadIdx.x] = qi < a.T ? lse[idx] : 0.f;
                delta_s[threadIdx.x] = qi < a.T ? delta[idx] : 0.f;
            }
            __syncthreads();

            const int qi = q0 + lane;
            const float lq = lse_s[lane], dq_ = delta_s[lane];
            float s[ATT_RPW], dp[ATT_RPW], p[ATT_RPW], ds[ATT_RPW];
            attn_dot_rows(s, Ks, warp, Qs + lane * a.ps, a.Dp);
            attn_dot_rows(dp, Vs, warp, dOs + lane * a.ps, a.Dp);
#pragma unroll
            for (int r = 0; r < ATT_RPW; r++) {
                int key = k0 + warp + ATT_WARPS * r;
                bool ok = qi < a.T && key < a.T && (!a.causal || key <= qi);
                p[r] = ok ? expf(s[r] * a.scale - lq) : 0.f;
                ds[r] = p[r] * (dp[r] - dq_);
            }
            for (int i = 0; i < ATT_TILE; i++) {
                float pi[ATT_RPW], dsi[ATT_RPW];
#pragma unroll
                for (int r = 0; r < ATT_RPW; r++) {
                    pi[r] = __shfl_sync(0xffffffffu, p[r], i);
                    dsi[r] = __shfl_sync(0xffffffffu, ds[r], i);
                }
                const float *qr = Qs + i * a.ps, *dor = dOs + i * a.ps;
#pragma unroll
                for (int c = 0; c < DC; c++) {
                    int d = lane + 32 * c;
                    if (d < a.D) {
                        float qv = qr[d], dov = dor[d];
#pragma unroll
                        for (int r = 0; r < ATT_RPW; r++) {
                            accV[r][c] = fmaf(pi[r], dov, accV[r][c]);
                            accK[r][c] = fmaf(dsi[r], qv, accK[r][c]);
                        }
                    }
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int key = k0 + warp + ATT_WARPS * r;
        if (key >= a.T) continue;
        long base = (((long)b * a.T + key) * a.Hkv + hk) * a.D;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            int d = lane + 32 * c;
            if (d >= a.D) continue;
            if (dk) dk[base + d] += a.scale * accK[r][c];
            if (dv) dv[base + d] += accV[r][c];
        }
    }
}

template <int DC>
static void attn_bwd_launch(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, const float *lse, const float *delta,
                            const AttnDims &a)
{
    static size_t configured_dq = 0, configured_dkv = 0;
    const int ntiles = (a.T + ATT_TILE - 1) / ATT_TILE;
    if (dq) {
        size_t smem = sizeof(float) * ATT_TILE * (size_t)(2 * a.Dp + 2 * a.ps);
        attn_smem_optin(attn_bwd_dq_kernel<DC>, smem, &configured_dq);
        dim3 grid(ntiles, a.Hq, a.B);
        attn_bwd_dq_kernel<DC><<<grid, ATT_THREADS, smem>>>(dq, dout, q, k, v, lse, delta, a);
        CUDA_CHECK_LAUNCH();
    }
    if (dk || dv) {
        size_t smem = sizeof(float) * ATT_TILE * (size_t)(2 * a.Dp + 2 * a.ps + 2);
        attn_smem_optin(attn_bwd_dkv_kernel<DC>, smem, &configured_dkv);
        dim3 grid(ntiles, a.Hkv, a.B);
        attn_bwd_dkv_kernel<DC>
            <<<grid, ATT_THREADS, smem>>>(dk, dv, dout, q, k, v, lse, delta, a);
        CUDA_CHECK_LAUNCH();
    }
}

void fs_cuda_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *out, const float *lse,
                           int B, int T, int Hq, int Hkv, int D, bool causal)
{
    FS_NVTX("attention_bwd");
    if (B <= 0 || T <= 0 || Hq <= 0 || D <= 0 || (!dq && !dk && !dv)) return;
    AttnDims a = attn_dims(B, T, Hq, Hkv, D, causal, "attention_bwd");
    long nrows = (long)B * T * Hq;
    float *delta = (float *)fs_cuda_scratch(FS_SCRATCH_ATTN, sizeof(float) * (size_t)nrows);
    attn_delta_kernel<<<fs_cuda_blocks(nrows * 32, 256), 256>>>(delta, dout, out, a);
    CUDA_CHECK_LAUNCH();
    switch ((D + 31) / 32) {
    case 1: attn_bwd_launch<1>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 2: attn_bwd_launch<2>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 3: attn_bwd_launch<3>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 4: attn_bwd_launch<4>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 5: attn_bwd_launch<5>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 6: attn_bwd_launch<6>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    case 7: attn_bwd_launch<7>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    default: attn_bwd_launch<8>(dq, dk, dv, dout, q, k, v, lse, delta, a); break;
    }
}
