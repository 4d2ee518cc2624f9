/* Word-level tokenizer: normalisation rules (lowercase, punctuation tokens,
 * choice letters kept), special tokens, unknown words, loading errors, atomic
 * vocabulary writing and the vocabulary builder's layout. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/model/tokenizer.h"
#include "tests/helpers/testutil.h"

static const char *const base_tokens[] = {
    "<pad>", "<unk>", "<s>", "</s>", "user", ":", "<image>", "what", "colour", "is", "the",
    "circle", "?", "options", "(", ")", "A", "B", "red", "blue", "assistant", "answer", "a",
    "photo", "don", "'", "t", "-", "stop", "/", "now", ".", ",", "!", ";", "\"", "hello"};
#define N_BASE ((int)(sizeof base_tokens / sizeof *base_tokens))

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
}

static fs_tokenizer *base_tok(void)
{
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(fs_tokenizer_save_vocab(tu_path_in(dir, "vocab.txt"), base_tokens, N_BASE),
                 0, "%s", fs_last_error());
    fs_tokenizer *t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    return t;
}

/* Encodes text and compares the token strings with want (space-separated). */
static void expect_tokens(const fs_tokenizer *t, const char *text, const char *want)
{
    int32_t ids[256];
    int n = fs_tokenizer_encode(t, text, ids, 256);
    cr_assert_geq(n, 0, "%s", fs_last_error());
    char got[2048];
    fs_tokenizer_decode(t, ids, n, got, sizeof got);
    cr_assert_str_eq(got, want, "encoding \"%s\"", text);
}

Test(tokenizer, ids_and_tokens_follow_line_numbers, .fini = tu_remove_tmpdirs)
{
    fs_tokenizer *t = base_tok();
    cr_assert_eq(fs_tokenizer_vocab_size(t), N_BASE);
    for (int i = 0; i < N_BASE; i++) {
        cr_assert_eq(fs_tokenizer_id(t, base_tokens[i]), i, "%s", base_tokens[i]);
        cr_assert_str_eq(fs_tokenizer_token(t, i), base_tokens[i]);
    }
    cr_assert_eq(fs_tokenizer_id(t, "nope"), -1);
    cr_assert_null(fs_tokenizer_token(t, -1));
    cr_assert_null(fs_tokenizer_token(t, N_BASE));
    fs_tokenizer_free(t);
}

Test(tokenizer, normalisation, .fini = tu_remove_tmpdirs)
{
    fs_tokenizer *t = base_tok();
    /* The LLaVA template: lowercased words, punctuation split, letters kept, <image> special. */
    expect_tokens(t, "USER: <image>\nWhat colour is the Circle? Options: (A) Red (B) BLUE ASSISTANT: Answer:",
                  "user : <image> what colour is the circle ? options : ( A ) red ( B ) blue "
                  "assistant : answer :");
    /* A single uppercase letter stays a letter; "a" (article) is another token. */
    int32_t ids[8];
    cr_assert_eq(fs_tokenizer_encode(t, "A a", ids, 8), 2);
    cr_assert_eq(ids[0], fs_tokenizer_id(t, "A"));
    cr_assert_eq(ids[1], fs_tokenizer_id(t, "a"));
    cr_assert_neq(ids[0], ids[1]);
    /* Every punctuation character is its own token, even inside words. */
    expect_tokens(t, "don't-stop/now.", "don ' t - stop / now .");
    expect_tokens(t, "hello,hello!hello;\"hello\"", "hello , hello ! hello ; \" hello \"");
    /* Unknown words (and unknown single letters) map to <unk>. */
    expect_tokens(t, "Hello zebra C", "hello <unk> <unk>");
    /* Whitespace of any kind separates; empty text gives nothing. */
    expect_tokens(t, "  red\t\tblue \r\n red ", "red blue red");
    cr_assert_eq(fs_tokenizer_encode(t, "", ids, 8), 0);
    /* Special tokens are matched after normalisation, like any word. */
    expect_tokens(t, "<IMAGE> <s>", "<image> <s>");
    fs_tokenizer_free(t);
}

Test(tokenizer, encode_reports_overflow, .fini = tu_remove_tmpdirs)
{
    fs_tokenizer *t = base_tok();
    int32_t ids[4];
    cr_assert_eq(fs_tokenizer_encode(t, "red blue red blue", ids, 4), 4);
    cr_assert_eq(fs_tokenizer_encode(t, "red blue red blue red", ids, 4), -1);
    cr_assert(strstr(fs_last_error(), "more than 4 tokens"), "%s", fs_last_error());
    fs_tokenizer_free(t);
}

Test(tokenizer, decode_truncates_at_token_boundaries, .fini = tu_remove_tmpdirs)
{
    fs_tokenizer *t = base_tok();
    int32_t ids[3] = {fs_tokenizer_id(t, "hello"), fs_tokenizer_id(t, "red"), 9999};
    char buf[64];
    cr_assert_eq(fs_tokenizer_decode(t, ids, 3, buf, sizeof buf), strlen("hello red <unk>"));
    cr_assert_str_eq(buf, "hello red <unk>");
    cr_assert_eq(fs_tokenizer_decode(t, ids, 3, buf, 10), strlen("hello red <unk>"));
    cr_assert_str_eq(buf, "hello red");
    fs_tokenizer_free(t);
}

Test(tokenizer, answer_id_is_the_letter_token, .fini = tu_remove_tmpdirs)
{
    fs_tokenizer *t = base_tok();
    cr_assert(strstr(fs_tokenizer_path(t), "vocab.txt"));
    cr_assert_eq(fs_tokenizer_answer_id(t, 'B'), fs_tokenizer_id(t, "B"));
    fs_clear_error();
    cr_assert_eq(fs_tokenizer_answer_id(t, 'C'), -1, "C is not in the vocabulary");
    cr_assert(strstr(fs_last_error(), "vocab.txt") && strstr(fs_last_error(), "\"C\""), "%s",
              fs_last_error());
    fs_tokenizer_free(t);
}

Test(tokenizer, load_errors_name_the_file_and_line, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    fs_clear_error();
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "vocab.txt") && strstr(fs_last_error(), "tokenizer.model") &&
                  strstr(fs_last_error(), dir), "%s", fs_last_error());

    write_text(tu_path_in(dir, "vocab.txt"), "<pad>\n<unk>\n<s>\n</s>\n<image>\nred\nblue\nred\n");
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "vocab.txt:8") && strstr(fs_last_error(), "duplicate") &&
                  strstr(fs_last_error(), "line 6"), "%s", fs_last_error());

    write_text(tu_path_in(dir, "vocab.txt"), "<pad>\n<unk>\n\n<s>\n</s>\n<image>\n");
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "vocab.txt:3") && strstr(fs_last_error(), "empty line"),
              "%s", fs_last_error());

    write_text(tu_path_in(dir, "vocab.txt"), "<pad>\n<unk>\n<s>\n</s>\nred\n");
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "<image>") && strstr(fs_last_error(), "missing"), "%s",
              fs_last_error());

    write_text(tu_path_in(dir, "vocab.txt"), "<pad>\n<unk>\n<s>\n</s>\n<image>\nred blue\n");
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "vocab.txt:6") && strstr(fs_last_error(), "whitespace"),
              "%s", fs_last_error());

    write_text(tu_path_in(dir, "vocab.txt"), "");
    cr_assert_null(fs_tokenizer_load(dir));
    cr_assert(strstr(fs_last_error(), "empty"), "%s", fs_last_error());

    /* CRLF line endings are accepted. */
    write_text(tu_path_in(dir, "vocab.txt"), "<pad>\r\n<unk>\r\n<s>\r\n</s>\r\n<image>\r\nred\r\n");
    fs_tokenizer *t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_id(t, "red"), 5);
    fs_tokenizer_free(t);
}

Test(tokenizer, save_vocab_validates_and_is_atomic, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    const char *dup[] = {"a", "b", "a"}, *space[] = {"a", "b c"}, *empty[] = {"a", ""};
    const char *p = tu_path_in(dir, "vocab.txt");
    cr_assert_eq(fs_tokenizer_save_vocab(p, dup, 3), -1);
    cr_assert(strstr(fs_last_error(), "duplicate token 'a'"), "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_save_vocab(p, space, 2), -1);
    cr_assert_eq(fs_tokenizer_save_vocab(p, empty, 2), -1);
    struct stat st;
    cr_assert_neq(stat(p, &st), 0, "a rejected vocabulary must not be written");
    cr_assert_eq(fs_tokenizer_save_vocab(p, base_tokens, N_BASE), 0, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_save_vocab(p, base_tokens, N_BASE), 0, "overwrite: %s",
                 fs_last_error());
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", p, (long)getpid());
    cr_assert_neq(stat(tmp, &st), 0, "temporary file left behind");
    cr_assert_eq(fs_tokenizer_save_vocab(tu_path_in("/nonexistent-dir-fedsim", "v.txt"),
                                         base_tokens, N_BASE),
                 -1);
    cr_assert(strstr(fs_last_error(), "nonexistent-dir-fedsim"), "%s", fs_last_error());
}

Test(tokenizer, build_vocab_layout, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    const char *words[] = {"red", "blue", "A", "red", "<unk>", "circle"};
    cr_assert_eq(fs_tokenizer_build_vocab(tu_path_in(dir, "vocab.txt"), 64, 0, 63, words, 6),
                 0, "%s", fs_last_error());
    fs_tokenizer *t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_vocab_size(t), 64);
    cr_assert_eq(fs_tokenizer_id(t, "<pad>"), 0);
    cr_assert_eq(fs_tokenizer_id(t, "<image>"), 63);
    cr_assert_eq(fs_tokenizer_id(t, "<unk>"), 1);
    cr_assert_eq(fs_tokenizer_id(t, "<s>"), 2);
    cr_assert_eq(fs_tokenizer_id(t, "</s>"), 3);
    cr_assert_eq(fs_tokenizer_id(t, "red"), 4);
    cr_assert_eq(fs_tokenizer_id(t, "blue"), 5);
    cr_assert_eq(fs_tokenizer_id(t, "A"), 6);
    cr_assert_eq(fs_tokenizer_id(t, "circle"), 7);
    cr_assert_eq(fs_tokenizer_id(t, "<unused_0>"), 8);
    cr_assert_eq(fs_tokenizer_id(t, "<unused_54>"), 62);
    fs_tokenizer_free(t);

    /* A pad id elsewhere is honoured too. */
    cr_assert_eq(fs_tokenizer_build_vocab(tu_path_in(dir, "v2.txt"), 16, 5, 15, words, 6),
                 0, "%s", fs_last_error());
    t = fs_tokenizer_load_file(tu_path_in(dir, "v2.txt"));
    cr_assert(t, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_id(t, "<pad>"), 5);
    cr_assert_eq(fs_tokenizer_id(t, "<image>"), 15);
    fs_tokenizer_free(t);

    /* Too many words for the size: the message says how many do not fit. */
    cr_assert_eq(fs_tokenizer_build_vocab(tu_path_in(dir, "v3.txt"), 8, 0, 7, words, 6), -1);
    cr_assert(strstr(fs_last_error(), "1 words do not fit"), "%s", fs_last_error());
}
