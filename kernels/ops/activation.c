/* Activations: exact GELU, QuickGELU (CLIP), SwiGLU (LLaMA MLP).
 * Backward ops accumulate into dx / dgate / dup. */
#include "kernels/backends/cpu/cpu_ops.h"
#include "kernels/backends/cpu/fast_exp.h"

#include <math.h>
#include <stdint.h>

#define FS_ACT_PAR_MIN 16384L

#define FS_SQRT1_2 0.70710678118654752440      /* 1/sqrt(2) */
#define FS_INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define FS_QGELU_A 1.702

/* ---- reference (double precision, the formulas as written) ---- */

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

void fs_cpu_gelu_fwd_ref(float *y, const float *x, long n)
{
    /* 0.5 x (1 + erf(x/sqrt2)), written with erfc (same value, no cancellation for x << 0) */
    for (long i = 0; i < n; i++) y[i] = (float)(0.5 * x[i] * erfc(-x[i] * FS_SQRT1_2));
}

void fs_cpu_gelu_bwd_ref(float *dx, const float *dy, const float *x, long n)
{
    /* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
    for (long i = 0; i < n; i++) {
        double xi = x[i];
        double cdf = 0.5 * erfc(-xi * FS_SQRT1_2); /* Phi(x) */
        double pdf = FS_INV_SQRT_2PI * exp(-0.5 * xi * xi);
        dx[i] += (float)(dy[i] * (cdf + xi * pdf));
    }
}

void fs_cpu_quick_gelu_fwd_ref(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++) y[i] = (float)(x[i] * sigmoid_d(FS_QGELU_A * x[i]));
}

void fs_cpu_quick_gelu_bwd_ref(float *dx, const float *dy, const float *x, long n)
{
    /* d/dx [x s(ax)] = s(ax) + a x s(ax) (1 - s(ax)) */
    for (long i = 0; i < n; i++) {
        double s = sigmoid_d(FS_QGELU_A * x[i]);
        dx[i] += (float)(dy[i] * (s + FS_QGELU_A * x[i] * s * (1.0 - s)));
    }
}

void fs_cpu_swiglu_fwd_ref(float *y, const float *gate, const float *up, long n)
{
    for (long i = 0; i < n; i++) y[i] = (float)(gate[i] * sigmoid_d(gate[i]) * up[i]);
}

void fs_cpu_swiglu_bwd_ref(float *dgate, float *dup, const float *dy, const float *gate,
                           const float *up, long n)
{
    /* y = g s(g) u:  dy/dg = u (s(g) + g s(g) (1 - s(g))),  dy/du = g s(g) */
    for (long i = 0; i < n; i++) {
        double g = gate[i], s = sigmoid_d(g);
        if (dgate) dgate[i] += (float)(dy[i] * up[i] * (s + g * s * (1.0 - s)));
        if (dup) dup[i] += (float)(dy[i] * g * s);
    }
}

/* ---- fast (float, OpenMP) ----
 * GELU uses Phi(x) = erfc(-x/sqrt2)/2, the same function as (1 + erf(x/sqrt2))/2
 * without the cancellation that costs 1 + erff() most of its float digits for
 * x below about -3. */

/* sigmoid through fs_fast_exp (vectorises; expf does not): e = exp(-|x|) never
 * overflows, and x < 0 takes e / (1 + e), selected with integer ops on the
 * sign bit so that the loop stays branch-free. */
static inline float sigmoid_f(float x)
{
    union {
        float f;
        uint32_t u;
    } b = {.f = x}, t, et;
    b.u &= 0x7fffffffu;
    float e = fs_fast_exp(-b.f);
    t.f = 1.0f / (1.0f + e);
    et.f = e * t.f;
    uint32_t neg = (uint32_t)((int32_t)((union { float f; uint32_t u; }){.f = x}.u) >> 31);
    t.u = (t.u & ~neg) | (et.u & neg);
    return t.f;
}

/* SwiGLU in chunks: each chunk one call of a vectorised loop, chunks split
 * across threads. */
enum { ACT_CHUNK = 4096 };

static FS_CPU_VECTOR void swiglu_fwd_range(float *y, const float *gate, const float *up, long i0,
                                           long i1)
{
#pragma omp simd
    for (long i = i0; i < i1; i++) y[i] = gate[i] * sigmoid_f(gate[i]) * up[i];
}

static FS_CPU_VECTOR void swiglu_bwd_range(float *dgate, float *dup, const float *dy,
                                           const float *gate, const float *up, long i0, long i1)
{
    if (dgate)
#pragma omp simd
        for (long i = i0; i < i1; i++) {
            float g = gate[i], s = sigmoid_f(g);
            dgate[i] += dy[i] * up[i] * (s + g * s * (1.0f - s));
        }
    if (dup)
#pragma omp simd
        for (long i = i0; i < i1; i++) dup[i] += dy[i] * gate[i] * sigmoid_f(gate[i]);
}


void fs_cpu_gelu_fwd(float *y, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * erfcf(-x[i] * (float)FS_SQRT1_2);
}

void fs_cpu_gelu_bwd(float *dx, const float *dy, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
        float xi = x[i];
        float cdf = 0.5f * erfcf(-xi * (float)FS_SQRT1_2);
        float pdf = (float)FS_INV_SQRT_2PI * expf(-0.5f * xi * xi);
        dx[i] += dy[i] * (cdf + xi * pdf);
    }
}

void fs_cpu_quick_gelu_fwd(float *y, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = x[i] * sigmoid_f((float)FS_QGELU_A * x[i]);
}

void fs_cpu_quick_gelu_bwd(float *dx, const float *dy, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long i = 0; i < n; i++) {
        float s = sigmoid_f((float)FS_QGELU_A * x[i]);
        dx[i] += dy[i] * (s + (float)FS_QGELU_A * x[i] * s * (1.0f - s));
    }
}

void fs_cpu_swiglu_fwd(float *y, const float *gate, const float *up, long n)
{
    long nch = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long c = 0; c < nch; c++)
        swiglu_fwd_range(y, gate, up, c * ACT_CHUNK, c + 1 < nch ? (c + 1) * ACT_CHUNK : n);
}

void fs_cpu_swiglu_bwd(float *dgate, float *dup, const float *dy, const float *gate,
                       const float *up, long n)
{
    long nch = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n >= FS_ACT_PAR_MIN)
    for (long c = 0; c < nch; c++)
        swiglu_bwd_range(dgate, dup, dy, gate, up, c * ACT_CHUNK,
                         c + 1 < nch ? (c + 1) * ACT_CHUNK : n);
}
