/* Every GEMM of the CPU backend goes through here to pick OpenBLAS's thread
 * count. Debian's OpenBLAS is the pthreads build: on a small GEMM its threads
 * and OpenMP's spin against each other, so GEMMs under 1 GFLOP run on one
 * thread and larger ones on all of them (measured on the 2-core machine: the
 * quickstart's fedavg, 4 rounds, went from 16.9 s to 4.6 s, see docs/BENCHMARKS.md). */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_ops.h"

enum { SMALL_GEMM_FLOPS = 1000 * 1000 * 1000 };

void fs_cpu_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
#ifdef _OPENMP
    int all = omp_get_max_threads();
#else
    int all = 1;
#endif
    int want = 2.0 * M * N * K < SMALL_GEMM_FLOPS ? 1 : all;
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
