/* Results store, reading side: listing, rounds/final tables, partitions.
 * Files are opened read-only and closed before returning, so reading while a
 * sweep writes the same path is safe (the writer replaces it by rename). */
#include "results_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills e from the method group mg. */
static int read_entry(hid_t mg, const char *path, fs_result_entry *e)
{
    htri_t ex = H5Aexists(mg, "complete");
    int32_t done = 0;
    if (ex < 0) return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
    if (ex > 0 && fsr_read_i32_attr(mg, "complete", &done, path) < 0) return -1;
    e->complete = done != 0;
    if (e->complete) {
        /* Files written before an attribute existed read it as NaN (-1 for the count). */
        for (int i = 0; i < FSR_SUMMARY_DOUBLES; i++) {
            double *v = (double *)(void *)((char *)&e->summary + fsr_summary_doubles[i].offset);
            *v = NAN;
            ex = H5Aexists(mg, fsr_summary_doubles[i].name);
            if (ex < 0) return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
            if (ex > 0 && fsr_read_f64_attr(mg, fsr_summary_doubles[i].name, v, path) < 0) return -1;
        }
        e->summary.clients_evaluated = -1;
        ex = H5Aexists(mg, "clients_evaluated");
        if (ex < 0) return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
        if (ex > 0 && fsr_read_i32_attr(mg, "clients_evaluated", &e->summary.clients_evaluated,
                                        path) < 0)
            return -1;
    }
    ex = H5Aexists(mg, "config_yaml");
    if (ex < 0) return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
    if (ex > 0) {
        if (fsr_read_str_attr(mg, "config_yaml", &e->config_yaml, path) < 0) return -1;
    } else if (!(e->config_yaml = strdup(""))) {
        return fsr_fail(path, "out of memory");
    }
    /* Written since identities exist; absent (left "") in older files. */
    const char *ids[2] = {"identity", "cell_identity"};
    char *dst[2] = {e->identity, e->cell_identity};
    for (int i = 0; i < 2; i++) {
        char *v = NULL;
        if ((ex = H5Aexists(mg, ids[i])) < 0)
            return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
        if (ex > 0 && fsr_read_str_attr(mg, ids[i], &v, path) < 0) return -1;
        snprintf(dst[i], sizeof e->identity, "%s", v ? v : "");
        free(v);
    }
    if ((ex = H5Aexists(mg, "provenance")) < 0)
        return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
    if (ex > 0 ? fsr_read_str_attr(mg, "provenance", &e->provenance, path) < 0
               : !(e->provenance = strdup("")))
        return ex > 0 ? -1 : fsr_fail(path, "out of memory");
    ex = H5Lexists(mg, "rounds", H5P_DEFAULT);
    if (ex < 0) return fsr_fail_h5(path, "cannot read /%s/%s", e->cell, e->method);
    if (ex > 0) {
        hid_t ds = H5Dopen2(mg, "rounds", H5P_DEFAULT), sp = H5I_INVALID_HID;
        hssize_t np = -1;
        if (ds >= 0 && (sp = H5Dget_space(ds)) >= 0) np = H5Sget_simple_extent_npoints(sp);
        if (np < 0) fsr_fail_h5(path, "cannot read /%s/%s/rounds", e->cell, e->method);
        fsr_close(&sp);
        fsr_close(&ds);
        if (np < 0) return -1;
        e->n_rounds_rows = (int)np;
    }
    return 0;
}

/* The groups of every cell, or of the one named only (absent: none). */
static int list_groups(const char *path, const char *only, fs_result_entry **entries, int *n)
{
    *entries = NULL;
    *n = 0;
    hid_t f = fsr_open_ro(path), cg = H5I_INVALID_HID, mg = H5I_INVALID_HID;
    if (f < 0) return -1;
    char **cells = NULL, **methods = NULL;
    int ncells = 0, nmethods = 0, count = 0, cap = 0, rc = -1;
    fs_result_entry *out = NULL;
    htri_t e = only ? H5Lexists(f, only, H5P_DEFAULT) : 1;
    if (e < 0) {
        fsr_fail_h5(path, "cannot look up cell '%s'", only);
        goto done;
    }
    if (!only) {
        if (fsr_list_groups(f, path, &cells, &ncells) < 0) goto done;
    } else if (e > 0) {
        if (!(cells = calloc(1, sizeof *cells)) || !(cells[0] = strdup(only))) {
            fsr_fail(path, "out of memory listing results");
            goto done;
        }
        ncells = 1;
    }
    for (int i = 0; i < ncells; i++) {
        if ((cg = H5Gopen2(f, cells[i], H5P_DEFAULT)) < 0) {
            fsr_fail_h5(path, "cannot open cell '%s'", cells[i]);
            goto done;
        }
        if (fsr_list_groups(cg, path, &methods, &nmethods) < 0) goto done;
        for (int j = 0; j < nmethods; j++) {
            if (methods[j][0] == FSR_PENDING) continue; /* a replacement in progress */
            if (count == cap) {
                int nc = cap ? 2 * cap : 16;
                fs_result_entry *p = realloc(out, (size_t)nc * sizeof *p);
                if (!p) {
                    fsr_fail(path, "out of memory listing results");
                    goto done;
                }
                out = p;
                cap = nc;
            }
            fs_result_entry *e = &out[count++];
            memset(e, 0, sizeof *e);
            snprintf(e->cell, sizeof e->cell, "%s", cells[i]);
            snprintf(e->method, sizeof e->method, "%s", methods[j]);
            if ((mg = H5Gopen2(cg, methods[j], H5P_DEFAULT)) < 0) {
                fsr_fail_h5(path, "cannot open /%s/%s", cells[i], methods[j]);
                goto done;
            }
            if (read_entry(mg, path, e) < 0) goto done;
            fsr_close(&mg);
        }
        fsr_free_names(methods, nmethods);
        methods = NULL;
        nmethods = 0;
        fsr_close(&cg);
    }
    rc = 0;
done:
    fsr_close(&mg);
    fsr_close(&cg);
    fsr_close(&f);
    fsr_free_names(cells, ncells);
    fsr_free_names(methods, nmethods);
    if (rc < 0) {
        fs_results_list_free(out, count);
        return -1;
    }
    *entries = out;
    *n = count;
    return 0;
}

int fs_results_list(const char *path, fs_result_entry **entries, int *n)
{
    return list_groups(path, NULL, entries, n);
}

int fs_results_list_cell(const char *path, const char *cell, fs_result_entry **entries, int *n)
{
    char c[FSR_CELL_MAX];
    *entries = NULL;
    *n = 0;
    if (fsr_sanitize(cell, c, sizeof c, "cell", path) < 0) return -1;
    return list_groups(path, c, entries, n);
}

void fs_results_list_free(fs_result_entry *e, int n)
{
    if (!e) return;
    for (int i = 0; i < n; i++) free(e[i].config_yaml), free(e[i].provenance);
    free(e);
}

/* Reads the 1-D compound dataset `name` of /<cell>/<method> into a malloc'd
 * array of elem-byte structs (memory type from make_type). */
static int read_table(const char *path, const char *cell, const char *method, const char *name,
                      hid_t (*make_type)(void), size_t elem, void **rows, int *n)
{
    *rows = NULL;
    *n = 0;
    hid_t f = fsr_open_ro(path), mg = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    void *buf = NULL;
    int rc = -1;
    if (f < 0 || (mg = fsr_open_method(f, path, cell, method)) < 0) goto done;
    htri_t e = H5Lexists(mg, name, H5P_DEFAULT);
    if (e == 0) {
        fsr_fail(path, "/%s/%s has no '%s' table%s", cell, method, name,
                 strcmp(name, "final") == 0 ? " (the method did not finish)" : "");
        goto done;
    }
    hssize_t np = -1;
    if (e < 0 || (ds = H5Dopen2(mg, name, H5P_DEFAULT)) < 0 || (sp = H5Dget_space(ds)) < 0 ||
        H5Sget_simple_extent_ndims(sp) != 1 || (np = H5Sget_simple_extent_npoints(sp)) < 0 ||
        np > 1 << 30 || (mt = make_type()) < 0) {
        fsr_fail_h5(path, "cannot read /%s/%s/%s", cell, method, name);
        goto done;
    }
    if (np > 0) {
        if (!(buf = fs_alloc_or_fail(NULL, (size_t)np * elem,
                                     "read it on a machine with more memory",
                                     "the %lld rows of /%s/%s/%s in results file '%s'",
                                     (long long)np, cell, method, name, path)))
            goto done;
        if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            fsr_fail_h5(path, "cannot read /%s/%s/%s", cell, method, name);
            goto done;
        }
    }
    *rows = buf;
    *n = (int)np;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    fsr_close(&mt);
    fsr_close(&sp);
    fsr_close(&ds);
    fsr_close(&mg);
    fsr_close(&f);
    return rc;
}

int fs_results_read_rounds(const char *path, const char *cell, const char *method,
                           fs_round_row **rows, int *n)
{
    void *p = NULL;
    int rc = read_table(path, cell, method, "rounds", fsr_round_mem_type, sizeof(fs_round_row),
                        &p, n);
    *rows = p;
    return rc;
}

int fs_results_read_final(const char *path, const char *cell, const char *method,
                          fs_final_row **rows, int *n)
{
    void *p = NULL;
    int rc = read_table(path, cell, method, "final", fsr_final_mem_type, sizeof(fs_final_row),
                        &p, n);
    *rows = p;
    return rc;
}

int fs_results_read_partition(const char *path, const char *cell, const char *method,
                              fs_partition *out)
{
    memset(out, 0, sizeof *out);
    hid_t f = fsr_open_ro(path), mg = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID;
    int rc = -1, ncat = 0;
    if (f < 0 || (mg = fsr_open_method(f, path, cell, method)) < 0) goto done;
    htri_t e = H5Lexists(mg, "partition", H5P_DEFAULT);
    if (e == 0) {
        fsr_fail(path, "/%s/%s has no partition", cell, method);
        goto done;
    }
    hsize_t dims[2] = {0, 0};
    if (e < 0 || (ds = H5Dopen2(mg, "partition", H5P_DEFAULT)) < 0 ||
        (sp = H5Dget_space(ds)) < 0 || H5Sget_simple_extent_ndims(sp) != 2 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || dims[0] > 1 << 20 || dims[1] > 1 << 20) {
        fsr_fail_h5(path, "cannot read /%s/%s/partition (expected a 2-D table)", cell, method);
        goto done;
    }
    out->clients = (int)dims[0];
    out->categories = (int)dims[1];
    if (!(out->counts = calloc(dims[0] * dims[1] + 1, sizeof *out->counts))) {
        fsr_fail(path, "out of memory reading /%s/%s/partition", cell, method);
        goto done;
    }
    if (dims[0] * dims[1] > 0 &&
        H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->counts) < 0) {
        fsr_fail_h5(path, "cannot read /%s/%s/partition", cell, method);
        goto done;
    }
    if (fsr_read_str_array_attr(ds, "categories", &out->category_names, &ncat, path) < 0)
        goto done;
    if (ncat != out->categories) {
        fsr_fail(path, "/%s/%s/partition has %d columns but %d category names", cell, method,
                 out->categories, ncat);
        goto done;
    }
    if (fsr_read_str_attr(ds, "key", &out->key, path) < 0) goto done;
    rc = 0;
done:
    fsr_close(&sp);
    fsr_close(&ds);
    fsr_close(&mg);
    fsr_close(&f);
    if (rc < 0) {
        if (out->category_names) out->categories = ncat; /* free what was read */
        fs_partition_free(out);
    }
    return rc;
}

void fs_partition_free(fs_partition *p)
{
    if (!p) return;
    if (p->category_names)
        for (int i = 0; i < p->categories; i++) free(p->category_names[i]);
    free(p->category_names);
    free(p->counts);
    free(p->key);
    memset(p, 0, sizeof *p);
}
