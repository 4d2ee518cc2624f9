/* LLaMA SentencePiece tokenizer: added tokens from the Hugging Face files,
 * splitting on them, and SentencePiece (through sentencepiece_shim) for the
 * text in between. The rules are in tokenizer_llama.h. */
#include "sim/model/tokenizer_llama.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/io/error.h"
#include "sim/model/sentencepiece_shim.h"

#define HF_JSON_MAX (16u << 20) /* tokenizer_config.json is a few KB */

typedef struct {
    char *text;
    size_t len;
    int32_t id;
} added_token;

struct fs_llama_tok {
    fs_spm *spm;
    added_token *added;
    int n_added, cap_added;
    int vocab_size;
};

void fs_llama_tok_free(fs_llama_tok *t)
{
    if (!t) return;
    fs_spm_free(t->spm);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].text);
    free(t->added);
    free(t);
}

static const added_token *find_added(const fs_llama_tok *t, const char *text)
{
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].text, text)) return &t->added[i];
    return NULL;
}

/* Records content -> id; the same content twice must agree on the id. */
static int add_token(fs_llama_tok *t, const char *file, const char *content, double id)
{
    if (!*content || id != floor(id) || id < 0 || id >= INT32_MAX)
        return fs_fail("%s: added token \"%s\" has id %g; ids are integers >= 0 and the content "
                       "must not be empty", file, content, id);
    const added_token *old = find_added(t, content);
    if (old && old->id != (int32_t)id)
        return fs_fail("%s: added token \"%s\" has id %d but is also id %d", file, content,
                       (int)id, old->id);
    if (old) return 0;
    if (t->n_added == t->cap_added) {
        int cap = t->cap_added ? 2 * t->cap_added : 8;
        added_token *na = realloc(t->added, (size_t)cap * sizeof *na);
        if (!na) return fs_fail("%s: out of memory", file);
        t->added = na;
        t->cap_added = cap;
    }
    added_token *a = &t->added[t->n_added];
    if (!(a->text = strdup(content))) return fs_fail("%s: out of memory", file);
    a->len = strlen(content);
    a->id = (int32_t)id;
    t->n_added++;
    if ((int)id >= t->vocab_size) t->vocab_size = (int)id + 1;
    return 0;
}

/* Parses a JSON file; NULL with *absent = true when it does not exist, NULL +
 * fs_fail when it cannot be read or parsed. */
static cJSON *read_json(const char *path, bool *absent)
{
    *absent = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) *absent = true;
        else fs_fail("%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(HF_JSON_MAX + 1);
    size_t len = buf ? fread(buf, 1, HF_JSON_MAX + 1, f) : 0;
    bool read_error = ferror(f);
    fclose(f);
    cJSON *root = NULL;
    if (!buf) fs_fail("%s: out of memory", path);
    else if (read_error) fs_fail("%s: read error", path);
    else if (len > HF_JSON_MAX)
        fs_fail("%s: larger than %u bytes; not a tokenizer file", path, HF_JSON_MAX);
    else if (!(root = cJSON_ParseWithLength(buf, len)) || !cJSON_IsObject(root)) {
        fs_fail("%s: malformed JSON (not a JSON object); fix or re-download it", path);
        cJSON_Delete(root);
        root = NULL;
    }
    free(buf);
    return root;
}

/* tokenizer_config.json "added_tokens_decoder": {"32000": {"content": "<image>", ...}}. */
static int read_added_decoder(fs_llama_tok *t, const char *file, const cJSON *decoder)
{
    if (!cJSON_IsObject(decoder))
        return fs_fail("%s: \"added_tokens_decoder\" is not an object", file);
    static const char *const unsupported[] = {"lstrip", "rstrip", "single_word", "normalized"};
    const cJSON *e;
    cJSON_ArrayForEach(e, decoder) {
        char *end = NULL;
        errno = 0;
        long id = strtol(e->string, &end, 10);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!*e->string || *end || errno || !cJSON_IsString(content))
            return fs_fail("%s: \"added_tokens_decoder\" entry \"%s\" needs a numeric id as its "
                           "key and a \"content\" string", file, e->string);
        for (size_t k = 0; k < sizeof unsupported / sizeof *unsupported; k++)
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, unsupported[k])))
                return fs_fail("%s: added token \"%s\" sets \"%s\": true, which fedsim does not "
                               "support (LLaVA-1.5 sets it false)", file, content->valuestring,
                               unsupported[k]);
        if (add_token(t, file, content->valuestring, (double)id)) return -1;
    }
    return 0;
}

/* added_tokens.json: {"<image>": 32000, "<pad>": 32001}. */
static int read_added_map(fs_llama_tok *t, const char *file, const cJSON *map)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsNumber(e))
            return fs_fail("%s: the id of \"%s\" is not a number", file, e->string);
        if (add_token(t, file, e->string, e->valuedouble)) return -1;
    }
    return 0;
}

/* The added tokens of the Hugging Face files, then the model's special pieces. */
static int read_added_tokens(fs_llama_tok *t, const char *dir)
{
    char path[4096];
    bool absent;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    cJSON *cfg = read_json(path, &absent);
    if (!cfg && !absent) return -1;
    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    int rc = decoder ? read_added_decoder(t, path, decoder) : 0;
    cJSON_Delete(cfg);
    if (rc) return -1;
    if (!decoder) {
        snprintf(path, sizeof path, "%s/added_tokens.json", dir);
        cJSON *map = read_json(path, &absent);
        if (!map && !absent) return -1;
        rc = map ? read_added_map(t, path, map) : 0;
        cJSON_Delete(map);
        if (rc) return -1;
    }
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    for (int32_t id = 0; id < fs_spm_size(t->spm); id++)
        if (fs_spm_is_special(t->spm, id) && add_token(t, path, fs_spm_piece(t->spm, id), id))
            return -1;
    return 0;
}

fs_llama_tok *fs_llama_tok_load(const char *model_dir)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.model", model_dir) >= sizeof path) {
        fs_fail("%s: path too long", model_dir);
        return NULL;
    }
    fs_llama_tok *t = calloc(1, sizeof *t);
    if (!t) {
        fs_fail("%s: out of memory", path);
        return NULL;
    }
    if (!(t->spm = fs_spm_load(path))) {
        fs_llama_tok_free(t);
        return NULL;
    }
    t->vocab_size = fs_spm_size(t->spm);
    if (read_added_tokens(t, model_dir)) {
        fs_llama_tok_free(t);
        return NULL;
    }
    return t;
}

/* The added token starting at p, longest first; NULL if none. */
static const added_token *match_added(const fs_llama_tok *t, const char *p)
{
    const added_token *best = NULL;
    for (int i = 0; i < t->n_added; i++) {
        const added_token *a = &t->added[i];
        if (a->text[0] == *p && (!best || a->len > best->len) && !strncmp(a->text, p, a->len))
            best = a;
    }
    return best;
}

/* Encodes one chunk between added tokens into ids[*count..max); *count grows
 * by what the chunk needs, even past max. */
static int encode_chunk(const fs_llama_tok *t, const char *s, size_t n, int32_t *ids, int max,
                        int *count)
{
    if (n == 0) return 0; /* transformers encodes no empty chunk (no lone "▁") */
    int at = *count < max ? *count : max;
    int k = fs_spm_encode(t->spm, s, n, ids + at, max - at);
    if (k < 0) return -1;
    *count += k;
    return 0;
}

int fs_llama_tok_encode(const fs_llama_tok *t, const char *text, int32_t *ids, int max)
{
    int count = 0;
    const char *chunk = text, *p = text;
    while (*p) {
        const added_token *a = match_added(t, p);
        if (!a) {
            p++;
            continue;
        }
        if (encode_chunk(t, chunk, (size_t)(p - chunk), ids, max, &count)) return -1;
        if (count < max) ids[count] = a->id;
        count++;
        p += a->len;
        chunk = p;
    }
    return encode_chunk(t, chunk, (size_t)(p - chunk), ids, max, &count) ? -1 : count;
}

int32_t fs_llama_tok_id(const fs_llama_tok *t, const char *token)
{
    const added_token *a = find_added(t, token);
    return a ? a->id : fs_spm_piece_id(t->spm, token);
}

const char *fs_llama_tok_token(const fs_llama_tok *t, int32_t id)
{
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return t->added[i].text;
    return fs_spm_piece(t->spm, id);
}

int fs_llama_tok_vocab_size(const fs_llama_tok *t) { return t->vocab_size; }
