/* Shared machinery of the multiple-choice generators: a generator fills one
 * item (image, question, context, choices with the correct one FIRST), the
 * driver places the correct choice at a block-randomised position (so answer
 * letters are balanced and carry no information), writes the PNG and the JSON
 * line. Internal to datasets/. */
#ifndef FEDSIM_SYNTH_INTERNAL_H
#define FEDSIM_SYNTH_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "datasets/draw.h"
#include "datasets/synth.h"
#include "sim/fed/task.h"
#include "sim/io/error.h"

typedef struct {
    fs_rng *rng;
    fs_canvas img;  /* size x size, filled by the generator when has_image */
    bool has_image; /* default true */
    char question[512], context[1024];
    char choices[FS_MAX_CHOICES][64];
    int n_choices; /* choices[0] is correct */
    const char *skill, *subject;
} fs_synth_item;

/* Fills it for a given category index; 0 or -1. */
typedef int (*fs_synth_fn)(fs_synth_item *it, int category);

typedef struct {
    const char *name;
    const char *const *categories;
    int n_categories;
    fs_synth_fn make;
    unsigned text_only; /* bit c: category c's items have no image (fs_si_make checks it) */
    /* How the downstream images are seen, a visual style the source corpus
     * never shows, for the NanoAdapters to undo (datasets/README.md). */
    fs_camera camera;
} fs_synth_spec;

/* The dim, bluish light both downstream cameras see under (fs_camera.gain). */
#define FS_SYNTH_DOWNSTREAM_LIGHT {0.45f, 0.55f, 0.85f}

extern const fs_synth_spec fs_synth_iconqa_spec;
extern const fs_synth_spec fs_synth_scienceqa_spec;

/* Resets it and fills one item of the category; checks the generator's output. 0 or -1. */
int fs_si_make(const fs_synth_spec *spec, fs_synth_item *it, int category);
/* One source-domain scene (synth_captions.c) and its caption or question text;
 * *answer_at = offset of the answer letter of a lettered question, else -1. 0 or -1. */
int fs_caption_make(fs_synth_item *it, char *text, size_t len, int *answer_at);

/* One source-domain scene and a text-only lettered item that names its answer
 * ("question: pick red . ( A ) blue ( B ) red answer: B"); *answer_at = the
 * offset of the answer letter. 0 or -1. */
int fs_matching_make(fs_synth_item *it, char *text, size_t len, int *answer_at);

/* Generates the dataset of spec into dir (created; must be absent or empty). */
int fs_synth_write(const fs_synth_spec *spec, const char *dir, const fs_synth_opts *o);

/* ---- helpers for generators ---- */
int fs_si_below(fs_synth_item *it, int n);           /* uniform in [0, n) */
int fs_si_range(fs_synth_item *it, int lo, int hi);  /* uniform in [lo, hi] */
float fs_si_unif(fs_synth_item *it, float lo, float hi);
void fs_si_shuffle(fs_synth_item *it, int *a, int n);
/* k distinct values of [0, n) excluding the values in ex[0..nex), into out. */
void fs_si_pick(fs_synth_item *it, int n, const int *ex, int nex, int k, int *out);
void fs_si_question(fs_synth_item *it, const char *fmt, ...) FS_PRINTF(2, 3);
void fs_si_context(fs_synth_item *it, const char *fmt, ...) FS_PRINTF(2, 3);
/* Appends a choice (the first added is the correct one); ignored if already present. */
void fs_si_choice(fs_synth_item *it, const char *fmt, ...) FS_PRINTF(2, 3);
bool fs_si_has_choice(const fs_synth_item *it, const char *s);
/* k numeric choices: answer first, then the other values of a window of k
 * consecutive values (lo..hi by step) holding the answer at a uniformly random
 * offset; each formatted with fmt (one %d). must (if >= lo) replaces a
 * distractor when it is not in the window (a plausible confusion). */
void fs_si_numbers(fs_synth_item *it, int answer, int lo, int hi, int step, int k, int must,
                   const char *fmt);
/* Repaints the light background of it->img as the source domain's tinted gradient. */
void fs_si_source_look(fs_synth_item *it);
/* "one".."nine" (digits beyond). */
const char *fs_si_number_word(int n);

#endif
