/* What `fedsim run`, `fedsim sweep` and libfedsim's runs (fedsim.h) share:
 * loading the model and task a config names (kept across sweep cells when
 * they do not change) and running the methods of one cell into a results
 * file. */
#ifndef FEDSIM_EXPERIMENT_H
#define FEDSIM_EXPERIMENT_H

#include <stdbool.h>

#include "datasets/clip_image.h"
#include "sim/fed/federation.h"
#include "sim/model/tokenizer.h"

typedef struct {
    const fs_ops *ops;
    fs_mllm *model;
    fs_tokenizer *tok;
    fs_clip_options clip; /* the model's image preprocessing (preprocessor_config.json) */
    fs_task task;
    bool have_task;
    fs_engine *engine;
    char model_key[4200], task_key[8600]; /* what is loaded, to reuse across cells */
    char model_digest[17];                /* fingerprint of the model directory (hex) */
    char provenance[1024]; /* what besides the config decides the numbers (results.h) */
    bool quiet;
} fs_experiment;

/* Loads (or keeps) the model, tokenizer, task and feature cache for cfg. */
int fs_experiment_prepare(fs_experiment *x, const fs_config *cfg);
void fs_experiment_free(fs_experiment *x);

typedef struct {
    const fs_cell_axis *axes; /* the cell's sweep values (none for `fedsim run`) */
    int n_axes;
    bool force; /* re-run methods whose stored results came from another config */
} fs_cell_opts;

/* Runs every method of cfg as cell `cell` into results (NULL on MPI ranks
 * other than 0). A method whose finished results there carry the same
 * identity (a digest of fs_config_identity_yaml and x->provenance) is
 * skipped; one computed under another config, model, data or version stops
 * the run with a message naming what differs, unless opts->force, which
 * re-runs it (the old results stay until the new ones finish). Returns the
 * number of methods run, or -1. */
int fs_experiment_run_cell(fs_experiment *x, const fs_config *cfg, fs_results *results,
                           const char *cell, const fs_cell_opts *opts);

/* Creates the output directory and its parents (mkdir -p). */
int fs_make_output_dir(const char *dir);

#endif
