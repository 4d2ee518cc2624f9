#include "sim/model/batch.h"

#include <stdlib.h>

#include "sim/io/error.h"

static int grow(const fs_ops *ops, int32_t **buf, int need)
{
    if (*buf) ops->free(*buf);
    *buf = ops->alloc((size_t)need * sizeof(int32_t));
    return *buf ? 0 : fs_fail("cannot allocate a batch of %d rows on the %s backend", need,
                              ops->name);
}

int fs_batch_build_targets(fs_batch_buf *bb, const fs_ops *ops, const int32_t *ids, int B, int T,
                           const int32_t *target_rows, const int32_t *target_ids, int n_targets)
{
    int N = B * T;
    bb->ops = ops;
    if (N > bb->cap_rows) {
        if (grow(ops, &bb->ids, N) || grow(ops, &bb->positions, N)) return -1;
        bb->cap_rows = N;
    }
    if (n_targets > bb->cap_targets) {
        if (grow(ops, &bb->target_rows, n_targets) || grow(ops, &bb->target_ids, n_targets))
            return -1;
        bb->cap_targets = n_targets;
    }
    int32_t *pos = malloc((size_t)(N ? N : 1) * sizeof *pos);
    if (!pos) return fs_fail("out of memory");
    for (int r = 0; r < N; r++) pos[r] = r % T;
    int nvalid = 0;
    for (int i = 0; i < n_targets; i++) nvalid += target_ids[i] >= 0;
    ops->to_device(bb->ids, ids, (size_t)N * sizeof *ids);
    ops->to_device(bb->positions, pos, (size_t)N * sizeof *pos);
    ops->to_device(bb->target_rows, target_rows, (size_t)n_targets * sizeof *target_rows);
    ops->to_device(bb->target_ids, target_ids, (size_t)n_targets * sizeof *target_ids);
    ops->synchronize();
    free(pos);
    bb->batch = (fs_llm_batch){.B = B, .T = T, .ids = bb->ids, .positions = bb->positions,
                               .n_targets = n_targets, .target_rows = bb->target_rows,
                               .target_ids = bb->target_ids, .n_valid_targets = nvalid};
    return 0;
}

int fs_batch_build(fs_batch_buf *bb, const fs_ops *ops, const int32_t *ids, const int32_t *labels,
                   int B, int T, bool all_logits)
{
    int N = B * T;
    int32_t *host = malloc((size_t)(N ? N : 1) * 2 * sizeof *host);
    if (!host) return fs_fail("out of memory");
    int32_t *rows = host, *tgt = host + N;
    int nt = 0;
    for (int r = 0; r < N; r++) {
        int t = r % T;
        int32_t next = t + 1 < T && labels ? labels[r + 1] : FS_IGNORE_LABEL;
        if (next >= 0 || all_logits) {
            rows[nt] = r;
            tgt[nt] = next >= 0 ? next : -1;
            nt++;
        }
    }
    int rc = fs_batch_build_targets(bb, ops, ids, B, T, rows, tgt, nt);
    free(host);
    return rc;
}

void fs_batch_free(fs_batch_buf *bb)
{
    if (!bb->ops) return;
    int32_t *bufs[] = {bb->ids, bb->positions, bb->target_rows, bb->target_ids};
    for (int i = 0; i < 4; i++)
        if (bufs[i]) bb->ops->free(bufs[i]);
    *bb = (fs_batch_buf){0};
}

int fs_mllm_image_rows(const fs_mllm *m, const int32_t *ids, int B, int T, int *start_rows,
                       int max_images)
{
    int n = 0, img = m->cfg.image_token_index, want = m->n_image_tokens;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T;) {
            if (ids[b * T + t] != img) {
                t++;
                continue;
            }
            int len = 0;
            while (t + len < T && ids[b * T + t + len] == img) len++;
            if (len != want)
                return fs_fail("sequence %d has a run of %d image tokens at position %d; this model "
                               "produces %d features per image, so the prompt must carry exactly "
                               "that many <image> tokens per image",
                               b, len, t, want);
            if (n == max_images)
                return fs_fail("more than %d images in one batch", max_images);
            start_rows[n++] = b * T + t;
            t += len;
        }
    }
    return n;
}
