/* Hugging Face LlavaConfig: config.json reading (HF defaults, strict checks
 * of everything fedsim does not implement) and atomic writing. */
#include "llava_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/atomic_file.h"
#include "sim/io/error.h"
#include "sim/model/config_json_internal.h"

#define CFG_MAX_FILE (16u << 20)
#define CFG_MAX_SIZE FS_CJ_MAX_SIZE


/* A short JSON rendering of a value for messages. */
const char *fs_cj_shown(const cJSON *v, char *buf, size_t cap)
{
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(buf, cap, "%s", s ? s : "?");
    if (s && strlen(s) >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    cJSON_free(s);
    return buf;
}

/* "path: "sect.key" is VALUE; <rest>" */
int fs_cj_bad(const fs_cj_section *s, const char *key, const cJSON *v, const char *fmt, ...)
{
    char rest[768], vb[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    return fs_fail("%s: \"%s%s\" is %s; %s", s->path, s->sect, key, fs_cj_shown(v, vb, sizeof vb), rest);
}

/* The value of key, or NULL when absent (or null and nullable). */
const cJSON *fs_cj_item(const fs_cj_section *s, const char *key, bool nullable)
{
    const cJSON *v = s->obj ? cJSON_GetObjectItemCaseSensitive(s->obj, key) : NULL;
    return v && nullable && cJSON_IsNull(v) ? NULL : v;
}

int fs_cj_get_int(const fs_cj_section *s, const char *key, bool nullable, int def, int *out)
{
    const cJSON *v = fs_cj_item(s, key, nullable);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsNumber(v)) return fs_cj_bad(s, key, v, "expected an integer");
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -2147483648.0 || d > 2147483647.0)
        return fs_cj_bad(s, key, v, "expected an integer (32-bit)");
    *out = (int)d;
    return 0;
}

int fs_cj_get_float(const fs_cj_section *s, const char *key, float def, float *out)
{
    const cJSON *v = fs_cj_item(s, key, false);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > FLT_MAX)
        return fs_cj_bad(s, key, v, "expected a finite number");
    *out = (float)v->valuedouble;
    return 0;
}

int fs_cj_get_bool(const fs_cj_section *s, const char *key, bool def, bool *out)
{
    const cJSON *v = fs_cj_item(s, key, false);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return fs_cj_bad(s, key, v, "expected true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Requires key (when present) to be one of the allowed strings (NULL-terminated). */
int fs_cj_want_str(const fs_cj_section *s, const char *key, const char *const *allowed,
                    const char *what, const char **out)
{
    const cJSON *v = fs_cj_item(s, key, false);
    if (out) *out = allowed[0];
    if (!v) return 0;
    if (!cJSON_IsString(v)) return fs_cj_bad(s, key, v, "expected a string");
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(v->valuestring, allowed[i])) {
            if (out) *out = allowed[i];
            return 0;
        }
    return fs_cj_bad(s, key, v, "fedsim supports %s", what);
}

/* rope_scaling / rope_parameters: only the plain ("default") rotary embedding. */
static int check_rope(const fs_cj_section *s, const char *key, float *theta, bool *theta_set)
{
    const cJSON *v = fs_cj_item(s, key, true);
    if (!v) return 0;
    if (!cJSON_IsObject(v))
        return fs_cj_bad(s, key, v, "expected an object or null; fedsim supports only the default "
                   "rotary embedding (no rope scaling)");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(v, "rope_type");
    if (!ty) ty = cJSON_GetObjectItemCaseSensitive(v, "type");
    if (ty && !(cJSON_IsString(ty) && !strcmp(ty->valuestring, "default")))
        return fs_cj_bad(s, key, v, "fedsim supports only rope_type \"default\" (no rope scaling)");
    if (!ty && !strcmp(key, "rope_scaling"))
        return fs_cj_bad(s, key, v, "fedsim supports no rope scaling (rope_scaling must be null)");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "rope_theta");
    if (t && theta) {
        if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble) || fabs(t->valuedouble) > FLT_MAX)
            return fs_cj_bad(s, key, v, "its rope_theta must be a finite number");
        *theta = (float)t->valuedouble;
        *theta_set = true;
    }
    return 0;
}

static int no_bias(const fs_cj_section *s, const char *key)
{
    bool b;
    if (fs_cj_get_bool(s, key, false, &b)) return -1;
    if (b) return fs_cj_bad(s, key, fs_cj_item(s, key, false), "fedsim's LLaMA has no attention/MLP biases");
    return 0;
}

/* The fs_cj_section object under key: NULL (absent or null) or an object. */
int fs_cj_sub(const fs_cj_section *top, const char *key, const char *sect, fs_cj_section *out)
{
    const cJSON *v = fs_cj_item(top, key, true);
    *out = (fs_cj_section){top->path, v, sect};
    if (v && !cJSON_IsObject(v)) return fs_cj_bad(top, key, v, "expected an object");
    return 0;
}

static int load_vision(const fs_cj_section *top, fs_llava_config *c)
{
    static const char *const clip[] = {"clip_vision_model", NULL};
    static const char *const qgelu[] = {"quick_gelu", NULL};
    fs_cj_section s;
    if (fs_cj_sub(top, "vision_config", "vision_config.", &s)) return -1;
    /* No vision_config at all: LlavaConfig builds a CLIP ViT-L/14-336; otherwise
     * absent keys take CLIPVisionConfig's defaults. */
    bool l336 = s.obj == NULL;
    if (fs_cj_want_str(&s, "model_type", clip, "only CLIP vision towers (\"clip_vision_model\")",
                 NULL) ||
        fs_cj_want_str(&s, "hidden_act", qgelu, "only \"quick_gelu\" for the CLIP tower", NULL) ||
        fs_cj_get_int(&s, "hidden_size", false, l336 ? 1024 : 768, &c->v_hidden) ||
        fs_cj_get_int(&s, "intermediate_size", false, l336 ? 4096 : 3072, &c->v_intermediate) ||
        fs_cj_get_int(&s, "num_hidden_layers", false, l336 ? 24 : 12, &c->v_layers) ||
        fs_cj_get_int(&s, "num_attention_heads", false, l336 ? 16 : 12, &c->v_heads) ||
        fs_cj_get_int(&s, "image_size", false, l336 ? 336 : 224, &c->v_image_size) ||
        fs_cj_get_int(&s, "patch_size", false, l336 ? 14 : 32, &c->v_patch_size) ||
        fs_cj_get_int(&s, "num_channels", false, 3, &c->v_channels) ||
        fs_cj_get_float(&s, "layer_norm_eps", 1e-5f, &c->v_layer_norm_eps))
        return -1;
    return 0;
}

int fs_cj_load_text(const fs_cj_section *top, fs_llava_config *c, fs_cj_section *s)
{
    static const char *const llama[] = {"llama", NULL};
    static const char *const silu[] = {"silu", NULL};
    if (fs_cj_sub(top, "text_config", "text_config.", s)) return -1;
    if (fs_cj_want_str(s, "model_type", llama, "only LLaMA decoders (\"llama\"; Vicuna and other "
                 "LLaMA fine-tunes use it too)", NULL) ||
        fs_cj_want_str(s, "hidden_act", silu, "only \"silu\" for the LLaMA decoder", NULL) ||
        fs_cj_get_int(s, "vocab_size", false, 32000, &c->t_vocab) ||
        fs_cj_get_int(s, "hidden_size", false, 4096, &c->t_hidden) ||
        fs_cj_get_int(s, "intermediate_size", false, 11008, &c->t_intermediate) ||
        fs_cj_get_int(s, "num_hidden_layers", false, 32, &c->t_layers) ||
        fs_cj_get_int(s, "num_attention_heads", false, 32, &c->t_heads) ||
        fs_cj_get_int(s, "num_key_value_heads", true, c->t_heads, &c->t_kv_heads) ||
        fs_cj_get_int(s, "max_position_embeddings", false, 2048, &c->t_max_pos) ||
        fs_cj_get_float(s, "rms_norm_eps", 1e-6f, &c->t_rms_eps) ||
        no_bias(s, "attention_bias") || no_bias(s, "mlp_bias"))
        return -1;
    if (!fs_cj_item(s, "head_dim", true) && c->t_heads > 0 && c->t_hidden % c->t_heads)
        return fs_fail("%s: \"text_config.hidden_size\" (%d) is not divisible by "
                       "\"text_config.num_attention_heads\" (%d) and no head_dim is given",
                       s->path, c->t_hidden, c->t_heads);
    if (fs_cj_get_int(s, "head_dim", true, c->t_heads > 0 ? c->t_hidden / c->t_heads : 0,
                &c->t_head_dim))
        return -1;
    float theta = 10000.0f, ptheta = 0;
    bool pset = false;
    if (fs_cj_get_float(s, "rope_theta", 10000.0f, &theta) ||
        check_rope(s, "rope_scaling", NULL, NULL) ||
        check_rope(s, "rope_parameters", &ptheta, &pset))
        return -1;
    if (pset && fs_cj_item(s, "rope_theta", false) && ptheta != theta)
        return fs_cj_bad(s, "rope_theta", fs_cj_item(s, "rope_theta", false), "it disagrees with "
                   "text_config.rope_parameters.rope_theta (%g); keep one", (double)ptheta);
    c->t_rope_theta = pset ? ptheta : theta;
    return 0;
}

/* A key that may sit at top level or in text_config; both present must agree. */
int fs_cj_top_or_text(const fs_cj_section *top, const fs_cj_section *text, const char *key,
                       const cJSON **out, fs_cj_section *where)
{
    const cJSON *a = fs_cj_item(top, key, true), *b = fs_cj_item(text, key, true);
    if (a && b && !cJSON_Compare(a, b, true)) {
        char vb[96];
        return fs_cj_bad(top, key, a, "it disagrees with \"text_config.%s\" (%s); keep one", key,
                   fs_cj_shown(b, vb, sizeof vb));
    }
    *out = a ? a : b;
    *where = a ? *top : *text;
    return 0;
}

/* tie_word_embeddings may be written at top level and in text_config with
 * different values (transformers 5 writes top-level true with text false for
 * a tied LLaVA). The transformers version that wrote the file decides, as it
 * does when loading: 5.x ties when either says so, 4.x follows text_config.
 * Without a version the conflict is refused. */
int fs_cj_tie_embeddings(const fs_cj_section *top, const fs_cj_section *text, bool *tie)
{
    const cJSON *a = fs_cj_item(top, "tie_word_embeddings", true), *b = fs_cj_item(text, "tie_word_embeddings", true);
    if (a && !cJSON_IsBool(a)) return fs_cj_bad(top, "tie_word_embeddings", a, "expected true or false");
    if (b && !cJSON_IsBool(b)) return fs_cj_bad(text, "tie_word_embeddings", b, "expected true or false");
    *tie = (a ? cJSON_IsTrue(a) : false) || (!a && b && cJSON_IsTrue(b));
    if (!a || !b || cJSON_IsTrue(a) == cJSON_IsTrue(b)) return 0;
    const cJSON *ver = fs_cj_item(top, "transformers_version", true);
    int major = cJSON_IsString(ver) ? atoi(ver->valuestring) : 0;
    if (major >= 5) *tie = true;
    else if (major == 4) *tie = cJSON_IsTrue(b);
    else
        return fs_cj_bad(top, "tie_word_embeddings", a, "it disagrees with \"text_config.tie_word_"
                   "embeddings\" and no \"transformers_version\" says which rule applies "
                   "(transformers 5 ties when either is true, 4.x follows text_config); keep one");
    return 0;
}

/* First of all: is this a LLaVA (or BLIP-2 / MiniGPT-4) config at all? */
static int check_model_type(const fs_cj_section *top, bool *blip2)
{
    static const char *const types[] = {"llava", "blip-2", NULL};
    const char *type;
    if (!fs_cj_item(top, "model_type", false))
        return fs_fail("%s: no \"model_type\"; expected \"llava\" or \"blip-2\" (fedsim loads "
                       "LlavaForConditionalGeneration and Blip2ForConditionalGeneration "
                       "checkpoints)", top->path);
    if (fs_cj_want_str(top, "model_type", types, "\"llava\" (LlavaForConditionalGeneration) and "
                       "\"blip-2\" (Blip2ForConditionalGeneration: MiniGPT-4)", &type))
        return -1;
    *blip2 = !strcmp(type, "blip-2");
    return 0;
}

int fs_cj_load_token_ids(const fs_cj_section *top, const fs_cj_section *text, int image_default,
                         fs_llava_config *c)
{
    /* image_token_index, spelled image_token_id in newer files */
    const cJSON *idx = fs_cj_item(top, "image_token_index", false);
    const cJSON *id = fs_cj_item(top, "image_token_id", false);
    if (idx && id && !cJSON_Compare(idx, id, true))
        return fs_cj_bad(top, "image_token_index", idx, "it disagrees with \"image_token_id\"; keep one");
    if (fs_cj_get_int(top, idx || !id ? "image_token_index" : "image_token_id", image_default < 0,
                      image_default, &c->image_token_index))
        return -1;
    if (fs_cj_tie_embeddings(top, text, &c->tie_word_embeddings)) return -1;
    const cJSON *v = NULL;
    fs_cj_section at;
    if (fs_cj_top_or_text(top, text, "pad_token_id", &v, &at)) return -1;
    c->pad_token_id = -1;
    if (v) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < -1 || v->valuedouble > 2147483647.0)
            return fs_cj_bad(&at, "pad_token_id", v, "expected a token id (integer >= 0) or null");
        c->pad_token_id = (int)v->valuedouble;
    }
    return 0;
}

static int load_top(const fs_cj_section *top, const fs_cj_section *text, fs_llava_config *c)
{
    static const char *const gelu[] = {"gelu", NULL};
    static const char *const strat[] = {"default", "full", NULL};
    static const char *const proj[] = {"mlp2x_gelu", "linear", NULL};
    const char *strategy, *projector;
    if (fs_cj_want_str(top, "projector_hidden_act", gelu, "only \"gelu\" for the projector", NULL) ||
        fs_cj_want_str(top, "vision_feature_select_strategy", strat, "\"default\" or \"full\"",
                 &strategy) ||
        fs_cj_want_str(top, "mm_projector_type", proj, "\"mlp2x_gelu\" (LLaVA-1.5) or \"linear\" "
                 "(MiniGPT-4 style)", &projector) ||
        fs_cj_get_bool(top, "multimodal_projector_bias", true, &c->projector_bias))
        return -1;
    c->v_select_full = !strcmp(strategy, "full");
    c->projector_linear = !strcmp(projector, "linear");
    const cJSON *vfl = fs_cj_item(top, "vision_feature_layer", false);
    if (cJSON_IsArray(vfl))
        return fs_cj_bad(top, "vision_feature_layer", vfl, "multi-layer vision features are not "
                   "supported; fedsim supports a single integer layer");
    if (fs_cj_get_int(top, "vision_feature_layer", false, -2, &c->vision_feature_layer)) return -1;
    return fs_cj_load_token_ids(top, text, 32000, c);
}

int fs_cj_check_sizes(const char *where, const fs_cj_size *sizes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sizes[i].v <= 0 || sizes[i].v > CFG_MAX_SIZE)
            return fs_fail("%s: \"%s\" is %d; it must be between 1 and %d", where, sizes[i].key,
                           sizes[i].v, CFG_MAX_SIZE);
    return 0;
}

int fs_llava_config_validate(const fs_llava_config *c, const char *where)
{
    const fs_cj_size sizes[] = {
        {c->v_hidden, "vision_config.hidden_size"},
        {c->v_intermediate, "vision_config.intermediate_size"},
        {c->v_layers, "vision_config.num_hidden_layers"},
        {c->v_heads, "vision_config.num_attention_heads"},
        {c->v_image_size, "vision_config.image_size"},
        {c->v_patch_size, "vision_config.patch_size"},
        {c->v_channels, "vision_config.num_channels"},
        {c->t_vocab, "text_config.vocab_size"},
        {c->t_hidden, "text_config.hidden_size"},
        {c->t_intermediate, "text_config.intermediate_size"},
        {c->t_layers, "text_config.num_hidden_layers"},
        {c->t_heads, "text_config.num_attention_heads"},
        {c->t_kv_heads, "text_config.num_key_value_heads"},
        {c->t_head_dim, "text_config.head_dim"},
        {c->t_max_pos, "text_config.max_position_embeddings"},
    };
    if (fs_cj_check_sizes(where, sizes, sizeof sizes / sizeof *sizes)) return -1;
    if (c->v_hidden % c->v_heads)
        return fs_fail("%s: \"vision_config.hidden_size\" (%d) is not divisible by "
                       "\"vision_config.num_attention_heads\" (%d)", where, c->v_hidden,
                       c->v_heads);
    if (c->v_image_size % c->v_patch_size)
        return fs_fail("%s: \"vision_config.image_size\" (%d) is not divisible by "
                       "\"vision_config.patch_size\" (%d)", where, c->v_image_size,
                       c->v_patch_size);
    if (c->t_heads % c->t_kv_heads)
        return fs_fail("%s: \"text_config.num_attention_heads\" (%d) is not divisible by "
                       "\"text_config.num_key_value_heads\" (%d)", where, c->t_heads,
                       c->t_kv_heads);
    if (c->t_head_dim % 2)
        return fs_fail("%s: \"text_config.head_dim\" is %d; rotary embeddings need an even "
                       "head_dim", where, c->t_head_dim);
    const struct { float v; const char *key; } pos[] = {
        {c->v_layer_norm_eps, "vision_config.layer_norm_eps"},
        {c->t_rms_eps, "text_config.rms_norm_eps"},
        {c->t_rope_theta, "text_config.rope_theta"},
    };
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (!(pos[i].v > 0) || !isfinite(pos[i].v))
            return fs_fail("%s: \"%s\" is %g; it must be a positive number", where, pos[i].key,
                           (double)pos[i].v);
    if (c->blip2) return fs_blip2_config_validate(c, where);
    if (c->vision_feature_layer < -(c->v_layers + 1) || c->vision_feature_layer > c->v_layers)
        return fs_fail("%s: \"vision_feature_layer\" is %d, outside the %d hidden states of a "
                       "%d-layer vision tower (use -%d..%d)", where, c->vision_feature_layer,
                       c->v_layers + 1, c->v_layers, c->v_layers + 1, c->v_layers);
    if (c->image_token_index < 0)
        return fs_fail("%s: \"image_token_index\" is %d; it must be a token id >= 0", where,
                       c->image_token_index);
    if (c->pad_token_id < -1)
        return fs_fail("%s: \"pad_token_id\" is %d; it must be a token id >= 0 (or absent)",
                       where, c->pad_token_id);
    return 0;
}

int fs_llava_config_load(const char *path, fs_llava_config *out)
{
    if (!path || !out) return fs_fail("fs_llava_config_load: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return fs_fail("%s: cannot open (%s)", path, strerror(errno));
    char *buf = malloc(CFG_MAX_FILE + 1);
    size_t len = buf ? fread(buf, 1, CFG_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf) return fs_fail("%s: out of memory", path);
    if (len > CFG_MAX_FILE) {
        free(buf);
        return fs_fail("%s: larger than %u bytes; not a config.json", path, CFG_MAX_FILE);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!end || end < buf || end > buf + len) end = buf;
    if (root) /* only whitespace may follow the object; point at what does */
        while (end < buf + len && strchr(" \t\r\n", *end) && *end) end++;
    bool trailing = root && end < buf + len;
    int line = 1, col = 1;
    for (const char *p = buf; p < end; p++) {
        if (*p == '\n') { line++; col = 1; }
        else col++;
    }
    free(buf);
    if (!root || trailing) {
        cJSON_Delete(root);
        return fs_fail("%s: malformed JSON (%s at line %d, column %d); fix or re-download "
                       "config.json", path, root ? "trailing data" : "syntax error", line, col);
    }
    int rc;
    fs_llava_config c;
    memset(&c, 0, sizeof c);
    fs_cj_section top = {path, root, ""}, text;
    if (!cJSON_IsObject(root)) {
        rc = fs_fail("%s: the top level is not a JSON object; not a config.json", path);
    } else {
        rc = check_model_type(&top, &c.blip2);
        if (!rc) rc = c.blip2 ? fs_blip2_config_load_vision(&top, &c) : load_vision(&top, &c);
        if (!rc) rc = fs_cj_load_text(&top, &c, &text);
        if (!rc) rc = c.blip2 ? fs_blip2_config_load_top(&top, &text, &c) : load_top(&top, &text, &c);
        if (!rc) rc = fs_llava_config_validate(&c, path);
    }
    cJSON_Delete(root);
    if (!rc) *out = c;
    return rc;
}

/* ------------------------------------------------------------------ save */

/* The shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06). */
double fs_cj_short_float(float f)
{
    char b[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if ((float)strtod(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

void fs_cj_put_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

static bool write_line(FILE *f, void *text) /* the JSON text and a newline */
{
    size_t n = strlen(text);
    return fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
}

int fs_cj_write_json(const char *path, cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return fs_fail("%s: out of memory", path);
    int rc = fs_write_file_atomic(path, 0, write_line, text);
    cJSON_free(text);
    return rc;
}

void fs_cj_put_vision_sizes(cJSON *vc, const fs_llava_config *c)
{
    fs_cj_put_num(vc, "hidden_size", c->v_hidden);
    fs_cj_put_num(vc, "intermediate_size", c->v_intermediate);
    fs_cj_put_num(vc, "num_hidden_layers", c->v_layers);
    fs_cj_put_num(vc, "num_attention_heads", c->v_heads);
    fs_cj_put_num(vc, "image_size", c->v_image_size);
    fs_cj_put_num(vc, "patch_size", c->v_patch_size);
}

cJSON *fs_cj_text_config_json(const fs_llava_config *c)
{
    cJSON *tc = cJSON_CreateObject();
    if (!tc) return NULL;
    cJSON_AddStringToObject(tc, "model_type", "llama");
    fs_cj_put_num(tc, "vocab_size", c->t_vocab);
    fs_cj_put_num(tc, "hidden_size", c->t_hidden);
    fs_cj_put_num(tc, "intermediate_size", c->t_intermediate);
    fs_cj_put_num(tc, "num_hidden_layers", c->t_layers);
    fs_cj_put_num(tc, "num_attention_heads", c->t_heads);
    fs_cj_put_num(tc, "num_key_value_heads", c->t_kv_heads);
    fs_cj_put_num(tc, "head_dim", c->t_head_dim);
    fs_cj_put_num(tc, "max_position_embeddings", c->t_max_pos);
    fs_cj_put_num(tc, "rms_norm_eps", fs_cj_short_float(c->t_rms_eps));
    fs_cj_put_num(tc, "rope_theta", fs_cj_short_float(c->t_rope_theta));
    cJSON_AddNullToObject(tc, "rope_scaling");
    cJSON_AddStringToObject(tc, "hidden_act", "silu");
    cJSON_AddBoolToObject(tc, "attention_bias", false);
    cJSON_AddBoolToObject(tc, "mlp_bias", false);
    cJSON_AddBoolToObject(tc, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->pad_token_id >= 0) fs_cj_put_num(tc, "pad_token_id", c->pad_token_id);
    return tc;
}

int fs_llava_config_save(const char *path, const fs_llava_config *c)
{
    if (!path || !c) return fs_fail("fs_llava_config_save: NULL argument");
    if (fs_llava_config_validate(c, path)) return -1;
    if (c->blip2) return fs_cj_write_json(path, fs_blip2_config_json(c));
    cJSON *root = cJSON_CreateObject(), *vc = cJSON_CreateObject();
    cJSON *tc = fs_cj_text_config_json(c), *arch = cJSON_CreateArray();
    if (!root || !vc || !tc || !arch) {
        cJSON_Delete(root);
        cJSON_Delete(vc);
        cJSON_Delete(tc);
        cJSON_Delete(arch);
        return fs_fail("%s: out of memory", path);
    }
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlavaForConditionalGeneration"));
    cJSON_AddItemToObject(root, "architectures", arch);
    cJSON_AddStringToObject(root, "model_type", "llava");
    fs_cj_put_num(root, "image_token_index", c->image_token_index);
    fs_cj_put_num(root, "vision_feature_layer", c->vision_feature_layer);
    cJSON_AddStringToObject(root, "vision_feature_select_strategy",
                            c->v_select_full ? "full" : "default");
    cJSON_AddStringToObject(root, "projector_hidden_act", "gelu");
    cJSON_AddBoolToObject(root, "multimodal_projector_bias", c->projector_bias);
    if (c->projector_linear) cJSON_AddStringToObject(root, "mm_projector_type", "linear");
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->pad_token_id >= 0) fs_cj_put_num(root, "pad_token_id", c->pad_token_id);

    cJSON_AddStringToObject(vc, "model_type", "clip_vision_model");
    fs_cj_put_vision_sizes(vc, c);
    fs_cj_put_num(vc, "num_channels", c->v_channels);
    fs_cj_put_num(vc, "layer_norm_eps", fs_cj_short_float(c->v_layer_norm_eps));
    cJSON_AddStringToObject(vc, "hidden_act", "quick_gelu");
    cJSON_AddItemToObject(root, "vision_config", vc);
    cJSON_AddItemToObject(root, "text_config", tc);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    return fs_cj_write_json(path, root);
}

bool fs_llava_config_same_sizes(const fs_llava_config *a, const fs_llava_config *b)
{
    return a->v_image_size == b->v_image_size && a->v_patch_size == b->v_patch_size &&
           a->v_hidden == b->v_hidden && a->v_intermediate == b->v_intermediate &&
           a->v_layers == b->v_layers && a->v_heads == b->v_heads && a->t_hidden == b->t_hidden &&
           a->t_intermediate == b->t_intermediate && a->t_layers == b->t_layers &&
           a->t_heads == b->t_heads && a->t_kv_heads == b->t_kv_heads && a->t_vocab == b->t_vocab &&
           a->projector_linear == b->projector_linear && a->blip2 == b->blip2;
}
