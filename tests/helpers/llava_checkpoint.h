/* Writes Hugging Face LLaVA checkpoint directories the way the hub's are laid
 * out, so loading is tested at full size without the real weights:
 * config.json (the keys llava-hf/llava-1.5-*-hf carry), shards named
 * model-0000i-of-0000N.safetensors filled greedily in checkpoint order up to
 * max_shard_bytes (save_pretrained's split; the hub used 5 GB, which gives
 * llava-1.5-7b-hf's 4.99 / 4.96 / 4.18 GB), and model.safetensors.index.json.
 * Tensor names are the legacy layout, shapes follow the config. A BLIP-2
 * (MiniGPT-4) config gets fedsim's config.json and Blip2 tensor names, as
 * scripts/convert_minigpt4.py writes them.
 *
 * Sparse mode writes each shard's header and then only the first and last
 * 4 KiB of every tensor (random bytes); the rest are holes, so a 13.5 GB
 * LLaVA-1.5-7B costs a few MB of disk and well under a second. Random mode
 * writes every value (fs_mllm_new_random's initialisation rounded to the
 * dtype), for checkpoints that are run. */
#ifndef FEDSIM_TEST_LLAVA_CHECKPOINT_H
#define FEDSIM_TEST_LLAVA_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "sim/model/llava_config.h"

typedef struct {
    fs_dtype dtype;           /* of every tensor (random F16 values are truncated from f32) */
    uint64_t max_shard_bytes; /* e.g. 5000000000 as on the hub */
    bool sparse;
    uint64_t seed;
} tu_ckpt_opts;

/* Writes the directory dir (created if missing). 0, or -1 + fs_last_error(). */
int tu_write_llava_checkpoint(const char *dir, const fs_llava_config *cfg, const tu_ckpt_opts *o);

#endif
