/* The CUDA op table: device selection, cuBLAS handles, memory ops and
 * scratch buffers; the ops themselves are in kernels/ops/<op>.cu. */
#include "common.cuh"

#include <pthread.h>
#include <string.h>

/* ---- backend state ----
 * Initialised once (pthread_once, so no C++ runtime is needed to link the C
 * programs that use the library). */
static struct {
    bool ok;
    char why[256];
    int num_sms;
    cublasHandle_t blas;
    cublasLtHandle_t blaslt;
    void *scratch[FS_SCRATCH_COUNT];
    size_t scratch_bytes[FS_SCRATCH_COUNT];
} g_cuda;

cublasHandle_t fs_cuda_cublas(void) { return g_cuda.blas; }
cublasLtHandle_t fs_cuda_cublaslt(void) { return g_cuda.blaslt; }
int fs_cuda_num_sms(void) { return g_cuda.num_sms > 0 ? g_cuda.num_sms : 1; }

static int cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return 0;
}

void *fs_cuda_scratch(int slot, size_t bytes)
{
    if (bytes == 0) bytes = 1;
    if (bytes > g_cuda.scratch_bytes[slot]) {
        /* Grow by at least 1.5x so slowly growing requests do not reallocate
         * every call. Earlier kernels may still read the old buffer:
         * synchronise before freeing it. */
        size_t want = g_cuda.scratch_bytes[slot] + g_cuda.scratch_bytes[slot] / 2;
        if (want < bytes) want = bytes;
        want = (want + 255) / 256 * 256;
        if (g_cuda.scratch[slot]) {
            CUDA_CHECK(cudaDeviceSynchronize());
            CUDA_CHECK(cudaFree(g_cuda.scratch[slot]));
            g_cuda.scratch[slot] = NULL;
            g_cuda.scratch_bytes[slot] = 0;
        }
        cudaError_t e = cudaMalloc(&g_cuda.scratch[slot], want);
        if (e == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            fs_op_oom(fs_backend_cuda(NULL), want, "the scratch buffer of a GPU op");
        }
        CUDA_CHECK(e);
        g_cuda.scratch_bytes[slot] = want;
    }
    return g_cuda.scratch[slot];
}

/* ---- memory ---- */
static void *cuda_alloc(size_t bytes)
{
    FS_NVTX("alloc");
    size_t rounded = (bytes + 255) / 256 * 256;
    if (rounded == 0) rounded = 256; /* like the CPU backend, never NULL for 0 bytes */
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, rounded);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError(); /* OOM is not sticky: clear it so the next check passes */
        return NULL;
    }
    CUDA_CHECK(e);
    /* Synchronous memset: the contract says the memory is zero on return. */
    CUDA_CHECK(cudaMemset(p, 0, rounded));
    return p;
}

static void cuda_free(void *p)
{
    FS_NVTX("free");
    if (p) CUDA_CHECK(cudaFree(p));
}

static void cuda_zero(void *p, size_t bytes)
{
    FS_NVTX("zero");
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
}

/* Host<->device copies are synchronous so callers may reuse or read the host
 * buffer on return, as with the CPU backend. */
static void cuda_to_device(void *dst, const void *host_src, size_t bytes)
{
    FS_NVTX("to_device");
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

static void cuda_to_host(void *host_dst, const void *src, size_t bytes)
{
    FS_NVTX("to_host");
    if (bytes) CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

/* Overlapping ranges are allowed, as memmove on the CPU; cudaMemcpy leaves
 * them undefined, so those go through a scratch buffer. */
static void cuda_copy(void *dst, const void *src, size_t bytes)
{
    FS_NVTX("copy");
    if (!bytes || dst == src) return;
    const char *s = (const char *)src, *d = (const char *)dst;
    if (d < s + bytes && s < d + bytes) {
        void *stage = fs_cuda_scratch(FS_SCRATCH_COPY, bytes);
        CUDA_CHECK(cudaMemcpyAsync(stage, src, bytes, cudaMemcpyDeviceToDevice, 0));
        src = stage;
    }
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
}

static void cuda_synchronize(void)
{
    FS_NVTX("synchronize");
    CUDA_CHECK(cudaDeviceSynchronize());
}

/* ---- the table ---- */
static const fs_ops cuda_ops = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .zero = cuda_zero,
    .to_device = cuda_to_device,
    .to_host = cuda_to_host,
    .copy = cuda_copy,
    .synchronize = cuda_synchronize,
    .mem_info = cuda_mem_info,
    .matmul = fs_cuda_matmul,
    .linear_fwd = fs_cuda_linear_fwd,
    .linear_bwd = fs_cuda_linear_bwd,
    .add = fs_cuda_add,
    .axpy = fs_cuda_axpy,
    .sum = fs_cuda_sum,
    .embedding_fwd = fs_cuda_embedding_fwd,
    .embedding_bwd = fs_cuda_embedding_bwd,
    .layernorm_fwd = fs_cuda_layernorm_fwd,
    .layernorm_bwd = fs_cuda_layernorm_bwd,
    .rmsnorm_fwd = fs_cuda_rmsnorm_fwd,
    .rmsnorm_bwd = fs_cuda_rmsnorm_bwd,
    .rope_fwd = fs_cuda_rope_fwd,
    .rope_bwd = fs_cuda_rope_bwd,
    .attention_fwd = fs_cuda_attention_fwd,
    .attention_bwd = fs_cuda_attention_bwd,
    .gelu_fwd = fs_cuda_gelu_fwd,
    .gelu_bwd = fs_cuda_gelu_bwd,
    .quick_gelu_fwd = fs_cuda_quick_gelu_fwd,
    .quick_gelu_bwd = fs_cuda_quick_gelu_bwd,
    .swiglu_fwd = fs_cuda_swiglu_fwd,
    .swiglu_bwd = fs_cuda_swiglu_bwd,
    .xent_fwd = fs_cuda_xent_fwd,
    .xent_bwd = fs_cuda_xent_bwd,
    .lora_fwd = fs_cuda_lora_fwd,
    .lora_bwd = fs_cuda_lora_bwd,
    .lora_fisher_accum = fs_cuda_lora_fisher_accum,
    .scale_rows = fs_cuda_scale_rows,
    .adamw = fs_cuda_adamw,
    .cross_attention_fwd = fs_cuda_cross_attention_fwd,
};

/* Probes the device without ever exiting: a machine without a usable GPU must
 * get a reason back, not a dead process. */
static void cuda_init(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(g_cuda.why, sizeof g_cuda.why, "no usable CUDA device (cudaGetDeviceCount: %s)",
                 cudaGetErrorString(e));
        (void)cudaGetLastError();
        return;
    }
    if (count == 0) {
        snprintf(g_cuda.why, sizeof g_cuda.why, "no CUDA device found (cudaGetDeviceCount = 0)");
        return;
    }
    int device = fs_backend_device() % count;
    e = cudaSetDevice(device);
    if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&g_cuda.num_sms, cudaDevAttrMultiProcessorCount, device);
    if (e == cudaSuccess) e = cudaFree(0); /* creates the context now, not inside the first op */
    if (e != cudaSuccess) {
        snprintf(g_cuda.why, sizeof g_cuda.why, "CUDA device %d is not usable: %s", device,
                 cudaGetErrorString(e));
        (void)cudaGetLastError();
        return;
    }
    cublasStatus_t st = cublasCreate(&g_cuda.blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(g_cuda.why, sizeof g_cuda.why, "cuBLAS initialisation failed: %s",
                 cublasGetStatusString(st));
        return;
    }
    /* Default math mode: fp32 GEMMs stay true fp32 (no TF32), which the
     * parity tests against the CPU rely on. */
    st = cublasSetMathMode(g_cuda.blas, CUBLAS_DEFAULT_MATH);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtCreate(&g_cuda.blaslt);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(g_cuda.why, sizeof g_cuda.why, "cuBLASLt initialisation failed: %s",
                 cublasGetStatusString(st));
        cublasDestroy(g_cuda.blas);
        g_cuda.blas = NULL;
        return;
    }
    g_cuda.ok = true;
}

static pthread_once_t g_cuda_once = PTHREAD_ONCE_INIT;

extern "C" const fs_ops *fs_backend_cuda(const char **why)
{
    pthread_once(&g_cuda_once, cuda_init);
    if (!g_cuda.ok) {
        if (why) *why = g_cuda.why;
        return NULL;
    }
    return &cuda_ops;
}
