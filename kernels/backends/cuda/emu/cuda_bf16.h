/* Stand-in for <cuda_bf16.h> in the emulated CUDA build. The conversions
 * are CUDA's own definitions (cuda_bf16.hpp, host path; the device's
 * cvt.rn.bf16.f32 gives the same bits): float -> bf16 rounds to nearest,
 * ties to even, keeps subnormals, overflows to inf, and turns every NaN into
 * the canonical 0x7fff; bf16 -> float is exact. */
#ifndef FEDSIM_CUDA_EMU_CUDA_BF16_H
#define FEDSIM_CUDA_EMU_CUDA_BF16_H

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    uint16_t x;
};

static inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    __nv_bfloat16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.x = 0x7fffu;
        return r;
    }
    uint32_t remainder = u << 16;
    r.x = (uint16_t)(u >> 16);
    if (remainder > 0x80000000u || (remainder == 0x80000000u && (r.x & 1u))) r.x++;
    return r;
}
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

static inline float __bfloat162float(__nv_bfloat16 h)
{
    uint32_t u = (uint32_t)h.x << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

#endif
