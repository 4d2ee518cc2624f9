/* The CPU op table: host memory, the fast version of every op. */
#include "cpu_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const float *fs_cpu_weight_f32(const fs_tensor *t)
{
    if (t->dtype != FS_F32) {
        fs_op_error(FS_OP_INTERNAL, "internal error: CPU backend got a %s norm weight or bias; "
                    "those are converted to F32 when loaded", fs_dtype_name(t->dtype));
    }
    return t->data;
}

const float *fs_cpu_weight_rows_f32(const fs_tensor *t, long row0, long nrows, long cols,
                                    float *scratch)
{
    if (t->dtype == FS_F32) return (const float *)t->data + row0 * cols;
    fs_convert_to_f32(scratch, (const uint16_t *)t->data + row0 * cols, t->dtype,
                      (size_t)(nrows * cols));
    return scratch;
}

static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64)) return NULL;
    memset(p, 0, rounded);
    return p;
}
static void cpu_free(void *p) { free(p); }
static void cpu_zero(void *p, size_t bytes) { memset(p, 0, bytes); }
static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (dst != src) memmove(dst, src, bytes);
}
static void cpu_synchronize(void) {}

/* MemAvailable and MemTotal, bounded by an address-space limit (ulimit -v)
 * less what the process has mapped already: what malloc can still get. */
static int cpu_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    unsigned long long avail_kb = 0, total_kb = 0, v, pages = 0;
    char line[256], key[64];
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %llu", key, &v) == 2) {
            if (!strcmp(key, "MemTotal:")) total_kb = v;
            if (!strcmp(key, "MemAvailable:")) avail_kb = v;
        }
    fclose(f);
    if (!total_kb) return -1;
    *free_bytes = (size_t)avail_kb * 1024, *total_bytes = (size_t)total_kb * 1024;
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        FILE *statm = fopen("/proc/self/statm", "r");
        if (statm) {
            if (fscanf(statm, "%llu", &pages) != 1) pages = 0;
            fclose(statm);
        }
        size_t mapped = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
        size_t left = lim.rlim_cur > mapped ? (size_t)lim.rlim_cur - mapped : 0;
        if (left < *free_bytes) *free_bytes = left;
        if ((size_t)lim.rlim_cur < *total_bytes) *total_bytes = (size_t)lim.rlim_cur;
    }
    return 0;
}

/* libgomp starts every thread it is asked for: 10000 threads turned a 0.3 s
 * run into 75 s, 50000 aborted and 100000 crashed inside it. More than a few
 * threads per core only adds switching, so requests are capped at
 * FS_THREADS_PER_CORE x the online cores, with one warning per value. */
void fs_set_threads(int n)
{
#ifdef _OPENMP
    static int warned_for;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    long cap = FS_THREADS_PER_CORE * cores;
    if (n > cap) {
        if (n != warned_for)
            fprintf(stderr, "fedsim: warning: %d threads is more than %d x the %ld online cores; using %ld\n",
                    n, FS_THREADS_PER_CORE, cores, cap);
        warned_for = n;
        n = (int)cap;
    }
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

void *fs_cpu_scratch(size_t bytes, const char *what)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) fs_op_oom(NULL, bytes, what);
    return p;
}

static const fs_ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .synchronize = cpu_synchronize,
    .mem_info = cpu_mem_info,
    .matmul = fs_cpu_matmul,
    .linear_fwd = fs_cpu_linear_fwd,
    .linear_bwd = fs_cpu_linear_bwd,
    .add = fs_cpu_add,
    .axpy = fs_cpu_axpy,
    .sum = fs_cpu_sum,
    .embedding_fwd = fs_cpu_embedding_fwd,
    .embedding_bwd = fs_cpu_embedding_bwd,
    .layernorm_fwd = fs_cpu_layernorm_fwd,
    .layernorm_bwd = fs_cpu_layernorm_bwd,
    .rmsnorm_fwd = fs_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = fs_cpu_rmsnorm_bwd,
    .rope_fwd = fs_cpu_rope_fwd,
    .rope_bwd = fs_cpu_rope_bwd,
    .attention_fwd = fs_cpu_attention_fwd,
    .attention_bwd = fs_cpu_attention_bwd,
    .gelu_fwd = fs_cpu_gelu_fwd,
    .gelu_bwd = fs_cpu_gelu_bwd,
    .quick_gelu_fwd = fs_cpu_quick_gelu_fwd,
    .quick_gelu_bwd = fs_cpu_quick_gelu_bwd,
    .swiglu_fwd = fs_cpu_swiglu_fwd,
    .swiglu_bwd = fs_cpu_swiglu_bwd,
    .xent_fwd = fs_cpu_xent_fwd,
    .xent_bwd = fs_cpu_xent_bwd,
    .lora_fwd = fs_cpu_lora_fwd,
    .lora_bwd = fs_cpu_lora_bwd,
    .lora_fisher_accum = fs_cpu_lora_fisher_accum,
    .scale_rows = fs_cpu_scale_rows,
    .adamw = fs_cpu_adamw,
    .cross_attention_fwd = fs_cpu_cross_attention_fwd,
};

const fs_ops *fs_backend_cpu(void) { return &cpu_ops; }
