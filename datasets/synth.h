/* Embedded synthetic datasets, deterministic from a seed:
 *  - synth-iconqa: abstract scenes of coloured shapes; counting, colour, shape,
 *    spatial, comparison and arithmetic questions (category = skill);
 *  - synth-scienceqa: an image plus a text context (bar charts, maps, food
 *    chains, rulers, thermometers, magnets) and text-only word-order items;
 *  - the pretraining source corpus, in memory: captioned scenes of the same
 *    visual world in another style, and lettered items in a source format.
 * The first two are written in the fedsim-mcqa-1 format (datasets/README.md). */
#ifndef FEDSIM_SYNTH_H
#define FEDSIM_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/fed/task.h"
#include "sim/io/rng.h"
#include "sim/model/llava_config.h"

#define FS_SYNTH_DEFAULT_TRAIN 3000
#define FS_SYNTH_DEFAULT_TEST 400
#define FS_SYNTH_DEFAULT_IMAGE_SIZE 32
/* Bumped whenever a generator's output changes, so that a dataset cached by
 * an older fedsim (fs_synth_ensure) is not mistaken for today's. */
#define FS_SYNTH_GENERATION 5

typedef struct {
    uint64_t seed;
    int image_size;      /* pixels per side, >= 8 */
    int n_train, n_test; /* >= 1 each */
} fs_synth_opts;

/* seed 0, image size 32, 1200 train, 400 test. */
fs_synth_opts fs_synth_defaults(void);
/* 1 for "synth-iconqa" and "synth-scienceqa", 0 otherwise. */
int fs_synth_known(const char *name);
/* Writes dataset NAME into out_dir, which must not exist yet (or be an empty
 * directory). The data are generated into a temporary sibling directory and
 * renamed into place, so a reader never sees a half-written dataset.
 * 0 or -1 + fs_last_error(). */
int fs_synth_generate(const char *name, const char *out_dir, const fs_synth_opts *o);

/* The pretraining source corpus (datasets/synth_source.c): captioned scenes
 * and lettered multiple-choice items of the downstream generators in the
 * source look and format, mixed by weight; held_out names downstream
 * categories never drawn. Text-only categories (word-order) are never drawn
 * either: the corpus pairs every text with a scene. */
enum {
    FS_SOURCE_CAPTIONS,
    FS_SOURCE_ICONQA,
    FS_SOURCE_SCIENCEQA,
    FS_SOURCE_MATCHING, /* text-only "pick red . ( A ) blue ( B ) red answer: B" items */
    FS_SOURCE_COUNT
};
typedef struct {
    double weight[FS_SOURCE_COUNT]; /* mixture weights, >= 0, by FS_SOURCE_* */
    const char *const *held_out;
    int n_held_out;
    /* How task items are answered: by the option's letter, by its text, or
     * each item by either at random (the text rewards working out the answer,
     * the letter looking it up among the options). */
    enum { FS_ANSWER_LETTERS, FS_ANSWER_WORDS, FS_ANSWER_BOTH } answers;
    /* Task items also supervise a verdict on each option: the position of
     * its last token is trained to predict "yes" (the right one) or "no".
     * The text is unchanged; the next token's label is replaced. */
    bool verdicts;
} fs_source_mix;

typedef struct {
    int n, image_size;
    float *pixels;    /* [n, 3, S, S] CLIP-normalised */
    char **texts;     /* n strings */
    int *target_from; /* byte offset in texts[i] where the supervised part starts (0 = all) */
    int *answer_at;   /* byte offset of the answer (letter, or option text for word answers) of a
                         multiple-choice item, -1 if none */
    int *right_option; /* with mix.verdicts, 0-based index of a task item's right option; else -1 */
    const char **category; /* a task item's category name (static storage); NULL for the others */
} fs_source_corpus;

/* The recipe of the shipped model: captions only (weight 1, the others 0); held out,
 * when the task sources are mixed in: arithmetic, word-order. */
fs_source_mix fs_source_mix_default(void);
/* n items, deterministic from seed. 0 or -1 + fs_last_error() (out zeroed),
 * also when no weighted source has a category left to draw. */
int fs_synth_source_corpus(const fs_source_mix *mix, uint64_t seed, int n, int image_size,
                           fs_source_corpus *out);
void fs_source_corpus_free(fs_source_corpus *c);
/* The byte offsets of the options " ( A ) x ( B ) y" in a multiple-choice
 * item's prompt text[0..len), which ends in " answer: " (the source format),
 * at most FS_MAX_CHOICES, then where that " answer: " starts, so option c's
 * text is text[at[c] + FS_SOURCE_MARK_LEN .. at[c + 1]). Returns how many
 * options, 0 when the prompt is not in that form. */
#define FS_SOURCE_MARK_LEN 7 /* " ( A ) " */
int fs_source_option_marks(const char *text, int len, int at[FS_MAX_CHOICES + 1]);

/* synth-iconqa places objects in the cells of a FS_SYNTH_GRID x FS_SYNTH_GRID
 * grid, so that with a patch grid divisible by it no patch mixes two objects. */
#define FS_SYNTH_GRID 4

/* n scenes of synth-iconqa's visual world for the vision stage of pretraining
 * (1-8 random objects on the grid, half of them in the source look):
 * pixels [n, 3, S, S] CLIP-normalised, and per grid cell (row-major, [n,
 * GRID*GRID]) 1 + the colour and 1 + the shape of its object, 0 when empty.
 * 0 or -1 + fs_last_error(). */
int fs_synth_cell_scenes(fs_rng *rng, int n, int image_size, float *pixels, int32_t *cell_colour,
                         int32_t *cell_shape);

/* Every word the three generators (and the conversation template of the task
 * builder, including the choice letters A-H) can emit, after the tokenizer's
 * normalisation; sorted, static storage. */
const char *const *fs_synth_words(int *n);

/* Writes <model_dir>/vocab.txt for a model configuration from fs_synth_words:
 * exactly cfg->t_vocab lines, <image> at cfg->image_token_index, <pad> at
 * cfg->pad_token_id (0 if none). 0 or -1. */
int fs_synth_write_vocab(const char *model_dir, const fs_llava_config *cfg);

#endif
