/* Stand-in for <cuda_fp16.h> in the emulated CUDA build: fedsim only loads
 * F16 weights (half -> float is exact). */
#ifndef FEDSIM_CUDA_EMU_CUDA_FP16_H
#define FEDSIM_CUDA_EMU_CUDA_FP16_H

#include <cstdint>
#include <cstring>

struct __half {
    uint16_t x;
};

static inline float __half2float(__half h)
{
    uint32_t sign = (uint32_t)(h.x & 0x8000u) << 16, exp = (h.x >> 10) & 0x1fu, mant = h.x & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / NaN, payload kept */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal half: normalise */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

#endif
