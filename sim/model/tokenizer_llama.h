/* The LLaMA SentencePiece tokenizer as a LLaVA-1.5 checkpoint ships it,
 * behind fs_tokenizer (tokenizer.h is the public interface; this header is
 * internal to sim/model).
 *
 * Files read from the model directory:
 *   tokenizer.model        the SentencePiece BPE model (byte fallback, dummy
 *                          prefix "▁", <unk>=0 <s>=1 </s>=2);
 *   tokenizer_config.json  "added_tokens_decoder" {"<id>": {"content": ...}}:
 *                          the tokens added on top of it (<image> 32000 and
 *                          <pad> 32001 in llava-1.5-7b-hf);
 *   added_tokens.json      {"<content>": id}, read instead when
 *                          tokenizer_config.json has no added_tokens_decoder.
 * The model's unknown and control pieces (<unk>, <s>, </s>) count as added
 * tokens too, as in transformers.
 *
 * Encoding follows transformers 5.x for a llava checkpoint: AutoTokenizer
 * (and AutoProcessor) map model_type "llava" to TokenizersBackend, which runs
 * tokenizer.json as it is, and llava-1.5-7b-hf's tokenizer.json is the
 * "legacy" LLaMA conversion (normalizer Prepend("▁") + Replace(" ", "▁"), no
 * pre-tokenizer), so tokenizer_config.json's "legacy" flag plays no part. The
 * text is split on added tokens, matched verbatim (leftmost, longest first;
 * no whitespace stripped around them), and every non-empty chunk between them
 * is encoded by SentencePiece on its own, with its own dummy prefix:
 *   "USER: <image>\nHi" -> ▁US ER : ▁ | <image> | ▁ <0x0A> Hi
 * which is also how the original LLaVA-1.5 training code tokenised prompts
 * (each chunk around <image> encoded separately), and what transformers'
 * test suite expects of llava-1.5-7b-hf ("USER:  \nWhat ..." decoded).
 * Loading the same files with LlamaTokenizer directly (no llava config.json)
 * instead follows "legacy", whose default (false) drops the "▁" after an
 * added token; tests/reference/make_sp_tokenizer.py checks the rule above
 * against transformers on every run.
 * Added tokens with lstrip, rstrip, single_word or normalized set are
 * rejected (LLaVA-1.5 sets none). Neither <s> nor </s> is added: callers
 * prepend <s> themselves. */
#ifndef FEDSIM_TOKENIZER_LLAMA_H
#define FEDSIM_TOKENIZER_LLAMA_H

#include <stdint.h>

typedef struct fs_llama_tok fs_llama_tok;

/* Reads <model_dir>/tokenizer.model and the added tokens. NULL +
 * fs_last_error() naming the file at fault. */
fs_llama_tok *fs_llama_tok_load(const char *model_dir);
void fs_llama_tok_free(fs_llama_tok *t);

/* Writes at most max ids; returns how many the text needs (more than max when
 * they do not fit), or -1 + fs_last_error(). */
int fs_llama_tok_encode(const fs_llama_tok *t, const char *text, int32_t *ids, int max);
/* Id of an added token or SentencePiece piece, -1 if neither. */
int32_t fs_llama_tok_id(const fs_llama_tok *t, const char *token);
/* Token string of an id, NULL if out of range. */
const char *fs_llama_tok_token(const fs_llama_tok *t, int32_t id);
/* 1 + the largest id (pieces and added tokens). */
int fs_llama_tok_vocab_size(const fs_llama_tok *t);

#endif
