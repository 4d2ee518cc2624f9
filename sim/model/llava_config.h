/* Hugging Face LlavaConfig (config.json of LlavaForConditionalGeneration):
 * CLIP vision tower + LLaMA decoder; also Blip2Config with a LLaMA
 * text_config (Blip2ForConditionalGeneration: MiniGPT-4), see blip2 below. Absent keys take Hugging Face's defaults;
 * anything fedsim does not implement is rejected with a message naming the
 * file, the key and the value. */
#ifndef FEDSIM_LLAVA_CONFIG_H
#define FEDSIM_LLAVA_CONFIG_H

#include <stdbool.h>

typedef struct {
    /* vision_config (CLIPVisionConfig) */
    int v_hidden, v_intermediate, v_layers, v_heads, v_image_size, v_patch_size, v_channels;
    float v_layer_norm_eps;
    /* text_config (LlamaConfig) */
    int t_vocab, t_hidden, t_intermediate, t_layers, t_heads, t_kv_heads, t_head_dim, t_max_pos;
    float t_rms_eps, t_rope_theta;
    bool tie_word_embeddings;
    /* LlavaConfig */
    int image_token_index;
    int vision_feature_layer; /* negative = from the end, as in HF hidden_states indexing */
    bool projector_bias;      /* multimodal_projector_bias, default true */
    /* "mm_projector_type" (the original LLaVA code's key; transformers has no
     * such option): "mlp2x_gelu" (default, false) = LLaVA-1.5's linear-GELU-
     * linear, as in HF; "linear" (true) = one linear layer vision -> LLM, the
     * MiniGPT-4 / LLaVA-1 style preset. Only fedsim reads the latter. */
    bool projector_linear;
    int pad_token_id;         /* -1 if absent */
    /* vision_feature_select_strategy: false = "default" (drop the CLS token),
     * true = "full" (keep it). */
    bool v_select_full;
    /* Blip2Config (model_type "blip-2"), the MiniGPT-4 architecture: EVA ViT
     * (fused qkv, patch bias, no pre-norm, exact GELU, post_layernorm on all
     * tokens) -> Q-Former (n_query_tokens learned queries, cross-attention
     * into the image tokens every q_cross_freq layers) -> one linear
     * language_projection -> the LLaMA decoder. The LLaVA-only keys above
     * (vision_feature_layer, select strategy, projector flags) are unused. */
    bool blip2;
    bool v_qkv_bias; /* vision_config.qkv_bias: q and v biases (k's is stored, zero in EVA) */
    int q_hidden, q_intermediate, q_layers, q_heads, q_cross_freq, n_query_tokens;
    float q_layer_norm_eps;
} fs_llava_config;

/* 0, or -1 + fs_last_error(); out is written only on success. */
int fs_llava_config_load(const char *config_json_path, fs_llava_config *out);
/* Validates c and writes an HF-loadable config.json atomically (tmp, fsync, rename). */
int fs_llava_config_save(const char *config_json_path, const fs_llava_config *c);
/* Checks the sizes are positive, sane and consistent (0 or -1; the message names
 * the config.json keys, prefixed by where). */
int fs_llava_config_validate(const fs_llava_config *c, const char *where);
/* The same sizes (what a pretrain config's model: section sets, and the
 * vocabulary they imply): weights of one fit the other. */
bool fs_llava_config_same_sizes(const fs_llava_config *a, const fs_llava_config *b);

#endif
