/* LLaMA SentencePiece tokenizer (tokenizer.model): ids equal to transformers'
 * on the strings recorded by tests/reference/make_sp_tokenizer.py (the
 * committed fixture, and a fresh run when the reference virtualenv exists),
 * the Hugging Face added-token files, the choice-letter token, prompts built
 * by the task builder, and one clear error per missing or corrupt file. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "datasets/mcqa_format.h"
#include "datasets/task_builder.h"
#include "kernels/ops.h"
#include "sim/io/error.h"
#include "sim/model/presets.h"
#include "sim/model/tokenizer.h"
#include "tests/helpers/testutil.h"

#define FIXTURE "tests/fixtures/sp_tokenizer"
#define IMAGE_ID 640 /* make_sp_tokenizer.py: VOCAB pieces, then <image>, <pad> */
#define PAD_ID 641

static void need_sentencepiece(void)
{
#ifndef FEDSIM_HAVE_SENTENCEPIECE
    cr_skip_test("fedsim was built without SentencePiece (apt-get install libsentencepiece-dev, "
                 "then rebuild)");
#endif
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    cr_assert(buf);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    cr_assert(n < 1 << 20, "%s is larger than expected", path);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* A new directory holding the fixture's tokenizer.model and nothing else. */
static const char *model_only_dir(void)
{
    size_t len;
    char *model = read_file(tu_source_path(FIXTURE "/tokenizer.model"), &len);
    const char *dir = tu_tmpdir_tracked();
    write_file(tu_path_in(dir, "tokenizer.model"), model, len);
    free(model);
    return dir;
}

static cJSON *read_reference(const char *dir)
{
    char *text = read_file(tu_path_in(dir, "sp_reference.json"), NULL);
    cJSON *ref = cJSON_Parse(text);
    free(text);
    cr_assert(ref, "%s/sp_reference.json is not JSON", dir);
    return ref;
}

static int ref_int(const cJSON *ref, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ref, key);
    cr_assert(cJSON_IsNumber(v), "sp_reference.json lacks \"%s\"", key);
    return v->valueint;
}

/* The recorded ids of text (<s> first). */
static const cJSON *case_ids(const cJSON *ref, const char *text)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ref, "cases"))
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring, text))
            return cJSON_GetObjectItemCaseSensitive(c, "ids");
    cr_assert_fail("sp_reference.json has no case \"%s\"", text);
    return NULL;
}

static void assert_ids(const char *text, const int32_t *got, int n, const cJSON *want)
{
    char g[4096] = "", w[4096] = "";
    size_t gl = 0, wl = 0;
    bool same = n == cJSON_GetArraySize(want);
    for (int i = 0; i < n; i++)
        gl += (size_t)snprintf(g + gl, gl < sizeof g ? sizeof g - gl : 0, " %d", got[i]);
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, want) {
        wl += (size_t)snprintf(w + wl, wl < sizeof w ? sizeof w - wl : 0, " %d", v->valueint);
        same = same && got[i++] == v->valueint;
    }
    cr_assert(same, "\"%s\":\n  fedsim      %s\n  transformers%s", text, g, w);
}

/* fedsim against every case and answer letter of <dir>/sp_reference.json. */
static void check_reference(const char *dir)
{
    fs_tokenizer *t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    cJSON *ref = read_reference(dir);
    int bos = ref_int(ref, "bos_id");
    cr_assert_eq(fs_tokenizer_id(t, "<s>"), bos);
    cr_assert_eq(fs_tokenizer_id(t, "<image>"), ref_int(ref, "image_id"));
    cr_assert_eq(fs_tokenizer_id(t, "<pad>"), ref_int(ref, "pad_id"));
    cr_assert_eq(fs_tokenizer_vocab_size(t), ref_int(ref, "vocab_size"));
    int n_cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ref, "cases")) {
        const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        int32_t ids[512] = {bos};
        int n = fs_tokenizer_encode(t, text, ids + 1, 511);
        cr_assert_geq(n, 0, "\"%s\": %s", text, fs_last_error());
        assert_ids(text, ids, n + 1, cJSON_GetObjectItemCaseSensitive(c, "ids"));
        n_cases++;
    }
    cr_assert_geq(n_cases, 15, "too few cases in %s/sp_reference.json", dir);
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ref, "answer_ids"))
        cr_assert_eq(fs_tokenizer_answer_id(t, a->string[0]), a->valueint, "choice letter %s: %s",
                     a->string, fs_last_error());
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ref, "answer_ids")),
                 FS_MAX_CHOICES);
    cJSON_Delete(ref);
    fs_tokenizer_free(t);
}

Test(sentencepiece, matches_the_committed_transformers_fixture)
{
    need_sentencepiece();
    check_reference(tu_source_path(FIXTURE));
}

Test(sentencepiece, matches_fresh_transformers_output, .fini = tu_remove_tmpdirs)
{
    need_sentencepiece();
    const char *py = tu_venv_python_or_skip();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sentencepiece' > /dev/null 2>&1", py);
    if (system(cmd))
        cr_skip_test("transformers parity skipped: the reference virtualenv (%s) lacks the "
                     "sentencepiece package; rerun scripts/setup-reference-venv.sh", py);
    const char *dir = tu_tmpdir_tracked();
    char args[512];
    snprintf(args, sizeof args, "'%s' --seed 1", dir);
    tu_run_reference(py, "make_sp_tokenizer.py", args, dir);
    check_reference(dir);
}

Test(sentencepiece, pieces_added_tokens_and_letters)
{
    need_sentencepiece();
    fs_tokenizer *t = fs_tokenizer_load(tu_source_path(FIXTURE));
    cr_assert(t, "%s", fs_last_error());
    cr_assert(strstr(fs_tokenizer_path(t), FIXTURE "/tokenizer.model"));
    cr_assert_eq(fs_tokenizer_id(t, "<unk>"), 0);
    cr_assert_eq(fs_tokenizer_id(t, "</s>"), 2);
    cr_assert_eq(fs_tokenizer_id(t, "no such piece"), -1);
    cr_assert_str_eq(fs_tokenizer_token(t, IMAGE_ID), "<image>");
    cr_assert_str_eq(fs_tokenizer_token(t, 1), "<s>");
    cr_assert_str_eq(fs_tokenizer_token(t, 3), "<0x00>");
    cr_assert_null(fs_tokenizer_token(t, PAD_ID + 1));
    cr_assert_null(fs_tokenizer_token(t, -1));
    /* The answer after "Answer:" is the piece "▁A", not "A". */
    int32_t a = fs_tokenizer_answer_id(t, 'A');
    cr_assert_eq(a, fs_tokenizer_id(t, "\u2581A"));
    cr_assert_neq(a, fs_tokenizer_id(t, "A"));
    /* Longer text than ids: refused, nothing written past max. */
    int32_t ids[4] = {-7, -7, -7, -7};
    cr_assert_eq(fs_tokenizer_encode(t, "USER: <image>\nWhat colour is it?", ids, 3), -1);
    cr_assert(strstr(fs_last_error(), "more than 3 tokens"), "%s", fs_last_error());
    cr_assert_eq(ids[3], -7);
    fs_tokenizer_free(t);
}

Test(sentencepiece, added_tokens_json_and_model_only, .fini = tu_remove_tmpdirs)
{
    need_sentencepiece();
    const char *dir = model_only_dir();
    /* Without any Hugging Face file: no <image>, but the control pieces stay special. */
    fs_tokenizer *t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    int32_t ids[16];
    cr_assert_eq(fs_tokenizer_id(t, "<image>"), -1);
    cr_assert_eq(fs_tokenizer_vocab_size(t), IMAGE_ID);
    cr_assert_eq(fs_tokenizer_encode(t, "<s>", ids, 16), 1);
    cr_assert_eq(ids[0], 1);
    fs_tokenizer_free(t);
    /* added_tokens.json alone (tokenizer_config.json without added_tokens_decoder). */
    write_text(tu_path_in(dir, "tokenizer_config.json"),
               "{\"tokenizer_class\": \"LlamaTokenizer\"}");
    write_text(tu_path_in(dir, "added_tokens.json"), "{\"<image>\": 640, \"<pad>\": 641}");
    t = fs_tokenizer_load(dir);
    cr_assert(t, "%s", fs_last_error());
    cr_assert_eq(fs_tokenizer_id(t, "<pad>"), PAD_ID);
    cr_assert_eq(fs_tokenizer_vocab_size(t), PAD_ID + 1);
    int n = fs_tokenizer_encode(t, "a<image>b", ids, 16);
    cr_assert_eq(n, 3, "%d", n);
    cr_assert_eq(ids[1], IMAGE_ID);
    fs_tokenizer_free(t);
}

Test(sentencepiece, without_sentencepiece_loading_says_what_to_install)
{
#ifdef FEDSIM_HAVE_SENTENCEPIECE
    cr_skip_test("built with SentencePiece");
#else
    fs_clear_error();
    cr_assert_null(fs_tokenizer_load(tu_source_path(FIXTURE)));
    cr_assert(strstr(fs_last_error(), "tokenizer.model") &&
                  strstr(fs_last_error(), "libsentencepiece-dev"), "%s", fs_last_error());
#endif
}

/* Loading dir fails with a message containing each of the strings. */
static void expect_load_error(const char *dir, const char *a, const char *b)
{
    fs_clear_error();
    fs_tokenizer *t = fs_tokenizer_load(dir);
    fs_tokenizer_free(t);
    cr_assert_null(t, "loaded despite the broken file");
    cr_assert(strstr(fs_last_error(), a) && strstr(fs_last_error(), b), "%s", fs_last_error());
}

Test(sentencepiece, broken_files_are_named, .fini = tu_remove_tmpdirs)
{
    need_sentencepiece();
    const char *empty = tu_tmpdir_tracked();
    expect_load_error(empty, "tokenizer.model", "vocab.txt");

    const char *corrupt = tu_tmpdir_tracked();
    write_text(tu_path_in(corrupt, "tokenizer.model"), "this is not a SentencePiece model");
    expect_load_error(corrupt, tu_path_in(corrupt, "tokenizer.model"), "SentencePiece");

    size_t len;
    char *model = read_file(tu_source_path(FIXTURE "/tokenizer.model"), &len);
    const char *truncated = tu_tmpdir_tracked();
    write_file(tu_path_in(truncated, "tokenizer.model"), model, len / 2);
    free(model);
    expect_load_error(truncated, tu_path_in(truncated, "tokenizer.model"), "SentencePiece");

    const char *dir = model_only_dir();
    const char *cfg = tu_path_in(dir, "tokenizer_config.json");
    write_text(cfg, "{\"added_tokens_decoder\": {");
    expect_load_error(dir, "tokenizer_config.json", "malformed JSON");
    write_text(cfg, "{\"added_tokens_decoder\": {\"640\": {\"content\": \"<image>\", \"lstrip\": "
                    "true}}}");
    expect_load_error(dir, "tokenizer_config.json", "\"lstrip\": true");
    write_text(cfg, "{\"added_tokens_decoder\": {\"640\": {\"content\": \"<image>\"}, \"641\": "
                    "{\"content\": \"<image>\"}}}");
    expect_load_error(dir, "\"<image>\" has id 641", "also id 640");
    write_text(cfg, "{\"added_tokens_decoder\": {\"x\": {\"content\": \"<image>\"}}}");
    expect_load_error(dir, "tokenizer_config.json", "numeric id");
    write_text(cfg, "{}");
    write_text(tu_path_in(dir, "added_tokens.json"), "{\"<image>\": \"640\"}");
    expect_load_error(dir, "added_tokens.json", "not a number");
}

/* fedsim-mcqa-1 dataset with a text-only example and one with an image, whose
 * prompts are cases of the fixture. */
static const char *prompt_dataset(int image_size)
{
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(fs_mcqa_write_meta(dir, "sp", image_size, 0, NULL, 0, 2, 0), 0, "%s",
                 fs_last_error());
    write_text(tu_path_in(dir, "examples.jsonl"),
               "{\"id\":\"1\",\"split\":\"train\",\"question\":\"Which number is larger?\","
               "\"context\":\"\",\"choices\":[\"12\",\"7\",\"the same\",\"1,000\"],\"answer\":3,"
               "\"category\":\"numbers\"}\n"
               "{\"id\":\"2\",\"split\":\"train\",\"question\":\"Which shape is red?\","
               "\"context\":\"A photo of three shapes.\",\"choices\":[\"circle\",\"square\","
               "\"triangle\"],\"answer\":0,\"category\":\"shapes\",\"image\":\"images/1.png\"}\n");
    char images[1024];
    snprintf(images, sizeof images, "mkdir -p '%s/images'", dir);
    cr_assert_eq(system(images), 0);
    unsigned char *px = calloc((size_t)3 * image_size * image_size, 1);
    cr_assert(stbi_write_png(tu_path_in(dir, "images/1.png"), image_size, image_size, 3, px,
                             image_size * 3));
    free(px);
    return dir;
}

Test(sentencepiece, task_builder_prompts_match_transformers, .fini = tu_remove_tmpdirs)
{
    need_sentencepiece();
    fs_tokenizer *tok = fs_tokenizer_load(tu_source_path(FIXTURE));
    cr_assert(tok, "%s", fs_last_error());
    fs_llava_config cfg = fs_llava_config_tiny();
    cfg.t_vocab = PAD_ID + 1;
    cfg.image_token_index = IMAGE_ID;
    cfg.pad_token_id = PAD_ID;
    fs_mllm *m = fs_mllm_new_random(&cfg, fs_backend_cpu(), 1);
    cr_assert(m, "%s", fs_last_error());
    fs_task task;
    cr_assert_eq(fs_task_load(prompt_dataset(cfg.v_image_size), tok, m, NULL, &task), 0, "%s",
                 fs_last_error());
    cJSON *ref = read_reference(tu_source_path(FIXTURE));
    cr_assert_eq(task.n, 2);
    cr_assert_eq(task.pad_id, PAD_ID);
    const cJSON *a;
    int k = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ref, "answer_ids"))
        cr_assert_eq(task.letter_ids[k++], a->valueint, "letter %s", a->string);

    const char *text_only = "USER: Which number is larger? Options: (A) 12 (B) 7 (C) the same "
                            "(D) 1,000 ASSISTANT: Answer:";
    assert_ids(text_only, task.samples[0].ids, task.samples[0].len, case_ids(ref, text_only));
    cr_assert_eq(task.samples[0].image_pos, -1);

    /* The single <image> of the recorded ids becomes the model's image tokens. */
    const char *with_image = "USER: <image>\nA photo of three shapes. Which shape is red? "
                             "Options: (A) circle (B) square (C) triangle ASSISTANT: Answer:";
    const fs_sample *s = &task.samples[1];
    int32_t want[512];
    int n = 0, at = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, case_ids(ref, with_image)) {
        if (v->valueint == IMAGE_ID) {
            at = n;
            for (int j = 0; j < m->n_image_tokens; j++) want[n++] = IMAGE_ID;
        } else {
            want[n++] = v->valueint;
        }
    }
    cr_assert_eq(s->len, n);
    cr_assert_eq(s->image_pos, at);
    cr_assert_arr_eq(s->ids, want, (size_t)n * sizeof *want, "%s", with_image);
    cJSON_Delete(ref);
    fs_task_free(&task);
    fs_mllm_free(m);
    fs_tokenizer_free(tok);
}
