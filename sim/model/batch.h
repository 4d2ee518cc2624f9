/* Building an fs_llm_batch from host token ids and labels. */
#ifndef FEDSIM_BATCH_H
#define FEDSIM_BATCH_H

#include <stdbool.h>

#include "sim/model/mllm.h"

#define FS_IGNORE_LABEL (-100) /* Hugging Face's ignore_index */

typedef struct {
    fs_llm_batch batch;
    const fs_ops *ops;
    int32_t *ids, *positions, *target_rows, *target_ids; /* backend memory */
    int cap_rows, cap_targets;
} fs_batch_buf;

/* Fills bb from host ids/labels [B*T] (labels aligned with ids, as in HF:
 * the logits of row t predict labels[t+1]). all_logits: every row is a target
 * row (rows without a label get target -1), for parity checks and scoring.
 * Buffers grow as needed. 0 or -1. */
int fs_batch_build(fs_batch_buf *bb, const fs_ops *ops, const int32_t *ids, const int32_t *labels,
                   int B, int T, bool all_logits);
/* Same, with explicit targets: logits of row target_rows[i] (host) predict
 * target_ids[i] (host; < 0 = logits only). */
int fs_batch_build_targets(fs_batch_buf *bb, const fs_ops *ops, const int32_t *ids, int B, int T,
                           const int32_t *target_rows, const int32_t *target_ids, int n_targets);
void fs_batch_free(fs_batch_buf *bb);

/* Finds the runs of image_token_index in host ids [B*T]; each must be exactly
 * n_image_tokens long (the expanded form). Writes their first rows to
 * start_rows and returns how many (or -1 with a message). */
int fs_mllm_image_rows(const fs_mllm *m, const int32_t *ids, int B, int T, int *start_rows,
                       int max_images);

#endif
