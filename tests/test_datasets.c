/* Synthetic datasets and the task builder: deterministic generation, the
 * on-disk format round trip into fs_task, prompts that decode back to the
 * LLaVA template, balanced answer letters, every category in both splits, no
 * text-only shortcut, a closed vocabulary, one clear message per malformed
 * input, cross-task concatenation and the dataset cache. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "datasets/mcqa_format.h"
#include "datasets/synth.h"
#include "datasets/task_builder.h"
#include "kernels/ops.h"
#include "sim/io/error.h"
#include "sim/model/presets.h"
#include "tests/helpers/testutil.h"

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(*n + 1);
    cr_assert_eq(fread(p, 1, *n, f), *n);
    p[*n] = 0;
    fclose(f);
    return p;
}

static void write_all(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
}

/* Generates a dataset into a fresh temporary directory; returns its path. */
static const char *gen(const char *name, uint64_t seed, int size, int ntr, int nte)
{
    static char out[4][600];
    static int k;
    char *p = out[k++ % 4];
    snprintf(p, sizeof out[0], "%s/%s", tu_tmpdir_tracked(), name);
    fs_synth_opts o = {.seed = seed, .image_size = size, .n_train = ntr, .n_test = nte};
    cr_assert_eq(fs_synth_generate(name, p, &o), 0, "%s", fs_last_error());
    return p;
}

/* The tiny model and a vocabulary built from fs_synth_words in its directory. */
typedef struct {
    fs_mllm *m;
    fs_tokenizer *tok;
} model_fixture;

static model_fixture tiny_model(void)
{
    fs_llava_config cfg = fs_llava_config_tiny();
    model_fixture f = {fs_mllm_new_random(&cfg, fs_backend_cpu(), 1), NULL};
    cr_assert(f.m, "%s", fs_last_error());
    const char *dir = tu_tmpdir_tracked();
    cr_assert_eq(fs_synth_write_vocab(dir, &cfg), 0, "%s", fs_last_error());
    f.tok = fs_tokenizer_load(dir);
    cr_assert(f.tok, "%s", fs_last_error());
    return f;
}

static void free_model(model_fixture *f)
{
    fs_tokenizer_free(f->tok);
    fs_mllm_free(f->m);
}

/* An independent re-statement of the tokenizer's normalisation, to check the
 * decoded prompt against the template. */
static void norm_append(char *dst, size_t n, const char *text)
{
    size_t l = strlen(dst);
    for (const char *p = text; *p;) {
        if (isspace((unsigned char)*p)) { p++; continue; }
        char word[128];
        size_t w = 0;
        if (strchr(".,?!:;()'\"-/", *p)) word[w++] = *p++;
        else
            while (*p && !isspace((unsigned char)*p) && !strchr(".,?!:;()'\"-/", *p) && w < 127)
                word[w++] = *p++;
        word[w] = 0;
        if (!(w == 1 && isupper((unsigned char)word[0])))
            for (size_t i = 0; i < w; i++) word[i] = (char)tolower((unsigned char)word[i]);
        l += (size_t)snprintf(dst + l, n - l, "%s%s", l ? " " : "", word);
    }
}

static void expected_prompt(const fs_mcqa_example *e, int n_image_tokens, char *out, size_t n)
{
    out[0] = 0;
    norm_append(out, n, "<s> USER:");
    for (int i = 0; e->image && i < n_image_tokens; i++) norm_append(out, n, "<image>");
    norm_append(out, n, e->context);
    norm_append(out, n, e->question);
    norm_append(out, n, "Options:");
    for (int c = 0; c < e->n_choices; c++) {
        char letter[8];
        snprintf(letter, sizeof letter, "(%c)", 'A' + c);
        norm_append(out, n, letter);
        norm_append(out, n, e->choices[c]);
    }
    norm_append(out, n, "ASSISTANT: Answer:");
}

/* ------------------------------------------------------------ generation */

Test(datasets, generation_is_deterministic, .fini = tu_remove_tmpdirs)
{
    const char *names[2] = {"synth-iconqa", "synth-scienceqa"};
    for (int k = 0; k < 2; k++) {
        const char *a = gen(names[k], 5, 32, 120, 40), *b = gen(names[k], 5, 32, 120, 40);
        const char *c = gen(names[k], 6, 32, 120, 40);
        size_t na, nb, nc;
        char *ja = read_all(tu_path_in(a, "examples.jsonl"), &na);
        char *jb = read_all(tu_path_in(b, "examples.jsonl"), &nb);
        char *jc = read_all(tu_path_in(c, "examples.jsonl"), &nc);
        cr_assert(na == nb && !memcmp(ja, jb, na), "%s: same seed, different examples.jsonl", names[k]);
        cr_assert(na != nc || memcmp(ja, jc, na), "%s: different seeds, same examples.jsonl", names[k]);
        char *pa = read_all(tu_path_in(a, "images/000007.png"), &na);
        char *pb = read_all(tu_path_in(b, "images/000007.png"), &nb);
        cr_assert(na == nb && !memcmp(pa, pb, na), "%s: same seed, different PNG", names[k]);
        char *ma = read_all(tu_path_in(a, "dataset.json"), &na);
        cr_assert(strstr(ma, "\"format\":\t\"fedsim-mcqa-1\"") || strstr(ma, "fedsim-mcqa-1"));
        free(ja), free(jb), free(jc), free(pa), free(pb), free(ma);
    }
}

Test(datasets, generate_refuses_an_existing_directory, .fini = tu_remove_tmpdirs)
{
    const char *a = gen("synth-iconqa", 1, 32, 20, 10);
    fs_synth_opts o = {.seed = 1, .image_size = 32, .n_train = 20, .n_test = 10};
    cr_assert_eq(fs_synth_generate("synth-iconqa", a, &o), -1);
    cr_assert(strstr(fs_last_error(), a) && strstr(fs_last_error(), "already exists"), "%s",
              fs_last_error());
    cr_assert_eq(fs_synth_generate("synth-nope", tu_path_in(tu_tmpdir_tracked(), "x"), &o), -1);
    cr_assert(strstr(fs_last_error(), "synth-nope"), "%s", fs_last_error());
    o.image_size = 4;
    cr_assert_eq(fs_synth_generate("synth-iconqa", tu_path_in(tu_tmpdir_tracked(), "x"), &o), -1);
}

/* A pid that no longer exists: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (!pid) _exit(0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return pid;
}

/* A killed `fedsim data synth` leaves <out>.tmp-PID behind; the next
 * generation into the same out (fs_synth_generate is what `data synth` and the
 * dataset cache call) removes it, but never a live process's. */
Test(datasets, generate_removes_temporaries_of_dead_runs_only, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    char out[600], dead[700], live[700], inner[800], other[700];
    snprintf(out, sizeof out, "%s/data", dir);
    pid_t gone = dead_pid();
    snprintf(dead, sizeof dead, "%s.tmp-%ld", out, (long)gone);
    /* the test runner that forked this test is alive while the test runs */
    snprintf(live, sizeof live, "%s.tmp-%ld", out, (long)getppid());
    /* another output's temporary, also of a dead pid, is not this run's business */
    snprintf(other, sizeof other, "%s/database.tmp-%ld", dir, (long)gone);
    snprintf(inner, sizeof inner, "%s/images", dead);
    cr_assert_eq(mkdir(dead, 0755), 0);
    cr_assert_eq(mkdir(inner, 0755), 0);
    write_all(tu_path_in(inner, "000001.png"), "half an image");
    cr_assert_eq(mkdir(live, 0755), 0);
    cr_assert_eq(mkdir(other, 0755), 0);
    fs_synth_opts o = {.seed = 1, .image_size = 16, .n_train = 10, .n_test = 5};
    cr_assert_eq(fs_synth_generate("synth-iconqa", out, &o), 0, "%s", fs_last_error());
    struct stat s;
    cr_assert_neq(stat(dead, &s), 0, "%s (pid %ld is dead) was left behind", dead, (long)gone);
    cr_assert_eq(stat(live, &s), 0, "%s (pid %ld is alive) was removed", live, (long)getppid());
    cr_assert_eq(stat(other, &s), 0, "%s belongs to another output but was removed", other);
}

Test(datasets, words_cover_everything_the_generators_emit, .fini = tu_remove_tmpdirs)
{
    int nw;
    const char *const *w = fs_synth_words(&nw);
    for (int i = 1; i < nw; i++)
        cr_assert_lt(strcmp(w[i - 1], w[i]), 0, "fs_synth_words not sorted/unique at %s", w[i]);
    fs_llava_config cfg = fs_llava_config_tiny();
    cr_assert_leq(nw + 5, cfg.t_vocab, "the words must fit the tiny model's vocabulary");
    model_fixture f = tiny_model();
    int32_t unk = fs_tokenizer_id(f.tok, "<unk>"), ids[512];
    const char *names[2] = {"synth-iconqa", "synth-scienceqa"};
    for (int k = 0; k < 2; k++) {
        fs_mcqa_dataset d;
        cr_assert_eq(fs_mcqa_read(gen(names[k], 3, 32, 600, 100), &d), 0, "%s", fs_last_error());
        for (int i = 0; i < d.n; i++) {
            const fs_mcqa_example *e = &d.ex[i];
            const char *texts[2 + FS_MAX_CHOICES] = {e->question, e->context};
            for (int c = 0; c < e->n_choices; c++) texts[2 + c] = e->choices[c];
            for (int t = 0; t < 2 + e->n_choices; t++) {
                int n = fs_tokenizer_encode(f.tok, texts[t], ids, 512);
                for (int j = 0; j < n; j++)
                    cr_assert_neq(ids[j], unk, "%s: a word of \"%s\" is not in fs_synth_words",
                                  names[k], texts[t]);
            }
        }
        fs_mcqa_free(&d);
    }
    fs_source_mix mix = fs_source_mix_default();
    mix.weight[FS_SOURCE_CAPTIONS] = mix.weight[FS_SOURCE_ICONQA] = mix.weight[FS_SOURCE_SCIENCEQA] = 1;
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&mix, 3, 1500, 32, &c), 0, "%s", fs_last_error());
    for (int i = 0; i < c.n; i++) {
        int n = fs_tokenizer_encode(f.tok, c.texts[i], ids, 512);
        for (int j = 0; j < n; j++)
            cr_assert_neq(ids[j], unk, "source corpus: a word of \"%s\" is not in fs_synth_words", c.texts[i]);
    }
    fs_source_corpus_free(&c);
    free_model(&f);
}

static fs_source_corpus source_corpus(double captions, double iconqa, double scienceqa, int n, int S)
{
    fs_source_mix mix = fs_source_mix_default();
    mix.weight[FS_SOURCE_CAPTIONS] = captions, mix.weight[FS_SOURCE_ICONQA] = iconqa;
    mix.weight[FS_SOURCE_SCIENCEQA] = scienceqa;
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&mix, 9, n, S, &c), 0, "%s", fs_last_error());
    return c;
}

Test(datasets, captions_are_a_different_format_in_the_same_world, .fini = tu_remove_tmpdirs)
{
    int n = 400, S = 24;
    fs_source_corpus c = source_corpus(1, 0, 0, n, S), c2 = source_corpus(1, 0, 0, n, S);
    cr_assert_eq(memcmp(c.pixels, c2.pixels, (size_t)n * 3 * S * S * sizeof *c.pixels), 0, "not deterministic");
    int questions = 0, captions = 0;
    float lo = 1e9f, hi = -1e9f;
    for (long i = 0; i < (long)n * 3 * S * S; i++) lo = fminf(lo, c.pixels[i]), hi = fmaxf(hi, c.pixels[i]);
    /* CLIP normalisation of [0,1] pixels spans about [-1.8, 2.2]. */
    cr_assert(lo >= -1.8f && hi <= 2.2f && hi - lo > 2.0f, "pixel range [%f, %f]", lo, hi);
    for (int i = 0; i < n; i++) {
        const char *t = c.texts[i];
        cr_assert_str_eq(t, c2.texts[i]);
        cr_assert(t[0], "empty text");
        cr_assert_eq(c.target_from[i], 0, "captions are supervised whole: %s", t);
        if (c.answer_at[i] >= 0)
            cr_assert(!strncmp(t + c.answer_at[i] - 9, " answer: ", 9) && !t[c.answer_at[i] + 1], "%s", t);
        /* lettered choices appear only in the source format ("( A ) red ( B ) blue answer: B"),
         * never in the downstream template's "Options: (A) ..." */
        cr_assert_null(strstr(t, "(A)"), "captions must not use the downstream options: %s", t);
        cr_assert_null(strstr(t, "Options"), "%s", t);
        if (!strncmp(t, "question: ", 10)) {
            questions++;
            cr_assert(strstr(t, "? answer: ") || (strstr(t, "? ( A ) ") && strstr(t, " answer: ")), "%s", t);
        } else {
            captions++;
            cr_assert(!strncmp(t, "a ", 2) || !strncmp(t, "an ", 3), "%s", t);
        }
    }
    cr_assert(questions > n / 5 && captions > n / 5, "%d questions, %d captions", questions, captions);
    fs_source_corpus_free(&c);
    fs_source_corpus_free(&c2);
    fs_source_mix none = fs_source_mix_default();
    none.weight[FS_SOURCE_CAPTIONS] = none.weight[FS_SOURCE_ICONQA] = none.weight[FS_SOURCE_SCIENCEQA] = 0;
    cr_assert_eq(fs_synth_source_corpus(&none, 1, 10, 32, &c), -1, "an empty mixture must be refused");
    cr_assert_eq(fs_synth_source_corpus(&none, 1, 0, 32, &c), -1);
}

/* The downstream images are seen by cameras the source corpus never shows,
 * visual-style shifts for the adapters to undo: both under a dim bluish light
 * (red x 0.45, green x 0.55, blue x 0.85), which sets the channel maxima of the
 * light background; synth-iconqa's camera also washes half of each colour out,
 * so with the light undone its most colourful pixel keeps about half of
 * synth-scienceqa's chroma (max - min channel). */
Test(datasets, downstream_images_are_seen_by_cameras_unlike_the_source, .fini = tu_remove_tmpdirs)
{
    const char *names[2] = {"synth-iconqa", "synth-scienceqa"};
    const float light[3] = {0.45f, 0.55f, 0.85f};
    float chroma[2] = {0};
    for (int d = 0; d < 2; d++) {
        const char *dir = gen(names[d], 3, 32, 13, 1);
        int max[3] = {0}, w, h, ch;
        for (int i = 0; i < 14; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "images/%06d.png", i);
            if (access(tu_path_in(dir, rel), F_OK)) continue; /* a text-only item */
            unsigned char *px = stbi_load(tu_path_in(dir, rel), &w, &h, &ch, 3);
            cr_assert_not_null(px, "%s/%s", dir, rel);
            for (int p = 0; p < w * h; p++) {
                float lo = 1e9f, hi = -1e9f;
                for (int c = 0; c < 3; c++) {
                    max[c] = px[3 * p + c] > max[c] ? px[3 * p + c] : max[c];
                    lo = fminf(lo, px[3 * p + c] / light[c]), hi = fmaxf(hi, px[3 * p + c] / light[c]);
                }
                chroma[d] = fmaxf(chroma[d], hi - lo);
            }
            stbi_image_free(px);
        }
        cr_assert(max[2] >= 200 && max[0] <= 115 && max[1] <= 141,
                  "%s: channel maxima %d %d %d", names[d], max[0], max[1], max[2]);
    }
    cr_assert(chroma[1] > 150 && chroma[0] < 0.6f * chroma[1],
              "most colourful pixel with the light undone: iconqa %.0f, scienceqa %.0f", chroma[0],
              chroma[1]);
    int n = 50, S = 32;
    fs_source_corpus c = source_corpus(0.5, 0.5, 0, n, S);
    float red_max = -1e9f;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < S * S; p++) red_max = fmaxf(red_max, c.pixels[(size_t)i * 3 * S * S + p]);
    /* CLIP-normalised red: (x - 0.4815) / 0.2686; 115/255 lies at -0.11 */
    cr_assert_gt(red_max, 1.0f, "the source scenes are lit normally, red up to %f", red_max);
    fs_source_corpus_free(&c);
}

/* The source corpus pairs each text with a scene, and word-order items have none:
 * a scienceqa source left with only them is refused (it once redrew forever). */
Test(datasets, a_source_left_with_only_text_only_categories_is_refused)
{
    static const char *const all_but_word_order[] = {"bar-chart", "map", "food-chain", "ruler",
                                                     "thermometer", "magnets"};
    fs_source_mix text_only = {.weight = {[FS_SOURCE_SCIENCEQA] = 1}, .held_out = all_but_word_order,
                               .n_held_out = 6};
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&text_only, 1, 10, 32, &c), -1);
    cr_assert(strstr(fs_last_error(), "text-only"), "%s", fs_last_error());
}

Test(datasets, source_items_are_lettered_in_the_source_format_without_held_out_skills)
{
    int n = 300, S = 32;
    fs_source_corpus c = source_corpus(0, 1, 1, n, S);
    int letters[5] = {0}, ncats = 0;
    const char *cats[16];
    for (int i = 0; i < n; i++) {
        const char *t = c.texts[i];
        int k = c.target_from[i];
        cr_assert_eq(c.answer_at[i], k, "task items are supervised on their answer: %s", t);
        cr_assert(!strncmp(t, "question: ", 10) && k > 10, "%s", t);
        cr_assert(!strncmp(t + k - 9, " answer: ", 9) && t[k] >= 'A' && t[k] <= 'E' && !t[k + 1], "%s", t);
        char marker[8];
        snprintf(marker, sizeof marker, "( %c ) ", t[k]);
        cr_assert_not_null(strstr(t, marker), "the answer letter names no option: %s", t);
        cr_assert_null(strstr(t, "Options"), "%s", t);
        /* held out by default: arithmetic (iconqa) and word-order (text-only, scienceqa) */
        cr_assert_null(strstr(t, "If you add"), "%s", t);
        cr_assert_null(strstr(t, "in total"), "%s", t);
        /* each item names its category, for the held-out report's breakdown */
        const char *cat = c.category[i];
        cr_assert(cat && strcmp(cat, "arithmetic") && strcmp(cat, "word-order"), "%s: %s", cat, t);
        int j = 0;
        while (j < ncats && strcmp(cats[j], cat)) j++;
        if (j == ncats && ncats < 16) cats[ncats++] = cat;
        letters[t[k] - 'A']++;
    }
    /* 5 of synth-iconqa and 6 of synth-scienceqa are neither held out nor text-only */
    cr_assert_eq(ncats, 11, "%d categories named", ncats);
    cr_assert(letters[0] > n / 6 && letters[1] > n / 6 && letters[2] > n / 12, "answer letters %d %d %d",
              letters[0], letters[1], letters[2]);
    fs_source_corpus_free(&c);
}

Test(datasets, word_answers_name_the_option_text)
{
    fs_source_mix mix = fs_source_mix_default();
    mix.weight[FS_SOURCE_CAPTIONS] = 0, mix.weight[FS_SOURCE_ICONQA] = mix.weight[FS_SOURCE_SCIENCEQA] = 1;
    mix.answers = FS_ANSWER_WORDS;
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&mix, 9, 200, 32, &c), 0, "%s", fs_last_error());
    for (int i = 0; i < c.n; i++) {
        const char *t = c.texts[i];
        int k = c.answer_at[i];
        cr_assert(k > 10 && c.target_from[i] == k && !strncmp(t + k - 9, " answer: ", 9), "%s", t);
        char option[160];
        snprintf(option, sizeof option, " ) %s ", t + k);
        cr_assert(strlen(t + k) > 0 && !(t[k] >= 'A' && t[k] <= 'E' && !t[k + 1]), "a letter answer: %s", t);
        /* the option's text, followed by the next option or the answer */
        cr_assert_not_null(strstr(t, option), "the answer is no option's text: %s", t);
    }
    fs_source_corpus_free(&c);
}

Test(datasets, matching_items_letter_the_option_the_question_names)
{
    fs_source_mix mix = fs_source_mix_default();
    mix.weight[FS_SOURCE_CAPTIONS] = 0, mix.weight[FS_SOURCE_MATCHING] = 1;
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&mix, 5, 300, 32, &c), 0, "%s", fs_last_error());
    int letters[5] = {0};
    for (int i = 0; i < c.n; i++) {
        const char *t = c.texts[i];
        int k = c.answer_at[i];
        char word[32], option[48];
        cr_assert_eq(sscanf(t, "question: pick %31s .", word), 1, "%s", t);
        cr_assert(k > 0 && c.target_from[i] == k && t[k] >= 'A' && t[k] <= 'E' && !t[k + 1], "%s", t);
        snprintf(option, sizeof option, "( %c ) %s ", t[k], word);
        cr_assert_not_null(strstr(t, option), "the answer letter is not the named option's: %s", t);
        /* the options are distinct: the named word is one option only */
        snprintf(option, sizeof option, ") %s ", word);
        const char *first = strstr(t, option);
        cr_assert(first && !strstr(first + 1, option), "%s", t);
        letters[t[k] - 'A']++;
    }
    /* 2-5 options, the answer uniform among them */
    cr_assert(letters[0] > letters[4] && letters[1] > c.n / 8 && letters[4] > c.n / 40,
              "answer letters %d %d %d %d %d", letters[0], letters[1], letters[2], letters[3], letters[4]);
    fs_source_corpus_free(&c);
}

Test(datasets, verdicts_name_the_right_option_of_every_task_item)
{
    fs_source_mix mix = fs_source_mix_default();
    mix.weight[FS_SOURCE_CAPTIONS] = mix.weight[FS_SOURCE_ICONQA] = mix.weight[FS_SOURCE_SCIENCEQA] = 1;
    mix.answers = FS_ANSWER_BOTH;
    mix.verdicts = true;
    fs_source_corpus c;
    cr_assert_eq(fs_synth_source_corpus(&mix, 9, 300, 32, &c), 0, "%s", fs_last_error());
    int tasks = 0;
    for (int i = 0; i < c.n; i++) {
        const char *t = c.texts[i];
        int a = c.answer_at[i], r = c.right_option[i], at[FS_MAX_CHOICES + 1];
        if (c.target_from[i] == 0) { /* captions (some ask a lettered question) are supervised whole */
            cr_assert_eq(r, -1, "a caption has a verdict: %s", t);
            continue;
        }
        tasks++;
        int k = fs_source_option_marks(t, a, at);
        cr_assert(k >= 2 && r >= 0 && r < k, "%d options, right %d: %s", k, r, t);
        cr_assert_eq(t[at[r] + 3], 'A' + r, "%s", t);
        /* the right option is the answer: its letter, or its text */
        cr_assert_eq(at[k], a - 9, "the options end where \" answer: \" starts: %s", t);
        int from = at[r] + FS_SOURCE_MARK_LEN;
        bool letter = t[a] == 'A' + r && !t[a + 1];
        bool text = (int)strlen(t + a) == at[r + 1] - from && !strncmp(t + from, t + a, strlen(t + a));
        cr_assert(letter || text, "option %c is not the answer: %s", 'A' + r, t);
    }
    cr_assert_gt(tasks, 100);
    fs_source_corpus_free(&c);
    mix.verdicts = false;
    cr_assert_eq(fs_synth_source_corpus(&mix, 9, 300, 32, &c), 0, "%s", fs_last_error());
    for (int i = 0; i < c.n; i++) cr_assert_eq(c.right_option[i], -1);
    fs_source_corpus_free(&c);
}

/* ------------------------------------------------------------ round trip */

static void check_round_trip(const char *name, int expect_text_only)
{
    const char *dir = gen(name, 11, 32, FS_SYNTH_DEFAULT_TRAIN, FS_SYNTH_DEFAULT_TEST);
    model_fixture f = tiny_model();
    fs_task t;
    cr_assert_eq(fs_task_load(dir, f.tok, f.m, "category", &t), 0, "%s", fs_last_error());
    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(dir, &d), 0, "%s", fs_last_error());
    cr_assert_eq(t.n, FS_SYNTH_DEFAULT_TRAIN + FS_SYNTH_DEFAULT_TEST);
    cr_assert_eq(t.n, d.n);
    cr_assert_eq(t.image_size, 32);
    cr_assert_eq(t.pad_id, fs_tokenizer_id(f.tok, "<pad>"));
    for (int c = 0; c < FS_MAX_CHOICES; c++) {
        char l[2] = {(char)('A' + c), 0};
        cr_assert_eq(t.letter_ids[c], fs_tokenizer_id(f.tok, l));
    }
    for (int c = 1; c < t.n_categories; c++)
        cr_assert_lt(strcmp(t.category_names[c - 1], t.category_names[c]), 0, "names not sorted");

    int32_t unk = fs_tokenizer_id(f.tok, "<unk>"), img_id = f.m->cfg.image_token_index;
    int text_only = 0, max_len = 0;
    int per_cat[2][16] = {{0}}, pos[2][FS_MAX_CHOICES + 1][FS_MAX_CHOICES] = {{{0}}};
    int nk[2][FS_MAX_CHOICES + 1] = {{0}};
    char got[8192], want[8192];
    for (int i = 0; i < t.n; i++) {
        const fs_sample *s = &t.samples[i];
        const fs_mcqa_example *e = &d.ex[i];
        cr_assert_eq(s->answer, e->answer);
        cr_assert_eq(s->n_choices, e->n_choices);
        cr_assert_eq(s->split, e->split);
        cr_assert_eq(s->source, 0);
        cr_assert_str_eq(t.category_names[s->category], e->category);
        cr_assert_leq(s->len + 1, f.m->cfg.t_max_pos);
        max_len = s->len > max_len ? s->len : max_len;
        int nimg = 0;
        for (int j = 0; j < s->len; j++) {
            cr_assert_neq(s->ids[j], unk, "%s line %d: unknown word in the prompt", name, e->line);
            cr_assert(s->ids[j] >= 0 && s->ids[j] < f.m->cfg.t_vocab);
            nimg += s->ids[j] == img_id;
        }
        if (s->image >= 0) {
            cr_assert_lt(s->image, t.n_images);
            cr_assert_eq(nimg, f.m->n_image_tokens);
            for (int j = 0; j < f.m->n_image_tokens; j++) cr_assert_eq(s->ids[s->image_pos + j], img_id);
            cr_assert_neq(s->ids[s->image_pos - 1], img_id);
        } else {
            text_only++;
            cr_assert_eq(nimg, 0);
        }
        fs_tokenizer_decode(f.tok, s->ids, s->len, got, sizeof got);
        expected_prompt(e, f.m->n_image_tokens, want, sizeof want);
        cr_assert_str_eq(got, want, "%s line %d", name, e->line);
        per_cat[s->split][s->category]++;
        pos[s->split][s->n_choices][s->answer]++;
        nk[s->split][s->n_choices]++;
    }
    if (expect_text_only) cr_assert_gt(text_only, 0, "%s: expected some text-only items", name);
    else cr_assert_eq(text_only, 0);
    cr_assert_eq(t.n_images, t.n - text_only);
    /* Every category in both splits. */
    for (int sp = 0; sp < 2; sp++)
        for (int c = 0; c < t.n_categories; c++)
            cr_assert_gt(per_cat[sp][c], 0, "%s: category %s absent from split %d", name,
                         t.category_names[c], sp);
    /* Answer letters: each position within +-30% of uniform (per number of choices). */
    for (int sp = 0; sp < 2; sp++)
        for (int k = 2; k <= FS_MAX_CHOICES; k++) {
            if (nk[sp][k] < 10 * k) continue;
            for (int a = 0; a < k; a++) {
                double u = (double)nk[sp][k] / k;
                cr_assert(fabs(pos[sp][k][a] - u) <= 0.3 * u, "%s split %d: %d choices, letter %c "
                          "correct %d times, uniform %.1f", name, sp, k, 'A' + a, pos[sp][k][a], u);
            }
        }
    /* Pixels: CLIP-normalised values of real images. */
    double sum = 0;
    long np = (long)t.n_images * 3 * 32 * 32;
    for (long i = 0; i < np; i++) {
        cr_assert(t.pixels[i] >= -1.8f && t.pixels[i] <= 2.2f);
        sum += t.pixels[i];
    }
    cr_assert(fabs(sum / np) < 2.0, "mean %f", sum / np);
    cr_log_info("%s: %d samples, %d images, %d categories, longest prompt %d tokens", name, t.n,
                t.n_images, t.n_categories, max_len);
    fs_mcqa_free(&d);
    fs_task_free(&t);
    cr_assert_null(t.samples);
    free_model(&f);
}

Test(datasets, iconqa_round_trip, .fini = tu_remove_tmpdirs)
{
    check_round_trip("synth-iconqa", 0);
}
Test(datasets, scienceqa_round_trip, .fini = tu_remove_tmpdirs)
{
    check_round_trip("synth-scienceqa", 1);
}

Test(datasets, iconqa_has_no_text_only_shortcut, .fini = tu_remove_tmpdirs)
{
    /* Predict, for each test question, the answer letter most often correct for
     * the same question text in train (the overall majority when unseen). */
    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(gen("synth-iconqa", 4, 32, 1200, 400), &d), 0, "%s", fs_last_error());
    int overall[FS_MAX_CHOICES] = {0}, right = 0, n_test = 0;
    for (int i = 0; i < d.n; i++)
        if (d.ex[i].split == FS_SPLIT_TRAIN) overall[d.ex[i].answer]++;
    int best_all = 0;
    for (int a = 1; a < FS_MAX_CHOICES; a++) best_all = overall[a] > overall[best_all] ? a : best_all;
    for (int i = 0; i < d.n; i++) {
        if (d.ex[i].split != FS_SPLIT_TEST) continue;
        int votes[FS_MAX_CHOICES] = {0}, seen = 0;
        for (int j = 0; j < d.n; j++)
            if (d.ex[j].split == FS_SPLIT_TRAIN && !strcmp(d.ex[j].question, d.ex[i].question))
                votes[d.ex[j].answer]++, seen = 1;
        int best = best_all;
        if (seen)
            for (int a = 0; a < FS_MAX_CHOICES; a++) best = votes[a] > votes[best] ? a : best;
        right += best == d.ex[i].answer;
        n_test++;
    }
    double acc = (double)right / n_test;
    cr_log_info("text-only majority-letter accuracy on synth-iconqa test: %.3f", acc);
    cr_assert_lt(acc, 0.6, "the question text alone predicts the answer letter (%.3f)", acc);
    fs_mcqa_free(&d);
}

Test(datasets, partition_keys, .fini = tu_remove_tmpdirs)
{
    const char *dir = gen("synth-scienceqa", 2, 32, 200, 70);
    model_fixture f = tiny_model();
    fs_task t;
    cr_assert_eq(fs_task_load(dir, f.tok, f.m, "subject", &t), 0, "%s", fs_last_error());
    cr_assert_eq(t.n_categories, 3);
    cr_assert_str_eq(t.category_names[0], "language science");
    cr_assert_str_eq(t.category_names[1], "natural science");
    cr_assert_str_eq(t.category_names[2], "social science");
    fs_task_free(&t);
    cr_assert_eq(fs_task_load(dir, f.tok, f.m, "skill", &t), 0, "%s", fs_last_error());
    cr_assert_gt(t.n_categories, 7);
    fs_task_free(&t);
    cr_assert_eq(fs_task_load(dir, f.tok, f.m, "colour", &t), -1);
    cr_assert(strstr(fs_last_error(), "partition key 'colour'"), "%s", fs_last_error());
    free_model(&f);
}

/* ------------------------------------------------------------ malformed inputs */

/* Replaces line `line` (1-based) of dir/examples.jsonl with text (NULL = delete it). */
static void replace_line(const char *dir, const char *orig, int line, const char *text)
{
    FILE *f = fopen(tu_path_in(dir, "examples.jsonl"), "wb");
    cr_assert(f);
    int ln = 1;
    for (const char *p = orig; *p; ln++) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        if (ln != line) fwrite(p, 1, n, f);
        else if (text) fprintf(f, "%s\n", text);
        p += n;
    }
    fclose(f);
}

/* Loading must fail with a message holding every fragment given. */
static void expect_load_error(const char *dir, model_fixture *f, const char *what, const char *a,
                              const char *b, const char *c)
{
    fs_task t;
    fs_clear_error();
    cr_assert_eq(fs_task_load(dir, f->tok, f->m, NULL, &t), -1, "%s: loaded anyway", what);
    const char *msg = fs_last_error();
    cr_log_info("%s -> %s", what, msg);
    cr_assert(strstr(msg, a) && (!b || strstr(msg, b)) && (!c || strstr(msg, c)),
              "%s: message \"%s\" lacks \"%s\" / \"%s\" / \"%s\"", what, msg, a, b ? b : "",
              c ? c : "");
    cr_assert_null(t.samples);
}

/* Loads dir and checks that the task holds image `rel` (relative to dir) as
 * fs_clip_load_image gives it at the model's size with CLIP's defaults. */
static void expect_image_preprocessed(const char *dir, model_fixture *f, const char *rel)
{
    fs_task t;
    fs_mcqa_dataset d;
    cr_assert_eq(fs_task_load(dir, f->tok, f->m, NULL, &t), 0, "%s", fs_last_error());
    cr_assert_eq(fs_mcqa_read(dir, &d), 0, "%s", fs_last_error());
    int S = f->m->cfg.v_image_size, k = -1;
    for (int i = 0; i < d.n && k < 0; i++)
        if (d.ex[i].image && !strcmp(d.ex[i].image, rel)) k = t.samples[i].image;
    cr_assert_geq(k, 0, "no example of %s shows %s", dir, rel);
    cr_assert_eq(t.image_size, S);
    size_t per = (size_t)3 * S * S;
    float *want = malloc(per * sizeof *want);
    fs_clip_options o;
    fs_clip_options_default(&o, S);
    cr_assert_eq(fs_clip_load_image(tu_path_in(dir, rel), &o, want), 0, "%s", fs_last_error());
    cr_assert_eq(memcmp(t.pixels + (size_t)k * per, want, per * sizeof *want), 0,
                 "%s: the task's pixels are not the preprocessed image", rel);
    free(want);
    fs_mcqa_free(&d);
    fs_task_free(&t);
}

#define GOOD "\"id\":\"x1\",\"split\":\"train\",\"context\":\"\",\"category\":\"counting\""
#define IMG ",\"image\":\"images/000002.png\""

Test(datasets, malformed_inputs_name_file_and_line, .fini = tu_remove_tmpdirs)
{
    const char *dir = gen("synth-iconqa", 8, 32, 20, 10);
    model_fixture f = tiny_model();
    size_t n;
    char *orig = read_all(tu_path_in(dir, "examples.jsonl"), &n);
    char where[700];
    snprintf(where, sizeof where, "%s/examples.jsonl:3", dir);
    static const struct { const char *line, *what, *frag; } cases[] = {
        {"{\"id\": \"x1\", \"split\": ", "bad JSON", "not valid JSON"},
        {"[1, 2]", "not an object", "JSON object"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\"]" IMG "}", "no answer",
         "missing field \"answer\""},
        {"{" GOOD ",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}", "no question",
         "missing field \"question\""},
        {"{" GOOD ",\"question\":\"q?\",\"answer\":0" IMG "}", "no choices", "missing field \"choices\""},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\",\"3\"],\"answer\":3" IMG "}",
         "answer too big", "out of range"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":-1" IMG "}",
         "negative answer", "out of range"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0.5" IMG "}",
         "fractional answer", "integer"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\"],\"answer\":0" IMG "}", "one choice",
         "1 choice"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\","
         "\"9\"],\"answer\":0" IMG "}", "nine choices", "9 choices"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"\"],\"answer\":0" IMG "}",
         "empty choice", "choices\"[1]"},
        {"{\"id\":\"x1\",\"split\":\"valid\",\"context\":\"\",\"category\":\"counting\","
         "\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}", "bad split",
         "unknown split \"valid\""},
        {"{\"id\":\"x1\",\"split\":\"train\",\"context\":\"\",\"category\":\"knitting\","
         "\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}", "unlisted category",
         "not listed"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0,"
         "\"image\":\"../../etc/x.png\"}", "escaping image path", "stay inside"},
        {"{\"id\":\"000000\",\"split\":\"train\",\"context\":\"\",\"category\":\"counting\","
         "\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}", "duplicate id",
         "duplicate id \"000000\""},
        {"{" GOOD ",\"question\":\"q <image> ?\",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}",
         "<image> in the text", "reserved token <image>"},
        {"{" GOOD ",\"question\":\"q?\",\"choices\":[\"1\",\"2\"],\"answer\":0,"
         "\"image\":\"images/nope.png\"}", "missing image", "missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        replace_line(dir, orig, 3, cases[i].line);
        /* The missing image is reported by its path, with the JSONL line. */
        if (strstr(cases[i].what, "missing image"))
            expect_load_error(dir, &f, cases[i].what, "images/nope.png", "examples.jsonl:3",
                              cases[i].frag);
        else
            expect_load_error(dir, &f, cases[i].what, where, cases[i].frag, NULL);
    }
    /* A prompt longer than the model's positions. */
    char *longq = malloc(4000);
    strcpy(longq, "{" GOOD ",\"question\":\"");
    for (int i = 0; i < 300; i++) strcat(longq, "red ");
    strcat(longq, "\",\"choices\":[\"1\",\"2\"],\"answer\":0" IMG "}");
    replace_line(dir, orig, 3, longq);
    expect_load_error(dir, &f, "long prompt", where, "max_position_embeddings", NULL);
    free(longq);
    /* A truncated file disagrees with the declared counts. */
    replace_line(dir, orig, 30, NULL);
    expect_load_error(dir, &f, "truncated", "examples.jsonl", "declares 20 and 10", NULL);
    replace_line(dir, orig, 0, NULL); /* restore */

    /* Images: one of another size is preprocessed to the model's; an
     * undecodable one is named with its examples.jsonl line. */
    uint8_t small[16 * 24 * 3];
    for (size_t i = 0; i < sizeof small; i++) small[i] = (uint8_t)(i * 7);
    const char *img = tu_path_in(dir, "images/000002.png");
    size_t nimg;
    char *png = read_all(img, &nimg);
    cr_assert(stbi_write_png(img, 16, 24, 3, small, 16 * 3));
    expect_image_preprocessed(dir, &f, "images/000002.png");
    write_all(img, "this is not a png");
    expect_load_error(dir, &f, "garbage image", "images/000002.png", "cannot decode",
                      "examples.jsonl:");
    FILE *pf = fopen(img, "wb");
    fwrite(png, 1, nimg, pf);
    fclose(pf);
    free(png);

    /* dataset.json problems. */
    char *meta = read_all(tu_path_in(dir, "dataset.json"), &n);
    write_all(tu_path_in(dir, "dataset.json"), "{\"format\": \"other\"}");
    expect_load_error(dir, &f, "bad format", "dataset.json", "fedsim-mcqa-1", NULL);
    write_all(tu_path_in(dir, "dataset.json"), "{ not json");
    expect_load_error(dir, &f, "bad meta JSON", "dataset.json", "not valid JSON", NULL);
    unlink(tu_path_in(dir, "dataset.json"));
    expect_load_error(dir, &f, "no meta", "dataset.json", "cannot open", NULL);
    write_all(tu_path_in(dir, "dataset.json"), meta);
    free(meta);

    /* Sanity: the restored dataset loads. */
    fs_task t;
    cr_assert_eq(fs_task_load(dir, f.tok, f.m, NULL, &t), 0, "%s", fs_last_error());
    fs_task_free(&t);
    free(orig);
    free_model(&f);
}

Test(datasets, model_mismatches_are_explained, .fini = tu_remove_tmpdirs)
{
    model_fixture f = tiny_model();
    /* Images made for another model size are resized to this one's. */
    expect_image_preprocessed(gen("synth-iconqa", 1, 16, 20, 10), &f, "images/000002.png");

    const char *dir = gen("synth-iconqa", 1, 32, 20, 10);
    int nw;
    const char *const *w = fs_synth_words(&nw);
    const char *vdir = tu_tmpdir_tracked();
    cr_assert_eq(fs_tokenizer_build_vocab(tu_path_in(vdir, "vocab.txt"), 600, 0, 511, w, nw),
                 0, "%s", fs_last_error());
    fs_tokenizer *big = fs_tokenizer_load(vdir);
    cr_assert(big);
    fs_task t;
    cr_assert_eq(fs_task_load(dir, big, f.m, NULL, &t), -1);
    cr_assert(strstr(fs_last_error(), "600 tokens") && strstr(fs_last_error(), "512"), "%s",
              fs_last_error());
    fs_tokenizer_free(big);
    cr_assert_eq(fs_tokenizer_build_vocab(tu_path_in(vdir, "vocab.txt"), 512, 0, 300, w, nw),
                 0, "%s", fs_last_error());
    fs_tokenizer *moved = fs_tokenizer_load(vdir);
    cr_assert_eq(fs_task_load(dir, moved, f.m, NULL, &t), -1);
    cr_assert(strstr(fs_last_error(), "<image> at id 300") && strstr(fs_last_error(), "511"), "%s",
              fs_last_error());
    fs_tokenizer_free(moved);
    free_model(&f);
}

/* ------------------------------------------------------------ mixes and cache */

Test(datasets, concat_merges_categories_and_images, .fini = tu_remove_tmpdirs)
{
    model_fixture f = tiny_model();
    fs_task a, b, mix = {0};
    cr_assert_eq(fs_task_load(gen("synth-iconqa", 1, 32, 60, 30), f.tok, f.m, NULL, &a), 0, "%s",
                 fs_last_error());
    cr_assert_eq(fs_task_load(gen("synth-scienceqa", 1, 32, 70, 35), f.tok, f.m, NULL, &b), 0, "%s",
                 fs_last_error());
    int na = a.n, nb = b.n, ia = a.n_images, ib = b.n_images;
    size_t per = 3 * 32 * 32;
    float *bpix = malloc((size_t)ib * per * sizeof *bpix);
    memcpy(bpix, b.pixels, (size_t)ib * per * sizeof *bpix);
    char **bnames = malloc((size_t)b.n * sizeof *bnames);
    fs_sample *bs = malloc((size_t)b.n * sizeof *bs);
    for (int i = 0; i < b.n; i++) bnames[i] = strdup(b.category_names[b.samples[i].category]);
    memcpy(bs, b.samples, (size_t)b.n * sizeof *bs);
    char **anames = malloc((size_t)a.n * sizeof *anames);
    for (int i = 0; i < a.n; i++) anames[i] = strdup(a.category_names[a.samples[i].category]);

    cr_assert_eq(fs_task_concat(&mix, &a, 0), 0, "%s", fs_last_error());
    cr_assert_eq(a.n, 0);
    cr_assert_eq(fs_task_concat(&mix, &b, 1), 0, "%s", fs_last_error());
    cr_assert_eq(b.n, 0);
    cr_assert_null(b.samples);
    cr_assert_eq(mix.n, na + nb);
    cr_assert_eq(mix.n_images, ia + ib);
    cr_assert_eq(mix.n_categories, 13);
    for (int c = 1; c < mix.n_categories; c++)
        cr_assert_lt(strcmp(mix.category_names[c - 1], mix.category_names[c]), 0);
    for (int i = 0; i < na; i++) {
        cr_assert_eq(mix.samples[i].source, 0);
        cr_assert_str_eq(mix.category_names[mix.samples[i].category], anames[i]);
        free(anames[i]);
    }
    for (int i = 0; i < nb; i++) {
        const fs_sample *s = &mix.samples[na + i];
        cr_assert_eq(s->source, 1);
        cr_assert_str_eq(mix.category_names[s->category], bnames[i]);
        cr_assert_eq(s->ids, bs[i].ids, "ids are moved, not copied");
        if (bs[i].image >= 0) {
            cr_assert_eq(s->image, bs[i].image + ia);
            cr_assert_eq(memcmp(mix.pixels + (size_t)s->image * per,
                                bpix + (size_t)bs[i].image * per, per * sizeof(float)), 0);
        } else {
            cr_assert_eq(s->image, -1);
        }
        free(bnames[i]);
    }
    /* Mixing with a task of another vocabulary is refused, and leaves both intact. */
    fs_task odd = {0};
    cr_assert_eq(fs_task_load(gen("synth-iconqa", 2, 32, 12, 6), f.tok, f.m, NULL, &odd), 0);
    odd.pad_id = 99;
    cr_assert_eq(fs_task_concat(&mix, &odd, 2), -1);
    cr_assert(strstr(fs_last_error(), "vocabularies"), "%s", fs_last_error());
    cr_assert_eq(mix.n, na + nb);
    cr_assert_eq(odd.n, 18);
    fs_task_free(&odd);
    free(anames), free(bnames), free(bs), free(bpix);
    fs_task_free(&mix);
    fs_task_free(&a);
    fs_task_free(&b);
    free_model(&f);
}

Test(datasets, ensure_generates_once_into_the_cache, .fini = tu_remove_tmpdirs)
{
    char cache[700], out[1024], out2[1024];
    snprintf(cache, sizeof cache, "%s/cache/nested", tu_tmpdir_tracked());
    cr_assert_eq(fs_synth_ensure("synth-iconqa", cache, 42, 32, out, sizeof out), 0, "%s",
                 fs_last_error());
    char want[800];
    snprintf(want, sizeof want, "%s/synth-iconqa-g%d-s42-i32-n%d+%d", cache, FS_SYNTH_GENERATION,
             FS_SYNTH_DEFAULT_TRAIN, FS_SYNTH_DEFAULT_TEST);
    cr_assert_str_eq(out, want);
    struct stat st1, st2;
    cr_assert_eq(stat(tu_path_in(out, "examples.jsonl"), &st1), 0);
    cr_assert_eq(fs_synth_ensure("synth-iconqa", cache, 42, 32, out2, sizeof out2), 0, "%s",
                 fs_last_error());
    cr_assert_str_eq(out2, out);
    cr_assert_eq(stat(tu_path_in(out, "examples.jsonl"), &st2), 0);
    cr_assert(st1.st_ino == st2.st_ino && st1.st_mtime == st2.st_mtime, "regenerated");
    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(out, &d), 0, "%s", fs_last_error());
    cr_assert_eq(d.count_train, FS_SYNTH_DEFAULT_TRAIN);
    cr_assert_eq(d.count_test, FS_SYNTH_DEFAULT_TEST);
    cr_assert_eq(d.seed, 42);
    fs_mcqa_free(&d);
    /* Nothing temporary is left beside it. */
    char cmd[900];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", cache);
    cr_assert_eq(system(cmd), 0, "leftovers in %s", cache);
    cr_assert_eq(fs_synth_ensure("synth-bogus", cache, 1, 32, out, sizeof out), -1);
}
