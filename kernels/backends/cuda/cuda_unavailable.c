/* Stands in for the CUDA backend when fedsim is built without it. */
#ifndef FEDSIM_HAVE_CUDA
#include "kernels/ops.h"

const fs_ops *fs_backend_cuda(const char **why)
{
    if (why) *why = "fedsim was built without CUDA (nvcc not found or -DFEDSIM_CUDA=OFF)";
    return NULL;
}
#endif
