#!/usr/bin/env python3
"""Train a small LLaMA-style SentencePiece tokenizer, lay it out as the
tokenizer files of a llava-1.5-7b-hf checkpoint, and record the ids that
Hugging Face transformers gives a set of strings, for fedsim's tokenizer
parity test (tests/test_sentencepiece.c). No real LLaMA tokenizer can be
downloaded in the test, so the model is trained here, in about a second.

Usage:
    python tests/reference/make_sp_tokenizer.py OUT_DIR [--seed N]

Writes OUT_DIR/
    tokenizer.model         SentencePiece BPE trained with LLaMA's settings (byte
                            fallback, split digits, identity normalisation, dummy
                            prefix, whitespace kept, <unk>=0 <s>=1 </s>=2), VOCAB pieces
    tokenizer.json          the "legacy" LLaMA conversion that llava-1.5-7b-hf ships:
                            BPE with byte fallback, normalizer Prepend("▁") +
                            Replace(" ", "▁"), no pre-tokenizer, <s> prepended
    tokenizer_config.json   added_tokens_decoder: <unk> <s> </s>, then <image> = VOCAB
                            and <pad> = VOCAB + 1 (32000 and 32001 in llava-1.5-7b-hf)
    added_tokens.json, special_tokens_map.json
    config.json             {"model_type": "llava", ...}: AutoTokenizer resolves the
                            directory as it does a llava checkpoint
    sp_reference.json       {"transformers", "tokenizer_class", "bos_id", "image_id",
                             "pad_id", "vocab_size", "cases": [{"text", "ids"}],
                             "answer_ids": {"A": id, ...}}; ids are AutoTokenizer's
                            input_ids (<s> first); answer_ids[L] is the token that
                            follows a prompt ending in "Answer:" when the answer is L

Before writing sp_reference.json the script checks the rule fedsim implements
(sim/model/tokenizer_llama.h) against transformers on every case: split the
text on added tokens, encode each chunk between them with SentencePiece on its
own (its own dummy prefix), prepend <s>. It fails if transformers disagrees.
"""

import argparse
import json
import os
import random
import sys

import sentencepiece as spm
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
from tokenizers.models import BPE
from transformers import AutoTokenizer
from transformers.tokenization_utils_base import generate_merges

VOCAB = 640
LETTERS = "ABCDEFGH"  # FS_MAX_CHOICES choice letters
SPECIALS = ["<unk>", "<s>", "</s>"]
IMAGE, PAD = "<image>", "<pad>"

WORDS = ("what which how many colour color shape circle square triangle star red blue green "
         "yellow purple orange black white large small left right above below the a an of is "
         "are there in on to and or more fewer than same number picture photo image shows "
         "question answer options context plant animal water light heat energy force map "
         "north south east west country city river ocean bird fish leaf tree rock").split()
UNICODE_WORDS = "café naïve Zürich über niño façade résumé Ελλάδα Москва".split()

CASES = [
    "",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces  ",
    "multiple   spaces\tand\ttabs\n\nand newlines\n",
    "Digits 1234567890, 3.14159 and 2024-05-09",
    "café naïve Zürich über niño",
    "日本語のテキスト 🙂 Ω≈ç√ – “quotes”",
    "USER: <image>\nWhat colour is the circle? ASSISTANT:",
    "USER: <image>\nA photo of three shapes. Which shape is red? Options: (A) circle (B) square "
    "(C) triangle ASSISTANT: Answer:",
    "USER: Which number is larger? Options: (A) 12 (B) 7 (C) the same (D) 1,000 ASSISTANT: Answer:",
    "<image>",
    "<image><image>",
    "a<image>b",
    " <image> ",
    "<s>hello</s>",
    "<pad>x<unk>",
    "<imag <image <<image>>",
    "Answer: A",
    "H",
]
ANSWER_PROMPT = "USER: <image>\nIs it red? Options: " + " ".join(
    f"({l}) x" for l in LETTERS) + " ASSISTANT: Answer:"


def corpus(seed):
    """Generated training text: words, numbers, unicode, and the prompt layout."""
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 99999)))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), rng.choice(UNICODE_WORDS))
        text = " ".join(words).capitalize() + rng.choice([".", "?", "!", ","])
        if rng.random() < 0.5:
            n = rng.randint(2, len(LETTERS))
            opts = " ".join(f"({LETTERS[i]}) {rng.choice(WORDS)}" for i in range(n))
            text = f"USER: {text} Options: {opts} ASSISTANT: Answer: {rng.choice(LETTERS)}"
        lines.append(text)
    return lines


def train(out_dir, seed):
    path = os.path.join(out_dir, "tokenizer.model")
    with open(path, "wb") as f:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus(seed)), model_writer=f, model_type="bpe",
            vocab_size=VOCAB, character_coverage=0.99995, byte_fallback=True, split_digits=True,
            split_by_unicode_script=True, split_by_whitespace=True, split_by_number=True,
            allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
            normalization_rule_name="identity", add_dummy_prefix=True, max_sentence_length=4192,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=path)


def added_entry(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}


def dump(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def write_hf_files(out_dir, sp):
    ids = {s: sp.piece_to_id(s) for s in SPECIALS}
    ids[IMAGE], ids[PAD] = VOCAB, VOCAB + 1
    # tokenizer.json: vocab and merges as transformers' SentencePieceExtractor
    # derives them, in the legacy layout of llava-1.5-7b-hf's file.
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    tok = Tokenizer(BPE(vocab=vocab, merges=generate_merges(vocab), unk_token="<unk>",
                        fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", ids["<s>"])])
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True)
                            for s in SPECIALS + [IMAGE, PAD]])
    assert all(tok.token_to_id(s) == i for s, i in ids.items()), "added token ids moved"
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    dump(os.path.join(out_dir, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": False,
        "added_tokens_decoder": {str(i): added_entry(s) for s, i in ids.items()},
        "bos_token": "<s>", "clean_up_tokenization_spaces": False, "eos_token": "</s>",
        "model_max_length": 4096, "pad_token": PAD, "padding_side": "left",
        "processor_class": "LlavaProcessor", "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>"})
    dump(os.path.join(out_dir, "added_tokens.json"), {IMAGE: ids[IMAGE], PAD: ids[PAD]})
    dump(os.path.join(out_dir, "special_tokens_map.json"),
         {"bos_token": "<s>", "eos_token": "</s>", "pad_token": PAD, "unk_token": "<unk>"})
    dump(os.path.join(out_dir, "config.json"), {
        "model_type": "llava", "image_token_index": ids[IMAGE], "pad_token_id": ids[PAD],
        "text_config": {"model_type": "llama", "vocab_size": VOCAB + 2}})
    return ids


def fedsim_rule(sp, added, text):
    """<s>, then each chunk between added tokens (leftmost longest match) encoded on its own."""
    out, chunk, i = [added["<s>"]], 0, 0
    while i < len(text):
        hit = max((a for a in added if text.startswith(a, i)), key=len, default=None)
        if hit is None:
            i += 1
            continue
        if i > chunk:
            out += sp.encode(text[chunk:i])
        out.append(added[hit])
        i = chunk = i + len(hit)
    if len(text) > chunk:
        out += sp.encode(text[chunk:])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    sp = train(args.out_dir, args.seed)
    ids = write_hf_files(args.out_dir, sp)
    for letter in LETTERS:
        if sp.piece_to_id("▁" + letter) == sp.unk_id():
            sys.exit(f"make_sp_tokenizer: the trained model has no piece ▁{letter}; "
                     "change the corpus or the vocabulary size")

    hf = AutoTokenizer.from_pretrained(args.out_dir)
    cases = []
    for text in CASES:
        got = hf(text)["input_ids"]
        want = fedsim_rule(sp, ids, text)
        if got != want:
            sys.exit(f"make_sp_tokenizer: transformers {transformers.__version__} "
                     f"({type(hf).__name__}) no longer encodes {text!r} as the added-token split "
                     f"+ per-chunk SentencePiece rule:\n  transformers {got}\n  rule         {want}")
        cases.append({"text": text, "ids": got})
    prompt_ids = hf(ANSWER_PROMPT)["input_ids"]
    answer_ids = {}
    for letter in LETTERS:
        full = hf(f"{ANSWER_PROMPT} {letter}")["input_ids"]
        if full[:-1] != prompt_ids:
            sys.exit(f"make_sp_tokenizer: the answer {letter} is not one token after the prompt")
        answer_ids[letter] = full[-1]
    dump(os.path.join(args.out_dir, "sp_reference.json"), {
        "transformers": transformers.__version__, "tokenizer_class": type(hf).__name__,
        "bos_id": ids["<s>"], "image_id": ids[IMAGE], "pad_id": ids[PAD], "vocab_size": len(hf),
        "cases": cases, "answer_ids": answer_ids})


if __name__ == "__main__":
    main()
