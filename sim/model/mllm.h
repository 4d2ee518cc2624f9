/* The LLaVA-1.5 architecture, faithful to Hugging Face
 * LlavaForConditionalGeneration: CLIP ViT vision tower -> 2-layer GELU
 * projector (or one linear layer: the MiniGPT-4-style preset) -> LLaMA
 * decoder, image features spliced at <image> positions. And MiniGPT-4's,
 * faithful to Blip2ForConditionalGeneration with a LLaMA decoder (cfg.blip2):
 * EVA ViT -> Q-Former (learned queries cross-attending to the image tokens)
 * -> one linear language_projection -> the same LLaMA decoder, the projected
 * queries spliced at the image-token positions. Its vision side and Q-Former
 * are forward only (frozen, features cached; qformer.c).
 *
 * Three passes:
 *  - forward (images -> features; embeddings -> logits at chosen rows, loss);
 *  - input-backward: gradient of the loss w.r.t. the LLM input embeddings only,
 *    all weights frozen (the federated-tuning path: NanoAdapters sit before the LLM);
 *  - full backward: weight gradients of every part (the pretraining path),
 *    enabled by fs_mllm_enable_grads.
 *
 * Parameters live in one backend buffer (params) in F32; gradients, when
 * enabled, in a twin buffer with the same layout. A model loaded frozen
 * (fs_mllm_load_frozen: the federated path, which never changes the MLLM)
 * keeps its matrices in the checkpoint's 16-bit dtype instead, memory-mapped
 * on the CPU or in one bf16 device buffer (stored) on CUDA; only norms,
 * biases and the vision embeddings are in params then. */
#ifndef FEDSIM_MLLM_H
#define FEDSIM_MLLM_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "sim/model/llava_config.h"

typedef struct {
    fs_tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b,
        fc2_w, fc2_b;
    /* BLIP-2 / EVA: one fused [3 hidden, hidden] qkv weight (and bias); q_*,
     * k_* and v_* are then views of its three row blocks (params.c). */
    fs_tensor qkv_w, qkv_b;
} fs_vit_layer;

typedef struct {
    fs_tensor patch_w; /* [hidden, channels, patch, patch], used as [hidden, channels*patch*patch] */
    fs_tensor patch_b; /* BLIP-2 only (CLIP's patch conv has no bias) */
    fs_tensor class_emb, pos_emb, pre_ln_w, pre_ln_b, post_ln_w, post_ln_b;
    fs_vit_layer *layers;
} fs_vit;

/* A BERT attention block of the Q-Former: LayerNorm(x + dense(attn(q(x), k(src), v(src)))). */
typedef struct {
    fs_tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln_w, ln_b;
} fs_qformer_attn;

typedef struct {
    fs_qformer_attn self, cross; /* cross has no data in layers without cross-attention */
    fs_tensor ffn_in_w, ffn_in_b, ffn_out_w, ffn_out_b, ffn_ln_w, ffn_ln_b; /* *_query FFN */
} fs_qformer_layer;

typedef struct {
    fs_tensor query_tokens; /* [1, n_query_tokens, q_hidden] */
    fs_tensor ln_w, ln_b;   /* on the query tokens before the first layer */
    fs_qformer_layer *layers;
} fs_qformer;

typedef struct {
    fs_tensor in_norm_w, q_w, k_w, v_w, o_w, post_norm_w, gate_w, up_w, down_w;
} fs_llama_layer;

typedef struct {
    fs_tensor embed, norm_w, lm_head; /* lm_head aliases embed when tied */
    fs_llama_layer *layers;
} fs_llama;

typedef struct {
    /* l2_* have no data with a linear projector; BLIP-2's language_projection is l1. */
    fs_tensor l1_w, l1_b, l2_w, l2_b;
} fs_projector;

typedef struct fs_mllm {
    fs_llava_config cfg;
    const fs_ops *ops;
    fs_vit vit;
    fs_qformer qformer; /* cfg.blip2 only */
    fs_projector proj;
    fs_llama llm;
    float *params; /* backend memory, nparams floats */
    float *grads;  /* NULL unless fs_mllm_enable_grads */
    size_t nparams; /* floats in params (all parameters unless frozen) */
    bool frozen;    /* loaded by fs_mllm_load_frozen: no gradients, no saving */
    void *stored;   /* CUDA, frozen: the bf16 matrices (backend memory) */
    struct fs_st_archive *mapped; /* CPU, frozen: the mmapped checkpoint the matrices point into */
    /* Derived sizes. */
    int n_patches;      /* (image_size / patch_size)^2 */
    int n_image_tokens; /* features per image fed to the LLM */
    int vit_layers_used; /* encoder layers needed for hidden_states[vision_feature_layer] */
} fs_mllm;

/* One named parameter of the checkpoint, for loading, saving and counting. */
typedef struct {
    char name[160];
    fs_tensor *slot;
    const char *part; /* "vision", "qformer", "projector", "llm" */
} fs_param_ref;

/* Parameter counts by part, from the configuration alone (nothing allocated
 * for the weights). embed: the token embedding table (part of llm). */
typedef struct {
    size_t vision, qformer, projector, llm, embed, total; /* qformer: 0 unless cfg.blip2 */
    /* What a NanoEdge client keeps of the frozen MLLM: the modality side
     * (vision + qformer + projector) and the token embeddings. */
    size_t client;
} fs_param_counts;
int fs_mllm_count_params(const fs_llava_config *cfg, fs_param_counts *out);

/* Loads a Hugging Face LLaVA (or BLIP-2 with a LLaMA decoder) directory
 * (config.json + model.safetensors or a sharded index) with every weight converted to F32. Accepts both the legacy
 * (language_model.model.*) and the newer (model.language_model.*) tensor
 * names. NULL + fs_last_error(). */
fs_mllm *fs_mllm_load(const char *dir, const fs_ops *ops);
/* The same checkpoint for forward and input-backward only: linear weights and
 * the embedding tables stay as stored (F32, BF16 or F16), read in place from
 * the mmapped files on the CPU (nothing is copied; pages are read as the
 * forward touches them), uploaded as bf16 on CUDA (F16 rounded to bf16,
 * the dtype its GEMMs take). Everything else is F32 in params. What a
 * LLaVA-1.5-7B checkpoint needs: 14 GB bf16 instead of 28 GB fp32. */
fs_mllm *fs_mllm_load_frozen(const char *dir, const fs_ops *ops);

/* What fs_mllm_check_checkpoint found. */
typedef struct {
    int n_tensors;        /* tensors the config needs, all present */
    int n_files;          /* .safetensors files (shards) */
    int n_by_dtype[3];    /* of those tensors, per fs_dtype */
    size_t n_params;      /* their elements */
    size_t bytes;         /* their bytes as stored */
    int n_unused;         /* tensors in the files that the config does not need */
    char first_unused[200];
} fs_checkpoint_summary;
/* Checks a checkpoint directory against its config.json without reading any
 * weight: config.json is supported, every tensor it implies is present
 * (either name layout) with the right shape and a readable dtype, every shard
 * of the index exists and its header is sound. Shards are mmapped; only the
 * headers are read, so this takes milliseconds at 7B. cfg and summary may be
 * NULL. 0, or -1 + fs_last_error() naming the file and the tensor. */
int fs_mllm_check_checkpoint(const char *dir, fs_llava_config *cfg, fs_checkpoint_summary *summary);
/* The model's structure without weights: every slot has its shape and no
 * data (for listing, counting, checking). Free with fs_mllm_free. */
fs_mllm *fs_mllm_new_shell(const fs_llava_config *cfg);
/* A randomly initialised model (uniform(+-1/sqrt(fan_in)) weights, unit norms, zero biases). */
fs_mllm *fs_mllm_new_random(const fs_llava_config *cfg, const fs_ops *ops, uint64_t seed);
/* Writes config.json + model.safetensors (legacy HF names) into dir (created
 * if missing). Refused for a frozen model. */
int fs_mllm_save(const fs_mllm *m, const char *dir);
void fs_mllm_free(fs_mllm *m);
/* Allocates (zeroed) weight gradients for the full backward. 0 or -1 (also
 * for a frozen model). */
int fs_mllm_enable_grads(fs_mllm *m);
/* The gradient slot of a parameter (NULL when gradients are off). */
float *fs_mllm_grad_of(const fs_mllm *m, const fs_tensor *param);
/* All parameters in checkpoint order; *n set to the count. Owned by the caller (free()). */
fs_param_ref *fs_mllm_param_list(fs_mllm *m, int *n);

/* ---- vision tower + projector ---- */
typedef struct fs_vision_acts fs_vision_acts;
fs_vision_acts *fs_vision_acts_new(const fs_mllm *m, int max_images);
void fs_vision_acts_free(const fs_mllm *m, fs_vision_acts *a);
/* pixels: host [nimg, channels, image_size, image_size] (already CLIP-normalised).
 * features: backend [nimg, n_image_tokens, text_hidden]. */
int fs_mllm_encode_images(const fs_mllm *m, fs_vision_acts *a, const float *pixels, int nimg,
                          float *features);
/* Weight gradients of the projector alone from d features (a frozen vision
 * tower, as in LLaVA's training), full backward only. */
void fs_mllm_projector_backward(const fs_mllm *m, fs_vision_acts *a, const float *dfeatures,
                                int nimg);
/* Weight gradients of vision tower + projector from d features (full backward
 * only; not for BLIP-2, whose vision side is forward only: callers refuse it). */
void fs_mllm_encode_images_backward(const fs_mllm *m, fs_vision_acts *a, const float *dfeatures,
                                    int nimg);

/* ---- language model ---- */
/* A batch of B right-padded sequences of length T. Arrays are backend memory
 * unless marked host. */
typedef struct {
    int B, T;
    const int32_t *ids;       /* [B*T] token ids */
    const int32_t *positions; /* [B*T] rotary positions */
    int n_targets;
    const int32_t *target_rows; /* [n_targets] row b*T+t whose logits predict target_ids */
    const int32_t *target_ids;  /* [n_targets] next token; < 0 = logits wanted but no loss */
    int n_valid_targets;        /* host: number of target_ids >= 0 (loss normaliser) */
    /* [n_targets x vocab] added to the logits before the loss, or NULL. A
     * large negative entry takes a token out of the softmax: the loss and its
     * gradient are then those of the softmax over the remaining tokens. */
    const float *logit_bias;
} fs_llm_batch;

typedef struct fs_llm_acts fs_llm_acts;
fs_llm_acts *fs_llm_acts_new(const fs_mllm *m, int max_rows, int max_targets);
void fs_llm_acts_free(const fs_mllm *m, fs_llm_acts *a);

/* embeds[r] = embedding(ids[r]) for every row (image rows are overwritten by
 * fs_mllm_splice_images). */
void fs_mllm_embed_tokens(const fs_mllm *m, const fs_llm_batch *b, float *embeds);
/* Copies n_image_tokens feature rows of image i to embeds rows start_rows[i] ... (host array). */
void fs_mllm_splice_images(const fs_mllm *m, float *embeds, const float *features, int nimg,
                           const int *start_rows);
/* Gathers the gradient of image features from d embeds (inverse of splice). */
void fs_mllm_gather_image_grads(const fs_mllm *m, float *dfeatures, const float *dembeds,
                                int nimg, const int *start_rows);

/* Runs the decoder on embeds [B*T, hidden]; returns the mean cross-entropy over
 * valid targets (0 when none). Logits at the target rows stay in the acts. */
double fs_llm_forward(const fs_mllm *m, fs_llm_acts *a, const fs_llm_batch *b,
                      const float *embeds);
/* Logits [n_targets, vocab] of the last forward (backend memory). */
const float *fs_llm_logits(const fs_llm_acts *a);
/* Final-norm hidden states [n_targets, hidden] at the target rows of the last
 * forward (backend memory): the last-layer state that predicts each target. */
const float *fs_llm_target_hidden(const fs_llm_acts *a);
/* Per-target cross-entropy of the last forward [n_targets] (backend memory; 0 for targets < 0). */
const float *fs_llm_row_losses(const fs_llm_acts *a);
/* Backpropagates L = sum_i w_i loss_i of the last forward, with w = target_weights
 * (host [n_targets]) or, when NULL, the mean (w_i = 1/n_valid_targets).
 * dembeds += dL/d embeds (may be NULL); weight gradients accumulate when enabled. */
void fs_llm_backward(const fs_mllm *m, fs_llm_acts *a, const fs_llm_batch *b, float *dembeds,
                     const float *target_weights);

#endif
