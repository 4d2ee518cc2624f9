#include "sim/model/tensor_values.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

size_t fs_tensor_count_nonfinite(const fs_st_tensor *t)
{
    size_t width = fs_dtype_size(t->dtype), n = width ? t->nbytes / width : 0, bad = 0;
    const unsigned char *p = t->data; /* may be unaligned: read through memcpy */
    for (size_t i = 0; i < n; i++, p += width) {
        float v;
        uint16_t h;
        switch (t->dtype) {
        case FS_F32: memcpy(&v, p, 4); break;
        case FS_BF16: memcpy(&h, p, 2), v = fs_bf16_to_f32(h); break;
        case FS_F16: memcpy(&h, p, 2), v = fs_f16_to_f32(h); break;
        }
        bad += !isfinite(v);
    }
    return bad;
}
