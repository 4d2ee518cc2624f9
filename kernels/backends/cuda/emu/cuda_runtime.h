/* Stand-in for <cuda_runtime.h> in the emulated CUDA build (FEDSIM_CUDA_EMU,
 * test-only): the fedsim kernels (kernels/ops/<op>.cu, kernels/backends/cuda),
 * translated by translate_launches.cmake, are compiled by the host C++
 * compiler against these headers and run on the CPU.
 *
 * Model: a launch runs every block of the grid, one block after another on
 * the calling OS thread; the threads of a block are cooperative fibers
 * (runtime.cpp). Each fiber runs until it reaches a block barrier or a warp
 * exchange, in thread-index order, so thread 0 reaches its barrier before
 * thread 1 has written anything: a missing __syncthreads() shows as reads of
 * unwritten (NaN-poisoned) shared memory. `__shared__` variables become
 * `static` (one copy, which the blocks use in turn), dynamic `extern
 * __shared__` memory a per-launch buffer of the requested size; both are
 * poisoned for every block, and together they must fit the block's limit.
 * Not modelled: timing, concurrency between blocks, the memory model
 * (every write is visible at once), device math ulp (host libm is used).
 * Only the parts of the CUDA runtime that fedsim uses are provided. */
#ifndef FEDSIM_CUDA_EMU_CUDA_RUNTIME_H
#define FEDSIM_CUDA_EMU_CUDA_RUNTIME_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- qualifiers ---- */
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* __shared__ declarations are rewritten by translate_launches.cmake: blocks
 * of a launch run one at a time on one OS thread, so one static copy per
 * variable is exactly "per block" shared memory. */

/* ---- vector types ---- */
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

/* ---- errors ---- */
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidDevice = 101,
};
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);

/* ---- device ---- */
enum cudaDeviceAttr {
    cudaDevAttrMultiProcessorCount = 16,
};
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);

/* ---- memory ---- */
typedef struct CUstream_st *cudaStream_t;
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
cudaError_t cudaMalloc(void **ptr, size_t bytes);
template <class T> static inline cudaError_t cudaMalloc(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = 0);

/* ---- kernel attributes ---- */
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};
cudaError_t fs_emu_func_set_attribute(const void *kernel, cudaFuncAttribute attr, int value);
template <class K> static inline cudaError_t cudaFuncSetAttribute(K *kernel, cudaFuncAttribute attr, int value)
{
    return fs_emu_func_set_attribute(reinterpret_cast<const void *>(kernel), attr, value);
}

/* ---- the emulator (runtime.cpp) ---- */
namespace fs_emu {

/* The built-in index variables of the running fiber and its block. */
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

struct LaunchConfig {
    const char *kernel_name;
    const void *kernel;
    dim3 grid, block;
    size_t dynamic_smem;
};
/* Runs body(ctx) as every thread of every block; errors are left for
 * cudaGetLastError as on a device. */
void run_grid(const LaunchConfig &cfg, void (*body)(void *), void *ctx);
void *dynamic_shared(void);
/* Poisons a static __shared__ variable the first time the running block reaches it. */
void fresh_shared(void *p, size_t bytes);
void block_barrier(void);
/* Every lane of `mask` deposits `bits`; returns the 32 deposited values of
 * the warp (valid until the warp's next exchange). */
const uint64_t *warp_exchange(unsigned mask, uint64_t bits);
unsigned lane_id(void);

template <class... P> struct KernelLaunch {
    LaunchConfig cfg;
    void (*kernel)(P...);

    template <class... A> void operator()(A &&...args) const
    {
        /* Arguments are converted to the parameter types once, as the
         * launch copies them; every thread gets its own copy. */
        struct Ctx {
            void (*kernel)(P...);
            std::tuple<typename std::decay<P>::type...> params;
        } ctx{kernel, std::tuple<typename std::decay<P>::type...>(std::forward<A>(args)...)};
        run_grid(cfg, [](void *p) {
            Ctx *c = static_cast<Ctx *>(p);
            std::tuple<typename std::decay<P>::type...> mine = c->params;
            std::apply(c->kernel, mine);
        }, &ctx);
    }
};

/* What translate_launches.cmake turns `kernel<<<grid, block, smem, stream>>>` into. */
template <class... P>
static inline KernelLaunch<P...> launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                                        size_t dynamic_smem = 0, cudaStream_t stream = 0)
{
    (void)stream; /* every launch runs to completion when it is made */
    return KernelLaunch<P...>{{name, reinterpret_cast<const void *>(kernel), grid, block, dynamic_smem}, kernel};
}

template <class T> static inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle of a type wider than 64 bits");
    uint64_t b = 0;
    __builtin_memcpy(&b, &v, sizeof v);
    return b;
}
template <class T> static inline T from_bits(uint64_t b)
{
    T v;
    __builtin_memcpy(&v, &b, sizeof v);
    return v;
}
/* Value of lane `src` of this lane's width-segment. */
template <class T> static inline T shuffle(unsigned mask, T v, int src, int width)
{
    const uint64_t *all = warp_exchange(mask, to_bits(v));
    int seg = (int)lane_id() & ~(width - 1);
    return from_bits<T>(all[seg + (src & (width - 1))]);
}

} // namespace fs_emu

#define threadIdx (fs_emu::thread_idx)
#define blockIdx (fs_emu::block_idx)
#define blockDim (fs_emu::block_dim)
#define gridDim (fs_emu::grid_dim)

static inline void __syncthreads(void) { fs_emu::block_barrier(); }

template <class T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return fs_emu::shuffle(mask, v, src, width);
}
template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    return fs_emu::shuffle(mask, v, ((int)fs_emu::lane_id() & (width - 1)) ^ lane_mask, width);
}
/* A source lane past the segment's end leaves the value unchanged, as on a device. */
template <class T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int me = (int)fs_emu::lane_id() & (width - 1);
    T got = fs_emu::shuffle(mask, v, me + (int)delta < width ? me + (int)delta : me, width);
    return got;
}

/* Fibers of a launch never run at the same time, so a plain read-modify-write is atomic. */
template <class T> static inline T atomicAdd(T *address, T value)
{
    T old = *address;
    *address = old + value;
    return old;
}

template <class T> static inline T atomicMin(T *address, T value)
{
    T old = *address;
    if (value < old) *address = value;
    return old;
}

/* Device math: the host libm (results may differ from CUDA's by a few ulp). */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long min(long a, long b) { return a < b ? a : b; }
static inline long max(long a, long b) { return a > b ? a : b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }

#endif
