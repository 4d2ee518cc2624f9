/* A vectorisable single-precision exp shared by the CPU kernels (attention
 * softmax, cross-entropy, SiLU/QuickGELU sigmoids). Internal to the CPU ops
 * (kernels/ops/<op>.c). */
#ifndef FEDSIM_KERNELS_CPU_FAST_EXP_H
#define FEDSIM_KERNELS_CPU_FAST_EXP_H

#include <stdint.h>

/* exp(x) for x <= 88, branch-free so that loops over it vectorise (no float
 * comparisons or calls: with the default -ftrapping-math GCC will not
 * if-convert those): |x| is clamped to 100 with integer ops on the bits (NaN
 * passes through), x = n ln2 + r with |r| <= ln2/2, Cephes degree-6
 * polynomial for e^r, then 2^n through the exponent bits, 0 when n < -126.
 * Max error 1.4 ulp over [-87, 0] (checked exhaustively); exp(-inf) = 0. */
static inline float fs_fast_exp(float x)
{
    union {
        float f;
        uint32_t u;
    } b = {.f = x};
    uint32_t mag = b.u & 0x7fffffffu;
    mag = (mag > 0x42c80000u && mag <= 0x7f800000u) ? 0x42c80000u : mag; /* 100.0f */
    b.u = (b.u & 0x80000000u) | mag;
    x = b.f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float fn = (x * 1.44269504088896341f + magic) - magic;
    int32_t n = (int32_t)fn;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        uint32_t u;
        float f;
    } two_n = {.u = n < -126 ? 0u : (uint32_t)(n + 127) << 23};
    return p * two_n.f;
}

#endif
