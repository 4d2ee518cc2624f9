/* Reading and writing config.json sections (internal to sim/model): shared by
 * the LLaVA config (llava_config.c) and the BLIP-2 / MiniGPT-4 one
 * (blip2_config.c). Every reader fails with "path: "sect.key" is VALUE; why". */
#ifndef FEDSIM_CONFIG_JSON_INTERNAL_H
#define FEDSIM_CONFIG_JSON_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "sim/io/error.h"
#include "sim/model/llava_config.h"

/* Largest size any config key may give. */
#define FS_CJ_MAX_SIZE 1000000

typedef struct {
    const char *path;
    const cJSON *obj; /* the section being read (NULL: absent, all defaults) */
    const char *sect; /* key prefix for messages: "", "vision_config.", "text_config." */
} fs_cj_section;

const char *fs_cj_shown(const cJSON *v, char *buf, size_t cap);
int fs_cj_bad(const fs_cj_section *s, const char *key, const cJSON *v, const char *fmt, ...)
    FS_PRINTF(4, 5);
/* The value of key, or NULL when absent (or null and nullable). */
const cJSON *fs_cj_item(const fs_cj_section *s, const char *key, bool nullable);
int fs_cj_get_int(const fs_cj_section *s, const char *key, bool nullable, int def, int *out);
int fs_cj_get_float(const fs_cj_section *s, const char *key, float def, float *out);
int fs_cj_get_bool(const fs_cj_section *s, const char *key, bool def, bool *out);
/* Requires key (when present) to be one of the allowed strings (NULL-terminated). */
int fs_cj_want_str(const fs_cj_section *s, const char *key, const char *const *allowed,
                   const char *what, const char **out);
/* The section object under key: NULL (absent or null) or an object. */
int fs_cj_sub(const fs_cj_section *top, const char *key, const char *sect, fs_cj_section *out);
/* text_config (LlamaConfig) into c; *s becomes that section. */
int fs_cj_load_text(const fs_cj_section *top, fs_llava_config *c, fs_cj_section *s);
/* image_token_index (image_default when absent; absent or null is allowed only
 * when image_default < 0), tie_word_embeddings and pad_token_id. */
int fs_cj_load_token_ids(const fs_cj_section *top, const fs_cj_section *text, int image_default,
                         fs_llava_config *c);

/* Each size must be in 1..FS_CJ_MAX_SIZE; the message names the key. 0 or -1. */
typedef struct {
    int v;
    const char *key;
} fs_cj_size;
int fs_cj_check_sizes(const char *where, const fs_cj_size *sizes, size_t n);

double fs_cj_short_float(float f);
void fs_cj_put_num(cJSON *o, const char *k, double v);
/* vision_config's hidden, intermediate, layers, heads, image and patch sizes. */
void fs_cj_put_vision_sizes(cJSON *vc, const fs_llava_config *c);
/* text_config as fedsim writes it; NULL when out of memory. */
cJSON *fs_cj_text_config_json(const fs_llava_config *c);
/* Writes root (then deleted; NULL = out of memory) atomically with a final newline. */
int fs_cj_write_json(const char *path, cJSON *root);

/* blip2_config.c: model_type "blip-2". */
int fs_blip2_config_load_vision(const fs_cj_section *top, fs_llava_config *c);
int fs_blip2_config_load_top(const fs_cj_section *top, const fs_cj_section *text,
                             fs_llava_config *c);
int fs_blip2_config_validate(const fs_llava_config *c, const char *where);
cJSON *fs_blip2_config_json(const fs_llava_config *c);

#endif
