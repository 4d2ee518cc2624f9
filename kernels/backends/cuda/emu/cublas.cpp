/* The emulated cuBLAS (FEDSIM_CUDA_EMU, test-only): see cublas_v2.h. */
#include "cublasLt.h"
#include "cuda_bf16.h"
#include "device_memory.h"

#include <cblas.h>

#include <cstdio>
#include <cstring>
#include <vector>

struct fs_emu_cublas_context {
    cublasMath_t math;
};
struct fs_emu_cublaslt_context {
    int unused;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
    *handle = new fs_emu_cublas_context{CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle)
{
    *handle = new fs_emu_cublaslt_context{0};
    return CUBLAS_STATUS_SUCCESS;
}

/* TF32 and tensor-op modes change fp32 results on a device; they are not
 * emulated, so asking for them is refused rather than silently ignored. */
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH) return CUBLAS_STATUS_NOT_SUPPORTED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown cuBLAS status";
}

namespace {

/* A column-major matrix operand as cuBLAS addresses it: `rows` x `cols`
 * stored with leading dimension ld (op N: rows = m or k of the product). */
struct Operand {
    const void *p;
    cudaDataType type;
    int rows, cols, ld;
    long long stride;
};

size_t type_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

/* Bytes from the first to one past the last element the call touches. */
size_t extent_bytes(const Operand &o)
{
    if (o.rows == 0 || o.cols == 0) return 0;
    return ((size_t)(o.cols - 1) * o.ld + o.rows) * type_size(o.type);
}

bool in_device_memory(const char *what, const Operand &o, int batch)
{
    for (int b = 0; b < batch; b++) {
        const char *p = static_cast<const char *>(o.p) + (long long)b * o.stride * (long long)type_size(o.type);
        if (!fs_emu_device_range(p, extent_bytes(o))) {
            fprintf(stderr,
                    "fedsim CUDA emulator: cuBLAS operand %s (batch %d: %d x %d, ld %d) is not inside one device allocation\n",
                    what, b, o.rows, o.cols, o.ld);
            return false;
        }
    }
    return true;
}

/* The operand as fp32 in the same column-major layout (bf16 widens exactly). */
const float *as_f32(const Operand &o, long long batch_index, std::vector<float> &tmp)
{
    if (o.type == CUDA_R_32F) return static_cast<const float *>(o.p) + batch_index * o.stride;
    const __nv_bfloat16 *src = static_cast<const __nv_bfloat16 *>(o.p) + batch_index * o.stride;
    tmp.assign((size_t)o.cols * o.ld, 0.f);
    for (int c = 0; c < o.cols; c++)
        for (int r = 0; r < o.rows; r++) tmp[(size_t)c * o.ld + r] = __bfloat162float(src[(size_t)c * o.ld + r]);
    return tmp.data();
}

/* C_b = alpha op(A_b) op(B_b) + beta C_b for b < batch, C fp32 column-major m x n. */
cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    float alpha, Operand A, Operand B, float beta, float *C, int ldc, long long strideC, int batch)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (ta == CUBLAS_OP_C || tb == CUBLAS_OP_C) return CUBLAS_STATUS_NOT_SUPPORTED; /* real data: C is T */
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    /* The checks cuBLAS documents for gemm. */
    int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || A.ld < (a_rows > 1 ? a_rows : 1) ||
        B.ld < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    A.rows = a_rows, A.cols = ta == CUBLAS_OP_N ? k : m;
    B.rows = b_rows, B.cols = tb == CUBLAS_OP_N ? n : k;
    Operand Cop = {C, CUDA_R_32F, m, n, ldc, strideC};
    bool reads_ab = k > 0 && alpha != 0.f;
    if ((reads_ab && (!in_device_memory("A", A, batch) || !in_device_memory("B", B, batch))) ||
        !in_device_memory("C", Cop, batch))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    std::vector<float> ta_tmp, tb_tmp;
    for (int b = 0; b < batch; b++) {
        float *Cb = C + (long long)b * strideC;
        if (beta == 0.f) /* C is not read when beta is 0: poison or NaN there must not leak */
            for (int c = 0; c < n; c++) memset(Cb + (size_t)c * ldc, 0, sizeof(float) * (size_t)m);
        if (!reads_ab) {
            if (beta != 0.f && beta != 1.f)
                for (int c = 0; c < n; c++)
                    for (int r = 0; r < m; r++) Cb[(size_t)c * ldc + r] *= beta;
            continue;
        }
        cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                    tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, alpha, as_f32(A, b, ta_tmp), A.ld,
                    as_f32(B, b, tb_tmp), B.ld, beta, Cb, ldc);
    }
    return CUBLAS_STATUS_SUCCESS;
}

} // namespace

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                           int n, int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                           const float *beta, float *C, int ldc)
{
    return gemm(handle, transa, transb, m, n, k, *alpha, Operand{A, CUDA_R_32F, 0, 0, lda, 0},
                Operand{B, CUDA_R_32F, 0, 0, ldb, 0}, *beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const float *alpha,
                                         const float *A, int lda, long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C, int ldc,
                                         long long strideC, int batchCount)
{
    return gemm(handle, transa, transb, m, n, k, *alpha, Operand{A, CUDA_R_32F, 0, 0, lda, strideA},
                Operand{B, CUDA_R_32F, 0, 0, ldb, strideB}, *beta, C, ldc, strideC, batchCount);
}

/* The combinations fedsim uses: fp32 or bf16 inputs (both the same), fp32
 * output, fp32 compute; others are refused as cuBLAS refuses unsupported ones. */
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda,
                            const void *B, cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo; /* every algorithm gives the product; their summation orders are not modelled */
    if (Atype != Btype || (Atype != CUDA_R_32F && Atype != CUDA_R_16BF) || Ctype != CUDA_R_32F ||
        (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_PEDANTIC))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(handle, transa, transb, m, n, k, *static_cast<const float *>(alpha), Operand{A, Atype, 0, 0, lda, 0},
                Operand{B, Btype, 0, 0, ldb, 0}, *static_cast<const float *>(beta), static_cast<float *>(C), ldc, 0, 1);
}
