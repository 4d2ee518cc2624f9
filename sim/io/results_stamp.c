/* Results store: the stamp of a cell (fs_results_set_stamp) and the
 * attributes it becomes, which make a results file self-describing: a cell's
 * sweep values as typed attributes, its resolved config and provenance, and
 * on each method the identities a re-run compares with its own. */
#include "results_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_strings(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void fsr_stamp_free(fsr_stamp *s)
{
    free(s->cell_identity);
    free(s->config_yaml);
    free(s->provenance);
    free_strings(s->axis_keys, s->n_axes);
    free_strings(s->axis_values, s->n_axes);
    free(s->axis_types);
    free_strings(s->methods, s->n_methods);
    free_strings(s->method_identities, s->n_methods);
    memset(s, 0, sizeof *s);
}

/* Copies of v[0..n) (NULL taken as ""); false on OOM. */
static bool copy_strings(char ***out, int n, const char *const *v)
{
    if (!(*out = calloc((size_t)n + 1, sizeof **out))) return false;
    for (int i = 0; i < n; i++)
        if (!((*out)[i] = strdup(v[i] ? v[i] : ""))) return false;
    return true;
}

/* Copies of the axes' keys, values and types; false on OOM. */
static bool copy_axes(fsr_stamp *s, const fs_cell_axis *axes, int n)
{
    if (!(s->axis_keys = calloc((size_t)n + 1, sizeof *s->axis_keys)) ||
        !(s->axis_values = calloc((size_t)n + 1, sizeof *s->axis_values)) ||
        !(s->axis_types = calloc((size_t)n + 1, 1)))
        return false;
    s->n_axes = n;
    for (int i = 0; i < n; i++) {
        s->axis_types[i] = axes[i].type;
        if (!(s->axis_keys[i] = strdup(axes[i].key ? axes[i].key : "")) ||
            !(s->axis_values[i] = strdup(axes[i].value ? axes[i].value : "")))
            return false;
    }
    return true;
}

int fs_results_set_stamp(fs_results *r, const fs_results_stamp *st)
{
    if (!r) return fs_fail("fs_results_set_stamp: no results file");
    fsr_stamp_free(&r->stamp);
    r->have_stamp = false;
    if (!st) return 0;
    if (st->n_axes < 0 || st->n_methods < 0 || (st->n_axes && !st->axes) ||
        (st->n_methods && (!st->methods || !st->method_identities)))
        return fsr_fail(r->path, "fs_results_set_stamp: bad arguments (%d axes, %d methods)",
                        st->n_axes, st->n_methods);
    fsr_stamp *s = &r->stamp;
    if (fsr_sanitize(st->cell, s->cell, sizeof s->cell, "cell", r->path) < 0) return -1;
    s->n_methods = st->n_methods;
    bool ok = (s->cell_identity = strdup(st->cell_identity ? st->cell_identity : "")) &&
              (s->config_yaml = strdup(st->config_yaml ? st->config_yaml : "")) &&
              (s->provenance = strdup(st->provenance ? st->provenance : "")) &&
              copy_axes(s, st->axes, st->n_axes) &&
              copy_strings(&s->methods, st->n_methods, st->methods) &&
              copy_strings(&s->method_identities, st->n_methods, st->method_identities);
    if (!ok) {
        fsr_stamp_free(s);
        return fsr_fail(r->path, "out of memory");
    }
    /* Method names as the groups are named. */
    for (int i = 0; i < s->n_methods; i++)
        for (char *p = s->methods[i]; *p; p++)
            if (*p == '/') *p = '_';
    r->have_stamp = true;
    return 0;
}

const char *fsr_stamp_method_identity(const fs_results *r, const char *m)
{
    if (!r->have_stamp || strcmp(r->stamp.cell, r->cell) != 0) return NULL;
    for (int i = 0; i < r->stamp.n_methods; i++)
        if (!strcmp(r->stamp.methods[i], m)) return r->stamp.method_identities[i];
    return NULL;
}

int fsr_write_str_array_attr(hid_t obj, const char *name, const char *const *v, int n,
                             const char *file)
{
    hid_t sp = H5I_INVALID_HID, t = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    int rc = -1;
    htri_t e = H5Aexists(obj, name);
    if (e < 0 || (e > 0 && H5Adelete(obj, name) < 0) ||
        (sp = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_NULL)) < 0 ||
        (t = fsr_vstr_type()) < 0 || (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (n && H5Awrite(a, t, v) < 0))
        fsr_fail_h5(file, "cannot write attribute '%s'", name);
    else
        rc = 0;
    if (fsr_close(&a) < 0 && rc == 0) rc = fsr_fail_h5(file, "cannot write attribute '%s'", name);
    fsr_close(&t);
    fsr_close(&sp);
    return rc;
}

/* A sweep value as the attribute type the caller chose ('i', 'f', 's'). */
static int write_axis(hid_t g, const char *key, const char *value, char type, const char *file)
{
    char *end;
    errno = 0;
    if (type == 'i') {
        long long v = strtoll(value, &end, 10);
        if (errno == 0 && end != value && !*end) return fsr_write_i64_attr(g, key, v, file);
    } else if (type == 'f') {
        double v = strtod(value, &end); /* "inf" reads as infinity */
        if (end != value && !*end) return fsr_write_f64_attr(g, key, v, file);
    } else {
        return fsr_write_str_attr(g, key, value, file);
    }
    return fsr_fail(file, "sweep value %s=%s is not a%s number", key, value,
                    type == 'i' ? "n integer" : "");
}

int fsr_write_cell_stamp(const fs_results *r, hid_t g)
{
    const fsr_stamp *s = &r->stamp;
    if (fsr_write_str_attr(g, "identity", s->cell_identity, r->path) < 0 ||
        fsr_write_str_attr(g, "config_yaml", s->config_yaml, r->path) < 0 ||
        fsr_write_str_attr(g, "provenance", s->provenance, r->path) < 0 ||
        fsr_write_str_array_attr(g, "sweep_keys", (const char *const *)s->axis_keys, s->n_axes,
                                 r->path) < 0)
        return -1;
    for (int i = 0; i < s->n_axes; i++)
        if (write_axis(g, s->axis_keys[i], s->axis_values[i], s->axis_types[i], r->path) < 0)
            return -1;
    return 0;
}

#ifndef FEDSIM_VERSION
#define FEDSIM_VERSION "unknown"
#endif

int fsr_write_method_stamp(const fs_results *r, hid_t mg, const char *m)
{
    const char *id = fsr_stamp_method_identity(r, m);
    if (!id) return 0;
    if (fsr_write_str_attr(mg, "identity", id, r->path) < 0 ||
        fsr_write_str_attr(mg, "cell_identity", r->stamp.cell_identity, r->path) < 0 ||
        fsr_write_str_attr(mg, "provenance", r->stamp.provenance, r->path) < 0 ||
        fsr_write_str_attr(mg, "fedsim_version", FEDSIM_VERSION, r->path) < 0)
        return -1;
    return 0;
}
