/* fedsim data synth NAME --out DIR [...]   writes a synthetic dataset
 * fedsim data import scienceqa|iconqa --root DIR --out DIR [...]   converts a published dataset
 * fedsim data stats DIR                    counts per split and category, choice histogram */
#include "sim/cli/cmd_data.h"
#include "sim/cli/commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "datasets/clip_image.h"
#include "datasets/importers.h"
#include "datasets/mcqa_format.h"
#include "datasets/synth.h"
#include "sim/io/error.h"

static void data_usage(FILE *f)
{
    fprintf(f, "usage: fedsim data <synth|import|stats> ...\n"
               "\n"
               "  synth NAME --out DIR   write a synthetic dataset (synth-iconqa | synth-scienceqa)\n"
               "  import NAME --root DIR --out DIR\n"
               "                         convert ScienceQA or IconQA (scienceqa | iconqa)\n"
               "  stats DIR              examples per split and category, choice-count and answer histograms\n"
               "\n"
               "Run 'fedsim data synth --help', 'fedsim data import --help' or\n"
               "'fedsim data stats --help' for details.\n");
}

static void synth_usage(FILE *f)
{
    fprintf(f, "usage: fedsim data synth NAME --out DIR [--seed N] [--image-size S] [--train N] "
               "[--test N]\n"
               "\n"
               "  NAME            synth-iconqa | synth-scienceqa\n"
               "  --out DIR       output directory (must not exist, or be empty)\n"
               "  --seed N        random seed (default 0); the same seed gives the same files\n"
               "  --image-size S  image side in pixels (default %d; must match the model's)\n"
               "  --train N       training examples (default %d)\n"
               "  --test N        test examples (default %d)\n"
               "\n"
               "The format is described in datasets/README.md.\n",
            FS_SYNTH_DEFAULT_IMAGE_SIZE, FS_SYNTH_DEFAULT_TRAIN, FS_SYNTH_DEFAULT_TEST);
}

static void stats_usage(FILE *f)
{
    fprintf(f, "usage: fedsim data stats DIR\n"
               "\n"
               "  DIR  a dataset directory (dataset.json + examples.jsonl + images/)\n"
               "\n"
               "Validates the files, decodes every image as training does, and prints examples\n"
               "per split and category, the number of choices per question and where the\n"
               "correct answer sits (A, B, ...). Exits 1 when an image is missing or cannot be\n"
               "decoded, naming the first few.\n");
}

static int parse_u64(const char *flag, const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || x > max) {
        fprintf(stderr, "fedsim data: %s expects a non-negative integer up to %llu, got '%s'\n",
                flag, max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int cmd_synth(int argc, char **argv)
{
    const char *name, *out = NULL;
    fs_synth_opts o = fs_synth_defaults();
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},          {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},    {"image-size", required_argument, NULL, 'i'},
        {"train", required_argument, NULL, 'r'},   {"test", required_argument, NULL, 't'},
        {0}};
    for (int c; (c = fs_cli_getopt(argc, argv, "data synth", "h", opts)) != -1;) {
        unsigned long long v;
        const char *flag = c == 'i' ? "--image-size" : c == 'r' ? "--train" : "--test";
        if (c == 'h') {
            synth_usage(stdout);
            return 0;
        } else if (c == 'o') {
            out = optarg;
        } else if (c == 's') {
            if (parse_u64("--seed", optarg, ULLONG_MAX, &v)) return 2;
            o.seed = v;
        } else if (c == 'i' || c == 'r' || c == 't') {
            if (parse_u64(flag, optarg, 10000000, &v)) return 2;
            *(c == 'i' ? &o.image_size : c == 'r' ? &o.n_train : &o.n_test) = (int)v;
        } else {
            synth_usage(stderr);
            return 2;
        }
    }
    if (fs_cli_operand(argc, argv, "data synth", &name)) {
        synth_usage(stderr);
        return 2;
    }
    if (!name || !out) {
        fprintf(stderr, "fedsim data synth: %s\n\n", !name ? "NAME is required" : "--out DIR is required");
        synth_usage(stderr);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fs_synth_generate(name, out, &o)) {
        fprintf(stderr, "fedsim data synth: %s\n", fs_last_error());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: wrote %d train + %d test examples (%dx%d images, seed %llu) to %s in %.2f s\n",
           name, o.n_train, o.n_test, o.image_size, o.image_size, (unsigned long long)o.seed, out,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}

static void import_usage(FILE *f)
{
    fprintf(f, "usage: fedsim data import scienceqa|iconqa --root DIR --out DIR [--image-size S]\n"
               "                          [--fit pad|crop] [--val-as drop|train|test] [--name NAME]\n"
               "                          [--strict]\n"
               "\n"
               "  scienceqa       ROOT holds problems.json, pid_splits.json, images/<split>/<pid>/image.png\n"
               "  iconqa          ROOT holds <split>/<choose_txt|choose_img|fill_in_blank>/<qid>/data.json\n"
               "  --root DIR      the downloaded dataset\n"
               "  --out DIR       output directory in the fedsim-mcqa-1 format (must not exist, or be empty)\n"
               "  --image-size S  side of the written square images (default %d; must match the model's)\n"
               "  --fit pad|crop  make images square by padding with the CLIP mean colour like\n"
               "                  LLaVA-1.5 (default), or by a centre crop; then a bicubic resize\n"
               "  --val-as drop|train|test\n"
               "                  what to do with the val split (default: drop, counted)\n"
               "  --name NAME     dataset name in dataset.json (default scienceqa / iconqa)\n"
               "  --strict        a malformed record or a missing/unreadable image is fatal\n"
               "                  (default: skipped, counted and listed in the summary)\n"
               "\n"
               "Every record read is written or counted under a skip reason; the summary lists\n"
               "them. IconQA choose_img (image choices) and fill_in_blank (no choices) are\n"
               "counted and skipped: fedsim scores lettered text choices. See datasets/README.md.\n",
            FS_IMPORT_DEFAULT_IMAGE_SIZE);
}

static int cmd_import(int argc, char **argv)
{
    const char *name, *root = NULL, *out = NULL;
    fs_import_opts o = fs_import_defaults();
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},          {"root", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},     {"name", required_argument, NULL, 'n'},
        {"image-size", required_argument, NULL, 'i'}, {"fit", required_argument, NULL, 'f'},
        {"val-as", required_argument, NULL, 'v'},  {"strict", no_argument, NULL, 's'},
        {0}};
    for (int c; (c = fs_cli_getopt(argc, argv, "data import", "h", opts)) != -1;) {
        unsigned long long v;
        const char *f = optarg;
        if (c == 'h') {
            import_usage(stdout);
            return 0;
        } else if (c == 'r') {
            root = f;
        } else if (c == 'o') {
            out = f;
        } else if (c == 'n') {
            o.name = f;
        } else if (c == 'i') {
            if (parse_u64("--image-size", f, 4096, &v)) return 2;
            o.image_size = (int)v;
        } else if (c == 'f') {
            if (!strcmp(f, "pad")) o.fit = FS_IMPORT_FIT_PAD;
            else if (!strcmp(f, "crop")) o.fit = FS_IMPORT_FIT_CROP;
            else {
                fprintf(stderr, "fedsim data import: --fit expects pad or crop, got '%s'\n", f);
                return 2;
            }
        } else if (c == 'v') {
            if (!strcmp(f, "drop")) o.val = FS_IMPORT_VAL_DROP;
            else if (!strcmp(f, "train")) o.val = FS_IMPORT_VAL_TRAIN;
            else if (!strcmp(f, "test")) o.val = FS_IMPORT_VAL_TEST;
            else {
                fprintf(stderr, "fedsim data import: --val-as expects drop, train or test, got "
                                "'%s'\n", f);
                return 2;
            }
        } else if (c == 's') {
            o.strict = 1;
        } else {
            import_usage(stderr);
            return 2;
        }
    }
    if (fs_cli_operand(argc, argv, "data import", &name)) {
        import_usage(stderr);
        return 2;
    }
    if (!name || !root || !out) {
        fprintf(stderr, "fedsim data import: %s\n\n",
                !name ? "NAME (scienceqa or iconqa) is required"
                      : !root ? "--root DIR is required" : "--out DIR is required");
        import_usage(stderr);
        return 2;
    }
    int (*imp)(const char *, const char *, const fs_import_opts *, fs_import_stats *) = NULL;
    if (!strcmp(name, "scienceqa")) imp = fs_import_scienceqa;
    else if (!strcmp(name, "iconqa")) imp = fs_import_iconqa;
    else {
        fprintf(stderr, "fedsim data import: unknown dataset '%s'; known: scienceqa, iconqa\n",
                name);
        return 2;
    }
    fs_import_stats st;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = imp(root, out, &o, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        if (st.read) {
            fprintf(stderr, "(up to the error below; nothing was written)\n");
            fs_import_print_summary(stderr, name, &st);
        }
        fprintf(stderr, "fedsim data import: %s\n", fs_last_error());
        return 1;
    }
    fs_import_print_summary(stdout, name, &st);
    printf("wrote %s (%dx%d images) in %.2f s\n", out, o.image_size, o.image_size,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_key_table(const fs_mcqa_dataset *d, const char *key)
{
    const char **vals = malloc((size_t)d->n * sizeof *vals);
    if (!vals) return;
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        const char *v = fs_mcqa_key(&d->ex[i], key);
        if (v) vals[n++] = v;
    }
    if (n == 0) {
        free(vals);
        return;
    }
    qsort(vals, (size_t)n, sizeof *vals, cmp_str);
    printf("\n  %-28s %7s %7s\n", key, "train", "test");
    for (int i = 0; i < n;) {
        int j = i, tr = 0, te = 0;
        while (j < n && !strcmp(vals[j], vals[i])) j++;
        for (int e = 0; e < d->n; e++) {
            const char *v = fs_mcqa_key(&d->ex[e], key);
            if (v && !strcmp(v, vals[i])) {
                if (d->ex[e].split == FS_SPLIT_TRAIN) tr++;
                else te++;
            }
        }
        printf("  %-28s %7d %7d\n", vals[i], tr, te);
        i = j;
    }
    if (n < d->n) printf("  (%d examples have no %s)\n", d->n - n, key);
    free(vals);
}

/* Decodes every image the way training loads it (fs_clip_load_image), so a
 * deleted or truncated file is found here and not in the middle of a run.
 * Prints a summary line; on failure the count and the first few offenders go
 * to stderr. 0 when all decode, else 1. */
static int check_images(const char *dir, const fs_mcqa_dataset *d)
{
    enum { SHOWN = 3 };
    fs_clip_options o;
    fs_clip_options_default(&o, d->image_size);
    float *pixels = malloc((size_t)3 * d->image_size * d->image_size * sizeof *pixels);
    if (!pixels) {
        fprintf(stderr, "fedsim data stats: out of memory checking the images\n");
        return 1;
    }
    char path[4096], shown[SHOWN][4200];
    int images = 0, missing = 0, undecodable = 0;
    for (int i = 0; i < d->n; i++) {
        if (!d->ex[i].image) continue;
        images++;
        snprintf(path, sizeof path, "%s/%s", dir, d->ex[i].image);
        struct stat st;
        int bad = missing + undecodable;
        if (stat(path, &st)) {
            missing++;
            if (bad < SHOWN)
                snprintf(shown[bad], sizeof shown[bad], "%s: missing (%s)", path, strerror(errno));
        } else if (fs_clip_load_image(path, &o, pixels)) {
            undecodable++;
            if (bad < SHOWN) snprintf(shown[bad], sizeof shown[bad], "%s", fs_last_error());
        }
    }
    free(pixels);
    int bad = missing + undecodable;
    if (!bad) {
        printf("\n  images: %d, all decode\n", images);
        return 0;
    }
    fprintf(stderr, "fedsim data stats: %s: %d of %d images are unusable (%d missing, %d "
            "undecodable); the first %d:\n", dir, bad, images, missing, undecodable,
            bad < SHOWN ? bad : SHOWN);
    for (int i = 0; i < bad && i < SHOWN; i++) fprintf(stderr, "  %s\n", shown[i]);
    fprintf(stderr, "regenerate or re-import the dataset (or restore the files)\n");
    return 1;
}

static int cmd_stats(int argc, char **argv)
{
    const char *dir;
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    for (int c; (c = fs_cli_getopt(argc, argv, "data stats", "h", opts)) != -1;) {
        stats_usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? 0 : 2;
    }
    if (fs_cli_operand(argc, argv, "data stats", &dir) || !dir) {
        stats_usage(stderr);
        return 2;
    }
    fs_mcqa_dataset d;
    if (fs_mcqa_read(dir, &d)) {
        fprintf(stderr, "fedsim data stats: %s\n", fs_last_error());
        return 1;
    }
    int split[2] = {0}, text_only = 0, nch[FS_MAX_CHOICES + 1] = {0};
    int ans[FS_MAX_CHOICES + 1][FS_MAX_CHOICES] = {{0}};
    for (int i = 0; i < d.n; i++) {
        const fs_mcqa_example *e = &d.ex[i];
        split[e->split]++;
        text_only += !e->image;
        nch[e->n_choices]++;
        ans[e->n_choices][e->answer]++;
    }
    printf("%s: %s (%s), images %dx%d, seed %llu\n", dir, d.name, FS_MCQA_FORMAT, d.image_size,
           d.image_size, (unsigned long long)d.seed);
    printf("  examples: %d train, %d test (%d text-only)\n", split[0], split[1], text_only);
    print_key_table(&d, "category");
    print_key_table(&d, "skill");
    print_key_table(&d, "subject");
    printf("\n  choices  questions  correct answer at A B C ...\n");
    for (int k = 2; k <= FS_MAX_CHOICES; k++) {
        if (!nch[k]) continue;
        printf("  %7d  %9d  ", k, nch[k]);
        for (int a = 0; a < k; a++) printf(" %c:%-5d", 'A' + a, ans[k][a]);
        printf("\n");
    }
    int rc = check_images(dir, &d);
    fs_mcqa_free(&d);
    return rc;
}

int fs_cmd_data(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stats")) return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import")) return cmd_import(argc - 1, argv + 1);
    fprintf(stderr, "fedsim data: unknown subcommand '%s'\n\n", argv[1]);
    data_usage(stderr);
    return 2;
}
