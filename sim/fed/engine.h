/* The shared frozen model, driven for many clients at once.
 *
 * An item is (sample, adapter slot): a micro-batch mixes items of many
 * clients, each row carrying the index of the adapter it uses, through ONE
 * pass of the frozen LLM (grouped LoRA). Image features come from a cache
 * computed once, since the vision tower and projector are frozen and sit
 * before the adapters. The backward pass goes to the LLM inputs only, then
 * into the adapters of each row's client. */
#ifndef FEDSIM_ENGINE_H
#define FEDSIM_ENGINE_H

#include "sim/fed/adapter.h"
#include "sim/fed/task.h"
#include "sim/io/progress.h"
#include "sim/model/batch.h"
#include "sim/model/mllm.h"

typedef struct fs_item {
    int sample; /* index into task->samples */
    int slot;   /* adapter slot (client) in the bank(s) applied */
} fs_item;

/* Up to two adapter banks applied together: out = x + w1 * lora1(x) + w2 * lora2(x),
 * with per-item weights (NULL = 1): e.g. a method mixing a global and a local adapter. */
typedef struct {
    const fs_adapter_bank *bank;
    const float *item_weight; /* host [n_items] or NULL */
    bool single;              /* bank holds one adapter used by every item (slot ignored) */
} fs_adapter_use;

typedef struct fs_engine fs_engine;

/* max_rows: padded rows per LLM pass (memory bound; raised to the longest
 * sample when below it); micro-batches are chunked to it. */
fs_engine *fs_engine_new(const fs_mllm *m, const fs_task *task, int max_rows);
void fs_engine_free(fs_engine *e);
/* Encodes every image of the task once into the feature cache. */
int fs_engine_cache_features(fs_engine *e);
/* The same, reporting the images done on progress (NULL: silently): with
 * a real dataset on a 7B model this takes minutes. */
int fs_engine_cache_features_progress(fs_engine *e, fs_progress *progress);
int fs_engine_dim(const fs_engine *e);
/* Items of the task's longest sample that one pass holds (>= 1). */
int fs_engine_items_per_pass(const fs_engine *e);
const fs_ops *fs_engine_ops(const fs_engine *e);
const fs_mllm *fs_engine_model(const fs_engine *e);
const fs_sample *fs_engine_sample(const fs_engine *e, int i);

/* Forward over items; loss[i] = -log p(answer letter), logp[i * FS_MAX_CHOICES + c] = log p(letter c)
 * (host arrays, may be NULL). Adapters as in uses[0..nuses). */
int fs_engine_forward(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                      int nuses, float *loss, float *logp);

/* hidden (host [n x d]) = the last-layer (final-norm) hidden state of each item's last
 * prompt token, the row whose logits score the answer letter. */
int fs_engine_last_hidden(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                          int nuses, float *hidden);

/* Training pass: forward + backward of L = sum_i item_loss_weight[i] * loss_i, accumulating
 * the gradient of the adapters of uses[0] into grads (same shape as uses[0].bank). When
 * fisher is not NULL, also accumulates fisher_weight[i] * (d loss_i / d theta)^2 per item into
 * fisher (per-sample squared gradients from the same backward pass).
 * loss_i is the cross-entropy of the answer letter over the whole vocabulary when
 * choice_targets is NULL (training); otherwise -log of the softmax restricted to item i's
 * choice letters at letter choice_targets[i] (host; the model Fisher's distribution).
 * loss (host [n], may be NULL) receives per-item losses. */
int fs_engine_backward(fs_engine *e, const fs_item *items, int n, const fs_adapter_use *uses,
                       int nuses, const float *item_loss_weight, const int *choice_targets,
                       fs_adapter_bank *grads, fs_adapter_bank *fisher,
                       const float *fisher_weight, float *loss);

#endif
