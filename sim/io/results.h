/* Results store: one HDF5 file per run or sweep (DESIGN.md section 3).
 *
 * Layout, readable with h5py/pandas:
 *   /                      attrs fedsim_version, git_sha, created (ISO 8601 UTC)
 *   /<cell>/               attrs (from the stamp, see fs_results_stamp):
 *                          identity, config_yaml, provenance, sweep_keys
 *                          (string array) and one typed attribute per sweep
 *                          key named by it ("seed" int64,
 *                          "data.partition.dirichlet_alpha" float64,
 *                          "methods" string, ...): this cell's value
 *   /<cell>/<method>/      attrs config_yaml, complete (0 running, 1 finished),
 *                          started, finished, identity, cell_identity,
 *                          provenance, fedsim_version, and the summary:
 *                          mean_acc, worst_acc, global_acc, upload_mb,
 *                          download_mb, client_storage_mb, seconds,
 *                          sample_weighted_acc, clients_evaluated (by finish;
 *                          see fs_summary)
 *       rounds             compound [rows]: round, client, train_loss,
 *                          test_acc, global_acc, bytes_up, bytes_down,
 *                          seconds, is_aggregate (1: the round's aggregate
 *                          row over all clients, whose client is -1; 0: one
 *                          client's row); grows with each append
 *       final              compound [clients]: client, n_train, n_test,
 *                          test_acc, global_acc
 *       partition          int32 [clients x categories] sample counts; attrs
 *                          categories (variable-length UTF-8 strings), key
 * rounds and final carry one string attribute per column, named by it, giving
 * its meaning and unit (test_acc: fraction 0-1; seconds: wall time since the
 * method started; bytes_up: bytes). Files written before these attributes
 * existed (no is_aggregate, units, identity) read the same through this API.
 * Cells and methods are listed in the order they were written (a restarted
 * method moves to the end of its cell).
 *
 * Replacement: fs_results_begin on a finished method writes the new run as
 * /<cell>/~<method> and the finished group stays, listed and readable, until
 * fs_results_finish swaps the new one in (in one commit). A kill before that
 * keeps the old results; the leftover ~<method> is hidden from
 * fs_results_list and replaced by the next begin.
 *
 * Durability: every mutating call (open of a new file, begin, append,
 * partition, finish, remove) writes a complete new file next to `path`
 * (`path.tmp`), fsyncs it and renames it over `path`, then fsyncs the
 * directory. A crash or kill -9 at any moment therefore leaves `path` holding
 * exactly the state after the last call that returned; a group whose run was
 * killed stays complete = 0 and is replaced by the next fs_results_begin.
 * The handle keeps no HDF5 file open between calls, so `fedsim report` may
 * read `path` while a sweep writes it.
 *
 * One writer: fs_results_open takes an exclusive advisory lock (flock) on
 * `path.lock`, which holds the writer's pid, until fs_results_close; a second
 * open of the same file (from any process, or the same one) fails at once
 * with a message naming the holder's pid. A killed writer's lock goes with
 * it; the .lock file stays (removing it would race with the next writer).
 * Readers (fs_results_list, fs_results_read_*) take no lock. Within a
 * process, use a handle from one thread at a time (HDF5 is not thread-safe).
 *
 * Every function that can fail returns -1 (or NULL / false) and leaves a
 * message naming the file in fs_last_error(). */
#ifndef FEDSIM_RESULTS_H
#define FEDSIM_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t round, client; /* client -1: the aggregate (global) row of the round */
    double train_loss, test_acc, global_acc;
    int64_t bytes_up, bytes_down;
    double seconds; /* wall time since the method started */
} fs_round_row;

typedef struct {
    int32_t client, n_train, n_test;
    double test_acc, global_acc;
} fs_final_row;

/* Accuracies are fractions in [0, 1] at the last round. mean_acc and
 * worst_acc are over the clients that have test items (an unweighted mean:
 * every client counts once); sample_weighted_acc pools their test items
 * (Flower's default: a client counts by its number of test items). */
typedef struct {
    double mean_acc, worst_acc, global_acc, upload_mb, download_mb, client_storage_mb, seconds;
    double sample_weighted_acc;
    int32_t clients_evaluated; /* clients with at least one test item */
} fs_summary;

typedef struct fs_results fs_results;

/* Creates `path` (with the root attributes) or opens an existing results file
 * for appending, and takes the writer's lock. NULL when it is not an HDF5
 * file, not a fedsim results file, damaged, cannot be created, or another
 * writer holds it. A stale `path.tmp` is ignored. */
fs_results *fs_results_open(const char *path);
void fs_results_close(fs_results *r);
/* The file the handle writes (symbolic links resolved). */
const char *fs_results_path(const fs_results *r);


/* One sweep key of a cell and the cell's value of it. */
typedef struct {
    const char *key;   /* dotted config key, e.g. "data.partition.dirichlet_alpha" */
    const char *value; /* as written in the sweep ("0.5", "inf", "fedavg") */
    char type;         /* stored as: 'i' int64, 'f' float64 (inf allowed), 's' string */
} fs_cell_axis;

/* What makes a cell's numbers what they are, stamped by the calls below on
 * the methods of `cell` (DESIGN.md section 2: a re-run reuses a method only
 * when its identity matches). Identities are digests computed by the caller
 * (sim/api/experiment.c); the store keeps and compares them as strings. */
typedef struct {
    const char *cell;
    const char *cell_identity; /* of the config without the methods list + provenance */
    const char *config_yaml;   /* the cell's resolved config */
    const char *provenance;    /* what besides the config decided the numbers (model, data, ...) */
    const fs_cell_axis *axes;
    int n_axes;
    const char *const *methods, *const *method_identities; /* n_methods of each */
    int n_methods;
} fs_results_stamp;

/* Copies the stamp into the handle (NULL clears it). While it is set,
 * fs_results_begin of a method of stamp->cell writes its identities, and
 * fs_results_finish writes the cell's attributes and drops the cell's other
 * methods whose cell_identity differs (results of another config, kept only
 * until a new method of the cell is complete). */
int fs_results_set_stamp(fs_results *r, const fs_results_stamp *stamp);

/* True when /<cell>/<method> exists and was finished (false on any error),
 * whatever its identity; re-runs compare identities via fs_results_list. */
bool fs_results_is_complete(fs_results *r, const char *cell, const char *method);

/* Starts /<cell>/<method> and makes it the target of the calls below. An
 * incomplete group from a killed run is replaced (the file is rewritten
 * without it, so no space is left behind); a complete one stays until
 * fs_results_finish replaces it (see Replacement above). '/' in a name
 * becomes '_' ("." alone becomes "_"); a cell name has at most 255 bytes, a
 * method name at most 63. config_yaml may be NULL (stored as ""). */
int fs_results_begin(fs_results *r, const char *cell, const char *method,
                     const char *config_yaml);
/* Makes the unfinished /<cell>/<method> of a killed run (or its unfinished
 * replacement ~<method>, when there is one) the target of the calls below
 * again (resuming from a mid-run checkpoint): its rounds table is
 * cut to its first keep_rows rows, the last of which must belong to round
 * last_round (rows of later rounds, written after the checkpoint, go). Fails
 * when the group is absent or finished, or its rows do not match. */
int fs_results_resume(fs_results *r, const char *cell, const char *method, int keep_rows,
                      int last_round);
/* Appends rows to the started method's rounds table; durable when it returns.
 * n == 0 is a no-op. */
int fs_results_append_rounds(fs_results *r, const fs_round_row *rows, int n);
/* Writes (or replaces) the started method's partition: counts is row-major
 * [clients x categories]; category_names has `categories` entries. */
int fs_results_write_partition(fs_results *r, const int32_t *counts, int clients, int categories,
                               const char *const *category_names, const char *key);
/* Writes final (n rows, n >= 0) and the summary, sets complete = 1, and ends
 * the started method. */
int fs_results_finish(fs_results *r, const fs_final_row *rows, int n, const fs_summary *s);
/* Deletes /<cell>/<method> (complete or not; an emptied cell group goes too).
 * Succeeds when it does not exist. */
int fs_results_remove(fs_results *r, const char *cell, const char *method);

/* ---- reading (for `fedsim report` and resumed sweeps); files are opened read-only ---- */

typedef struct {
    char cell[256];
    char method[64];
    bool complete;
    fs_summary summary; /* zeros while incomplete */
    int n_rounds_rows;
    char *config_yaml; /* malloc'd */
    /* Identities and provenance stamped by the writer; "" in files written
     * before fedsim recorded them. */
    char identity[64], cell_identity[64];
    char *provenance; /* malloc'd */
} fs_result_entry;

/* Every /<cell>/<method> group, in creation order (a replacement in progress,
 * ~<method>, is left out). *entries is malloc'd (NULL
 * when *n == 0); free with fs_results_list_free. */
int fs_results_list(const char *path, fs_result_entry **entries, int *n);
/* The same for one cell only (none when it is absent): what a sweep checks
 * before each cell, without reading the whole file each time. */
int fs_results_list_cell(const char *path, const char *cell, fs_result_entry **entries, int *n);
void fs_results_list_free(fs_result_entry *e, int n);

/* The rounds table; *rows is malloc'd (NULL when *n == 0). */
int fs_results_read_rounds(const char *path, const char *cell, const char *method,
                           fs_round_row **rows, int *n);
/* The final table; *rows is malloc'd (NULL when *n == 0). -1 when the method
 * has no final table (not finished). */
int fs_results_read_final(const char *path, const char *cell, const char *method,
                          fs_final_row **rows, int *n);

typedef struct {
    int clients, categories;
    int32_t *counts;       /* [clients x categories], row-major */
    char **category_names; /* `categories` strings */
    char *key;
} fs_partition;

/* The partition of a method; free with fs_partition_free. */
int fs_results_read_partition(const char *path, const char *cell, const char *method,
                              fs_partition *out);
void fs_partition_free(fs_partition *p);

#endif
