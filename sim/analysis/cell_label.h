/* A results cell's label, as `fedsim sweep` writes it: "key=value" components
 * joined by ',', one per sweep axis, e.g.
 * "data.partition.dirichlet_alpha=0.5,data.partition.clients=5,seed=1"
 * (sim/io/config.c, fs_config_sweep_cell). A plain `fedsim run` labels its
 * only cell with the run's name, which has no axes. */
#ifndef FEDSIM_CELL_LABEL_H
#define FEDSIM_CELL_LABEL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *key, *value; /* key as written: the dotted config key */
} fs_label_axis;

typedef struct {
    char *text; /* malloc'd copy of the label, cut into the strings of axis */
    int n;
    fs_label_axis *axis; /* malloc'd; n entries */
} fs_cell_label;

/* Splits label into its axes. A piece without '=' after an axis is part of
 * that axis's value (a value holding a comma); leading text without '=' (a
 * run's name) is no axis. -1 (fs_last_error set) only when out of memory. */
int fs_cell_label_parse(const char *label, fs_cell_label *out);
void fs_cell_label_free(fs_cell_label *l);

/* True for the axes that do not define a cell group: the seed (runs of one
 * group differ only by it) and the method (its own column everywhere). */
bool fs_label_axis_is_replicate(const char *key);

/* The cell group of a label: its axes without seed= and methods=, each key
 * shortened to its last dotted part to keep tables narrow ("dirichlet_alpha=0.5,
 * clients=5"); "all" when no other axis is left; a label without axes (a
 * run's name) is its own group. Cut to fit out (len bytes; labels have at most
 * 255, so 256 always suffices). */
int fs_cell_group(const char *label, char *out, size_t len);

/* The seed of a run: the top-level "seed:" line of its resolved config (the
 * entry's config_yaml), else the label's seed= axis. False when neither holds
 * an integer. */
bool fs_run_seed(const char *config_yaml, const char *label, long *seed);

#endif
