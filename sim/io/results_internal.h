/* Shared HDF5 helpers of the results store (results.c writes, results_read.c
 * reads, results_h5.c holds these). Not part of the public API. */
#ifndef FEDSIM_RESULTS_INTERNAL_H
#define FEDSIM_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "results.h"

#define FSR_CELL_MAX 256  /* bytes incl. the terminator, = fs_result_entry.cell */
#define FSR_METHOD_MAX 64 /* = fs_result_entry.method */

#define FSR_PENDING '~' /* prefix of a method group that will replace a finished one */

/* The stamp of fs_results_set_stamp, owned by the handle. */
typedef struct {
    char cell[FSR_CELL_MAX]; /* sanitised */
    char *cell_identity, *config_yaml, *provenance;
    char **axis_keys, **axis_values, *axis_types;
    int n_axes;
    char **methods, **method_identities;
    int n_methods;
} fsr_stamp;

/* A handle: no HDF5 file is held open between calls. */
struct fs_results {
    char *path, *tmp, *dir; /* the file, its working copy `path.tmp`, its directory */
    int lock_fd;            /* the flock on `path.lock`, held until close */
    bool active;            /* a method was begun and not yet finished */
    /* the started method's group (~<name> while it replaces a finished one) */
    char cell[FSR_CELL_MAX], method[FSR_METHOD_MAX];
    bool have_stamp;
    fsr_stamp stamp;
};

/* The stamp's identity of method m (sanitised name) in the started cell, or NULL. */
const char *fsr_stamp_method_identity(const fs_results *r, const char *m);
/* Writes the stamp's cell attributes on cell group g. */
int fsr_write_cell_stamp(const fs_results *r, hid_t g);
/* Writes the stamp's identities on method group mg of method m (sanitised). */
int fsr_write_method_stamp(const fs_results *r, hid_t mg, const char *m);
void fsr_stamp_free(fsr_stamp *s);

/* ---- copy-on-write commits (results_cow.c) ---- */

/* Applies a change to the open working copy; 0 or -1 with a message. */
typedef int (*fsr_edit_fn)(fs_results *r, hid_t file, void *ctx);
/* Copies `path` to `tmp`, applies fn there, closes, syncs, renames over `path`. */
int fsr_edit(fs_results *r, fsr_edit_fn fn, void *ctx);
/* Which method groups a rewrite keeps: g is the source method group. */
typedef bool (*fsr_keep_fn)(hid_t g, const char *cell, const char *method, void *ctx);
/* Writes a fresh `tmp` holding everything in `path` except the method groups
 * keep rejects (a cell left empty goes too; keep NULL: everything), applies
 * fn (if not NULL), commits. */
int fsr_rewrite(fs_results *r, fsr_keep_fn keep, void *keep_ctx, fsr_edit_fn fn, void *ctx);
/* A new empty file in memory with the root attributes of src (or fresh ones
 * when src < 0); fsr_save_file writes it to `tmp`. */
hid_t fsr_create_tmp(fs_results *r, hid_t src);
/* Closes the in-memory file *f; when rc == 0, first writes its bytes to
 * `tmp` (permission bits mode). Returns rc, or -1 with a message when the
 * image or the write failed. */
int fsr_save_file(fs_results *r, hid_t *f, int rc, mode_t mode);
/* fsync(tmp), rename(tmp, path), fsync(dir); removes tmp on failure. */
int fsr_commit(fs_results *r);
/* Removes a stale `tmp`. */
int fsr_remove_tmp(fs_results *r);
/* A group or file creation property list tracking link creation order. */
hid_t fsr_crt_order_plist(hid_t cls);
/* The one-writer lock: a non-blocking exclusive flock on `path.lock` holding
 * our pid, kept in r->lock_fd. -1 with a message naming the holder's pid. */
int fsr_take_writer_lock(fs_results *r);

/* ---- HDF5 helpers (results_h5.c) ---- */

/* Turns off HDF5's own error printing (one clear message via fs_fail instead). */
void fsr_quiet(void);

/* fs_fail("results file '<file>': <fmt> (HDF5: <innermost message>)"); -1. */
int fsr_fail_h5(const char *file, const char *fmt, ...) FS_PRINTF(2, 3);
/* fs_fail("results file '<file>': <fmt>"); -1. */
int fsr_fail(const char *file, const char *fmt, ...) FS_PRINTF(2, 3);

/* Closes any HDF5 id (file, group, dataset, dataspace, datatype, attribute,
 * property list) if valid and resets it; returns the close status (0 if none). */
int fsr_close(hid_t *id);

/* A file access property list: strong close, file locking ignored where the
 * file system lacks it. */
hid_t fsr_fapl(void);

/* Copies name into out (capacity cap) with '/' -> '_' and "." -> "_"; -1 with
 * a message when empty or too long. `what` is "cell" or "method". */
int fsr_sanitize(const char *name, char *out, size_t cap, const char *what, const char *file);

/* Opens a fedsim results file read-only, checking it is HDF5 and carries the
 * fedsim_version root attribute. Negative with a message otherwise. */
hid_t fsr_open_ro(const char *path);
/* Opens /<cell>/<method> (names sanitised) in an open file; negative with a
 * message naming what is missing. */
hid_t fsr_open_method(hid_t file, const char *path, const char *cell, const char *method);

/* Compound types: memory layouts of fs_round_row / fs_final_row, and the
 * packed little-endian layouts stored in the file. Close with fsr_close. */
hid_t fsr_round_mem_type(void);
hid_t fsr_round_file_type(void);
/* A round row as appended: the row and its explicit aggregate marker. */
typedef struct {
    fs_round_row row;
    int32_t is_aggregate;
} fsr_round_record;
hid_t fsr_round_record_type(void);
/* One string attribute per column of the rounds table (rounds true) or the
 * final table, named by the column, giving its meaning and unit. */
int fsr_write_column_units(hid_t ds, bool rounds, const char *file);
hid_t fsr_final_mem_type(void);
hid_t fsr_final_file_type(void);
/* A variable-length UTF-8 string type. */
hid_t fsr_vstr_type(void);

/* Attributes. Writers replace an existing attribute of the same name. */
int fsr_write_str_attr(hid_t obj, const char *name, const char *value, const char *file);
int fsr_write_f64_attr(hid_t obj, const char *name, double v, const char *file);
int fsr_write_i32_attr(hid_t obj, const char *name, int32_t v, const char *file);
int fsr_write_i64_attr(hid_t obj, const char *name, int64_t v, const char *file);
/* A 1-D array of strings. */
int fsr_write_str_array_attr(hid_t obj, const char *name, const char *const *v, int n,
                             const char *file);
/* Readers: variable- or fixed-length strings; *out malloc'd. */
int fsr_read_str_attr(hid_t obj, const char *name, char **out, const char *file);
int fsr_read_f64_attr(hid_t obj, const char *name, double *v, const char *file);
int fsr_read_i32_attr(hid_t obj, const char *name, int32_t *v, const char *file);
/* A 1-D string array attribute (variable- or fixed-length) -> malloc'd strings. */
int fsr_read_str_array_attr(hid_t obj, const char *name, char ***out, int *n, const char *file);

/* Names of the links in group g that lead to groups, in creation order (by
 * name where the group does not track it). *names malloc'd, free with
 * fsr_free_names. */
int fsr_list_groups(hid_t g, const char *file, char ***names, int *n);
void fsr_free_names(char **names, int n);

/* Test hook for the crash tests: when > 0, it counts down at each step of a
 * copy-on-write commit (working copy made, change applied, file closed,
 * synced, renamed) and the process SIGKILLs itself when it reaches 0. */
extern int fsr_test_crash_countdown;

/* Current UTC time as ISO 8601 ("2024-05-01T12:34:56Z"). */
void fsr_iso_now(char *buf, size_t cap);

/* The floating-point summary attributes: name and fs_summary field
 * (clients_evaluated, an integer, is written beside them). */
enum { FSR_SUMMARY_DOUBLES = 8 };
typedef struct {
    const char *name;
    size_t offset;
} fsr_summary_double;
extern const fsr_summary_double fsr_summary_doubles[FSR_SUMMARY_DOUBLES];

#endif
