/* Dtype helpers shared by every backend and by the safetensors loader. */
#include "ops.h"

#include <math.h>
#include <string.h>

size_t fs_dtype_size(fs_dtype t) { return t == FS_F32 ? 4 : 2; }

const char *fs_dtype_name(fs_dtype t)
{
    switch (t) {
    case FS_F32: return "F32";
    case FS_BF16: return "BF16";
    case FS_F16: return "F16";
    }
    return "?";
}

int64_t fs_tensor_numel(const fs_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

float fs_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t fs_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float fs_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    float f;
    if (exp == 0) {
        f = ldexpf((float)mant, -24); /* zero or subnormal */
        uint32_t u;
        memcpy(&u, &f, 4);
        u |= sign;
        memcpy(&f, &u, 4);
        return f;
    }
    uint32_t u = exp == 31 ? (sign | 0x7f800000u | (mant << 13))
                           : (sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13));
    memcpy(&f, &u, 4);
    return f;
}

void fs_convert_to_f32(float *dst, const void *src, fs_dtype src_dtype, size_t n)
{
    const uint16_t *h = src;
    switch (src_dtype) {
    case FS_F32: memcpy(dst, src, n * 4); break;
    case FS_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = fs_bf16_to_f32(h[i]);
        break;
    case FS_F16:
        for (size_t i = 0; i < n; i++) dst[i] = fs_f16_to_f32(h[i]);
        break;
    }
}
