/* Embedding lookup and its scatter-add backward. */
#include "kernels/backends/cpu/cpu_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows of the table, when its shape says (a [vocab, dim] tensor); -1 if unknown. */
static int64_t table_rows(const fs_tensor *table)
{
    return table->ndim == 2 ? table->shape[0] : -1;
}

static void check_id(int32_t id, int64_t vocab, int row)
{
    if (id < 0 || (vocab >= 0 && id >= vocab)) {
        fs_op_error(FS_OP_BAD_INPUT, "embedding: token id %d at row %d is outside [0, %lld)",
                    (int)id, row, (long long)vocab);
    }
}

/* A 16-bit table row is converted straight into its output row. */
void fs_cpu_embedding_fwd_ref(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim)
{
    int64_t vocab = table_rows(table);
    for (int i = 0; i < n; i++) {
        check_id(ids[i], vocab, i);
        float *dst = y + (long)i * dim;
        const float *row = fs_cpu_weight_rows_f32(table, ids[i], 1, dim, dst);
        for (int d = 0; d < dim && row != dst; d++) dst[d] = row[d];
    }
}

void fs_cpu_embedding_fwd(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim)
{
    int64_t vocab = table_rows(table);
#pragma omp parallel for schedule(static) if ((long)n * dim >= 65536L)
    for (int i = 0; i < n; i++) {
        check_id(ids[i], vocab, i);
        float *dst = y + (long)i * dim;
        const float *row = fs_cpu_weight_rows_f32(table, ids[i], 1, dim, dst);
        if (row != dst) memcpy(dst, row, (size_t)dim * sizeof *y);
    }
}

void fs_cpu_embedding_bwd_ref(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                              int vocab)
{
    for (int i = 0; i < n; i++) check_id(ids[i], vocab, i);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) dtable[(long)ids[i] * dim + d] += dy[(long)i * dim + d];
}

void fs_cpu_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                          int vocab)
{
    for (int i = 0; i < n; i++) check_id(ids[i], vocab, i);
    /* Repeated ids make a row-parallel scatter racy, so threads split the dim
     * axis instead: each owns a contiguous range of columns (whole 64-byte
     * blocks) of every table row and walks the rows in order. No two threads
     * write the same element, and each element gets its additions in the same
     * order as in the reference, so the result is bit-identical to it. */
    enum { BLK = 16 };
    const int nblk = (dim + BLK - 1) / BLK;
#pragma omp parallel if ((long)n * dim >= 65536L && nblk >= 8)
    {
        int t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        const int d0 = (int)((long)nblk * t / nt) * BLK;
        int d1 = (int)((long)nblk * (t + 1) / nt) * BLK;
        if (d1 > dim) d1 = dim;
        for (int i = 0; i < n && d0 < d1; i++) {
            float *dst = dtable + (long)ids[i] * dim;
            const float *src = dy + (long)i * dim;
            for (int d = d0; d < d1; d++) dst[d] += src[d];
        }
    }
}
