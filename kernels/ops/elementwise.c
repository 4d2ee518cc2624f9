/* Elementwise vector ops: add, axpy, sum. */
#include "kernels/backends/cpu/cpu_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define FS_EW_PAR_MIN 32768L

void fs_cpu_add_ref(float *y, const float *a, const float *b, long n)
{
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void fs_cpu_add(float *y, const float *a, const float *b, long n)
{
    /* y may alias a or b: each element is read before it is written. */
#pragma omp parallel for simd schedule(static) if (n >= FS_EW_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void fs_cpu_axpy_ref(float *y, float alpha, const float *x, long n)
{
    for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

void fs_cpu_axpy(float *y, float alpha, const float *x, long n)
{
#pragma omp parallel for simd schedule(static) if (n >= FS_EW_PAR_MIN)
    for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

double fs_cpu_sum_ref(const float *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

double fs_cpu_sum(const float *x, long n)
{
    double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n >= FS_EW_PAR_MIN)
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}
