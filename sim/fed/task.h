/* A multiple-choice multimodal task as the simulator consumes it: tokenised
 * prompts (image tokens expanded inline), the answer letter, a category for
 * partitioning, and a split. Produced from dataset files by sim/data. */
#ifndef FEDSIM_TASK_H
#define FEDSIM_TASK_H

#include <stdint.h>

#define FS_MAX_CHOICES 8

typedef enum { FS_SPLIT_TRAIN = 0, FS_SPLIT_TEST = 1 } fs_split;

typedef struct {
    int32_t *ids;   /* prompt ending right before the answer letter; owned by the task */
    int len;
    int image;      /* row in the feature cache, -1 = text-only */
    int image_pos;  /* first image token position in ids (when image >= 0) */
    int n_choices;
    int answer;     /* 0-based choice index */
    int category;   /* dense id into the task's category names */
    int source;     /* which dataset it came from (cross-task mixes), 0 otherwise */
    fs_split split;
} fs_sample;

typedef struct {
    fs_sample *samples;
    int n;
    int32_t letter_ids[FS_MAX_CHOICES]; /* token of "A", "B", ... */
    int32_t pad_id;
    char **category_names;
    int n_categories;
    float *pixels;      /* host [n_images, 3, S, S], CLIP-normalised; NULL once cached */
    int n_images;
    int image_size;
} fs_task;

void fs_task_free(fs_task *t);

#endif
