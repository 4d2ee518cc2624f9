/* A C interface to libsentencepiece (a C++ library): just what the LLaMA
 * tokenizer (tokenizer_llama.c) needs. Built when CMake finds the
 * sentencepiece pkg-config module (FEDSIM_HAVE_SENTENCEPIECE); otherwise
 * loading fails with a message naming the package to install, and nothing
 * else can be reached since no model was ever loaded. */
#ifndef FEDSIM_SENTENCEPIECE_SHIM_H
#define FEDSIM_SENTENCEPIECE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "sim/io/error.h"

typedef struct fs_spm fs_spm;

#ifdef FEDSIM_HAVE_SENTENCEPIECE
/* Loads a SentencePiece model file; NULL + fs_last_error() naming path. */
fs_spm *fs_spm_load(const char *path);
void fs_spm_free(fs_spm *m);
int fs_spm_size(const fs_spm *m);
/* Encodes n bytes of text as one SentencePiece input (so with the model's
 * dummy prefix "▁" when it has one). Writes at most max ids and returns how
 * many the text needs (more than max when they do not fit), or -1 + fs_fail. */
int fs_spm_encode(const fs_spm *m, const char *text, size_t n, int32_t *ids, int max);
/* Id of a piece, -1 when the model has no such piece. */
int32_t fs_spm_piece_id(const fs_spm *m, const char *piece);
/* Piece of an id (valid while m lives), NULL when out of range. */
const char *fs_spm_piece(const fs_spm *m, int32_t id);
/* 1 for the pieces transformers treats as special tokens (unknown and
 * control pieces: <unk>, <s>, </s>), else 0. */
int fs_spm_is_special(const fs_spm *m, int32_t id);
#else
static inline fs_spm *fs_spm_load(const char *path)
{
    fs_fail("%s: fedsim was built without SentencePiece, so it cannot read a LLaMA "
            "tokenizer.model; install libsentencepiece-dev (scripts/setup.sh) and rebuild",
            path);
    return NULL;
}
static inline void fs_spm_free(fs_spm *m) { (void)m; }
static inline int fs_spm_size(const fs_spm *m) { return (void)m, 0; }
static inline int fs_spm_encode(const fs_spm *m, const char *text, size_t n, int32_t *ids,
                                int max)
{
    return (void)m, (void)text, (void)n, (void)ids, (void)max, -1;
}
static inline int32_t fs_spm_piece_id(const fs_spm *m, const char *piece)
{
    return (void)m, (void)piece, -1;
}
static inline const char *fs_spm_piece(const fs_spm *m, int32_t id)
{
    return (void)m, (void)id, NULL;
}
static inline int fs_spm_is_special(const fs_spm *m, int32_t id) { return (void)m, (void)id, 0; }
#endif

#ifdef __cplusplus
}
#endif

#endif
