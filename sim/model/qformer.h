/* BLIP-2's Q-Former (internal to sim/model; vit.c runs it after the EVA
 * tower): n_query_tokens learned queries, LayerNorm'd, through q_layers BERT
 * layers (post-norm self-attention over the queries; cross-attention into
 * the image tokens every q_cross_freq layers; the query FFN), as
 * transformers' Blip2QFormerModel with query tokens only. Forward only. */
#ifndef FEDSIM_QFORMER_H
#define FEDSIM_QFORMER_H

#include "sim/model/mllm.h"

typedef struct fs_qformer_acts fs_qformer_acts;
fs_qformer_acts *fs_qformer_acts_new(const fs_mllm *m, int max_images);
void fs_qformer_acts_free(fs_qformer_acts *a);
/* image: backend [nimg, n_patches + 1, v_hidden] (post_layernorm'd tower
 * output); out: backend [nimg, n_query_tokens, q_hidden]. */
void fs_qformer_forward(const fs_mllm *m, fs_qformer_acts *a, const float *image, int nimg,
                        float *out);

#endif
