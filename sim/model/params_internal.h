/* Shared by params.c and hf_load.c: the fp32 parameter arena. */
#ifndef FEDSIM_PARAMS_INTERNAL_H
#define FEDSIM_PARAMS_INTERNAL_H

#include <stdbool.h>

#include "sim/model/mllm.h"

/* Sets m->ops and allocates the F32 arena (zeroed backend memory) for the
 * parameters of fs_mllm_param_list whose in_arena entry is true (NULL: all),
 * pointing their slots into it, then links the views (fs_mllm_link_views). The other
 * slots keep their shapes and no data, for the caller to fill. 0 or -1. */
int fs_mllm_alloc_arena(fs_mllm *m, const fs_ops *ops, const bool *in_arena);
/* Points the slots that are views of others at their data: a tied lm_head at
 * embed, BLIP-2's q/k/v weights and biases at the row blocks of the fused
 * qkv ones. Call again whenever the slots' data or dtype change. */
void fs_mllm_link_views(fs_mllm *m);

#endif
