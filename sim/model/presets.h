/* Built-in architecture presets. */
#ifndef FEDSIM_PRESETS_H
#define FEDSIM_PRESETS_H

#include "sim/model/llava_config.h"

/* A tiny LLaVA-architecture configuration (all features exercised: GQA,
 * projector biases, feature layer -2) for demos and tests. */
fs_llava_config fs_llava_config_tiny(void);
/* llava-hf/llava-1.5-7b-hf and llava-1.5-13b-hf: CLIP ViT-L/14-336, 2-layer
 * GELU projector, Vicuna-7B / -13B (vocabulary 32064 with <image> = 32000,
 * <pad> = 32001). */
fs_llava_config fs_llava_config_llava15_7b(void);
fs_llava_config fs_llava_config_llava15_13b(void);
/* The MiniGPT-4-style preset: LLaVA-1.5-7B with a single linear projector
 * (frozen ViT -> linear -> LLM; see models/README.md for what real MiniGPT-4
 * checkpoints add). */
fs_llava_config fs_llava_config_minigpt4_style(void);
/* MiniGPT-4 (7B) as scripts/convert_minigpt4.py writes it: BLIP-2's EVA
 * ViT-g/14 (39 blocks, 224 px), Q-Former (12 layers, 32 queries), llama_proj,
 * Vicuna-7B with <image> = 32000 and <pad> = 32001 added (vocabulary 32002). */
fs_llava_config fs_llava_config_minigpt4_7b(void);
/* A preset by name: "tiny", "llava-1.5-7b", "llava-1.5-13b",
 * "minigpt4-style-7b", "minigpt4-7b". 0, or -1 + fs_last_error() listing the names. */
int fs_llava_config_preset(const char *name, fs_llava_config *out);

#endif
