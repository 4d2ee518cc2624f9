/* Embedding lookup (table F32, BF16 or F16) and its backward (fp32 dtable,
 * scatter-add with atomics because several rows may share an id). */
#include "common.cuh"

/* One block per row. An id outside [0, vocab) cannot be looked up; the row
 * is zero-filled rather than reading out of bounds on the device. */
__global__ void embedding_fwd_kernel(float *y, const int32_t *ids, FsWeight table, long vocab,
                                     int dim)
{
    long row = blockIdx.x;
    int id = ids[row];
    bool ok = id >= 0 && id < vocab;
    float *yr = y + row * dim;
    long base = (long)id * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = ok ? table(base + j) : 0.f;
}

void fs_cuda_embedding_fwd(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim)
{
    FS_NVTX("embedding_fwd");
    if (n <= 0 || dim <= 0) return;
    long vocab = table->ndim >= 1 ? (long)table->shape[0] : 0x7fffffffL;
    int threads = dim >= 256 ? 256 : ((dim + 31) / 32) * 32;
    embedding_fwd_kernel<<<n, threads>>>(y, ids, fs_weight(table, 0.f), vocab, dim);
    CUDA_CHECK_LAUNCH();
}

/* dtable[ids[r], :] += dy[r, :]; rows with a negative id are skipped. */
__global__ void embedding_bwd_kernel(float *dtable, const float *dy, const int32_t *ids, int dim)
{
    long row = blockIdx.x;
    int id = ids[row];
    if (id < 0) return;
    const float *dyr = dy + row * dim;
    float *dt = dtable + (long)id * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) atomicAdd(dt + j, dyr[j]);
}

void fs_cuda_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim)
{
    FS_NVTX("embedding_bwd");
    if (n <= 0 || dim <= 0 || !dtable) return;
    int threads = dim >= 256 ? 256 : ((dim + 31) / 32) * 32;
    embedding_bwd_kernel<<<n, threads>>>(dtable, dy, ids, dim);
    CUDA_CHECK_LAUNCH();
}
