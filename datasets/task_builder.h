/* From a dataset directory (fedsim-mcqa-1, datasets/README.md) to the
 * in-memory fs_task the simulator consumes: LLaVA-1.5 (or MiniGPT-4) prompts tokenised with
 * the model's vocabulary, the <image> placeholder expanded to the model's
 * image tokens, images (any size) decoded and preprocessed like the Hugging
 * Face CLIP image processor (datasets/clip_image.h), categories made dense. */
#ifndef FEDSIM_TASK_BUILDER_H
#define FEDSIM_TASK_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/clip_image.h"
#include "sim/fed/task.h"
#include "sim/model/mllm.h"
#include "sim/model/tokenizer.h"

/* Prompt templates (context omitted when empty, no image part for text-only
 * items), tokenised with <s> prepended; the answer is the next token, a
 * choice letter.
 * LLaVA-1.5:
 *   USER: <image>\n{context} {question} Options: (A) {c0} (B) {c1} ... ASSISTANT: Answer:
 * MiniGPT-4 (BLIP-2 models), its stage-2 template "###Human: {} ###Assistant: "
 * around its image instruction "<Img><ImageHere></Img> {}", with <image> as
 * the placeholder the model's query outputs replace:
 *   ###Human: <Img><image></Img> {context} {question} Options: (A) {c0} ... ###Assistant: Answer: */
#define FS_PROMPT_USER "USER:"
#define FS_PROMPT_OPTIONS "Options:"
#define FS_PROMPT_ASSISTANT "ASSISTANT: Answer:"
#define FS_PROMPT_MINIGPT4_HUMAN "###Human:"
#define FS_PROMPT_MINIGPT4_IMAGE "<Img><image></Img>"
#define FS_PROMPT_MINIGPT4_ASSISTANT "###Assistant: Answer:"

typedef enum { FS_PROMPT_LLAVA = 0, FS_PROMPT_MINIGPT4 = 1 } fs_prompt_style;

/* The template of a model: MiniGPT-4's for a BLIP-2 model, else LLaVA-1.5's. */
fs_prompt_style fs_prompt_style_of(const fs_mllm *m);

/* Formats the prompt text of one example into buf (before tokenisation).
 * Returns the length needed (like snprintf). */
size_t fs_prompt_format(char *buf, size_t len, fs_prompt_style style, const char *context,
                        const char *question, const char *const *choices, int n_choices,
                        int with_image);

/* Loads dataset_dir into out. partition_key: "category", "skill" or "subject"
 * (NULL = "category"): the example field that becomes fs_sample.category.
 * Checks the vocabulary against the model (size, <image> id, <pad> id).
 * Images of any size are preprocessed with clip (NULL = CLIP's defaults at
 * cfg.v_image_size; fs_clip_options_load reads a model's
 * preprocessor_config.json) into [n_images, 3, S, S], S = cfg.v_image_size.
 * 0, or -1 + fs_last_error() naming the file (and examples.jsonl line) of the
 * problem; out is zeroed on failure. */
int fs_task_load_clip(const char *dataset_dir, const fs_tokenizer *tok, const fs_mllm *m,
                      const fs_clip_options *clip, const char *partition_key, fs_task *out);
/* fs_task_load_clip with CLIP's default preprocessing. */
int fs_task_load(const char *dataset_dir, const fs_tokenizer *tok, const fs_mllm *m,
                 const char *partition_key, fs_task *out);

/* Moves every sample of src into dst (src is emptied and freed), tagging them
 * with source = source_id; images are appended, category names merged (sorted)
 * and both tasks' category ids remapped. dst may be zero-initialised (it then
 * adopts src). Both tasks must come from the same tokenizer and image size and
 * still hold their pixels. 0 or -1 (dst and src unchanged on failure). */
int fs_task_concat(fs_task *dst, fs_task *src, int source_id);

/* Makes sure synthetic dataset name ("synth-iconqa" | "synth-scienceqa") with
 * the given seed and image size (default split sizes FS_SYNTH_DEFAULT_TRAIN and
 * FS_SYNTH_DEFAULT_TEST) exists under cache_dir as
 * <cache_dir>/<name>-g<FS_SYNTH_GENERATION>-s<seed>-i<size>-n<train>+<test>/, generating it
 * atomically if absent; writes that path into out_dir. 0 or -1. */
int fs_synth_ensure(const char *name, const char *cache_dir, uint64_t seed, int image_size,
                    char *out_dir, size_t out_len);

#endif
