/* Results store: one HDF5 file per run or sweep (DESIGN.md section 3).
 *
 * Layout, readable with h5py/pandas:
 *   /                      attrs fedsim_version, git_sha, created (ISO 8601 UTC)
 *   /<cell>/<method>/      attrs config_yaml, complete (0 running, 1 finished),
 *                          started, finished, and the summary: mean_acc,
 *                          worst_acc, global_acc, upload_mb, download_mb,
 *                          client_storage_mb, seconds, sample_weighted_acc,
 *                          clients_evaluated (written by finish; see fs_summary)
 *       rounds             compound [rows]: round, client (-1 = aggregate row),
 *                          train_loss, test_acc, global_acc, bytes_up,
 *                          bytes_down, seconds; grows with each append
 *       final              compound [clients]: client, n_train, n_test,
 *                          test_acc, global_acc
 *       partition          int32 [clients x categories] sample counts; attrs
 *                          categories (variable-length UTF-8 strings), key
 * Cells and methods are listed in the order they were written (a restarted
 * method moves to the end of its cell).
 *
 * Durability: every mutating call (open of a new file, begin, append,
 * partition, finish, remove) writes a complete new file next to `path`
 * (`path.tmp`), fsyncs it and renames it over `path`, then fsyncs the
 * directory. A crash or kill -9 at any moment therefore leaves `path` holding
 * exactly the state after the last call that returned; a group whose run was
 * killed stays complete = 0 and is replaced by the next fs_results_begin.
 * The handle keeps no HDF5 file open between calls, so `fedsim report` may
 * read `path` while a sweep writes it, and several processes may write one
 * file (each call locks the directory; see results_cow.c). Within a process,
 * use a handle from one thread at a time (HDF5 here is not thread-safe).
 *
 * Every function that can fail returns -1 (or NULL / false) and leaves a
 * message naming the file in fs_last_error(). */
#ifndef FEDSIM_RESULTS_H
#define FEDSIM_RESULTS_H

#include <stdbool.h>
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
 * for appending. NULL when it is not an HDF5 file, not a fedsim results file,
 * damaged, or cannot be created. A stale `path.tmp` is ignored. */
fs_results *fs_results_open(const char *path);
void fs_results_close(fs_results *r);

/* True when /<cell>/<method> exists and was finished (false on any error). */
bool fs_results_is_complete(fs_results *r, const char *cell, const char *method);

/* Starts /<cell>/<method> and makes it the target of the calls below. An
 * incomplete group from a killed run is replaced (the file is rewritten
 * without it, so no space is left behind); a complete one is an error (skip it
 * with fs_results_is_complete, or fs_results_remove it first). '/' in a name
 * becomes '_' ("." alone becomes "_"); a cell name has at most 255 bytes, a
 * method name at most 63. config_yaml may be NULL (stored as ""). */
int fs_results_begin(fs_results *r, const char *cell, const char *method,
                     const char *config_yaml);
/* Makes the unfinished /<cell>/<method> of a killed run the target of the
 * calls below again (resuming from a mid-run checkpoint): its rounds table is
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
} fs_result_entry;

/* Every /<cell>/<method> group, in creation order. *entries is malloc'd (NULL
 * when *n == 0); free with fs_results_list_free. */
int fs_results_list(const char *path, fs_result_entry **entries, int *n);
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
