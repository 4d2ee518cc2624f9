/* Grouped LoRA: every row carries its client's adapter index, and one launch
 * per stage covers all rows of all clients.
 *
 * Three kernel shapes do all the work:
 *   rowdot: out[i, k] = s * sum_j M_g(k, j) X[i, j]   (u = A_g x, du = s B_g^T dy)
 *   expand: Y[i, c] += s * sum_k M_g(c, k) U[i, k]    (y += s B_g u, dx += A_g^T du)
 *   outer:  D_g(k, j) += s * sum_{i in g} L[i, k] R[i, j]   (dA, dB)
 * where M_g is an adapter matrix addressed through strides (so A and B, and
 * their transposes, need no copies). Rows of one client are normally
 * contiguous, so each kernel keeps the adapter values it loaded while the
 * group stays the same, and works on 8 rows x 8 ranks at a time to reuse
 * every load several times. Rows with group < 0 have no adapter. */
#include "common.cuh"

#define LR_RB 8 /* rows per tile */
#define LR_KB 8 /* ranks per tile */

/* Element (g, a, b) of an adapter stack. */
struct GMat {
    const float *p;
    long sg, sa, sb;
    __device__ __forceinline__ float operator()(int g, long a, long b) const
    {
        return p[g * sg + a * sa + b * sb];
    }
};

/* One warp per (8-row chunk, 8-rank chunk); lanes stride over j. */
__global__ void lora_rowdot_kernel(float *out, GMat M, const float *X, const int32_t *group,
                                   int n, int J, int K, float s)
{
    const int lane = threadIdx.x & 31;
    const long nkc = (K + LR_KB - 1) / LR_KB, nrc = (n + LR_RB - 1) / LR_RB;
    const long ntasks = nkc * nrc;
    const long nwarps = ((long)gridDim.x * blockDim.x) >> 5;
    for (long task = (blockIdx.x * (long)blockDim.x + threadIdx.x) >> 5; task < ntasks;
         task += nwarps) {
        const int i0 = (int)(task / nkc) * LR_RB, k0 = (int)(task % nkc) * LR_KB;
        int g[LR_RB];
        float acc[LR_RB][LR_KB];
#pragma unroll
        for (int rr = 0; rr < LR_RB; rr++) {
            g[rr] = i0 + rr < n ? group[i0 + rr] : -1;
#pragma unroll
            for (int kk = 0; kk < LR_KB; kk++) acc[rr][kk] = 0.f;
        }
        for (int j = lane; j < J; j += 32) {
            int gprev = -1;
            float a[LR_KB];
#pragma unroll
            for (int kk = 0; kk < LR_KB; kk++) a[kk] = 0.f;
#pragma unroll
            for (int rr = 0; rr < LR_RB; rr++) {
                if (g[rr] < 0) continue;
                if (g[rr] != gprev) {
                    gprev = g[rr];
#pragma unroll
                    for (int kk = 0; kk < LR_KB; kk++)
                        a[kk] = k0 + kk < K ? M(gprev, k0 + kk, j) : 0.f;
                }
                float xv = X[(long)(i0 + rr) * J + j];
#pragma unroll
                for (int kk = 0; kk < LR_KB; kk++) acc[rr][kk] = fmaf(a[kk], xv, acc[rr][kk]);
            }
        }
#pragma unroll
        for (int rr = 0; rr < LR_RB; rr++) {
#pragma unroll
            for (int kk = 0; kk < LR_KB; kk++) {
                float v = fs_warp_sum(acc[rr][kk]);
                int i = i0 + rr, k = k0 + kk;
                /* Spread the 64 stores over the lanes. */
                if (lane == ((rr * LR_KB + kk) & 31) && i < n && k < K)
                    out[(long)i * K + k] = g[rr] >= 0 ? s * v : 0.f;
            }
        }
    }
}

/* Block = 256 columns x one 8-row chunk (grid-stride over chunks in y). */
__global__ void lora_expand_kernel(float *Y, GMat M, const float *U, const int32_t *group, int n,
                                   int C, int K, float s)
{
    extern __shared__ float us[]; /* [LR_RB][K] */
    __shared__ int gs[LR_RB];
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int nrc = (n + LR_RB - 1) / LR_RB;
    for (int rc = blockIdx.y; rc < nrc; rc += gridDim.y) {
        const int i0 = rc * LR_RB;
        __syncthreads(); /* previous chunk's readers are done */
        for (int e = threadIdx.x; e < LR_RB * K; e += blockDim.x) {
            int rr = e / K, i = i0 + rr;
            us[e] = i < n ? U[(long)i * K + (e - rr * K)] : 0.f;
        }
        if (threadIdx.x < LR_RB) {
            const int i = i0 + (int)threadIdx.x;
            gs[threadIdx.x] = i < n ? group[i] : -1;
        }
        __syncthreads();
        if (c >= C) continue;
        float acc[LR_RB];
#pragma unroll
        for (int rr = 0; rr < LR_RB; rr++) acc[rr] = 0.f;
        for (int k0 = 0; k0 < K; k0 += LR_KB) {
            int gprev = -1;
            float m[LR_KB];
#pragma unroll
            for (int kk = 0; kk < LR_KB; kk++) m[kk] = 0.f;
#pragma unroll
            for (int rr = 0; rr < LR_RB; rr++) {
                int g = gs[rr];
                if (g < 0) continue;
                if (g != gprev) {
                    gprev = g;
#pragma unroll
                    for (int kk = 0; kk < LR_KB; kk++) m[kk] = k0 + kk < K ? M(g, c, k0 + kk) : 0.f;
                }
#pragma unroll
                for (int kk = 0; kk < LR_KB; kk++)
                    if (k0 + kk < K) acc[rr] = fmaf(m[kk], us[rr * K + k0 + kk], acc[rr]);
            }
        }
#pragma unroll
        for (int rr = 0; rr < LR_RB; rr++)
            if (gs[rr] >= 0) Y[(long)(i0 + rr) * C + c] += s * acc[rr];
    }
}

/* Block = 256 columns j x one chunk of rows; partial sums for a run of rows
 * of one group are flushed with one atomicAdd per (k, j) when the group
 * changes, so contiguous clients cost one atomic per chunk. */
__global__ void lora_outer_kernel(float *D, long dg, long dk, long dj, const float *L,
                                  const float *R, const int32_t *group, int n, int J, int K,
                                  float s, int rows_per_chunk)
{
    extern __shared__ float ls[]; /* [rows_per_chunk][K], then rows_per_chunk group ids */
    int *gsh = reinterpret_cast<int *>(ls + (long)rows_per_chunk * K);
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int nchunks = (n + rows_per_chunk - 1) / rows_per_chunk;
    for (int ch = blockIdx.y; ch < nchunks; ch += gridDim.y) {
        const int r0 = ch * rows_per_chunk;
        const int nr = min(rows_per_chunk, n - r0);
        __syncthreads();
        for (int e = threadIdx.x; e < nr * K; e += blockDim.x) ls[e] = L[(long)r0 * K + e];
        for (int e = threadIdx.x; e < nr; e += blockDim.x) gsh[e] = group[r0 + e];
        __syncthreads();
        if (j >= J) continue;
        for (int k0 = 0; k0 < K; k0 += LR_KB) {
            float acc[LR_KB];
            int cur = -1;
#pragma unroll
            for (int kk = 0; kk < LR_KB; kk++) acc[kk] = 0.f;
            for (int ii = 0; ii < nr; ii++) {
                int g = gsh[ii];
                if (g < 0) continue;
                if (g != cur) {
                    if (cur >= 0) {
#pragma unroll
                        for (int kk = 0; kk < LR_KB; kk++)
                            if (k0 + kk < K) atomicAdd(D + cur * dg + (k0 + kk) * dk + j * dj, s * acc[kk]);
                    }
#pragma unroll
                    for (int kk = 0; kk < LR_KB; kk++) acc[kk] = 0.f;
                    cur = g;
                }
                float rv = R[(long)(r0 + ii) * J + j];
#pragma unroll
                for (int kk = 0; kk < LR_KB; kk++)
                    if (k0 + kk < K) acc[kk] = fmaf(ls[ii * K + k0 + kk], rv, acc[kk]);
            }
            if (cur >= 0) {
#pragma unroll
                for (int kk = 0; kk < LR_KB; kk++)
                    if (k0 + kk < K) atomicAdd(D + cur * dg + (k0 + kk) * dk + j * dj, s * acc[kk]);
            }
        }
    }
}

/* ---- launchers ---- */
static void rowdot(float *out, GMat M, const float *X, const int32_t *group, int n, int J, int K,
                   float s)
{
    long tasks = (long)((n + LR_RB - 1) / LR_RB) * ((K + LR_KB - 1) / LR_KB);
    lora_rowdot_kernel<<<fs_cuda_blocks(tasks * 32, 256), 256>>>(out, M, X, group, n, J, K, s);
    CUDA_CHECK_LAUNCH();
}

static void expand(float *Y, GMat M, const float *U, const int32_t *group, int n, int C, int K,
                   float s)
{
    size_t smem = sizeof(float) * LR_RB * (size_t)K;
    /* The 48 KiB without opt-in hold the static gs[] too. */
    if (smem + sizeof(int) * LR_RB > 48 * 1024) FS_CUDA_FATAL("lora: rank %d too large", K);
    int nrc = (n + LR_RB - 1) / LR_RB;
    dim3 grid((C + 255) / 256, nrc < 65535 ? nrc : 65535);
    lora_expand_kernel<<<grid, 256, smem>>>(Y, M, U, group, n, C, K, s);
    CUDA_CHECK_LAUNCH();
}

static void outer(float *D, long dg, long dk, long dj, const float *L, const float *R,
                  const int32_t *group, int n, int J, int K, float s)
{
    int rpc = 8192 / K; /* at most 32 KiB of L rows in shared memory */
    if (rpc > 64) rpc = 64;
    if (rpc < 1) FS_CUDA_FATAL("lora: rank %d too large", K);
    size_t smem = sizeof(float) * (size_t)rpc * K + sizeof(int) * (size_t)rpc;
    int nchunks = (n + rpc - 1) / rpc;
    dim3 grid((J + 255) / 256, nchunks < 65535 ? nchunks : 65535);
    lora_outer_kernel<<<grid, 256, smem>>>(D, dg, dk, dj, L, R, group, n, J, K, s, rpc);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_lora_fwd(float *y, float *u, const float *x, const float *A, const float *B,
                      const int32_t *group, int n, int in, int out, int r, float scale)
{
    FS_NVTX("lora_fwd");
    if (n <= 0 || r <= 0) return;
    /* u[i, k] = sum_j A[g, k, j] x[i, j] */
    GMat Am = {A, (long)r * in, in, 1};
    rowdot(u, Am, x, group, n, in, r, 1.0f);
    if (out <= 0) return;
    /* y[i, o] += scale * sum_k B[g, o, k] u[i, k] */
    GMat Bm = {B, (long)out * r, r, 1};
    expand(y, Bm, u, group, n, out, r, scale);
}

void fs_cuda_lora_bwd(float *dx, float *dA, float *dB, const float *dy, const float *x,
                      const float *u, const float *A, const float *B, const int32_t *group, int n,
                      int in, int out, int r, float scale)
{
    FS_NVTX("lora_bwd");
    if (n <= 0 || r <= 0) return;
    if (dB && out > 0) {
        /* dB[g, o, k] += scale * sum_i dy[i, o] u[i, k] */
        outer(dB, (long)out * r, 1, r, u, dy, group, n, out, r, scale);
    }
    if ((dA || dx) && in > 0) {
        /* du[i, k] = scale * sum_o B[g, o, k] dy[i, o] (zero for rows without a group) */
        float *du = (float *)fs_cuda_scratch(FS_SCRATCH_LORA, sizeof(float) * (size_t)n * r);
        GMat Bt = {B, (long)out * r, 1, r};
        if (out > 0) {
            rowdot(du, Bt, dy, group, n, out, r, scale);
        } else {
            CUDA_CHECK(cudaMemsetAsync(du, 0, sizeof(float) * (size_t)n * r, 0));
        }
        if (dx) {
            /* dx[i, j] += sum_k A[g, k, j] du[i, k] */
            GMat At = {A, (long)r * in, 1, in};
            expand(dx, At, du, group, n, in, r, 1.0f);
        }
        if (dA) {
            /* dA[g, k, j] += sum_i du[i, k] x[i, j] */
            outer(dA, (long)r * in, in, 1, du, x, group, n, in, r, 1.0f);
        }
    }
}
