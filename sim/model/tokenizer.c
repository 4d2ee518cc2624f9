/* fs_tokenizer: the choice between the two kinds, and the word-level kind
 * itself: vocab.txt loading (with clear errors), normalisation, encoding
 * through an open-addressing hash table, and atomic vocab writing. The
 * SentencePiece kind lives in tokenizer_llama.c. */
#include "sim/model/tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/atomic_file.h"
#include "sim/io/error.h"
#include "sim/model/tokenizer_llama.h"

struct fs_tokenizer {
    char *path;          /* vocab.txt or tokenizer.model */
    fs_llama_tok *llama; /* the SentencePiece kind; NULL for word-level (the fields below) */
    char **tokens;       /* [n] */
    int n;
    int32_t *table; /* open addressing, -1 = empty; capacity is a power of two */
    uint32_t mask;
    int32_t unk;
};

static uint32_t hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Id of the n-byte token s, -1 if absent. */
static int32_t lookup(const fs_tokenizer *t, const char *s, size_t n)
{
    for (uint32_t i = hash_str(s, n) & t->mask;; i = (i + 1) & t->mask) {
        int32_t id = t->table[i];
        if (id < 0) return -1;
        if (strlen(t->tokens[id]) == n && !memcmp(t->tokens[id], s, n)) return id;
    }
}

void fs_tokenizer_free(fs_tokenizer *t)
{
    if (!t) return;
    free(t->path);
    fs_llama_tok_free(t->llama);
    for (int i = 0; i < t->n; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->table);
    free(t);
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s)) return true;
    return false;
}

fs_tokenizer *fs_tokenizer_load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fs_fail("%s: cannot open the vocabulary (%s); a model directory needs a vocab.txt with "
                "one token per line (see datasets/README.md)",
                path, strerror(errno));
        return NULL;
    }
    fs_tokenizer *t = calloc(1, sizeof *t);
    char *line = NULL;
    size_t cap = 0, tcap = 0;
    ssize_t len;
    int lineno = 0;
    if (!t || !(t->path = strdup(path))) goto oom;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) {
            fs_fail("%s:%d: empty line; every line must hold one token (its id is the line "
                    "number - 1)", path, lineno);
            goto fail;
        }
        if (has_space(line)) {
            fs_fail("%s:%d: token '%s' contains whitespace; tokens are single words", path,
                    lineno, line);
            goto fail;
        }
        if ((size_t)t->n == tcap) {
            tcap = tcap ? 2 * tcap : 1024;
            char **nt = realloc(t->tokens, tcap * sizeof *nt);
            if (!nt) goto oom;
            t->tokens = nt;
        }
        if (!(t->tokens[t->n] = strdup(line))) goto oom;
        t->n++;
    }
    if (ferror(f)) {
        fs_fail("%s: read error (%s)", path, strerror(errno));
        goto fail;
    }
    if (t->n == 0) {
        fs_fail("%s: the vocabulary is empty", path);
        goto fail;
    }
    uint32_t capacity = 16;
    while (capacity < 2u * (uint32_t)t->n) capacity *= 2;
    t->mask = capacity - 1;
    if (!(t->table = malloc(capacity * sizeof *t->table))) goto oom;
    memset(t->table, 0xff, capacity * sizeof *t->table);
    for (int id = 0; id < t->n; id++) {
        size_t n = strlen(t->tokens[id]);
        uint32_t i = hash_str(t->tokens[id], n) & t->mask;
        for (; t->table[i] >= 0; i = (i + 1) & t->mask) {
            if (!strcmp(t->tokens[t->table[i]], t->tokens[id])) {
                fs_fail("%s:%d: duplicate token '%s' (first on line %d); every token must be "
                        "unique", path, id + 1, t->tokens[id], t->table[i] + 1);
                goto fail;
            }
        }
        t->table[i] = id;
    }
    static const char *const specials[] = {FS_TOK_PAD, FS_TOK_UNK, FS_TOK_BOS, FS_TOK_EOS,
                                           FS_TOK_IMAGE};
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        if (fs_tokenizer_id(t, specials[k]) < 0) {
            fs_fail("%s: the special token %s is missing; a vocabulary needs <pad>, <unk>, <s>, "
                    "</s> and <image>", path, specials[k]);
            goto fail;
        }
    }
    t->unk = fs_tokenizer_id(t, FS_TOK_UNK);
    free(line);
    fclose(f);
    return t;
oom:
    fs_fail("%s: out of memory", path);
fail:
    free(line);
    fclose(f);
    fs_tokenizer_free(t);
    return NULL;
}

fs_tokenizer *fs_tokenizer_load(const char *model_dir)
{
    char spm[4096], vocab[4096];
    struct stat st;
    if ((size_t)snprintf(spm, sizeof spm, "%s/tokenizer.model", model_dir) >= sizeof spm) {
        fs_fail("%s: path too long", model_dir);
        return NULL;
    }
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", model_dir);
    if (stat(spm, &st)) {
        if (!stat(vocab, &st)) return fs_tokenizer_load_file(vocab);
        fs_fail("%s: no tokenizer: a model directory needs a tokenizer.model (the LLaMA "
                "SentencePiece model of a LLaVA-1.5 checkpoint) or a vocab.txt (fedsim's "
                "word-level vocabulary, one token per line; see datasets/README.md)", model_dir);
        return NULL;
    }
    fs_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(spm))) {
        fs_fail("%s: out of memory", spm);
        fs_tokenizer_free(t);
        return NULL;
    }
    if (!(t->llama = fs_llama_tok_load(model_dir))) {
        fs_tokenizer_free(t);
        return NULL;
    }
    return t;
}

int32_t fs_tokenizer_id(const fs_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    return t->llama ? fs_llama_tok_id(t->llama, token) : lookup(t, token, strlen(token));
}

const char *fs_tokenizer_token(const fs_tokenizer *t, int32_t id)
{
    if (!t) return NULL;
    if (t->llama) return fs_llama_tok_token(t->llama, id);
    return id >= 0 && id < t->n ? t->tokens[id] : NULL;
}

int fs_tokenizer_vocab_size(const fs_tokenizer *t)
{
    if (!t) return 0;
    return t->llama ? fs_llama_tok_vocab_size(t->llama) : t->n;
}

const char *fs_tokenizer_path(const fs_tokenizer *t) { return t ? t->path : NULL; }

static bool is_punct(char c) { return c && strchr(".,?!:;()'\"-/", c) != NULL; }

/* Normalises one word (no whitespace, no punctuation) and stores its id at
 * ids[count] when that fits below max. */
static void emit_word(const fs_tokenizer *t, const char *w, size_t n, int32_t *ids, int max,
                      int count)
{
    if (count >= max) return;
    int32_t id;
    char buf[128];
    if (n == 1 && w[0] >= 'A' && w[0] <= 'Z') {
        id = lookup(t, w, 1); /* a choice letter keeps its case */
    } else if (n >= sizeof buf) {
        id = -1; /* longer than any sensible token */
    } else { /* special tokens are lowercase, so they survive normalisation */
        for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)w[i]);
        id = lookup(t, buf, n);
    }
    ids[count] = id >= 0 ? id : t->unk;
}

/* Word-level encoding: stores at most max ids, returns how many the text needs. */
static int encode_words(const fs_tokenizer *t, const char *text, int32_t *ids, int max)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (is_punct(*p)) {
            emit_word(t, p, 1, ids, max, count++);
            p++;
            continue;
        }
        /* <image> stands on its own inside a word too ("<Img><image></Img>",
         * MiniGPT-4's prompt), as added tokens do for SentencePiece. */
        size_t img = strlen(FS_TOK_IMAGE);
        if (!strncmp(p, FS_TOK_IMAGE, img)) {
            emit_word(t, p, img, ids, max, count++);
            p += img;
            continue;
        }
        const char *w = p;
        while (*p && !isspace((unsigned char)*p) && !is_punct(*p) && strncmp(p, FS_TOK_IMAGE, img))
            p++;
        emit_word(t, w, (size_t)(p - w), ids, max, count++);
    }
    return count;
}

int fs_tokenizer_encode(const fs_tokenizer *t, const char *text, int32_t *ids, int max)
{
    if (!t || !text || !ids) return fs_fail("fs_tokenizer_encode: NULL argument");
    if (max < 0) max = 0;
    int n = t->llama ? fs_llama_tok_encode(t->llama, text, ids, max)
                     : encode_words(t, text, ids, max);
    if (n > max)
        return fs_fail("the text needs more than %d tokens: \"%.80s%s\"", max, text,
                       strlen(text) > 80 ? "..." : "");
    return n;
}

int32_t fs_tokenizer_answer_id(const fs_tokenizer *t, char letter)
{
    const char text[2] = {letter, 0};
    int32_t ids[4];
    int n = fs_tokenizer_encode(t, text, ids, 4);
    if (n < 0) return -1;
    if (n != 1 || ids[0] == fs_tokenizer_id(t, FS_TOK_UNK))
        return fs_fail("%s: the choice letter %c is not a token of its own (the vocabulary lacks "
                       "\"%s%c\"), so answers cannot be scored; use the tokenizer the model was "
                       "trained with", t->path, letter, t->llama ? "\u2581" : "", letter);
    return ids[0];
}

size_t fs_tokenizer_decode(const fs_tokenizer *t, const int32_t *ids, int n, char *buf, size_t len)
{
    /* Whole tokens only: a truncated result never ends in a partial token. */
    size_t need = 0;
    bool fits = true;
    if (buf && len) buf[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *s = fs_tokenizer_token(t, ids[i]);
        if (!s) s = FS_TOK_UNK;
        size_t k = strlen(s), at = need + (i > 0);
        if (buf && fits && at + k < len) {
            if (i > 0) buf[need] = ' ';
            memcpy(buf + at, s, k + 1);
        } else {
            fits = false;
        }
        need = at + k;
    }
    return need;
}

typedef struct {
    const char *const *tokens;
    int n;
} vocab_lines;

static bool write_vocab(FILE *f, void *ctx) /* one token a line */
{
    const vocab_lines *v = ctx;
    bool ok = true;
    for (int i = 0; i < v->n && ok; i++) ok = fprintf(f, "%s\n", v->tokens[i]) > 0;
    return ok;
}

int fs_tokenizer_save_vocab(const char *path, const char *const *tokens, int n)
{
    if (!path || !tokens || n <= 0) return fs_fail("fs_tokenizer_save_vocab: bad arguments");
    /* Validate through a temporary tokenizer-like table: duplicates, whitespace, empties. */
    uint32_t capacity = 16;
    while (capacity < 2u * (uint32_t)n) capacity *= 2;
    int32_t *table = malloc(capacity * sizeof *table);
    if (!table) return fs_fail("%s: out of memory", path);
    memset(table, 0xff, capacity * sizeof *table);
    for (int id = 0; id < n; id++) {
        const char *s = tokens[id];
        if (!s || !*s || has_space(s)) {
            free(table);
            return fs_fail("%s: token %d is %s; tokens must be non-empty single words", path, id,
                           !s || !*s ? "empty" : "not a single word");
        }
        uint32_t i = hash_str(s, strlen(s)) & (capacity - 1);
        for (; table[i] >= 0; i = (i + 1) & (capacity - 1)) {
            if (!strcmp(tokens[table[i]], s)) {
                int first = table[i];
                free(table);
                return fs_fail("%s: duplicate token '%s' (ids %d and %d)", path, s, first, id);
            }
        }
        table[i] = id;
    }
    free(table);

    vocab_lines v = {tokens, n};
    return fs_write_file_atomic(path, FS_ATOMIC_PID_TMP, write_vocab, &v);
}

int fs_tokenizer_build_vocab(const char *path, int vocab_size, int pad_id, int image_id,
                             const char *const *words, int n_words)
{
    if (pad_id < 0) pad_id = 0;
    if (vocab_size < 5 || pad_id >= vocab_size || image_id < 0 || image_id >= vocab_size ||
        pad_id == image_id)
        return fs_fail("%s: cannot place <pad> at %d and <image> at %d in a vocabulary of %d",
                       path, pad_id, image_id, vocab_size);
    char **tok = calloc((size_t)vocab_size, sizeof *tok);
    char *filler = malloc((size_t)vocab_size * 24);
    if (!tok || !filler) {
        free(tok);
        free(filler);
        return fs_fail("%s: out of memory", path);
    }
    tok[pad_id] = FS_TOK_PAD;
    tok[image_id] = FS_TOK_IMAGE;
    int next = 0, rc = 0, missing = 0;
    static const char *const rest[] = {FS_TOK_UNK, FS_TOK_BOS, FS_TOK_EOS};
    for (int k = 0; k < 3; k++) {
        while (tok[next]) next++;
        tok[next] = (char *)rest[k];
    }
    for (int w = 0; w < n_words; w++) {
        const char *s = words[w];
        bool dup = !strcmp(s, FS_TOK_PAD) || !strcmp(s, FS_TOK_IMAGE);
        for (int k = 0; k < 3 && !dup; k++) dup = !strcmp(s, rest[k]);
        for (int j = 0; j < w && !dup; j++) dup = !strcmp(s, words[j]);
        if (dup) continue;
        while (next < vocab_size && tok[next]) next++;
        if (next >= vocab_size) {
            missing++;
            continue;
        }
        tok[next] = (char *)s;
    }
    if (missing) {
        rc = fs_fail("%s: %d words do not fit a vocabulary of %d tokens (5 special); enlarge the "
                     "model's vocab_size", path, missing, vocab_size);
    } else {
        for (int i = 0, u = 0; i < vocab_size; i++) {
            if (tok[i]) continue;
            char *s = filler + 24 * i;
            snprintf(s, 24, "<unused_%d>", u++);
            tok[i] = s;
        }
        rc = fs_tokenizer_save_vocab(path, (const char *const *)tok, vocab_size);
    }
    free(tok);
    free(filler);
    return rc;
}
