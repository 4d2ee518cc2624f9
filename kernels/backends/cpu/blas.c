/* Every GEMM of the CPU backend goes through here, to oneDNN's dnnl_sgemm.
 *
 * Why oneDNN: bench/bench_gemm_libs.c measured it against OpenBLAS, BLIS and
 * libxsmm on fedsim's own shapes (docs/BENCHMARKS.md): at the shipped model's
 * shapes (rows x 96..384 x 96..384) it runs 1.8-2.2x OpenBLAS 0.3.21 as this
 * machine's environment configures it (OPENBLAS_CORETYPE=Haswell, AVX2) and
 * 0.94-1.5x OpenBLAS's own AVX-512 kernel (attention's tiny per-head products
 * excepted: 0.66-0.92x); at `small` it about matches the latter and doubles
 * the former. Its JIT picks the AVX-512 kernel from CPUID whatever
 * OPENBLAS_CORETYPE says, so fedsim no longer depends on that variable.
 * Debian's BLIS 0.9 does not know this CPU (it runs its generic kernel, 3-10x
 * slower) and libxsmm 1.17 has no JIT kernel for op(A) = A^T.
 *
 * Threads: oneDNN's are OpenMP's, the same pool as the other CPU ops, so the
 * two no longer spin against each other (OpenBLAS's pthreads did). Called
 * inside an OpenMP parallel region (attention and LoRA blocks) it runs on the
 * calling thread only. */
#include <oneapi/dnnl/dnnl.h>

#include "cpu_ops.h"

void fs_cpu_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    dnnl_status_t st = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda,
                                  B, ldb, beta, C, ldc);
    if (st == dnnl_success) return;
    if (st == dnnl_out_of_memory)
        fs_op_oom(NULL, (size_t)M * N * sizeof(float), "oneDNN's GEMM workspace");
    /* Only bad arguments remain, which the callers' shape checks rule out. */
    fs_op_error(FS_OP_INTERNAL,
                "internal error: dnnl_sgemm(%c, %c, M %d, N %d, K %d, lda %d, ldb %d, ldc %d) "
                "returned status %d; please report it",
                transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, lda, ldb, ldc, (int)st);
}
