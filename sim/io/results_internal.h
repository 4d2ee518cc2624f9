/* Shared HDF5 helpers of the results store (results.c writes, results_read.c
 * reads, results_h5.c holds these). Not part of the public API. */
#ifndef FEDSIM_RESULTS_INTERNAL_H
#define FEDSIM_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "results.h"

#define FSR_CELL_MAX 256  /* bytes incl. the terminator, = fs_result_entry.cell */
#define FSR_METHOD_MAX 64 /* = fs_result_entry.method */

/* A handle: no HDF5 file is held open between calls. */
struct fs_results {
    char *path, *tmp, *dir; /* the file, its working copy `path.tmp`, its directory */
    bool active;            /* a method was begun and not yet finished */
    char cell[FSR_CELL_MAX], method[FSR_METHOD_MAX];
};

/* ---- copy-on-write commits (results_cow.c) ---- */

/* Applies a change to the open working copy; 0 or -1 with a message. */
typedef int (*fsr_edit_fn)(fs_results *r, hid_t file, void *ctx);
/* Copies `path` to `tmp`, applies fn there, closes, syncs, renames over `path`. */
int fsr_edit(fs_results *r, fsr_edit_fn fn, void *ctx);
/* Writes a fresh `tmp` holding everything in `path` except /<cell>/<method>
 * (a cell left empty goes too; cell NULL: everything), applies fn (if not
 * NULL), commits. */
int fsr_rewrite_without(fs_results *r, const char *cell, const char *method, fsr_edit_fn fn,
                        void *ctx);
/* A new empty `tmp` with the root attributes of src (or fresh ones when src < 0). */
hid_t fsr_create_tmp(fs_results *r, hid_t src);
/* H5Fclose; turns a failure into a message when rc == 0. Returns rc or -1. */
int fsr_close_file(hid_t *f, int rc, const char *file);
/* fsync(tmp), rename(tmp, path), fsync(dir); removes tmp on failure. */
int fsr_commit(fs_results *r);
/* Removes a stale `tmp`. */
int fsr_remove_tmp(fs_results *r);
/* A group or file creation property list tracking link creation order. */
hid_t fsr_crt_order_plist(hid_t cls);
/* Serialises writers: an exclusive flock on the file's directory, held for
 * one mutating call. Returns the descriptor to pass to fsr_unlock, or -1. */
int fsr_lock(fs_results *r);
void fsr_unlock(int fd);

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
hid_t fsr_final_mem_type(void);
hid_t fsr_final_file_type(void);
/* A variable-length UTF-8 string type. */
hid_t fsr_vstr_type(void);

/* Attributes. Writers replace an existing attribute of the same name. */
int fsr_write_str_attr(hid_t obj, const char *name, const char *value, const char *file);
int fsr_write_f64_attr(hid_t obj, const char *name, double v, const char *file);
int fsr_write_i32_attr(hid_t obj, const char *name, int32_t v, const char *file);
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
