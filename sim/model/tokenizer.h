/* The tokenizer of a model directory, of one of two kinds:
 *
 * LLaMA SentencePiece (tokenizer.model, as in a LLaVA-1.5 checkpoint): BPE
 * with byte fallback and a dummy prefix "▁", plus the tokens added by the
 * Hugging Face files (<image>, <pad>); text is passed to it as it is. The
 * rules, which follow transformers, are in tokenizer_llama.h.
 *
 * Word-level (vocab.txt, fedsim's own small models: one token per line, line
 * number = id). Normalisation: text is split on whitespace; each of the
 * punctuation characters  . , ? ! : ; ( ) ' " - /  is a token of its own;
 * words are lowercased, except a single uppercase letter A-Z standing alone
 * (the choice letters "A", "B", ...), which stays as it is. Special tokens:
 * <pad>, <unk>, <s>, </s>, <image>; a word written exactly as a special token
 * ("<image>") maps to it, and <image> is split out of a longer word
 * ("<Img><image></Img>" -> "<img>" "<image>" "<" "/" "img>"), as SentencePiece
 * splits on added tokens. Words not in the vocabulary become <unk>.
 *
 * Either way, the <image> id must equal the model's image_token_index and the
 * vocabulary must fit the model's embedding table; the task builder checks
 * both. */
#ifndef FEDSIM_TOKENIZER_H
#define FEDSIM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fs_tokenizer fs_tokenizer;

#define FS_TOK_PAD "<pad>"
#define FS_TOK_UNK "<unk>"
#define FS_TOK_BOS "<s>"
#define FS_TOK_EOS "</s>"
#define FS_TOK_IMAGE "<image>"

/* Reads <model_dir>/tokenizer.model (SentencePiece) when present, else
 * <model_dir>/vocab.txt. NULL + fs_last_error() naming the file when neither
 * exists, one cannot be read or parsed, or (vocab.txt) a line is empty, a
 * token repeats, or a special token is absent. */
fs_tokenizer *fs_tokenizer_load(const char *model_dir);
/* A word-level tokenizer from an explicit vocabulary file path. */
fs_tokenizer *fs_tokenizer_load_file(const char *vocab_path);
void fs_tokenizer_free(fs_tokenizer *t);

/* Tokenises text into ids[0..max). Returns the count, or -1 (+ fs_last_error)
 * when more than max tokens would be needed. No <s> is added. */
int fs_tokenizer_encode(const fs_tokenizer *t, const char *text, int32_t *ids, int max);
/* Id of the token that follows a prompt ending in "Answer:" when the answer
 * is choice letter (A, B, ...): "A" for vocab.txt, the piece "▁A" for
 * SentencePiece (pieces never span the space before a word, so it is also
 * what encoding the letter alone gives). -1 + fs_last_error() when the letter
 * is not one token of the vocabulary. */
int32_t fs_tokenizer_answer_id(const fs_tokenizer *t, char letter);
/* The file the tokenizer was read from (vocab.txt or tokenizer.model). */
const char *fs_tokenizer_path(const fs_tokenizer *t);
/* Id of an exact token string, -1 if absent. */
int32_t fs_tokenizer_id(const fs_tokenizer *t, const char *token);
/* Token string of an id, NULL if out of range. */
const char *fs_tokenizer_token(const fs_tokenizer *t, int32_t id);
int fs_tokenizer_vocab_size(const fs_tokenizer *t);
/* Joins the tokens of ids with single spaces into buf (truncated to len);
 * returns the length the full text needs (like snprintf). */
size_t fs_tokenizer_decode(const fs_tokenizer *t, const int32_t *ids, int n, char *buf,
                           size_t len);

/* Writes n tokens as a vocab.txt atomically (temp file, fsync, rename).
 * Rejects empty tokens, tokens with whitespace and duplicates. 0 or -1. */
int fs_tokenizer_save_vocab(const char *path, const char *const *tokens, int n);

/* Builds and saves a vocabulary of exactly vocab_size tokens: <pad> at pad_id
 * (0 when pad_id < 0), <image> at image_id, <unk>, <s>, </s> in the first free
 * slots, then the words in order (duplicates and specials skipped), then
 * filler tokens <unused_N> up to vocab_size. Fails (naming how many slots are
 * missing) when the words do not fit. 0 or -1. */
int fs_tokenizer_build_vocab(const char *path, int vocab_size, int pad_id, int image_id,
                             const char *const *words, int n_words);

#endif
