/* Embedding lookup (table F32, BF16 or F16) and its backward (fp32 dtable,
 * scatter-add with atomics because several rows may share an id).
 *
 * An id outside [0, vocab) is refused as the CPU backend refuses it
 * (embedding.c beside it: message, then abort). The kernels never touch
 * the table with such an id; they record the first bad row in a device
 * flag, which the host reads back after the launch (one 4-byte copy). */
#include "common.cuh"

/* *bad_row = min over rows whose id is outside [0, vocab); stays INT_MAX when none. */
__device__ __forceinline__ bool embedding_id_ok(int id, long vocab, int row, int *bad_row)
{
    bool ok = id >= 0 && id < vocab;
    if (!ok && threadIdx.x == 0) atomicMin(bad_row, row);
    return ok;
}

/* One block per row. */
__global__ void embedding_fwd_kernel(float *y, const int32_t *ids, FsWeight table, long vocab,
                                     int dim, int *bad_row)
{
    long row = blockIdx.x;
    int id = ids[row];
    if (!embedding_id_ok(id, vocab, (int)row, bad_row)) return;
    float *yr = y + row * dim;
    long base = (long)id * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = table(base + j);
}

/* dtable[ids[r], :] += dy[r, :]. */
__global__ void embedding_bwd_kernel(float *dtable, const float *dy, const int32_t *ids, int dim,
                                     long vocab, int *bad_row)
{
    long row = blockIdx.x;
    int id = ids[row];
    if (!embedding_id_ok(id, vocab, (int)row, bad_row)) return;
    const float *dyr = dy + row * dim;
    float *dt = dtable + (long)id * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) atomicAdd(dt + j, dyr[j]);
}

static int *bad_row_flag(void)
{
    int *flag = (int *)fs_cuda_scratch(FS_SCRATCH_CHECK, sizeof(int));
    const int none = INT_MAX;
    CUDA_CHECK(cudaMemcpy(flag, &none, sizeof none, cudaMemcpyHostToDevice));
    return flag;
}

static void refuse_bad_ids(const int *flag, const int32_t *ids, long vocab)
{
    int row = INT_MAX;
    CUDA_CHECK(cudaMemcpy(&row, flag, sizeof row, cudaMemcpyDeviceToHost));
    if (row == INT_MAX) return;
    int32_t id = 0;
    CUDA_CHECK(cudaMemcpy(&id, ids + row, sizeof id, cudaMemcpyDeviceToHost));
    fs_op_error(FS_OP_BAD_INPUT, "embedding: token id %d at row %d is outside [0, %lld)", (int)id,
                row, (long long)vocab);
}

static int row_block_threads(int dim) { return dim >= 256 ? 256 : ((dim + 31) / 32) * 32; }

void fs_cuda_embedding_fwd(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim)
{
    FS_NVTX("embedding_fwd");
    if (n <= 0 || dim <= 0) return;
    /* As the CPU: a table without a [vocab, dim] shape bounds only the sign. */
    long vocab = table->ndim == 2 ? (long)table->shape[0] : 0x7fffffffL;
    int *flag = bad_row_flag();
    embedding_fwd_kernel<<<n, row_block_threads(dim)>>>(y, ids, fs_weight(table, 0.f), vocab, dim,
                                                        flag);
    CUDA_CHECK_LAUNCH();
    refuse_bad_ids(flag, ids, table->ndim == 2 ? vocab : -1);
}

void fs_cuda_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                           int vocab)
{
    FS_NVTX("embedding_bwd");
    if (n <= 0 || dim <= 0 || !dtable) return;
    int *flag = bad_row_flag();
    embedding_bwd_kernel<<<n, row_block_threads(dim)>>>(dtable, dy, ids, dim, vocab, flag);
    CUDA_CHECK_LAUNCH();
    refuse_bad_ids(flag, ids, vocab);
}
