/* libFuzzer target: the input is a .safetensors file. Opening it and reading
 * every tensor as f32 must either succeed or fail with a message, never
 * crash, read out of bounds or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/model/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0]) fz_path(path, sizeof path, "input.safetensors");
    fz_write(path, data, size);
    fs_clear_error();
    fs_st_archive *a = fs_st_open(path);
    if (!a) {
        fz_require_message();
        return 0;
    }
    for (int i = 0; i < fs_st_count(a); i++) {
        const fs_st_tensor *t = fs_st_at(a, i);
        if (!t || fs_st_find(a, t->name) == NULL) abort();
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
        float *out = malloc((n ? n : 1) * sizeof *out);
        if (!out) continue;
        fs_st_read_f32(a, t->name, t->ndim, t->shape, out);
        free(out);
    }
    fs_st_close(a);
    return 0;
}
