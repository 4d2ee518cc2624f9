/* Backend buffers owned together and freed together (activation sets). */
#ifndef FEDSIM_BUFFER_POOL_H
#define FEDSIM_BUFFER_POOL_H

#include <stddef.h>

#include "kernels/ops.h"

typedef struct {
    const fs_ops *ops;
    const char *what, *hint; /* for the out-of-memory message (fs_alloc_or_fail) */
    void **owned;
    int n, cap;
} fs_buffer_pool;

/* A zeroed backend buffer of `floats` floats (at least one), owned by the
 * pool; NULL when out of memory, with a message naming the pool's what and hint. */
float *fs_pool_floats(fs_buffer_pool *p, size_t floats);
void fs_pool_free(fs_buffer_pool *p);

#endif
