/* Shared plumbing of the CUDA backend: error checking, NVTX ranges, the
 * cuBLAS handles, device scratch buffers, weight loads of any dtype,
 * warp/block reductions and a deterministic column reduction.
 *
 * Everything runs on the legacy default stream, so ops are ordered with each
 * other and with cudaMemcpy without explicit events. */
#ifndef FEDSIM_CUDA_COMMON_CUH
#define FEDSIM_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* ops.h is a C header without extern "C" guards; the table and the dtype
 * helpers defined in C must keep C linkage. */
extern "C" {
#include "kernels/ops.h"
}

/* Every CUDA / cuBLAS return code is checked: a failure means the device is
 * in an unknown state, so report where and why (fs_op_error: by default the
 * process stops). */
#define CUDA_CHECK(call)                                                                       \
    do {                                                                                       \
        cudaError_t fs_err_ = (call);                                                          \
        if (fs_err_ != cudaSuccess) {                                                          \
            fs_op_error(FS_OP_DEVICE, "CUDA error at %s:%d: %s failed: %s (%s)", __FILE__,     \
                        __LINE__, #call, cudaGetErrorString(fs_err_), cudaGetErrorName(fs_err_)); \
        }                                                                                      \
    } while (0)

#define CUBLAS_CHECK(call)                                                                     \
    do {                                                                                       \
        cublasStatus_t fs_st_ = (call);                                                        \
        if (fs_st_ != CUBLAS_STATUS_SUCCESS) {                                                 \
            fs_op_error(FS_OP_DEVICE, "cuBLAS error at %s:%d: %s failed: %s", __FILE__,        \
                        __LINE__, #call, cublasGetStatusString(fs_st_));                       \
        }                                                                                      \
    } while (0)

/* Kernel launches report configuration errors only through cudaGetLastError. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

/* Fatal misuse of the op table (an unsupported dtype, an over-large head). */
#define FS_CUDA_FATAL(...)                                                                     \
    do {                                                                                       \
        char fs_what_[512];                                                                    \
        snprintf(fs_what_, sizeof fs_what_, __VA_ARGS__);                                      \
        fs_op_error(FS_OP_INTERNAL, "CUDA backend (%s:%d): %s", __FILE__, __LINE__, fs_what_); \
    } while (0)

/* Scoped NVTX range so every op shows up by name in Nsight Systems. */
struct FsNvtxRange {
    explicit FsNvtxRange(const char *name) { nvtxRangePushA(name); }
    ~FsNvtxRange() { nvtxRangePop(); }
    FsNvtxRange(const FsNvtxRange &) = delete;
    FsNvtxRange &operator=(const FsNvtxRange &) = delete;
};
#define FS_NVTX(name) FsNvtxRange fs_nvtx_range_(name)

/* ---- backend state (backend_cuda.cu) ---- */
cublasHandle_t fs_cuda_cublas(void);
cublasLtHandle_t fs_cuda_cublaslt(void);
int fs_cuda_num_sms(void);

/* Per-purpose device scratch buffers, grown on demand and never shrunk. Each
 * op uses distinct slots for buffers that are live at the same time; ops run
 * in order on one stream, so different ops may share a slot. */
enum {
    FS_SCRATCH_CONVERT = 0, /* bf16 copies of activations for BF16-weight GEMMs */
    FS_SCRATCH_REDUCE,      /* column-reduction partials */
    FS_SCRATCH_ATTN,        /* attention backward row deltas */
    FS_SCRATCH_LORA,        /* LoRA backward / Fisher du */
    FS_SCRATCH_FISHER,      /* Fisher row lists */
    FS_SCRATCH_PARAMS,      /* small per-call parameter arrays (AdamW coefficients) */
    FS_SCRATCH_ROPE,        /* cached RoPE inverse frequencies */
    FS_SCRATCH_SUM,         /* sum() partials and result */
    FS_SCRATCH_CHECK,       /* the embedding's bad-id flag */
    FS_SCRATCH_COPY,        /* staging of an overlapping copy */
    FS_SCRATCH_COUNT
};
void *fs_cuda_scratch(int slot, size_t bytes);

/* ---- launch helpers ---- */
static inline int fs_cuda_blocks(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    long cap = 32L * fs_cuda_num_sms(); /* grid-stride loops cover the rest */
    if (b > cap) b = cap;
    return b < 1 ? 1 : (int)b;
}

/* Weight element i of a tensor of any supported dtype, as f32. The dtype is
 * uniform across a launch, so the switch never diverges. */
__device__ __forceinline__ float fs_ld(const void *p, fs_dtype dt, long i)
{
    switch (dt) {
    case FS_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case FS_F16: return __half2float(((const __half *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

/* A weight operand as kernel arguments (fs_tensor itself lives on the host).
 * A NULL tensor loads as `dflt` (1 for a missing norm weight, 0 for a bias). */
struct FsWeight {
    const void *data;
    fs_dtype dtype;
    float dflt;
    __device__ __forceinline__ float operator()(long i) const
    {
        return data ? fs_ld(data, dtype, i) : dflt;
    }
};
static inline FsWeight fs_weight(const fs_tensor *t, float dflt)
{
    FsWeight w;
    w.data = t ? t->data : NULL;
    w.dtype = t ? t->dtype : FS_F32;
    w.dflt = dflt;
    return w;
}

/* ---- reductions ---- */
__device__ __forceinline__ float fs_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float fs_warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ double fs_warp_sum_d(double v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every
 * thread gets the result. `sh` is 32 floats of shared memory; the leading
 * barrier makes back-to-back calls with the same buffer safe. */
__device__ __forceinline__ float fs_block_sum(float v, float *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = fs_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.f;
    return fs_warp_sum(v);
}

/* Maximum over the whole block, under the same rules as fs_block_sum. */
__device__ __forceinline__ float fs_block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = fs_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return fs_warp_max(v);
}

/* ---- deterministic column reduction ----
 * dst[k][c] += sum_r f_k(r, c) for r in [0, n), c in [0, dim), k < NOUT.
 * Used for dW of norms and for bias gradients. Rows are split into chunks;
 * each block sums one chunk of 32 columns into a partial, then a second pass
 * adds the partials in a fixed order, so results do not depend on timing. */
#define FS_COLRED_ROWS 8
template <int NOUT, class F>
__global__ void fs_colreduce_partial(F f, int n, int dim, int rows_per_chunk, float *partial)
{
    __shared__ float sh[NOUT][FS_COLRED_ROWS][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * rows_per_chunk;
    int r1 = min(n, r0 + rows_per_chunk);
    float acc[NOUT];
#pragma unroll
    for (int k = 0; k < NOUT; k++) acc[k] = 0.f;
    if (col < dim)
        for (int r = r0 + threadIdx.y; r < r1; r += FS_COLRED_ROWS) f(r, col, acc);
#pragma unroll
    for (int k = 0; k < NOUT; k++) sh[k][threadIdx.y][threadIdx.x] = acc[k];
    __syncthreads();
    if (threadIdx.y == 0 && col < dim) {
#pragma unroll
        for (int k = 0; k < NOUT; k++) {
            float s = 0.f;
            for (int y = 0; y < FS_COLRED_ROWS; y++) s += sh[k][y][threadIdx.x];
            partial[((long)k * gridDim.y + blockIdx.y) * dim + col] = s;
        }
    }
}

template <int NOUT> struct FsColDst {
    float *p[NOUT];
};

template <int NOUT>
__global__ void fs_colreduce_final(const float *partial, int nchunks, int dim, FsColDst<NOUT> dst)
{
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < dim; c += gridDim.x * blockDim.x) {
#pragma unroll
        for (int k = 0; k < NOUT; k++) {
            if (!dst.p[k]) continue;
            float s = 0.f;
            for (int ch = 0; ch < nchunks; ch++) s += partial[((long)k * nchunks + ch) * dim + c];
            dst.p[k][c] += s;
        }
    }
}

template <int NOUT, class F> void fs_colreduce(F f, int n, int dim, FsColDst<NOUT> dst)
{
    if (n <= 0 || dim <= 0) return;
    bool any = false;
    for (int k = 0; k < NOUT; k++) any |= dst.p[k] != NULL;
    if (!any) return;
    int colblocks = (dim + 31) / 32;
    /* Aim for a few blocks per SM in total, with at least 16 rows per chunk. */
    long want = (8L * fs_cuda_num_sms() + colblocks - 1) / colblocks;
    long maxchunks = (n + 15) / 16;
    long nchunks = want < maxchunks ? want : maxchunks;
    if (nchunks < 1) nchunks = 1;
    if (nchunks > 65535) nchunks = 65535;
    int rows_per_chunk = (int)((n + nchunks - 1) / nchunks);
    nchunks = (n + rows_per_chunk - 1) / rows_per_chunk;
    float *partial =
        (float *)fs_cuda_scratch(FS_SCRATCH_REDUCE, sizeof(float) * NOUT * nchunks * (size_t)dim);
    dim3 grid(colblocks, (unsigned)nchunks), block(32, FS_COLRED_ROWS);
    fs_colreduce_partial<NOUT, F><<<grid, block>>>(f, n, dim, rows_per_chunk, partial);
    CUDA_CHECK_LAUNCH();
    fs_colreduce_final<NOUT><<<(dim + 255) / 256, 256>>>(partial, (int)nchunks, dim, dst);
    CUDA_CHECK_LAUNCH();
}

/* ---- op entry points (one per fs_ops field, defined in the other .cu files) ---- */
void fs_cuda_matmul(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                    bool transA, bool transB, float alpha, float beta, long strideA, long strideB,
                    long strideC);
void fs_cuda_linear_fwd(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n,
                        int in, int out);
void fs_cuda_linear_bwd(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                        const fs_tensor *W, int n, int in, int out);
void fs_cuda_add(float *y, const float *a, const float *b, long n);
void fs_cuda_axpy(float *y, float alpha, const float *x, long n);
double fs_cuda_sum(const float *x, long n);
void fs_cuda_embedding_fwd(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim);
void fs_cuda_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                           int vocab);
void fs_cuda_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w,
                           const fs_tensor *b, int n, int dim, float eps);
void fs_cuda_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const fs_tensor *w, const float *mean, const float *rstd, int n,
                           int dim);
void fs_cuda_rmsnorm_fwd(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim,
                         float eps);
void fs_cuda_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w,
                         const float *rstd, int n, int dim);
void fs_cuda_rope_fwd(float *y, const float *x, const int32_t *pos, int ntok, int nheads,
                      int head_dim, float theta);
void fs_cuda_rope_bwd(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads,
                      int head_dim, float theta);
void fs_cuda_cross_attention_fwd(float *out, const float *q, const float *k, const float *v,
                                 int B, int Tq, int Tk, int H, int D);
void fs_cuda_attention_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                           int B, int T, int Hq, int Hkv, int D, bool causal);
void fs_cuda_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *out, const float *lse,
                           int B, int T, int Hq, int Hkv, int D, bool causal);
void fs_cuda_gelu_fwd(float *y, const float *x, long n);
void fs_cuda_gelu_bwd(float *dx, const float *dy, const float *x, long n);
void fs_cuda_quick_gelu_fwd(float *y, const float *x, long n);
void fs_cuda_quick_gelu_bwd(float *dx, const float *dy, const float *x, long n);
void fs_cuda_swiglu_fwd(float *y, const float *gate, const float *up, long n);
void fs_cuda_swiglu_bwd(float *dgate, float *dup, const float *dy, const float *gate,
                        const float *up, long n);
void fs_cuda_xent_fwd(float *loss, const float *logits, const int32_t *targets, int n, int V);
void fs_cuda_xent_bwd(float *dlogits, const float *dloss, const float *logits,
                      const int32_t *targets, int n, int V);
void fs_cuda_lora_fwd(float *y, float *u, const float *x, const float *A, const float *B,
                      const int32_t *group, int n, int in, int out, int r, float scale);
void fs_cuda_lora_bwd(float *dx, float *dA, float *dB, const float *dy, const float *x,
                      const float *u, const float *A, const float *B, const int32_t *group, int n,
                      int in, int out, int r, float scale);
void fs_cuda_lora_fisher_accum(float *FA, float *FB, const float *dy, const float *x,
                               const float *u, const float *B, const int32_t *sample_of_row,
                               const int32_t *group_of_sample, const float *sample_weight, int n,
                               int nsamples, int in, int out, int r, float scale);
void fs_cuda_scale_rows(float *y, const float *x, const float *s, int n, int dim);
void fs_cuda_adamw(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups,
                   long per_group, float lr, float beta1, float beta2, float eps,
                   float weight_decay);

#endif
