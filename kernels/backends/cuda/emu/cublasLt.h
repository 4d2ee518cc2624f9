/* Stand-in for <cublasLt.h> in the emulated CUDA build: fedsim only creates
 * a cuBLASLt handle (no cublasLtMatmul call yet). */
#ifndef FEDSIM_CUDA_EMU_CUBLASLT_H
#define FEDSIM_CUDA_EMU_CUBLASLT_H

#include "cublas_v2.h"

typedef struct fs_emu_cublaslt_context *cublasLtHandle_t;
cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle);

#endif
