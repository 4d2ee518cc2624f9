/* HDF5 helpers shared by the results writer and reader: error messages that
 * name the file, compound types, string/number attributes, name sanitising. */
#include "results_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SUMMARY_DOUBLE(f) {#f, offsetof(fs_summary, f)}
const fsr_summary_double fsr_summary_doubles[FSR_SUMMARY_DOUBLES] = {
    SUMMARY_DOUBLE(mean_acc),  SUMMARY_DOUBLE(worst_acc),   SUMMARY_DOUBLE(global_acc),
    SUMMARY_DOUBLE(upload_mb), SUMMARY_DOUBLE(download_mb), SUMMARY_DOUBLE(client_storage_mb),
    SUMMARY_DOUBLE(seconds),   SUMMARY_DOUBLE(sample_weighted_acc)};

void fsr_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- errors ---- */

typedef struct {
    char desc[320];
} walk_ctx;

static herr_t walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    walk_ctx *c = data;
    if (err && err->desc && err->desc[0]) snprintf(c->desc, sizeof c->desc, "%s", err->desc);
    return 0;
}

static int vfail(const char *file, bool h5, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    walk_ctx c = {{0}};
    /* The innermost entry of HDF5's error stack is the most specific cause
     * ("truncated file: eof = ...", "unable to open file: ... errno = 2"). */
    if (h5) H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &c);
    if (c.desc[0]) return fs_fail("results file '%s': %s (HDF5: %s)", file, msg, c.desc);
    return fs_fail("results file '%s': %s", file, msg);
}

int fsr_fail_h5(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(file, true, fmt, ap);
    va_end(ap);
    return -1;
}

int fsr_fail(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(file, false, fmt, ap);
    va_end(ap);
    return -1;
}

int fsr_close(hid_t *id)
{
    if (*id < 0) return 0;
    herr_t rc = -1;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: rc = H5Fclose(*id); break;
    case H5I_GROUP: rc = H5Gclose(*id); break;
    case H5I_DATASET: rc = H5Dclose(*id); break;
    case H5I_DATASPACE: rc = H5Sclose(*id); break;
    case H5I_DATATYPE: rc = H5Tclose(*id); break;
    case H5I_ATTR: rc = H5Aclose(*id); break;
    case H5I_GENPROP_LST: rc = H5Pclose(*id); break;
    default: rc = -1; break; /* already closed (e.g. by a strong file close) */
    }
    *id = H5I_INVALID_HID;
    return rc < 0 ? -1 : 0;
}

hid_t fsr_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
#if H5_VERSION_GE(1, 12, 1) || (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 11, 0))
    /* Keep HDF5's locks, but do not fail on file systems without flock. */
    if (H5Pset_file_locking(fapl, 1, 1) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
#endif
    return fapl;
}

int fsr_sanitize(const char *name, char *out, size_t cap, const char *what, const char *file)
{
    if (!name || !name[0]) return fsr_fail(file, "empty %s name", what);
    size_t n = strlen(name);
    if (n >= cap)
        return fsr_fail(file, "%s name '%.40s...' is too long (%zu bytes, at most %zu)", what,
                        name, n, cap - 1);
    for (size_t i = 0; i <= n; i++) out[i] = name[i] == '/' ? '_' : name[i];
    if (strcmp(out, ".") == 0) out[0] = '_';
    return 0;
}

/* ---- opening ---- */

hid_t fsr_open_ro(const char *path)
{
    fsr_quiet();
    struct stat st;
    if (stat(path, &st) != 0) return fsr_fail(path, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return fsr_fail(path, "is a directory, not a results file");
    htri_t is = H5Fis_hdf5(path);
    if (is < 0) return fsr_fail_h5(path, "cannot read the file");
    if (is == 0)
        return fsr_fail(path, "not an HDF5 file (expected a fedsim results .h5 file)");
    hid_t fapl = fsr_fapl();
    if (fapl < 0) return fsr_fail_h5(path, "cannot create a file access property list");
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) {
        fsr_fail_h5(path, "cannot open: the file is damaged or truncated");
        fsr_close(&fapl);
        return H5I_INVALID_HID;
    }
    fsr_close(&fapl);
    htri_t e = H5Aexists(f, "fedsim_version");
    if (e <= 0) {
        if (e < 0)
            fsr_fail_h5(path, "cannot read the root attributes: the file is damaged");
        else
            fsr_fail(path, "not a fedsim results file (no 'fedsim_version' attribute on '/')");
        fsr_close(&f);
        return H5I_INVALID_HID;
    }
    return f;
}

hid_t fsr_open_method(hid_t file, const char *path, const char *cell, const char *method)
{
    char c[FSR_CELL_MAX], m[FSR_METHOD_MAX];
    if (fsr_sanitize(cell, c, sizeof c, "cell", path) < 0 ||
        fsr_sanitize(method, m, sizeof m, "method", path) < 0)
        return H5I_INVALID_HID;
    htri_t e = H5Lexists(file, c, H5P_DEFAULT);
    if (e < 0) return fsr_fail_h5(path, "cannot look up cell '%s'", c);
    if (e == 0) return fsr_fail(path, "no cell '%s'", c);
    hid_t g = H5Gopen2(file, c, H5P_DEFAULT);
    if (g < 0) return fsr_fail_h5(path, "cannot open cell '%s'", c);
    hid_t mg = H5I_INVALID_HID;
    e = H5Lexists(g, m, H5P_DEFAULT);
    if (e < 0)
        fsr_fail_h5(path, "cannot look up method '%s' in cell '%s'", m, c);
    else if (e == 0)
        fsr_fail(path, "no method '%s' in cell '%s'", m, c);
    else if ((mg = H5Gopen2(g, m, H5P_DEFAULT)) < 0)
        fsr_fail_h5(path, "cannot open /%s/%s", c, m);
    fsr_close(&g);
    return mg;
}

/* ---- compound types ---- */

enum { K_I32, K_I64, K_F64 };
typedef struct {
    const char *name;
    size_t offset;
    int kind;
    const char *units; /* its meaning and unit, stored as the column's attribute */
} field;

#define ROUND_FIELD(f, kind, units) {#f, offsetof(fs_round_row, f), kind, units}
static const field round_fields[] = {
    ROUND_FIELD(round, K_I32, "round index: 0 = the untuned adapters, then 1..federation.rounds"),
    ROUND_FIELD(client, K_I32, "client index 0..clients-1; -1 on the aggregate row"),
    ROUND_FIELD(train_loss, K_F64, "mean cross-entropy (nats per answer token) of the round's "
                                   "local training; NaN for a client that did not take part"),
    ROUND_FIELD(test_acc, K_F64, "accuracy on the client's own test split, fraction 0-1 (the "
                                 "aggregate row: mean over clients); NaN when not evaluated"),
    ROUND_FIELD(global_acc, K_F64, "accuracy on the shared global test set, fraction 0-1; NaN "
                                   "when not evaluated"),
    ROUND_FIELD(bytes_up, K_I64, "bytes uploaded this round (the aggregate row: all clients)"),
    ROUND_FIELD(bytes_down, K_I64, "bytes downloaded this round (the aggregate row: all clients)"),
    ROUND_FIELD(seconds, K_F64, "seconds of wall time since the method started, cumulative"),
};
static const field aggregate_field = {"is_aggregate", offsetof(fsr_round_record, is_aggregate),
                                      K_I32, "1: the round's aggregate row over all clients; "
                                             "0: one client's row"};

#define FINAL_FIELD(f, kind, units) {#f, offsetof(fs_final_row, f), kind, units}
static const field final_fields[] = {
    FINAL_FIELD(client, K_I32, "client index 0..clients-1"),
    FINAL_FIELD(n_train, K_I32, "training examples of the client (count)"),
    FINAL_FIELD(n_test, K_I32, "test examples of the client (count)"),
    FINAL_FIELD(test_acc, K_F64, "final accuracy on the client's own test split, fraction 0-1"),
    FINAL_FIELD(global_acc, K_F64, "final accuracy on the shared global test set, fraction 0-1"),
};

/* Memory layout (struct offsets, native types) or the file layout (packed,
 * little-endian, the same field names). */
static hid_t make_compound(const field *f, int n, size_t struct_size, bool file)
{
    size_t packed = 0;
    for (int i = 0; i < n; i++) packed += f[i].kind == K_I32 ? 4 : 8;
    hid_t t = H5Tcreate(H5T_COMPOUND, file ? packed : struct_size);
    if (t < 0) return t;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        hid_t mt = f[i].kind == K_I32   ? (file ? H5T_STD_I32LE : H5T_NATIVE_INT32)
                   : f[i].kind == K_I64 ? (file ? H5T_STD_I64LE : H5T_NATIVE_INT64)
                                        : (file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
        if (H5Tinsert(t, f[i].name, file ? off : f[i].offset, mt) < 0) {
            H5Tclose(t);
            return H5I_INVALID_HID;
        }
        off += f[i].kind == K_I32 ? 4 : 8;
    }
    return t;
}

#define NFIELDS(a) ((int)(sizeof a / sizeof a[0]))
hid_t fsr_round_mem_type(void)
{
    return make_compound(round_fields, NFIELDS(round_fields), sizeof(fs_round_row), false);
}
/* The columns of a record: the row's, then is_aggregate. */
static hid_t round_record_compound(bool file)
{
    field f[NFIELDS(round_fields) + 1];
    memcpy(f, round_fields, sizeof round_fields);
    f[NFIELDS(round_fields)] = aggregate_field;
    return make_compound(f, NFIELDS(f), sizeof(fsr_round_record), file);
}
hid_t fsr_round_file_type(void) { return round_record_compound(true); }
hid_t fsr_round_record_type(void) { return round_record_compound(false); }
hid_t fsr_final_mem_type(void)
{
    return make_compound(final_fields, NFIELDS(final_fields), sizeof(fs_final_row), false);
}
hid_t fsr_final_file_type(void)
{
    return make_compound(final_fields, NFIELDS(final_fields), sizeof(fs_final_row), true);
}

int fsr_write_column_units(hid_t ds, bool rounds, const char *file)
{
    const field *f = rounds ? round_fields : final_fields;
    int n = rounds ? NFIELDS(round_fields) : NFIELDS(final_fields);
    for (int i = 0; i < n; i++)
        if (fsr_write_str_attr(ds, f[i].name, f[i].units, file) < 0) return -1;
    return rounds ? fsr_write_str_attr(ds, aggregate_field.name, aggregate_field.units, file) : 0;
}

hid_t fsr_vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* ---- attributes ---- */

/* Writes a scalar attribute; replace: delete an existing one first (strings),
 * otherwise an existing attribute is overwritten in place. */
static int write_scalar(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v,
                        bool replace, const char *file)
{
    hid_t s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int rc = -1;
    htri_t e = H5Aexists(obj, name);
    if (e < 0) {
        fsr_fail_h5(file, "cannot look up attribute '%s'", name);
        goto done;
    }
    if (e > 0 && replace && H5Adelete(obj, name) < 0) {
        fsr_fail_h5(file, "cannot replace attribute '%s'", name);
        goto done;
    }
    if (e > 0 && !replace) {
        if ((a = H5Aopen(obj, name, H5P_DEFAULT)) < 0) {
            fsr_fail_h5(file, "cannot open attribute '%s'", name);
            goto done;
        }
    } else if ((s = H5Screate(H5S_SCALAR)) < 0 ||
               (a = H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        fsr_fail_h5(file, "cannot create attribute '%s'", name);
        goto done;
    }
    if (H5Awrite(a, mtype, v) < 0) {
        fsr_fail_h5(file, "cannot write attribute '%s'", name);
        goto done;
    }
    rc = 0;
done:
    if (fsr_close(&a) < 0 && rc == 0) rc = fsr_fail_h5(file, "cannot close attribute '%s'", name);
    fsr_close(&s);
    return rc;
}

int fsr_write_str_attr(hid_t obj, const char *name, const char *value, const char *file)
{
    hid_t t = fsr_vstr_type();
    if (t < 0) return fsr_fail_h5(file, "cannot create a string type");
    const char *v = value ? value : "";
    int rc = write_scalar(obj, name, t, t, &v, true, file);
    fsr_close(&t);
    return rc;
}

int fsr_write_f64_attr(hid_t obj, const char *name, double v, const char *file)
{
    return write_scalar(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, false, file);
}

int fsr_write_i32_attr(hid_t obj, const char *name, int32_t v, const char *file)
{
    return write_scalar(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v, false, file);
}

int fsr_write_i64_attr(hid_t obj, const char *name, int64_t v, const char *file)
{
    return write_scalar(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, false, file);
}

/* Opens attribute `name`, returning its type and space; checks the class. */
static hid_t open_attr(hid_t obj, const char *name, H5T_class_t want, hid_t *ftype, hid_t *space,
                       const char *file)
{
    htri_t e = H5Aexists(obj, name);
    if (e < 0) return fsr_fail_h5(file, "cannot look up attribute '%s'", name);
    if (e == 0) return fsr_fail(file, "missing attribute '%s'", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return fsr_fail_h5(file, "cannot open attribute '%s'", name);
    *ftype = H5Aget_type(a);
    *space = H5Aget_space(a);
    H5T_class_t cls = *ftype >= 0 ? H5Tget_class(*ftype) : H5T_NO_CLASS;
    bool ok_class =
        want == H5T_STRING ? cls == H5T_STRING : (cls == H5T_INTEGER || cls == H5T_FLOAT);
    if (*ftype < 0 || *space < 0 || !ok_class) {
        if (*ftype < 0 || *space < 0)
            fsr_fail_h5(file, "cannot read attribute '%s'", name);
        else
            fsr_fail(file, "attribute '%s' has the wrong type (expected %s)", name,
                     want == H5T_STRING ? "a string" : "a number");
        fsr_close(ftype);
        fsr_close(space);
        fsr_close(&a);
        return H5I_INVALID_HID;
    }
    return a;
}

static int read_number(hid_t obj, const char *name, hid_t mtype, void *v, const char *file)
{
    hid_t ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hid_t a = open_attr(obj, name, H5T_FLOAT, &ft, &sp, file);
    if (a < 0) return -1;
    int rc = 0;
    if (H5Sget_simple_extent_npoints(sp) != 1)
        rc = fsr_fail(file, "attribute '%s' is not a single number", name);
    else if (H5Aread(a, mtype, v) < 0)
        rc = fsr_fail_h5(file, "cannot read attribute '%s'", name);
    fsr_close(&ft);
    fsr_close(&sp);
    fsr_close(&a);
    return rc;
}

int fsr_read_f64_attr(hid_t obj, const char *name, double *v, const char *file)
{
    return read_number(obj, name, H5T_NATIVE_DOUBLE, v, file);
}

int fsr_read_i32_attr(hid_t obj, const char *name, int32_t *v, const char *file)
{
    return read_number(obj, name, H5T_NATIVE_INT32, v, file);
}

/* Reads n strings of attribute a (file type ft, space sp) into out[0..n). */
static int read_strings(hid_t a, hid_t ft, hid_t sp, int n, char **out, const char *name,
                        const char *file)
{
    int rc = -1;
    hid_t mt = H5Tcopy(H5T_C_S1);
    htri_t vl = H5Tis_variable_str(ft);
    H5T_cset_t cset = H5Tget_cset(ft);
    size_t fsz = H5Tget_size(ft);
    if (mt < 0 || vl < 0 || cset < 0 || fsz == 0 || H5Tset_cset(mt, cset) < 0 ||
        H5Tset_size(mt, vl ? H5T_VARIABLE : fsz + 1) < 0 ||
        (!vl && H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0)) {
        fsr_fail_h5(file, "cannot read attribute '%s'", name);
        goto done;
    }
    if (vl) {
        char **buf = calloc((size_t)n + 1, sizeof *buf);
        if (!buf) goto oom;
        if (H5Aread(a, mt, buf) < 0) {
            free(buf);
            fsr_fail_h5(file, "cannot read attribute '%s'", name);
            goto done;
        }
        rc = 0;
        for (int i = 0; i < n; i++)
            if (!(out[i] = strdup(buf[i] ? buf[i] : ""))) rc = -1;
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
        free(buf);
        if (rc < 0) goto oom;
    } else {
        char *buf = calloc((size_t)n, fsz + 1);
        if (!buf) goto oom;
        if (H5Aread(a, mt, buf) < 0) {
            free(buf);
            fsr_fail_h5(file, "cannot read attribute '%s'", name);
            goto done;
        }
        rc = 0;
        for (int i = 0; i < n; i++)
            if (!(out[i] = strndup(buf + (size_t)i * (fsz + 1), fsz))) rc = -1;
        free(buf);
        if (rc < 0) goto oom;
    }
    goto done;
oom:
    rc = fsr_fail(file, "out of memory reading attribute '%s'", name);
done:
    fsr_close(&mt);
    return rc;
}

int fsr_read_str_attr(hid_t obj, const char *name, char **out, const char *file)
{
    *out = NULL;
    hid_t ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hid_t a = open_attr(obj, name, H5T_STRING, &ft, &sp, file);
    if (a < 0) return -1;
    int rc;
    if (H5Sget_simple_extent_npoints(sp) != 1)
        rc = fsr_fail(file, "attribute '%s' is not a single string", name);
    else
        rc = read_strings(a, ft, sp, 1, out, name, file);
    fsr_close(&ft);
    fsr_close(&sp);
    fsr_close(&a);
    return rc;
}

int fsr_read_str_array_attr(hid_t obj, const char *name, char ***out, int *n, const char *file)
{
    *out = NULL;
    *n = 0;
    hid_t ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hid_t a = open_attr(obj, name, H5T_STRING, &ft, &sp, file);
    if (a < 0) return -1;
    int rc = -1;
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    char **v = NULL;
    if (np < 0 || np > 1 << 24) {
        fsr_fail_h5(file, "cannot read the size of attribute '%s'", name);
    } else if (!(v = calloc((size_t)np + 1, sizeof *v))) {
        fsr_fail(file, "out of memory reading attribute '%s'", name);
    } else if ((rc = read_strings(a, ft, sp, (int)np, v, name, file)) == 0) {
        *out = v;
        *n = (int)np;
    } else {
        for (hssize_t i = 0; i < np; i++) free(v[i]);
        free(v);
    }
    fsr_close(&ft);
    fsr_close(&sp);
    fsr_close(&a);
    return rc;
}

void fsr_iso_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "unknown");
}

/* ---- listing ---- */

typedef struct {
    char **names;
    int n, cap;
    bool oom;
} name_list;

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    name_list *l = data;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->names, (size_t)cap * sizeof *p);
        if (!p) {
            l->oom = true;
            return -1;
        }
        l->names = p;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) {
        l->oom = true;
        return -1;
    }
    l->n++;
    return 0;
}

void fsr_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int fsr_list_groups(hid_t g, const char *file, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    name_list l = {0};
    herr_t rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, link_cb, &l);
    if (rc < 0 && !l.oom) { /* no creation-order index: a file written by another tool */
        fsr_free_names(l.names, l.n);
        memset(&l, 0, sizeof l);
        rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, link_cb, &l);
    }
    if (rc < 0) {
        fsr_free_names(l.names, l.n);
        return l.oom ? fsr_fail(file, "out of memory listing groups")
                     : fsr_fail_h5(file, "cannot list the groups");
    }
    int k = 0;
    for (int i = 0; i < l.n; i++) {
        /* keep links that resolve to groups (skip datasets, dangling links) */
        bool keep = false;
        if (H5Oexists_by_name(g, l.names[i], H5P_DEFAULT) > 0) {
            hid_t o = H5Oopen(g, l.names[i], H5P_DEFAULT);
            if (o >= 0) {
                keep = H5Iget_type(o) == H5I_GROUP;
                H5Oclose(o);
            }
        }
        if (keep)
            l.names[k++] = l.names[i];
        else
            free(l.names[i]);
    }
    *names = l.names;
    *n = k;
    return 0;
}
