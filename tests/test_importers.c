/* The ScienceQA and IconQA importers on the committed fixtures
 * (tests/fixtures/scienceqa, tests/fixtures/iconqa: a few records in the
 * published schemas, covering images + hints, text-only questions, the val
 * split, malformed records, a missing and an undecodable image, 2..5 choices,
 * choose_img and fill_in_blank): exact tallies (read = written + skipped),
 * the output loads with the fedsim-mcqa-1 reader with the expected fields,
 * images are fitted and resized, and fatal inputs give one message naming the
 * file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "datasets/clip_image.h"
#include "datasets/importers.h"
#include "datasets/mcqa_format.h"
#include "sim/io/error.h"
#include "tests/helpers/testutil.h"

static const char *out_dir(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/out", tu_tmpdir_tracked());
    return p;
}

static char root_sqa[4096], root_iqa[4096];
static void roots(void)
{
    snprintf(root_sqa, sizeof root_sqa, "%s", tu_source_path("tests/fixtures/scienceqa"));
    snprintf(root_iqa, sizeof root_iqa, "%s", tu_source_path("tests/fixtures/iconqa"));
}

static const fs_mcqa_example *find(const fs_mcqa_dataset *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->ex[i].id, id)) return &d->ex[i];
    cr_assert_fail("example %s is missing", id);
    return NULL;
}

static void check_sum(const fs_import_stats *st)
{
    int total = st->written[0] + st->written[1];
    for (int r = 0; r < FS_SKIP_N; r++) total += st->skipped[r];
    cr_assert_eq(total, st->read, "written + skipped = %d but %d read", total, st->read);
}

/* Pixel (x, y) of a PNG that must be size x size. */
static void pixel(const char *dir, const char *rel, int size, int x, int y, int rgb[3])
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int w, h, n;
    unsigned char *px = stbi_load(path, &w, &h, &n, 3);
    cr_assert(px, "%s: %s", path, stbi_failure_reason());
    cr_assert(w == size && h == size, "%s is %dx%d, want %dx%d", path, w, h, size, size);
    for (int c = 0; c < 3; c++) rgb[c] = px[((size_t)y * w + x) * 3 + c];
    stbi_image_free(px);
}

static const uint8_t clip_mean_rgb[3] = {122, 116, 104}; /* the importer's padding */

/* expand2square materialised: the w x h image centred on a square of the
 * padding colour (malloc'd). */
static uint8_t *padded_square(const uint8_t *img, int w, int h)
{
    int side = w > h ? w : h, ox = (side - w) / 2, oy = (side - h) / 2;
    uint8_t *sq = malloc((size_t)side * side * 3);
    cr_assert(sq);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            for (int c = 0; c < 3; c++)
                sq[((size_t)y * side + x) * 3 + c] =
                    x >= ox && x < ox + w && y >= oy && y < oy + h
                        ? img[((size_t)(y - oy) * w + (x - ox)) * 3 + c]
                        : clip_mean_rgb[c];
    return sq;
}

/* One resample, the model-side CLIP one (parity-tested against transformers
 * in test_clip_image): the written image is the source padded to a square
 * with the CLIP mean (expand2square) through fs_clip_resize_rgb, exactly. */
static void assert_clip_resampled(const char *dir, const char *rel, const char *source, int size)
{
    int w, h, n;
    unsigned char *src = stbi_load(tu_source_path(source), &w, &h, &n, 3);
    cr_assert(src, "%s: %s", source, stbi_failure_reason());
    int side = w > h ? w : h;
    unsigned char *square = padded_square(src, w, h), *want = malloc((size_t)size * size * 3);
    cr_assert(want);
    cr_assert_eq(fs_clip_resize_rgb(square, side, side, want, size, size, FS_CLIP_RESAMPLE_TORCHVISION), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    unsigned char *got = stbi_load(path, &w, &h, &n, 3);
    cr_assert(got && w == size && h == size, "%s", path);
    for (int i = 0; i < size * size * 3; i++)
        cr_assert_eq(got[i], want[i], "%s: byte %d is %d, the CLIP resample gives %d", path, i,
                     got[i], want[i]);
    stbi_image_free(src), stbi_image_free(got), free(square), free(want);
}

static int near(const int rgb[3], int r, int g, int b)
{
    return abs(rgb[0] - r) <= 2 && abs(rgb[1] - g) <= 2 && abs(rgb[2] - b) <= 2;
}

Test(importers, scienceqa_default, .fini = tu_remove_tmpdirs)
{
    roots();
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 16;
    fs_import_stats st;
    cr_assert_eq(fs_import_scienceqa(root_sqa, out, &o, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.read, 11);
    cr_assert_eq(st.written[0], 3); /* 1, 2, 3 */
    cr_assert_eq(st.written[1], 2); /* 5, 10 */
    cr_assert_eq(st.text_only, 2);  /* 2, 10 */
    cr_assert_eq(st.from_val, 0);
    cr_assert_eq(st.skipped[FS_SKIP_VAL], 1);           /* 4 */
    cr_assert_eq(st.skipped[FS_SKIP_MALFORMED], 3);     /* 6 answer, 8 choices, 9 one choice */
    cr_assert_eq(st.skipped[FS_SKIP_MISSING_IMAGE], 1); /* 7 */
    cr_assert_eq(st.skipped[FS_SKIP_BAD_IMAGE], 1);     /* 11 */
    cr_assert_eq(st.n_categories, 5);
    check_sum(&st);
    cr_assert(strstr(st.first[FS_SKIP_MALFORMED][0], "pid 6") &&
              strstr(st.first[FS_SKIP_MALFORMED][0], "out of range"), "%s", st.first[FS_SKIP_MALFORMED][0]);
    cr_assert(strstr(st.first[FS_SKIP_MALFORMED][1], "pid 8") &&
              strstr(st.first[FS_SKIP_MALFORMED][1], "not a string"), "%s", st.first[FS_SKIP_MALFORMED][1]);
    cr_assert(strstr(st.first[FS_SKIP_MALFORMED][2], "pid 9"), "%s", st.first[FS_SKIP_MALFORMED][2]);
    cr_assert(strstr(st.first[FS_SKIP_MISSING_IMAGE][0], "images/train/7/image.png"), "%s",
              st.first[FS_SKIP_MISSING_IMAGE][0]);
    cr_assert(strstr(st.first[FS_SKIP_BAD_IMAGE][0], "pid 11"), "%s", st.first[FS_SKIP_BAD_IMAGE][0]);

    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(out, &d), 0, "%s", fs_last_error());
    cr_assert_eq(d.n, 5);
    cr_assert_eq(d.image_size, 16);
    cr_assert_str_eq(d.name, "scienceqa");
    cr_assert_eq(d.n_categories, 5);
    cr_assert_str_eq(d.categories[0], "Designing experiments"); /* sorted */
    cr_assert_str_eq(d.categories[4], "Weather and climate");
    cr_assert_str_eq(d.ex[0].id, "1"); /* problems.json order */

    const fs_mcqa_example *e = find(&d, "1");
    cr_assert_eq(e->split, FS_SPLIT_TRAIN);
    cr_assert_str_eq(e->question, "Which of these states is farthest north?");
    cr_assert_str_eq(e->context, "Look at the map of the United States.");
    cr_assert_eq(e->n_choices, 2);
    cr_assert_str_eq(e->choices[1], "Maine");
    cr_assert_eq(e->answer, 1);
    cr_assert_str_eq(e->category, "Geography");
    cr_assert_str_eq(e->skill, "Read a map: cardinal directions");
    cr_assert_str_eq(e->subject, "social science");
    cr_assert_str_eq(e->image, "images/1.png");
    int rgb[3];
    pixel(out, e->image, 16, 8, 0, rgb); /* 40x24 padded: the top row is the CLIP-mean pad */
    cr_assert(near(rgb, 122, 116, 104), "pad pixel is %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    pixel(out, e->image, 16, 0, 8, rgb); /* the centre row starts with a red stripe */
    cr_assert(rgb[0] > 120 && rgb[2] < 110, "centre pixel is %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    assert_clip_resampled(out, e->image, "tests/fixtures/scienceqa/images/train/1/image.png", 16);

    e = find(&d, "2");
    cr_assert_null(e->image);
    cr_assert_str_eq(e->context, "");
    cr_assert_eq(e->n_choices, 3);
    e = find(&d, "3");
    cr_assert_eq(e->n_choices, 4);
    cr_assert_eq(e->answer, 2);
    pixel(out, e->image, 16, 5, 5, rgb);
    cr_assert(near(rgb, 20, 160, 60), "solid image became %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    e = find(&d, "5");
    cr_assert_eq(e->split, FS_SPLIT_TEST);
    cr_assert_eq(e->n_choices, 5);
    cr_assert_eq(e->answer, 3);
    cr_assert_str_eq(e->category, "Weather and climate");
    pixel(out, e->image, 16, 0, 8, rgb); /* 16x32: padded left and right */
    cr_assert(near(rgb, 122, 116, 104), "pad pixel is %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    e = find(&d, "10");
    cr_assert_eq(e->split, FS_SPLIT_TEST);
    cr_assert_null(e->image);
    cr_assert_str_eq(e->context, "Mona is going on a trip.");
    fs_mcqa_free(&d);

    struct stat s;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
    cr_assert(stat(tmp, &s), "the temporary directory %s was left behind", tmp);
}

Test(importers, scienceqa_val_as_train_and_crop, .fini = tu_remove_tmpdirs)
{
    roots();
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 12;
    o.val = FS_IMPORT_VAL_TRAIN;
    o.fit = FS_IMPORT_FIT_CROP;
    o.name = "sqa-fixture";
    fs_import_stats st;
    cr_assert_eq(fs_import_scienceqa(root_sqa, out, &o, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.written[0], 4);
    cr_assert_eq(st.written[1], 2);
    cr_assert_eq(st.from_val, 1);
    cr_assert_eq(st.skipped[FS_SKIP_VAL], 0);
    check_sum(&st);
    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(out, &d), 0, "%s", fs_last_error());
    cr_assert_str_eq(d.name, "sqa-fixture");
    const fs_mcqa_example *e = find(&d, "4");
    cr_assert_eq(e->split, FS_SPLIT_TRAIN);
    int rgb[3];
    pixel(out, find(&d, "1")->image, 12, 6, 0, rgb); /* cropped: no pad in the top row */
    cr_assert(!near(rgb, 122, 116, 104), "crop kept a pad colour %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    pixel(out, e->image, 12, 6, 0, rgb);
    cr_assert(near(rgb, 240, 200, 20), "cropped solid image became %d,%d,%d", rgb[0], rgb[1], rgb[2]);
    fs_mcqa_free(&d);
}

Test(importers, scienceqa_strict_stops_at_the_first_bad_record, .fini = tu_remove_tmpdirs)
{
    roots();
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 8;
    o.strict = 1;
    cr_assert_eq(fs_import_scienceqa(root_sqa, out, &o, NULL), -1);
    const char *msg = fs_last_error();
    cr_assert(strstr(msg, "pid 6") && strstr(msg, "out of range") && strstr(msg, "--strict"), "%s", msg);
    struct stat s;
    cr_assert(stat(out, &s), "a failed import left %s", out);
}

Test(importers, scienceqa_fatal_inputs_name_the_file, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    char root[600], path[700], out[700];
    snprintf(root, sizeof root, "%s/nope", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(fs_import_scienceqa(root, out, NULL, NULL), -1);
    cr_assert(strstr(fs_last_error(), root) && strstr(fs_last_error(), "no such directory"), "%s",
              fs_last_error());

    snprintf(root, sizeof root, "%s", dir);
    cr_assert_eq(fs_import_scienceqa(root, out, NULL, NULL), -1); /* no problems.json */
    snprintf(path, sizeof path, "%s/problems.json", dir);
    cr_assert(strstr(fs_last_error(), path) && strstr(fs_last_error(), "cannot open"), "%s",
              fs_last_error());

    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs("{\"1\": {\"question\": \"Q?\", \"choices\": [\"a\", \"b\"],,}", f);
    fclose(f);
    cr_assert_eq(fs_import_scienceqa(root, out, NULL, NULL), -1);
    cr_assert(strstr(fs_last_error(), path) && strstr(fs_last_error(), "not valid JSON"), "%s",
              fs_last_error());
    struct stat s;
    cr_assert(stat(out, &s), "a failed import left %s", out);

    /* an existing non-empty output directory is refused */
    roots();
    cr_assert_eq(fs_import_scienceqa(root_sqa, dir, NULL, NULL), -1);
    cr_assert(strstr(fs_last_error(), "not empty"), "%s", fs_last_error());
}

Test(importers, scienceqa_pid_in_two_splits_is_refused, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    char problems[600], splits[600], ok[600], out[600];
    snprintf(problems, sizeof problems, "%s/problems.json", dir);
    snprintf(splits, sizeof splits, "%s/pid_splits.json", dir);
    snprintf(ok, sizeof ok, "%s/ok", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    FILE *f = fopen(problems, "wb");
    cr_assert(f);
    fputs("{\"1\": {\"question\": \"Q?\", \"choices\": [\"a\", \"b\"], \"answer\": 0, "
          "\"hint\": \"\", \"image\": null, \"category\": \"c\", \"split\": \"train\"},"
          " \"2\": {\"question\": \"R?\", \"choices\": [\"a\", \"b\"], \"answer\": 1, "
          "\"hint\": \"\", \"image\": null, \"category\": \"c\", \"split\": \"test\"}}", f);
    fclose(f);
    /* the mini* lists repeat train/val/test pids by design and are ignored */
    cr_assert(f = fopen(splits, "wb"));
    fputs("{\"train\": [\"1\"], \"val\": [], \"test\": [\"2\"], \"minitrain\": [\"1\"]}", f);
    fclose(f);
    cr_assert_eq(fs_import_scienceqa(dir, ok, NULL, NULL), 0, "%s", fs_last_error());

    cr_assert(f = fopen(splits, "wb"));
    fputs("{\"train\": [\"1\", \"2\"], \"val\": [], \"test\": [\"2\"]}", f);
    fclose(f);
    cr_assert_eq(fs_import_scienceqa(dir, out, NULL, NULL), -1, "a pid in train and test was accepted");
    const char *msg = fs_last_error();
    cr_assert(strstr(msg, splits) && strstr(msg, "pid '2'") && strstr(msg, "\"train\" and \"test\""),
              "%s", msg);
    struct stat s;
    cr_assert(stat(out, &s), "a refused import left %s", out);
}

Test(importers, iconqa_default, .fini = tu_remove_tmpdirs)
{
    roots();
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 16;
    fs_import_stats st;
    cr_assert_eq(fs_import_iconqa(root_iqa, out, &o, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.read, 9);
    cr_assert_eq(st.written[0], 2); /* 101, 102 */
    cr_assert_eq(st.written[1], 2); /* 201, 202 */
    cr_assert_eq(st.text_only, 0);
    cr_assert_eq(st.skipped[FS_SKIP_MISSING_IMAGE], 1); /* 103 */
    cr_assert_eq(st.skipped[FS_SKIP_CHOOSE_IMG], 1);    /* 104 */
    cr_assert_eq(st.skipped[FS_SKIP_FILL_IN_BLANK], 1); /* 105 */
    cr_assert_eq(st.skipped[FS_SKIP_MALFORMED], 1);     /* 203: 9 choices */
    cr_assert_eq(st.skipped[FS_SKIP_VAL], 1);           /* 301 */
    check_sum(&st);
    cr_assert(strstr(st.first[FS_SKIP_CHOOSE_IMG][0], "train/choose_img/104"), "%s",
              st.first[FS_SKIP_CHOOSE_IMG][0]);
    cr_assert(strstr(st.first[FS_SKIP_MALFORMED][0], "test/choose_txt/203") &&
              strstr(st.first[FS_SKIP_MALFORMED][0], "9 choices"), "%s", st.first[FS_SKIP_MALFORMED][0]);
    cr_assert(strstr(st.first[FS_SKIP_MISSING_IMAGE][0], "103/image.png"), "%s",
              st.first[FS_SKIP_MISSING_IMAGE][0]);

    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(out, &d), 0, "%s", fs_last_error());
    cr_assert_eq(d.n, 4);
    cr_assert_str_eq(d.name, "iconqa");
    const fs_mcqa_example *e = find(&d, "101");
    cr_assert_eq(e->split, FS_SPLIT_TRAIN);
    cr_assert_str_eq(e->question, "How many dots are there?");
    cr_assert_str_eq(e->context, "");
    cr_assert_eq(e->n_choices, 3);
    cr_assert_str_eq(e->choices[2], "5");
    cr_assert_eq(e->answer, 1);
    cr_assert_str_eq(e->category, "counting");
    cr_assert_str_eq(e->skill, "counting");
    cr_assert_null(e->subject);
    cr_assert_str_eq(e->image, "images/101.png");
    int rgb[3];
    pixel(out, e->image, 16, 8, 8, rgb);
    cr_assert(near(rgb, 50, 100, 150), "%d,%d,%d", rgb[0], rgb[1], rgb[2]);
    e = find(&d, "102");
    cr_assert_str_eq(e->category, "fraction");
    cr_assert_str_eq(e->skill, "fraction+comparing");
    e = find(&d, "201");
    cr_assert_eq(e->split, FS_SPLIT_TEST);
    cr_assert_eq(e->answer, 1);
    e = find(&d, "202");
    cr_assert_str_eq(e->category, "choose_txt"); /* no skills: ques_type */
    cr_assert_null(e->skill);
    cr_assert_eq(e->n_choices, 4);
    fs_mcqa_free(&d);
}

Test(importers, iconqa_val_as_test_and_fatal_inputs, .fini = tu_remove_tmpdirs)
{
    roots();
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 8;
    o.val = FS_IMPORT_VAL_TEST;
    fs_import_stats st;
    cr_assert_eq(fs_import_iconqa(root_iqa, out, &o, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.written[1], 3);
    cr_assert_eq(st.from_val, 1);
    check_sum(&st);

    o.val = FS_IMPORT_VAL_DROP;
    o.strict = 1;
    char out2[600];
    snprintf(out2, sizeof out2, "%s2", out);
    cr_assert_eq(fs_import_iconqa(root_iqa, out2, &o, NULL), -1);
    cr_assert(strstr(fs_last_error(), "103/image.png") && strstr(fs_last_error(), "--strict"),
              "%s", fs_last_error());

    const char *dir = tu_tmpdir_tracked();
    char root[600];
    snprintf(root, sizeof root, "%s/missing", dir);
    cr_assert_eq(fs_import_iconqa(root, out2, NULL, NULL), -1);
    cr_assert(strstr(fs_last_error(), root) && strstr(fs_last_error(), "no such directory"), "%s",
              fs_last_error());
    cr_assert_eq(fs_import_iconqa(dir, out2, NULL, NULL), -1); /* no train/val/test */
    cr_assert(strstr(fs_last_error(), dir) && strstr(fs_last_error(), "train/"), "%s",
              fs_last_error());
}

/* ---- odd image shapes (issue 24, item 5) ---- */

/* expand2square materialised, then resized: the reference for the padded
 * resize, which never builds the square. Every shape class: wide, tall,
 * square, one pixel wide, down- and upscaled, odd padding. */
Test(importers, padded_resize_equals_resizing_the_padded_square)
{
    static const int shapes[][2] = {{37, 5}, {5, 37}, {20, 20}, {1, 30}, {30, 1}, {9, 4},
                                    {3, 2}, {64, 3}, {2, 61}, {17, 16}};
    static const int sizes[] = {8, 16, 24, 40, 100};
    tu_rng rng = tu_rng_new(24);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int w = shapes[k][0], h = shapes[k][1], side = w > h ? w : h;
        uint8_t *img = malloc((size_t)w * h * 3);
        cr_assert(img);
        for (int i = 0; i < w * h * 3; i++) img[i] = (uint8_t)tu_uniform(&rng, 0, 255.99f);
        uint8_t *sq = padded_square(img, w, h);
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
            for (int r = 0; r < 2; r++) {
                fs_clip_resampler rs = r ? FS_CLIP_RESAMPLE_PIL : FS_CLIP_RESAMPLE_TORCHVISION;
                int n = sizes[z];
                uint8_t *want = malloc((size_t)n * n * 3), *got = malloc((size_t)n * n * 3);
                cr_assert(want && got);
                cr_assert_eq(fs_clip_resize_rgb(sq, side, side, want, n, n, rs), 0);
                cr_assert_eq(fs_clip_resize_padded_rgb(img, w, h, clip_mean_rgb, got, n, rs), 0);
                for (int i = 0; i < n * n * 3; i++)
                    cr_assert_eq(got[i], want[i], "%dx%d -> %d (resampler %d): byte %d is %d, not %d",
                                 w, h, n, r, i, got[i], want[i]);
                free(want), free(got);
            }
        free(img), free(sq);
    }
}

/* A copy of the ScienceQA fixture whose problem 1 has a w x h image (one
 * colour, so the PNG stays a few KB on disk). */
static const char *fixture_with_image(int w, int h)
{
    roots();
    static char root[600];
    snprintf(root, sizeof root, "%s/sqa", tu_tmpdir_tracked());
    char cmd[8800];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", root_sqa, root);
    cr_assert_eq(system(cmd), 0);
    uint8_t *px = malloc((size_t)w * h * 3);
    cr_assert(px);
    for (size_t i = 0; i < (size_t)w * h; i++) px[3 * i] = 200, px[3 * i + 1] = 30, px[3 * i + 2] = 40;
    char png[700];
    snprintf(png, sizeof png, "%s/images/train/1/image.png", root);
    cr_assert(stbi_write_png(png, w, h, 3, px, w * 3), "cannot write %s", png);
    free(px);
    return root;
}

/* Imports in a child under an address-space limit of limit_gb (0: none);
 * the child's exit status: 0 imported, 1 failed, 3 over the limit. */
static int import_limited(const char *root, const char *out, const fs_import_opts *o, int limit_gb,
                          fs_import_stats *st)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct rlimit lim = {(rlim_t)limit_gb << 30, (rlim_t)limit_gb << 30};
        if (limit_gb && setrlimit(RLIMIT_AS, &lim)) _exit(126);
        fs_import_stats cs = {0};
        int rc = fs_import_scienceqa(root, out, o, &cs);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc ? fs_last_error() : "");
        if (write(fds[1], &cs, sizeof cs) != (ssize_t)sizeof cs ||
            write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg)
            _exit(2);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    static char msg[1024];
    cr_assert_eq(read(fds[0], st, sizeof *st), (ssize_t)sizeof *st);
    cr_assert_eq(read(fds[0], msg, sizeof msg), (ssize_t)sizeof msg);
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the import died of signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status)) fs_fail("%s", msg);
    return WEXITSTATUS(status);
}

#ifdef TU_UNDER_ASAN
#define IMPORT_LIMIT_GB 0
#else
#define IMPORT_LIMIT_GB 1
#endif

/* 60000 x 10 with --fit pad: the padded square would be 10.8 GB; under a
 * 1 GB address-space limit the import succeeds, the image a line of colour
 * through the middle of the padding. */
Test(importers, a_very_wide_image_is_padded_without_building_the_square, .fini = tu_remove_tmpdirs)
{
    const char *root = fixture_with_image(60000, 10);
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 64;
    fs_import_stats st;
    cr_assert_eq(import_limited(root, out, &o, IMPORT_LIMIT_GB, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.written[0], 3);
    cr_assert_eq(st.skipped[FS_SKIP_BAD_IMAGE], 1); /* the fixture's own, pid 11 */
    check_sum(&st);
    fs_mcqa_dataset d;
    cr_assert_eq(fs_mcqa_read(out, &d), 0, "%s", fs_last_error());
    int rgb[3];
    pixel(out, find(&d, "1")->image, 64, 32, 2, rgb);
    cr_assert(near(rgb, 122, 116, 104), "top row %d,%d,%d is not the pad colour", rgb[0], rgb[1], rgb[2]);
    fs_mcqa_free(&d);
}

/* 1000000 x 1: beyond the import limits. Without --strict it is one more
 * skipped image (the import went on to fail as a whole before); with
 * --strict it stops the import like any other bad record. */
Test(importers, an_image_beyond_the_limits_is_a_skipped_record, .fini = tu_remove_tmpdirs)
{
    const char *root = fixture_with_image(1000000, 1);
    struct stat sb;
    char png[700];
    snprintf(png, sizeof png, "%s/images/train/1/image.png", root);
    cr_assert(stat(png, &sb) == 0 && sb.st_size < 200000, "the test PNG is %ld bytes", (long)sb.st_size);
    const char *out = out_dir();
    fs_import_opts o = fs_import_defaults();
    o.image_size = 16;
    fs_import_stats st;
    cr_assert_eq(import_limited(root, out, &o, IMPORT_LIMIT_GB, &st), 0, "%s", fs_last_error());
    cr_assert_eq(st.written[0], 2); /* 2 and 3; 1 skipped */
    cr_assert_eq(st.skipped[FS_SKIP_BAD_IMAGE], 2);
    check_sum(&st);
    cr_assert(strstr(st.first[FS_SKIP_BAD_IMAGE][0], "pid 1") &&
              strstr(st.first[FS_SKIP_BAD_IMAGE][0], "1000000x1"), "%s", st.first[FS_SKIP_BAD_IMAGE][0]);

    o.strict = 1;
    char out2[600];
    snprintf(out2, sizeof out2, "%s2", out);
    cr_assert_eq(import_limited(root, out2, &o, IMPORT_LIMIT_GB, &st), 1);
    const char *msg = fs_last_error();
    cr_assert(strstr(msg, "1000000x1") && strstr(msg, "--strict"), "%s", msg);
    cr_assert(stat(out2, &sb), "a failed import left %s", out2);
}
