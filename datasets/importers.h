/* Importers of published multiple-choice VQA datasets into the fedsim-mcqa-1
 * format (datasets/README.md, "Importing ScienceQA / IconQA"):
 *
 *   ScienceQA  <root>/problems.json, <root>/pid_splits.json (optional),
 *              <root>/images/<split>/<pid>/image.png
 *   IconQA     <root>/<split>/<choose_txt|choose_img|fill_in_blank>/<qid>/data.json
 *              (+ image.png, and choice_N.png for choose_img)
 *
 * Every record read is either written or counted under one skip reason (the
 * counts add up: read == written + skipped), never silently dropped. Images
 * are fitted to a square (padded with the CLIP mean colour like LLaVA-1.5's
 * expand2square, or centre-cropped) and resized to image_size with the
 * resampler of the model-side CLIP preprocessing (datasets/clip_image.h), so
 * that importing at the model's image size and loading equals the Hugging
 * Face processor on the squared image: one resample, the same one. The output
 * is written into a temporary directory renamed into place, so a failed
 * import leaves nothing behind. */
#ifndef FEDSIM_IMPORTERS_H
#define FEDSIM_IMPORTERS_H

#include <stdio.h>

#include "datasets/mcqa_format.h"

#if defined(__GNUC__)
#define FS_IMP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FS_IMP_PRINTF(a, b)
#endif

#define FS_IMPORT_DEFAULT_IMAGE_SIZE 336
/* A source image beyond these (read from its header, before decoding) is a
 * bad record, skipped and counted: 65535 is the largest JPEG side, and 64
 * megapixels (256 MiB decoded) the decode limit of the CLIP loader. */
#define FS_IMPORT_MAX_SIDE 65535
#define FS_IMPORT_MAX_PIXELS (1 << 26)

typedef enum {
    FS_IMPORT_VAL_DROP = 0, /* default: val records are counted (FS_SKIP_VAL) and not written */
    FS_IMPORT_VAL_TRAIN,
    FS_IMPORT_VAL_TEST,
} fs_import_val;

typedef enum {
    FS_IMPORT_FIT_PAD = 0, /* default: pad to square with the CLIP mean (LLaVA-1.5 "pad") */
    FS_IMPORT_FIT_CROP,    /* centre crop to the shorter side */
} fs_import_fit;

typedef struct {
    int image_size;    /* side of the written images; default FS_IMPORT_DEFAULT_IMAGE_SIZE */
    fs_import_val val; /* what happens to the val split */
    fs_import_fit fit;
    int strict;        /* malformed records and missing/unreadable images are fatal */
    const char *name;  /* dataset name in dataset.json; NULL = "scienceqa" / "iconqa" */
} fs_import_opts;

/* Why a record was not written. */
typedef enum {
    FS_SKIP_MALFORMED = 0,    /* missing/ill-typed field, 0-1 or >8 choices, answer out of range, ... */
    FS_SKIP_MISSING_IMAGE,    /* the record names an image that does not exist */
    FS_SKIP_BAD_IMAGE,        /* the image exists but cannot be decoded */
    FS_SKIP_VAL,              /* val split with val = FS_IMPORT_VAL_DROP */
    FS_SKIP_OTHER_SPLIT,      /* a split other than train/val/test (ScienceQA) or an unknown split directory */
    FS_SKIP_CHOOSE_IMG,       /* IconQA choose_img: the choices are images; fedsim scores text choices */
    FS_SKIP_FILL_IN_BLANK,    /* IconQA fill_in_blank: free-form answer, no choices */
    FS_SKIP_UNKNOWN_SUBTASK,  /* IconQA subtask directory other than the three above */
    FS_SKIP_N
} fs_import_skip;

#define FS_IMPORT_N_EXAMPLES 3 /* first few offenders kept per reason */

typedef struct {
    int read;           /* records seen (problems / data.json directories) */
    int written[2];     /* per fs_split: [0] train, [1] test */
    int text_only;      /* of the written ones, without an image */
    int from_val;       /* of the written ones, taken from val (val = TRAIN or TEST) */
    int skipped[FS_SKIP_N];
    /* The first FS_IMPORT_N_EXAMPLES offenders per reason, "pid: what". */
    char first[FS_SKIP_N][FS_IMPORT_N_EXAMPLES][400];
    int n_categories;   /* distinct categories written */
} fs_import_stats;

fs_import_opts fs_import_defaults(void);
/* A short name of a skip reason ("malformed record", ...). */
const char *fs_import_skip_name(fs_import_skip r);

/* Import into out_dir (must not exist or be empty). 0 on success (skips are
 * not failures), -1 + fs_last_error() on a fatal error: root or its index
 * missing or unparsable, nothing importable, an output problem, or (strict)
 * the first malformed record or missing/unreadable image. st may be NULL. */
int fs_import_scienceqa(const char *root, const char *out_dir, const fs_import_opts *o,
                        fs_import_stats *st);
int fs_import_iconqa(const char *root, const char *out_dir, const fs_import_opts *o,
                     fs_import_stats *st);

/* The summary table: read, written per split, text-only, skipped by reason
 * with the first offenders. */
void fs_import_print_summary(FILE *f, const char *what, const fs_import_stats *st);

/* ---- shared by the importers (datasets/import_common.c); not a public API ---- */
struct cJSON;
typedef struct fs_imp_writer fs_imp_writer;

/* Checks o, creates <out_dir>.tmp-PID and opens its examples.jsonl. NULL + fs_last_error(). */
fs_imp_writer *fs_imp_begin(const char *out_dir, const fs_import_opts *o, fs_import_stats *st);
/* Counts a record not written (rec: "pid 12", a path, ...). Returns 0, or -1
 * (fatal, message set) when strict and r is a data error (malformed, image). */
int fs_imp_skip(fs_imp_writer *w, fs_import_skip r, const char *rec, const char *fmt, ...)
    FS_IMP_PRINTF(4, 5);
/* Validates e (id, question, choices, answer, category, reserved text), fits
 * and writes src_image (NULL = text-only) as images/<id>.png and appends e.
 * 0 written, 1 skipped and counted, -1 fatal. e->image is set here. */
int fs_imp_add(fs_imp_writer *w, fs_mcqa_example *e, const char *src_image,
               const char *rec);
/* Writes dataset.json and renames the directory into place; frees w. 0 or -1. */
int fs_imp_finish(fs_imp_writer *w, const char *name);
/* Removes the temporary directory; frees w. */
void fs_imp_abort(fs_imp_writer *w);

/* Whole file as a NUL-terminated string; NULL + fs_fail naming path and hint. */
char *fs_imp_read_text(const char *path, const char *hint);
/* Copies a JSON array of strings into out[] (at most FS_MAX_CHOICES kept, *n
 * = full length). NULL on success, else what is wrong ("choices[2] is not a
 * string"). */
const char *fs_imp_string_array(const struct cJSON *a, const char *field, char **out, int *n);
/* 1 if path is a directory / a regular file. */
int fs_imp_is_dir(const char *path);
int fs_imp_is_file(const char *path);
/* Sorted subdirectory names of dir (numeric names in numeric order first,
 * then the rest by strcmp). NULL + fs_fail when dir cannot be read. */
char **fs_imp_list_dirs(const char *dir, int *n);
void fs_imp_free_list(char **names, int n);

#endif
