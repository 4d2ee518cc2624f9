/* The emulated CUDA runtime (FEDSIM_CUDA_EMU, test-only): device memory,
 * errors, and kernel launches that run the threads of a block as
 * cooperative fibers. See cuda_runtime.h for what is and is not modelled. */
#include "cuda_runtime.h"
#include "device_memory.h"

#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

/* ---- errors ---- */
static cudaError_t g_last_error = cudaSuccess;

static cudaError_t record(cudaError_t e)
{
    if (e != cudaSuccess) g_last_error = e;
    return e;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = g_last_error;
    g_last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    }
    return "unknown error";
}

/* A kernel that would hang, misbehave or fail to launch on a device (a
 * barrier not every thread reaches, a shuffle naming an absent lane, too
 * much shared memory) ends the process here, naming the kernel. */
[[noreturn]] static void kernel_fault(const char *kernel, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- device ---- */
/* A small emulated device: few SMs make fedsim's grid-stride loops and
 * chunked reductions take several turns even at test sizes. */
enum { EMU_NUM_SMS = 4, EMU_SMEM_DEFAULT = 48 * 1024, EMU_SMEM_OPTIN = 227 * 1024 };

/* The backend's first call: says once per process that no GPU is involved,
 * so that nobody takes a timing of this build for a GPU figure. */
cudaError_t cudaGetDeviceCount(int *count)
{
    static bool told;
    if (!told) {
        fprintf(stderr, "fedsim: the CUDA backend of this build is the CPU emulator (FEDSIM_CUDA_EMU): "
                        "results check the CUDA code, timings are not GPU timings\n");
        told = true;
    }
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return record(device == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; /* launches and copies are synchronous */ }

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
    if (device != 0) return record(cudaErrorInvalidDevice);
    if (attr != cudaDevAttrMultiProcessorCount) return record(cudaErrorInvalidValue);
    *value = EMU_NUM_SMS;
    return cudaSuccess;
}

/* ---- device memory ----
 * Separate host allocations standing for device memory, registered by
 * address so that copies, memsets and cuBLAS can check that a range lies in
 * one allocation. Fresh memory is poisoned: every 8 bytes hold a signalling
 * f32 NaN (low word) and a signalling f64 NaN (the pair), so a read of
 * memory nothing wrote turns results into NaN. */
enum : size_t { EMU_DEVICE_BYTES = (size_t)16 << 30 };

static std::mutex g_mem_lock;
static std::map<uintptr_t, size_t> g_allocations; /* start -> bytes */
static size_t g_allocated_bytes;

void fs_emu_poison(void *p, size_t bytes)
{
    static const uint64_t pattern = 0x7ff4a5a57fa5a5a5ull;
    unsigned char *b = static_cast<unsigned char *>(p);
    for (size_t i = 0; i < bytes; i++) b[i] = (unsigned char)(pattern >> (8 * (i & 7)));
}

bool fs_emu_device_range(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lock(g_mem_lock);
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = g_allocations.upper_bound(a);
    if (it == g_allocations.begin()) return false;
    --it;
    return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    *ptr = nullptr;
    std::lock_guard<std::mutex> lock(g_mem_lock);
    if (bytes > EMU_DEVICE_BYTES - g_allocated_bytes) return record(cudaErrorMemoryAllocation);
    void *p = nullptr;
    /* 256-byte alignment, as cudaMalloc guarantees. */
    if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return record(cudaErrorMemoryAllocation);
    fs_emu_poison(p, bytes);
    g_allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
    g_allocated_bytes += bytes;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    if (!ptr) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_mem_lock);
    auto it = g_allocations.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == g_allocations.end()) return record(cudaErrorInvalidValue);
    g_allocated_bytes -= it->second;
    g_allocations.erase(it);
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    std::lock_guard<std::mutex> lock(g_mem_lock);
    *free_bytes = EMU_DEVICE_BYTES - g_allocated_bytes;
    *total_bytes = EMU_DEVICE_BYTES;
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes)
{
    if (bytes == 0) return cudaSuccess;
    if (!fs_emu_device_range(ptr, bytes)) return record(cudaErrorInvalidValue);
    memset(ptr, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t) { return cudaMemset(ptr, value, bytes); }

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (bytes == 0) return cudaSuccess;
    bool dst_dev = fs_emu_device_range(dst, bytes), src_dev = fs_emu_device_range(src, bytes);
    bool ok;
    switch (kind) {
    case cudaMemcpyHostToHost: ok = !dst_dev && !src_dev; break;
    case cudaMemcpyHostToDevice: ok = dst_dev && !src_dev; break;
    case cudaMemcpyDeviceToHost: ok = !dst_dev && src_dev; break;
    case cudaMemcpyDeviceToDevice: ok = dst_dev && src_dev; break;
    case cudaMemcpyDefault: ok = true; break;
    default: return record(cudaErrorInvalidMemcpyDirection);
    }
    if (!ok) return record(cudaErrorInvalidValue);
    const char *s = static_cast<const char *>(src);
    char *d = static_cast<char *>(dst);
    /* CUDA leaves overlapping copies undefined; memcpy here would hide that. */
    if (d < s + bytes && s < d + bytes) {
        fprintf(stderr, "fedsim CUDA emulator: cudaMemcpy of overlapping ranges (undefined in CUDA)\n");
        return record(cudaErrorInvalidValue);
    }
    memcpy(d, s, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
    return cudaMemcpy(dst, src, bytes, kind);
}

/* ---- kernel attributes ---- */
static std::map<const void *, int> g_max_dynamic_smem;

cudaError_t fs_emu_func_set_attribute(const void *kernel, cudaFuncAttribute attr, int value)
{
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > EMU_SMEM_OPTIN)
        return record(cudaErrorInvalidValue);
    g_max_dynamic_smem[kernel] = value;
    return cudaSuccess;
}

/* ---- fibers ---- */
namespace fs_emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

enum class State { Runnable, AtBarrier, AtWarpExchange, Done };

/* ---- context switch ----
 * Fibers switch at every barrier and warp exchange, millions of times per
 * test: on x86-64 a hand-written switch saves only the callee-saved
 * registers and the FP control words (swapcontext also makes a signal-mask
 * system call each time, 100 times slower); elsewhere, ucontext. */
#if defined(__x86_64__)
extern "C" void fs_emu_switch(void **save_sp, void *to_sp);
asm(R"(
    .text
    .globl fs_emu_switch
    .type fs_emu_switch, @function
fs_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size fs_emu_switch, .-fs_emu_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");

struct Context {
    void *sp;
};

/* A stack that fs_emu_switch "returns" into `entry`, as if called: the
 * frame it pops (FP control words, six registers, return address) sits
 * below a fake return slot that keeps the ABI's 16-byte alignment. */
void context_init(Context &c, unsigned char *stack, size_t bytes, void (*entry)(void))
{
    uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15);
    uint64_t *sp = reinterpret_cast<uint64_t *>(top);
    *--sp = 0;                                      /* fake return address of entry */
    *--sp = reinterpret_cast<uint64_t>(entry);      /* fs_emu_switch's ret goes here */
    for (int r = 0; r < 6; r++) *--sp = 0;          /* rbp rbx r12 r13 r14 r15 */
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = (uint64_t)mxcsr | (uint64_t)fpucw << 32;
    c.sp = sp;
}
void context_switch(Context &from, Context &to) { fs_emu_switch(&from.sp, to.sp); }
#else
struct Context {
    ucontext_t uc;
};
void context_init(Context &c, unsigned char *stack, size_t bytes, void (*entry)(void))
{
    if (getcontext(&c.uc) != 0) abort();
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = bytes;
    c.uc.uc_link = nullptr; /* entry never returns */
    makecontext(&c.uc, entry, 0);
}
void context_switch(Context &from, Context &to)
{
    if (swapcontext(&from.uc, &to.uc) != 0) abort();
}
#endif

struct Fiber {
    Context ctx;
    State state;
    unsigned exchanges; /* warp exchanges made so far (their parity picks the slot bank) */
    unsigned mask;      /* of the pending warp exchange */
    uint3 idx;
};

struct Warp {
    uint64_t slots[2][32];
};

enum : size_t { STACK_BYTES = 128 * 1024, GUARD_BYTES = 4096 };

struct Block {
    void (*body)(void *);
    void *ctx;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    std::vector<unsigned char *> stacks; /* kept across launches */
    Context scheduler;
    Fiber *current;
    std::vector<unsigned char> dynamic_smem;
    unsigned long serial; /* of the running block, counted over all launches; 0: none yet */
    unsigned long launch; /* of the running launch, likewise */
    bool smem_opted_in;   /* cudaFuncSetAttribute raised the kernel's dynamic limit */
    size_t static_smem;   /* bytes of the __shared__ variables the launch has reached */
};

Block g_block;

unsigned char *stack_for(size_t i)
{
    while (g_block.stacks.size() <= i) {
        /* A guard page below each stack turns an overflow into a fault. */
        void *m = mmap(nullptr, STACK_BYTES + GUARD_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m, GUARD_BYTES, PROT_NONE) != 0) {
            fprintf(stderr, "fedsim CUDA emulator: cannot map a fiber stack\n");
            abort();
        }
        g_block.stacks.push_back(static_cast<unsigned char *>(m) + GUARD_BYTES);
    }
    return g_block.stacks[i];
}

/* Back to the scheduler; the fiber resumes here when released. */
void yield(State why)
{
    Fiber *me = g_block.current;
    me->state = why;
    context_switch(me->ctx, g_block.scheduler);
}

void fiber_main(void)
{
    g_block.body(g_block.ctx);
    yield(State::Done); /* never resumed */
    abort();
}
/* Releases a barrier every live thread waits at, and every warp exchange
 * whose lanes have all arrived. Returns false when nothing can move. */
bool release_waiters(const char *kernel)
{
    std::vector<Fiber> &f = g_block.fibers;
    size_t live = 0, at_barrier = 0;
    for (const Fiber &t : f) {
        live += t.state != State::Done;
        at_barrier += t.state == State::AtBarrier;
    }
    bool released = false;
    for (size_t w0 = 0; w0 < f.size(); w0 += 32) {
        size_t lanes = f.size() - w0 < 32 ? f.size() - w0 : 32;
        unsigned waiting = 0, mask = 0;
        bool any = false;
        for (size_t l = 0; l < lanes; l++) {
            const Fiber &t = f[w0 + l];
            if (t.state != State::AtWarpExchange) continue;
            if (any && t.mask != mask)
                kernel_fault(kernel, "warp %zu: lanes exchange with different masks (%#x, %#x): undefined on a GPU", w0 / 32, mask, t.mask);
            mask = t.mask;
            any = true;
            waiting |= 1u << l;
        }
        if (!any) continue;
        for (size_t l = 0; l < 32; l++) {
            if (!(mask >> l & 1u)) continue;
            if (l >= lanes) kernel_fault(kernel, "warp %zu: mask %#x names lane %zu, which the block does not have: undefined on a GPU", w0 / 32, mask, l);
            if (f[w0 + l].state == State::Done)
                kernel_fault(kernel, "warp %zu: mask %#x names lane %zu, which has exited: undefined on a GPU", w0 / 32, mask, l);
        }
        if ((waiting & mask) != mask) continue; /* a lane waits at a barrier instead: stuck */
        if (waiting != mask)
            kernel_fault(kernel, "warp %zu: lanes %#x wait at an exchange of mask %#x: undefined on a GPU", w0 / 32, waiting, mask);
        for (size_t l = 0; l < lanes; l++)
            if (mask >> l & 1u) f[w0 + l].state = State::Runnable;
        released = true;
    }
    if (!released && live > 0 && at_barrier == live) {
        /* Threads that exited count as arrived, as on sm_70 and later. */
        for (Fiber &t : f)
            if (t.state == State::AtBarrier) t.state = State::Runnable;
        released = true;
    }
    return released;
}

void run_block(const char *kernel)
{
    std::vector<Fiber> &f = g_block.fibers;
    for (size_t i = 0; i < f.size(); i++) {
        context_init(f[i].ctx, stack_for(i), STACK_BYTES, fiber_main);
        f[i].state = State::Runnable;
        f[i].exchanges = 0;
    }
    g_block.serial++;
    fs_emu_poison(g_block.dynamic_smem.data(), g_block.dynamic_smem.size());
    for (;;) {
        /* Each runnable thread in index order, up to its next barrier or exchange. */
        bool any_live = false;
        for (Fiber &t : f) {
            if (t.state != State::Runnable) {
                any_live |= t.state != State::Done;
                continue;
            }
            g_block.current = &t;
            thread_idx = t.idx;
            context_switch(g_block.scheduler, t.ctx);
            any_live |= t.state != State::Done;
        }
        if (!any_live) return;
        if (!release_waiters(kernel)) {
            size_t at_barrier = 0, at_exchange = 0, done = 0;
            for (const Fiber &t : f) {
                at_barrier += t.state == State::AtBarrier;
                at_exchange += t.state == State::AtWarpExchange;
                done += t.state == State::Done;
            }
            kernel_fault(kernel, "block (%u,%u,%u) deadlocks: %zu threads at __syncthreads, %zu at a warp exchange, %zu exited: hangs or is undefined on a GPU",
                         block_idx.x, block_idx.y, block_idx.z, at_barrier, at_exchange, done);
        }
    }
}

const LaunchConfig *g_running; /* for messages from inside a kernel */

} // namespace

void run_grid(const LaunchConfig &cfg, void (*body)(void *), void *ctx)
{
    static std::mutex launch_lock; /* one launch at a time: the block state is global */
    std::lock_guard<std::mutex> lock(launch_lock);
    const dim3 &g = cfg.grid, &b = cfg.block;
    unsigned long threads = (unsigned long)b.x * b.y * b.z;
    if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535 ||
        threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64) {
        record(cudaErrorInvalidConfiguration);
        return;
    }
    auto opt = g_max_dynamic_smem.find(cfg.kernel);
    size_t smem_cap = opt != g_max_dynamic_smem.end() && opt->second > EMU_SMEM_DEFAULT ? opt->second : EMU_SMEM_DEFAULT;
    if (cfg.dynamic_smem > smem_cap) {
        /* As on a device: above 48 KiB needs cudaFuncSetAttribute first. */
        record(cudaErrorInvalidValue);
        return;
    }
    g_running = &cfg;
    g_block.launch++;
    g_block.smem_opted_in = opt != g_max_dynamic_smem.end() && opt->second > EMU_SMEM_DEFAULT;
    g_block.static_smem = 0;
    g_block.body = body;
    g_block.ctx = ctx;
    g_block.dynamic_smem.assign(cfg.dynamic_smem, 0);
    g_block.fibers.assign(threads, Fiber{});
    g_block.warps.assign((threads + 31) / 32, Warp{});
    for (unsigned long i = 0; i < threads; i++)
        g_block.fibers[i].idx = uint3{(unsigned)(i % b.x), (unsigned)(i / b.x % b.y), (unsigned)(i / ((unsigned long)b.x * b.y))};
    grid_dim = g;
    block_dim = b;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                block_idx = uint3{x, y, z};
                run_block(cfg.kernel_name);
            }
    g_running = nullptr;
}

void *dynamic_shared(void) { return g_block.dynamic_smem.data(); }

/* Static shared memory is known only when the kernel reaches it; the device
 * checks static + dynamic against the block's limit before the launch. */
void fresh_shared(void *p, size_t bytes)
{
    struct Seen {
        unsigned long launch, block;
    };
    static std::map<void *, Seen> seen;
    Seen &s = seen[p];
    if (s.launch != g_block.launch) {
        s.launch = g_block.launch;
        g_block.static_smem += bytes;
        size_t total = g_block.static_smem + g_block.dynamic_smem.size();
        size_t cap = g_block.smem_opted_in ? EMU_SMEM_OPTIN : EMU_SMEM_DEFAULT;
        if (total > cap)
            kernel_fault(g_running->kernel_name,
                         "needs %zu bytes of shared memory (%zu static, %zu dynamic), more than the %zu a block may have: the launch fails on a device",
                         total, g_block.static_smem, g_block.dynamic_smem.size(), cap);
    }
    if (s.block != g_block.serial) {
        fs_emu_poison(p, bytes);
        s.block = g_block.serial;
    }
}

void block_barrier(void) { yield(State::AtBarrier); }

unsigned lane_id(void) { return (unsigned)(g_block.current - g_block.fibers.data()) & 31u; }

const uint64_t *warp_exchange(unsigned mask, uint64_t bits)
{
    Fiber *me = g_block.current;
    size_t index = (size_t)(me - g_block.fibers.data());
    if (!(mask >> (index & 31) & 1u))
        kernel_fault(g_running ? g_running->kernel_name : "?", "lane %zu calls a warp exchange whose mask %#x leaves it out: undefined on a GPU", index & 31, mask);
    /* Two banks by parity: a lane released from exchange e may deposit for
     * e+1 before a slower lane has read exchange e. */
    uint64_t *bank = g_block.warps[index / 32].slots[me->exchanges & 1u];
    bank[index & 31] = bits;
    me->mask = mask;
    yield(State::AtWarpExchange);
    me->exchanges++;
    return bank;
}

} // namespace fs_emu

static void kernel_fault(const char *kernel, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fedsim CUDA emulator: kernel %s: ", kernel);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}
