/* Results store, writing side: the public calls. Each mutating call goes
 * through fsr_edit / fsr_rewrite (results_cow.c), which make it
 * atomic and durable; reading is in results_read.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "results_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUNDS_CHUNK 64 /* rows per chunk of the growing rounds table */

/* ---- open / close ---- */

static void free_handle(fs_results *r)
{
    if (!r) return;
    if (r->lock_fd >= 0) close(r->lock_fd); /* releases the writer's lock */
    fsr_stamp_free(&r->stamp);
    free(r->path);
    free(r->tmp);
    free(r->dir);
    free(r);
}

fs_results *fs_results_open(const char *path)
{
    fsr_quiet();
    if (!path || !path[0]) {
        fs_fail("results file: empty path");
        return NULL;
    }
    /* A symlink is followed, so that the rename replaces its target. */
    struct stat st;
    char *real = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && !(real = realpath(path, NULL))) {
        fsr_fail(path, "cannot follow the symbolic link: %s", strerror(errno));
        return NULL;
    }
    if (real) path = real;
    fs_results *r = calloc(1, sizeof *r);
    if (r) r->lock_fd = -1;
    size_t n = strlen(path);
    if (!r || !(r->path = strdup(path)) || !(r->tmp = malloc(n + 5)) || !(r->dir = strdup(path))) {
        fs_fail("results file '%s': out of memory", path);
        free_handle(r);
        free(real);
        return NULL;
    }
    free(real);
    path = r->path;
    snprintf(r->tmp, n + 5, "%s.tmp", path);
    char *slash = strrchr(r->dir, '/');
    if (!slash)
        strcpy(r->dir, ".");
    else if (slash == r->dir)
        slash[1] = 0;
    else
        *slash = 0;

    /* The writer's lock comes before creating the file, so that two writers
     * starting together cannot both create it. */
    bool exists = stat(path, &st) == 0;
    if (!exists && errno != ENOENT) {
        fsr_fail(path, "cannot open: %s", strerror(errno));
        goto fail;
    }
    if (exists) {
        hid_t f = fsr_open_ro(path);
        if (f < 0) goto fail;
        fsr_close(&f);
        if (access(path, W_OK) != 0) {
            fsr_fail(path, "cannot append to it: %s", strerror(errno));
            goto fail;
        }
    }
    if (fsr_take_writer_lock(r) < 0) goto fail;
    if (!exists) {
        if (stat(path, &st) == 0) { /* another writer created it and has finished */
            hid_t f = fsr_open_ro(path);
            if (f < 0) goto fail;
            fsr_close(&f);
            return r;
        }
        if (fsr_remove_tmp(r) < 0) goto fail;
        hid_t f = fsr_create_tmp(r, H5I_INVALID_HID);
        if (f < 0 || fsr_save_file(r, &f, 0, 0644) < 0 || fsr_commit(r) < 0) {
            unlink(r->tmp);
            goto fail;
        }
    }
    return r;
fail:
    free_handle(r);
    return NULL;
}

void fs_results_close(fs_results *r) { free_handle(r); }

const char *fs_results_path(const fs_results *r) { return r ? r->path : ""; }

/* ---- state of a group ---- */

enum { ABSENT = 0, INCOMPLETE = 1, COMPLETE = 2 };

/* ABSENT/INCOMPLETE/COMPLETE for sanitised names c, m; -1 on error. */
static int group_state(const char *path, const char *c, const char *m)
{
    hid_t f = fsr_open_ro(path), g = H5I_INVALID_HID;
    if (f < 0) return -1;
    int st = -1;
    htri_t e = H5Lexists(f, c, H5P_DEFAULT);
    if (e == 0) {
        st = ABSENT;
    } else if (e < 0 || (g = H5Gopen2(f, c, H5P_DEFAULT)) < 0) {
        fsr_fail_h5(path, "cannot open cell '%s'", c);
    } else if ((e = H5Lexists(g, m, H5P_DEFAULT)) < 0) {
        fsr_fail_h5(path, "cannot look up /%s/%s", c, m);
    } else if (e == 0) {
        st = ABSENT;
    } else {
        hid_t mg = H5Gopen2(g, m, H5P_DEFAULT);
        int32_t done = 0;
        if (mg < 0)
            fsr_fail_h5(path, "cannot open /%s/%s", c, m);
        else if (H5Aexists(mg, "complete") > 0 &&
                 fsr_read_i32_attr(mg, "complete", &done, path) < 0)
            st = -1;
        else
            st = done ? COMPLETE : INCOMPLETE;
        fsr_close(&mg);
    }
    fsr_close(&g);
    fsr_close(&f);
    return st;
}

bool fs_results_is_complete(fs_results *r, const char *cell, const char *method)
{
    char c[FSR_CELL_MAX], m[FSR_METHOD_MAX];
    if (!r) return false;
    fsr_quiet();
    if (fsr_sanitize(cell, c, sizeof c, "cell", r->path) < 0 ||
        fsr_sanitize(method, m, sizeof m, "method", r->path) < 0)
        return false;
    return group_state(r->path, c, m) == COMPLETE;
}

/* ---- begin ---- */

/* The method the started group will be listed as (without the ~ of a replacement). */
static const char *final_name(const fs_results *r)
{
    return r->method[0] == FSR_PENDING ? r->method + 1 : r->method;
}

/* "~m" for method m; -1 when it does not fit. */
static int pending_name(const char *m, char *out, size_t cap, const char *file)
{
    if (snprintf(out, cap, "%c%s", FSR_PENDING, m) >= (int)cap)
        return fsr_fail(file, "method name '%s' is too long", m);
    return 0;
}

static int begin_fn(fs_results *r, hid_t f, void *ctx)
{
    const char *config = ctx;
    hid_t gcpl = fsr_crt_order_plist(H5P_GROUP_CREATE), cg = H5I_INVALID_HID, mg = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID, sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID,
          ds = H5I_INVALID_HID;
    int rc = -1;
    htri_t e = H5Lexists(f, r->cell, H5P_DEFAULT);
    char now[64];
    fsr_iso_now(now, sizeof now);
    if (gcpl < 0 || e < 0) {
        fsr_fail_h5(r->path, "cannot look up cell '%s'", r->cell);
        goto done;
    }
    cg = e ? H5Gopen2(f, r->cell, H5P_DEFAULT)
           : H5Gcreate2(f, r->cell, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (cg < 0) {
        fsr_fail_h5(r->path, "cannot create cell '%s'", r->cell);
        goto done;
    }
    /* A new cell describes itself at once; an existing one keeps describing
     * its finished methods until a new one finishes. */
    if (!e && fsr_stamp_method_identity(r, final_name(r)) && fsr_write_cell_stamp(r, cg) < 0)
        goto done;
    if ((mg = H5Gcreate2(cg, r->method, H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0) {
        fsr_fail_h5(r->path, "cannot create /%s/%s", r->cell, r->method);
        goto done;
    }
    if (fsr_write_str_attr(mg, "config_yaml", config, r->path) < 0 ||
        fsr_write_str_attr(mg, "started", now, r->path) < 0 ||
        fsr_write_i32_attr(mg, "complete", 0, r->path) < 0 ||
        fsr_write_method_stamp(r, mg, final_name(r)) < 0)
        goto done;
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {ROUNDS_CHUNK};
    if ((ft = fsr_round_file_type()) < 0 || (sp = H5Screate_simple(1, dims, maxdims)) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, 1, chunk) < 0 ||
        (ds = H5Dcreate2(mg, "rounds", ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0) {
        fsr_fail_h5(r->path, "cannot create /%s/%s/rounds", r->cell, r->method);
        goto done;
    }
    if (fsr_write_column_units(ds, true, r->path) < 0) goto done;
    rc = 0;
done:
    if (fsr_close(&ds) < 0 || fsr_close(&mg) < 0 || fsr_close(&cg) < 0)
        if (rc == 0) rc = fsr_fail_h5(r->path, "cannot write /%s/%s", r->cell, r->method);
    fsr_close(&dcpl);
    fsr_close(&sp);
    fsr_close(&ft);
    fsr_close(&gcpl);
    return rc;
}

typedef struct {
    const char *cell, *method, *also; /* drop /cell/method and /cell/also (also may be NULL) */
} drop_ctx;

static bool keep_unless_dropped(hid_t g, const char *cell, const char *method, void *ctx)
{
    (void)g;
    const drop_ctx *d = ctx;
    return strcmp(cell, d->cell) != 0 ||
           (strcmp(method, d->method) != 0 && (!d->also || strcmp(method, d->also) != 0));
}

int fs_results_begin(fs_results *r, const char *cell, const char *method, const char *config_yaml)
{
    if (!r) return fs_fail("fs_results_begin: no results file");
    fsr_quiet();
    r->active = false;
    char m[FSR_METHOD_MAX], pending[FSR_METHOD_MAX];
    if (fsr_sanitize(cell, r->cell, sizeof r->cell, "cell", r->path) < 0 ||
        fsr_sanitize(method, m, sizeof m, "method", r->path) < 0 ||
        pending_name(m, pending, sizeof pending, r->path) < 0)
        return -1;
    int st = group_state(r->path, r->cell, m), pst = group_state(r->path, r->cell, pending);
    if (st < 0 || pst < 0) return -1;
    /* A finished group stays until its replacement finishes; a leftover
     * replacement or a killed run's group goes now. */
    snprintf(r->method, sizeof r->method, "%s", st == COMPLETE ? pending : m);
    drop_ctx d = {r->cell, r->method, st == COMPLETE || pst == ABSENT ? NULL : pending};
    int rc = st == ABSENT && pst == ABSENT
                 ? fsr_edit(r, begin_fn, (void *)config_yaml)
                 : fsr_rewrite(r, keep_unless_dropped, &d, begin_fn, (void *)config_yaml);
    if (rc == 0) r->active = true;
    return rc;
}

/* The started method's group in f, checked to be still running. */
static hid_t open_active(fs_results *r, hid_t f, const char *what)
{
    hid_t mg = fsr_open_method(f, r->path, r->cell, r->method);
    if (mg < 0) return mg;
    int32_t done = 0;
    if (fsr_read_i32_attr(mg, "complete", &done, r->path) < 0 || done) {
        if (done)
            fsr_fail(r->path, "%s: /%s/%s is already finished", what, r->cell, r->method);
        fsr_close(&mg);
        return H5I_INVALID_HID;
    }
    return mg;
}

/* ---- the started method's rounds table ---- */

typedef struct {
    hid_t mg, ds, fs, ms, mt; /* group, dataset, file space, memory space and row type */
    hsize_t rows;
} rounds_table;

static int open_rounds(fs_results *r, hid_t f, const char *what, rounds_table *t)
{
    *t = (rounds_table){H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                        H5I_INVALID_HID, 0};
    if ((t->mg = open_active(r, f, what)) < 0) return -1;
    if ((t->ds = H5Dopen2(t->mg, "rounds", H5P_DEFAULT)) < 0 || (t->fs = H5Dget_space(t->ds)) < 0 ||
        H5Sget_simple_extent_ndims(t->fs) != 1 ||
        H5Sget_simple_extent_dims(t->fs, &t->rows, NULL) < 0)
        return fsr_fail_h5(r->path, "cannot open /%s/%s/rounds", r->cell, r->method);
    return 0;
}

/* Closing the dataset flushes its writes, so a failure there fails an edit that succeeded. */
static int close_rounds(fs_results *r, rounds_table *t, int rc)
{
    if (fsr_close(&t->ds) < 0 && rc == 0)
        rc = fsr_fail_h5(r->path, "cannot write /%s/%s/rounds", r->cell, r->method);
    fsr_close(&t->mt);
    fsr_close(&t->ms);
    fsr_close(&t->fs);
    fsr_close(&t->mg);
    return rc;
}

/* ---- append ---- */

typedef struct {
    const fs_round_row *rows;
    int n;
} rows_ctx;

static int append_fn(fs_results *r, hid_t f, void *ctx)
{
    rows_ctx *c = ctx;
    rounds_table t;
    if (open_rounds(r, f, "append_rounds", &t) < 0) return close_rounds(r, &t, -1);
    /* The file marks the aggregate row explicitly, not only by client -1. */
    fsr_round_record *rec = malloc((size_t)c->n * sizeof *rec);
    if (!rec) return close_rounds(r, &t, fsr_fail(r->path, "out of memory"));
    for (int i = 0; i < c->n; i++)
        rec[i] = (fsr_round_record){.row = c->rows[i], .is_aggregate = c->rows[i].client < 0};
    hsize_t start[1] = {t.rows}, count[1] = {(hsize_t)c->n}, grown[1] = {t.rows + (hsize_t)c->n};
    fsr_close(&t.fs);
    if (H5Dset_extent(t.ds, grown) < 0 || (t.fs = H5Dget_space(t.ds)) < 0 ||
        H5Sselect_hyperslab(t.fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (t.ms = H5Screate_simple(1, count, NULL)) < 0 || (t.mt = fsr_round_record_type()) < 0 ||
        H5Dwrite(t.ds, t.mt, t.ms, t.fs, H5P_DEFAULT, rec) < 0) {
        free(rec);
        return close_rounds(r, &t, fsr_fail_h5(r->path, "cannot append to /%s/%s/rounds",
                                               r->cell, r->method));
    }
    free(rec);
    return close_rounds(r, &t, 0);
}

static int need_active(fs_results *r, const char *fn)
{
    if (!r) return fs_fail("%s: no results file", fn);
    if (!r->active)
        return fsr_fail(r->path, "%s: no method started (call fs_results_begin first)", fn);
    return 0;
}

int fs_results_append_rounds(fs_results *r, const fs_round_row *rows, int n)
{
    if (need_active(r, "fs_results_append_rounds") < 0) return -1;
    if (n < 0 || (n > 0 && !rows))
        return fsr_fail(r->path, "fs_results_append_rounds: bad row count %d", n);
    if (n == 0) return 0;
    rows_ctx c = {rows, n};
    return fsr_edit(r, append_fn, &c);
}

/* ---- resume ---- */

typedef struct {
    int keep, last_round;
} resume_ctx;

/* Cuts the started method's rounds table to its first c->keep rows, which
 * must end with round c->last_round (rows of later rounds are dropped). */
static int resume_fn(fs_results *r, hid_t f, void *ctx)
{
    resume_ctx *c = ctx;
    rounds_table t;
    if (open_rounds(r, f, "resume", &t) < 0) return close_rounds(r, &t, -1);
    if (c->keep < 1 || t.rows < (hsize_t)c->keep)
        return close_rounds(r, &t, fsr_fail(r->path, "/%s/%s/rounds holds %llu rows, fewer than "
                                            "the %d of rounds 0..%d that its checkpoint "
                                            "continues from", r->cell, r->method,
                                            (unsigned long long)t.rows, c->keep, c->last_round));
    hsize_t start[1] = {(hsize_t)c->keep - 1}, count[1] = {t.rows == (hsize_t)c->keep ? 1 : 2};
    fs_round_row edge[2];
    if (H5Sselect_hyperslab(t.fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (t.ms = H5Screate_simple(1, count, NULL)) < 0 || (t.mt = fsr_round_mem_type()) < 0 ||
        H5Dread(t.ds, t.mt, t.ms, t.fs, H5P_DEFAULT, edge) < 0)
        return close_rounds(r, &t, fsr_fail_h5(r->path, "cannot read /%s/%s/rounds", r->cell,
                                               r->method));
    if (edge[0].round != c->last_round || (count[0] == 2 && edge[1].round <= c->last_round))
        return close_rounds(r, &t, fsr_fail(r->path, "/%s/%s/rounds does not end round %d at row "
                                            "%d, where its checkpoint continues from", r->cell,
                                            r->method, c->last_round, c->keep));
    hsize_t kept[1] = {(hsize_t)c->keep};
    if (H5Dset_extent(t.ds, kept) < 0)
        return close_rounds(r, &t, fsr_fail_h5(r->path, "cannot cut /%s/%s/rounds to %d rows",
                                               r->cell, r->method, c->keep));
    return close_rounds(r, &t, 0);
}

int fs_results_resume(fs_results *r, const char *cell, const char *method, int keep_rows,
                      int last_round)
{
    if (!r) return fs_fail("fs_results_resume: no results file");
    fsr_quiet();
    r->active = false;
    char pending[FSR_METHOD_MAX];
    if (fsr_sanitize(cell, r->cell, sizeof r->cell, "cell", r->path) < 0 ||
        fsr_sanitize(method, r->method, sizeof r->method, "method", r->path) < 0 ||
        pending_name(r->method, pending, sizeof pending, r->path) < 0)
        return -1;
    /* A killed replacement continues where it was; the finished group it
     * replaces stays until it finishes. */
    int pst = group_state(r->path, r->cell, pending);
    if (pst < 0) return -1;
    if (pst == INCOMPLETE) snprintf(r->method, sizeof r->method, "%s", pending);
    resume_ctx c = {keep_rows, last_round};
    int rc = fsr_edit(r, resume_fn, &c);
    if (rc == 0) r->active = true;
    return rc;
}

/* ---- partition ---- */

typedef struct {
    const int32_t *counts;
    int clients, categories;
    const char *const *names;
    const char *key;
} part_ctx;

static int partition_fn(fs_results *r, hid_t f, void *ctx)
{
    part_ctx *c = ctx;
    hid_t mg = open_active(r, f, "write_partition"), sp = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    const char **names = NULL;
    int rc = -1;
    if (mg < 0) return -1;
    htri_t e = H5Lexists(mg, "partition", H5P_DEFAULT);
    if (e < 0 || (e > 0 && H5Ldelete(mg, "partition", H5P_DEFAULT) < 0)) {
        fsr_fail_h5(r->path, "cannot replace /%s/%s/partition", r->cell, r->method);
        goto done;
    }
    hsize_t dims[2] = {(hsize_t)c->clients, (hsize_t)c->categories};
    if ((sp = H5Screate_simple(2, dims, NULL)) < 0 ||
        (ds = H5Dcreate2(mg, "partition", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT)) < 0 ||
        H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->counts) < 0) {
        fsr_fail_h5(r->path, "cannot write /%s/%s/partition", r->cell, r->method);
        goto done;
    }
    if (!(names = calloc((size_t)c->categories, sizeof *names))) {
        fsr_fail(r->path, "out of memory");
        goto done;
    }
    for (int i = 0; i < c->categories; i++) names[i] = c->names[i] ? c->names[i] : "";
    if (fsr_write_str_array_attr(ds, "categories", names, c->categories, r->path) < 0) goto done;
    if (fsr_write_str_attr(ds, "key", c->key, r->path) < 0) goto done;
    rc = 0;
done:
    free(names);
    if (fsr_close(&ds) < 0 && rc == 0)
        rc = fsr_fail_h5(r->path, "cannot write /%s/%s/partition", r->cell, r->method);
    fsr_close(&sp);
    fsr_close(&mg);
    return rc;
}

int fs_results_write_partition(fs_results *r, const int32_t *counts, int clients, int categories,
                               const char *const *category_names, const char *key)
{
    if (need_active(r, "fs_results_write_partition") < 0) return -1;
    if (clients <= 0 || categories <= 0 || !counts || !category_names)
        return fsr_fail(r->path,
                        "fs_results_write_partition: bad arguments (%d clients, %d categories)",
                        clients, categories);
    part_ctx c = {counts, clients, categories, category_names, key};
    return fsr_edit(r, partition_fn, &c);
}

/* ---- finish ---- */

typedef struct {
    const fs_final_row *rows;
    int n;
    const fs_summary *s;
} finish_ctx;

static int finish_fn(fs_results *r, hid_t f, void *ctx)
{
    finish_ctx *c = ctx;
    hid_t mg = open_active(r, f, "finish"), sp = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID, mt = H5I_INVALID_HID, cg = H5I_INVALID_HID;
    int rc = -1;
    if (mg < 0) return -1;
    hsize_t dims[1] = {(hsize_t)c->n};
    htri_t e = H5Lexists(mg, "final", H5P_DEFAULT);
    if (e < 0 || (e > 0 && H5Ldelete(mg, "final", H5P_DEFAULT) < 0)) {
        fsr_fail_h5(r->path, "cannot replace /%s/%s/final", r->cell, r->method);
        goto done;
    }
    if ((ft = fsr_final_file_type()) < 0 || (mt = fsr_final_mem_type()) < 0 ||
        (sp = H5Screate_simple(1, dims, NULL)) < 0 ||
        (ds = H5Dcreate2(mg, "final", ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (c->n > 0 && H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->rows) < 0) ||
        fsr_write_column_units(ds, false, r->path) < 0 || fsr_close(&ds) < 0) {
        fsr_fail_h5(r->path, "cannot write /%s/%s/final", r->cell, r->method);
        goto done;
    }
    for (int i = 0; i < FSR_SUMMARY_DOUBLES; i++)
        if (fsr_write_f64_attr(mg, fsr_summary_doubles[i].name,
                               *(const double *)(const void *)((const char *)c->s +
                                                               fsr_summary_doubles[i].offset),
                               r->path) < 0)
            goto done;
    if (fsr_write_i32_attr(mg, "clients_evaluated", c->s->clients_evaluated, r->path) < 0) goto done;
    char now[64];
    fsr_iso_now(now, sizeof now);
    if (fsr_write_str_attr(mg, "finished", now, r->path) < 0 ||
        fsr_write_i32_attr(mg, "complete", 1, r->path) < 0)
        goto done;
    if (fsr_close(&mg) < 0) {
        fsr_fail_h5(r->path, "cannot write /%s/%s", r->cell, r->method);
        goto done;
    }
    /* The replacement takes the finished group's name (whose group the
     * rewrite left out), and the cell now describes its methods. */
    if ((cg = H5Gopen2(f, r->cell, H5P_DEFAULT)) < 0 ||
        (r->method[0] == FSR_PENDING &&
         H5Lmove(cg, r->method, cg, final_name(r), H5P_DEFAULT, H5P_DEFAULT) < 0)) {
        fsr_fail_h5(r->path, "cannot put /%s/%s in place of /%s/%s", r->cell, r->method, r->cell,
                    final_name(r));
        goto done;
    }
    if (fsr_stamp_method_identity(r, final_name(r)) && fsr_write_cell_stamp(r, cg) < 0) goto done;
    rc = 0;
done:
    if (fsr_close(&cg) < 0 && rc == 0)
        rc = fsr_fail_h5(r->path, "cannot write cell '%s'", r->cell);
    if (fsr_close(&mg) < 0 && rc == 0)
        rc = fsr_fail_h5(r->path, "cannot write /%s/%s", r->cell, r->method);
    fsr_close(&ds);
    fsr_close(&sp);
    fsr_close(&mt);
    fsr_close(&ft);
    return rc;
}

/* At finish, in the started cell: the finished group a replacement takes
 * the place of goes, and so does every other method whose cell_identity is
 * not the stamp's (results of another config, which a forced re-run keeps
 * only until its first method is complete; a group without one predates
 * identities). */
static bool keep_at_finish(hid_t g, const char *cell, const char *method, void *ctx)
{
    const fs_results *r = ctx;
    if (strcmp(cell, r->cell) != 0 || !strcmp(method, r->method)) return true;
    if (!strcmp(method, final_name(r))) return false;
    if (!fsr_stamp_method_identity(r, final_name(r))) return true;
    char *id = NULL;
    bool same = H5Aexists(g, "cell_identity") > 0 &&
                fsr_read_str_attr(g, "cell_identity", &id, r->path) == 0 &&
                !strcmp(id, r->stamp.cell_identity);
    free(id);
    return same;
}

int fs_results_finish(fs_results *r, const fs_final_row *rows, int n, const fs_summary *s)
{
    if (need_active(r, "fs_results_finish") < 0) return -1;
    if (n < 0 || (n > 0 && !rows) || !s)
        return fsr_fail(r->path, "fs_results_finish: bad arguments (%d rows%s)", n,
                        s ? "" : ", no summary");
    finish_ctx c = {rows, n, s};
    /* Finishing rewrites the whole file: HDF5 does not reuse space freed in
     * earlier sessions (object headers that grew as attributes were added
     * leave their old copies behind: about 2/3 of a sweep's file), so a fresh
     * copy per finished method keeps the file small. The same rewrite drops
     * what the finished method replaces. */
    int rc = fsr_rewrite(r, keep_at_finish, r, finish_fn, &c);
    if (rc == 0) r->active = false;
    return rc;
}

/* ---- remove ---- */

int fs_results_remove(fs_results *r, const char *cell, const char *method)
{
    char c[FSR_CELL_MAX], m[FSR_METHOD_MAX];
    if (!r) return fs_fail("fs_results_remove: no results file");
    fsr_quiet();
    if (fsr_sanitize(cell, c, sizeof c, "cell", r->path) < 0 ||
        fsr_sanitize(method, m, sizeof m, "method", r->path) < 0)
        return -1;
    char pending[FSR_METHOD_MAX];
    if (pending_name(m, pending, sizeof pending, r->path) < 0) return -1;
    int st = group_state(r->path, c, m), pst = group_state(r->path, c, pending);
    drop_ctx d = {c, m, pending};
    int rc = st < 0 || pst < 0 ? -1
             : st == ABSENT && pst == ABSENT ? 0
                                             : fsr_rewrite(r, keep_unless_dropped, &d, NULL, NULL);
    if (rc == 0 && r->active && strcmp(c, r->cell) == 0 && strcmp(m, final_name(r)) == 0)
        r->active = false;
    return rc;
}
