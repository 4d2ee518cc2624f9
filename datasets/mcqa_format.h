/* The on-disk multiple-choice VQA format "fedsim-mcqa-1" (datasets/README.md):
 * a directory with dataset.json, examples.jsonl and images/NNNNNN.png. Reading
 * validates every field and reports the file (and line) of any problem;
 * nothing here needs a model or a tokenizer (fedsim data stats uses it too). */
#ifndef FEDSIM_MCQA_FORMAT_H
#define FEDSIM_MCQA_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include "sim/fed/task.h"

#define FS_MCQA_FORMAT "fedsim-mcqa-1"

typedef struct {
    char *id;
    fs_split split;
    char *question, *context; /* context may be "" */
    char *choices[FS_MAX_CHOICES];
    int n_choices, answer; /* answer: 0-based */
    char *category;        /* the default partition key */
    char *skill, *subject; /* NULL when absent */
    char *image;           /* relative path under the dataset directory; NULL = text-only */
    int line;              /* line number in examples.jsonl (1-based) */
} fs_mcqa_example;

typedef struct {
    char *name;
    int image_size;
    uint64_t seed;
    char **categories; /* as listed in dataset.json */
    int n_categories;
    int count_train, count_test; /* as declared in dataset.json (checked against the examples) */
    fs_mcqa_example *ex;
    int n;
} fs_mcqa_dataset;

/* Reads and validates <dir>/dataset.json and <dir>/examples.jsonl (images are
 * only named here, not opened). 0, or -1 + fs_last_error() naming file:line. */
int fs_mcqa_read(const char *dir, fs_mcqa_dataset *out);
void fs_mcqa_free(fs_mcqa_dataset *d);

/* The value of a partition key ("category", "skill" or "subject") of an
 * example; NULL when the example lacks it. */
const char *fs_mcqa_key(const fs_mcqa_example *e, const char *key);
/* 1 if key is one of the partition keys above, 0 otherwise. */
int fs_mcqa_key_valid(const char *key);

/* Appends one example as a JSON line (fields in a fixed order, so output is
 * byte-reproducible). 0 or -1. */
int fs_mcqa_write_example(FILE *f, const fs_mcqa_example *e, const char *path);
/* Writes <dir>/dataset.json. 0 or -1. */
int fs_mcqa_write_meta(const char *dir, const char *name, int image_size, uint64_t seed,
                       const char *const *categories, int n_categories, int n_train, int n_test);

#endif
