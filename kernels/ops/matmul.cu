/* Dense algebra on cuBLAS: batched matmul and linear layers (W F32 or BF16).
 *
 * cuBLAS is column-major. A row-major R x C matrix in memory is, to cuBLAS, a
 * column-major C x R matrix (its transpose) with leading dimension C. So a
 * row-major product C = A B is computed as the column-major C^T = B^T A^T:
 * swap the operands, and pass each one's row length as its leading dimension. */
#include "common.cuh"

static const float k_one = 1.0f, k_zero = 0.0f;

static inline int imax1(long v) { return v < 1 ? 1 : (int)v; }

void fs_cuda_matmul(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                    bool transA, bool transB, float alpha, float beta, long strideA, long strideB,
                    long strideC)
{
    FS_NVTX("matmul");
    if (batch <= 0 || M <= 0 || N <= 0) return;
    /* Row-major op(A) is M x K: stored M x K (row length K) or, transposed,
     * K x M (row length M). Likewise op(B) is K x N: stored K x N (row length
     * N) or N x K (row length K). Column-major C^T (N x M, ld N) =
     * op(B)^T op(A)^T, where the column-major view of B's memory already is
     * B_stored^T, so each operand keeps its own transpose flag. */
    cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    int ldb = imax1(transB ? K : N);
    int lda = imax1(transA ? M : K);
    CUBLAS_CHECK(cublasSgemmStridedBatched(fs_cuda_cublas(), opB, opA, N, M, K, &alpha, B, ldb,
                                           (long long)strideB, A, lda, (long long)strideA, &beta,
                                           C, N, (long long)strideC, batch));
}

/* ---- helpers ---- */
__global__ void f32_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]); /* round to nearest even, as fs_f32_to_bf16 */
}

static void to_bf16(__nv_bfloat16 *dst, const float *src, long n)
{
    f32_to_bf16_kernel<<<fs_cuda_blocks(n, 256), 256>>>(dst, src, n);
    CUDA_CHECK_LAUNCH();
}

/* y[i, o] += bias[o] for a row-major [n, out] y. */
__global__ void bias_add_kernel(float *y, FsWeight bias, long total, int out)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        y[i] += bias(i % out);
}

/* Column sum of dy for the bias gradient. */
struct BiasGradF {
    const float *dy;
    int out;
    __device__ void operator()(int r, int c, float *acc) const { acc[0] += dy[(long)r * out + c]; }
};

/* The bf16 copy of an activation operand is made in row chunks so the scratch
 * stays bounded (a full lm_head dy could be gigabytes). */
#define BF16_SCRATCH_ELEMS (32L << 20) /* 64 MiB of bf16 */

static int bf16_chunk_rows(int n, int cols)
{
    long rows = BF16_SCRATCH_ELEMS / (cols > 0 ? cols : 1);
    if (rows < 1) rows = 1;
    return rows < n ? (int)rows : n;
}

static void check_linear_dtype(const fs_tensor *W, const char *op)
{
    if (W->dtype != FS_F32 && W->dtype != FS_BF16)
        FS_CUDA_FATAL("%s: weight dtype %s is not supported (F32 or BF16 only)", op,
                      fs_dtype_name(W->dtype));
}

/* ---- linear ---- */
void fs_cuda_linear_fwd(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n,
                        int in, int out)
{
    FS_NVTX("linear_fwd");
    if (n <= 0 || out <= 0) return;
    check_linear_dtype(W, "linear_fwd");
    cublasHandle_t h = fs_cuda_cublas();
    /* Row-major y = x W^T  <=>  column-major y^T (out x n) = W x^T, where W's
     * memory ([out, in] row-major) is column-major W^T (ld in): use op T. */
    if (in <= 0) {
        CUDA_CHECK(cudaMemsetAsync(y, 0, sizeof(float) * (size_t)n * out, 0));
    } else if (W->dtype == FS_F32) {
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &k_one,
                                 (const float *)W->data, in, x, in, &k_zero, y, out));
    } else {
        /* BF16 weights: cuBLAS needs both inputs in bf16, so round x to bf16;
         * accumulation and output stay fp32. */
        int rows = bf16_chunk_rows(n, in);
        __nv_bfloat16 *xb = (__nv_bfloat16 *)fs_cuda_scratch(
            FS_SCRATCH_CONVERT, sizeof(__nv_bfloat16) * (size_t)rows * in);
        for (int r0 = 0; r0 < n; r0 += rows) {
            int nr = n - r0 < rows ? n - r0 : rows;
            to_bf16(xb, x + (long)r0 * in, (long)nr * in);
            CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, out, nr, in, &k_one, W->data,
                                      CUDA_R_16BF, in, xb, CUDA_R_16BF, in, &k_zero,
                                      y + (long)r0 * out, CUDA_R_32F, out, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
        }
    }
    if (bias) {
        long total = (long)n * out;
        bias_add_kernel<<<fs_cuda_blocks(total, 256), 256>>>(y, fs_weight(bias, 0.f), total, out);
        CUDA_CHECK_LAUNCH();
    }
}

void fs_cuda_linear_bwd(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                        const fs_tensor *W, int n, int in, int out)
{
    FS_NVTX("linear_bwd");
    if (n <= 0 || out <= 0) return;
    cublasHandle_t h = fs_cuda_cublas();
    if (dx && in > 0) {
        check_linear_dtype(W, "linear_bwd");
        /* dx += dy W: column-major dx^T (in x n) = W^T dy^T, and W's memory
         * already is column-major W^T (ld in): op N on both. */
        if (W->dtype == FS_F32) {
            CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &k_one,
                                     (const float *)W->data, in, dy, out, &k_one, dx, in));
        } else {
            int rows = bf16_chunk_rows(n, out);
            __nv_bfloat16 *dyb = (__nv_bfloat16 *)fs_cuda_scratch(
                FS_SCRATCH_CONVERT, sizeof(__nv_bfloat16) * (size_t)rows * out);
            for (int r0 = 0; r0 < n; r0 += rows) {
                int nr = n - r0 < rows ? n - r0 : rows;
                to_bf16(dyb, dy + (long)r0 * out, (long)nr * out);
                CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, in, nr, out, &k_one,
                                          W->data, CUDA_R_16BF, in, dyb, CUDA_R_16BF, out, &k_one,
                                          dx + (long)r0 * in, CUDA_R_32F, in, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
            }
        }
    }
    if (dW && in > 0) {
        /* dW (fp32 whatever W's dtype) += dy^T x: column-major dW^T (in x out,
         * ld in) = x^T (in x n, memory of x as is) times dy (n x out, op T on
         * dy's memory, which is column-major dy^T with ld out). */
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &k_one, x, in, dy, out,
                                 &k_one, dW, in));
    }
    if (dbias) {
        BiasGradF f = {dy, out};
        FsColDst<1> dst = {{dbias}};
        fs_colreduce<1>(f, n, out, dst);
    }
}
