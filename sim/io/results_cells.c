/* Results store: whole cells copied from another results file, the way
 * `fedsim sweep --jobs N` hands a cell to a job process and takes it back
 * (sim/cli/sweep_jobs.c). One copy-on-write commit (results_cow.c). */
#include "results_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    hid_t from;   /* the other file, open read-only */
    char **cells; /* its cells that are copied */
    int n;
} cell_source;

static bool is_copied(const cell_source *s, const char *cell)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->cells[i], cell)) return true;
    return false;
}

/* Writes a fresh working copy: r's cells in their order, each copied one
 * taken from s->from instead, then s's cells that r lacked. */
static int write_with_cells(fs_results *r, const cell_source *s)
{
    hid_t src = fsr_open_ro(r->path), dst = H5I_INVALID_HID;
    char **cells = NULL;
    int ncells = 0, rc = -1;
    if (src < 0 || (dst = fsr_create_tmp(r, src)) < 0 ||
        fsr_list_groups(src, r->path, &cells, &ncells) < 0)
        goto done;
    for (int i = 0; i < ncells; i++) {
        bool theirs = is_copied(s, cells[i]);
        if (H5Ocopy(theirs ? s->from : src, cells[i], dst, cells[i], H5P_DEFAULT, H5P_DEFAULT) < 0) {
            fsr_fail_h5(r->path, "cannot copy cell '%s'", cells[i]);
            goto done;
        }
    }
    for (int j = 0; j < s->n; j++) {
        htri_t there = H5Lexists(dst, s->cells[j], H5P_DEFAULT);
        if (there < 0 || (!there && H5Ocopy(s->from, s->cells[j], dst, s->cells[j], H5P_DEFAULT,
                                            H5P_DEFAULT) < 0)) {
            fsr_fail_h5(r->path, "cannot copy cell '%s'", s->cells[j]);
            goto done;
        }
    }
    rc = 0;
done:
    fsr_free_names(cells, ncells);
    fsr_close(&src);
    return fsr_close_and_commit(r, &dst, rc);
}

int fs_results_copy_cells(fs_results *r, const char *from, const char *cell, int *copied)
{
    fsr_quiet();
    if (copied) *copied = 0;
    char only[FSR_CELL_MAX];
    if (cell && fsr_sanitize(cell, only, sizeof only, "cell", r->path) < 0) return -1;
    cell_source s = {.from = fsr_open_ro(from)};
    char **all = NULL;
    int nall = 0, rc = -1;
    if (s.from < 0 || fsr_list_groups(s.from, from, &all, &nall) < 0) goto done;
    /* The cells to copy: all of from's, or the one asked for (when present). */
    s.cells = all;
    s.n = nall;
    if (cell) {
        s.n = 0;
        for (int i = 0; i < nall && !s.n; i++)
            if (!strcmp(all[i], only)) s.cells = &all[i], s.n = 1;
    }
    rc = 0;
    if (s.n && fsr_remove_tmp(r) == 0) rc = write_with_cells(r, &s);
    else if (s.n) rc = -1;
    if (rc == 0 && copied) *copied = s.n;
done:
    fsr_free_names(all, nall);
    fsr_close(&s.from);
    return rc;
}
