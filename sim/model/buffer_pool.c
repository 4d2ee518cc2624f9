#include "sim/model/buffer_pool.h"

#include <stdlib.h>

#include "sim/io/error.h"

float *fs_pool_floats(fs_buffer_pool *p, size_t floats)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        void **owned = realloc(p->owned, (size_t)cap * sizeof *owned);
        if (!owned) return fs_fail("out of memory"), NULL;
        p->owned = owned, p->cap = cap;
    }
    float *buf = fs_alloc_or_fail(p->ops, (floats ? floats : 1) * sizeof(float), p->hint, "%s",
                                  p->what);
    if (buf) p->owned[p->n++] = buf;
    return buf;
}

void fs_pool_free(fs_buffer_pool *p)
{
    for (int i = 0; i < p->n; i++) p->ops->free(p->owned[i]);
    free(p->owned);
    p->owned = NULL, p->n = p->cap = 0;
}
