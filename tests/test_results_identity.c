/* Results store, self-description and identities: a stamped cell carries its
 * sweep values as typed attributes, its config and provenance; methods carry
 * their identities; every column has its unit and the aggregate rows are
 * marked in a column of their own; finishing a method of another config
 * drops the cell's stale methods; files from before all this still read. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/results_helpers.h"
#include "tests/helpers/testutil.h"

static const fs_cell_axis axes[] = {{"data.partition.dirichlet_alpha", "inf", 'f'},
                                    {"seed", "7", 'i'},
                                    {"data.dataset", "synth-iconqa", 's'}};

static void stamp(fs_results *r, const char *cell_identity, const char *fedavg_identity)
{
    const char *methods[] = {"fedavg", "local"}, *ids[] = {fedavg_identity, "local-id"};
    fs_results_stamp s = {.cell = CELL, .cell_identity = cell_identity,
                          .config_yaml = "seed: 7\n", .provenance = "model 0123\n",
                          .axes = axes, .n_axes = 3, .methods = methods,
                          .method_identities = ids, .n_methods = 2};
    cr_assert_eq(fs_results_set_stamp(r, &s), 0, "%s", fs_last_error());
}

static hid_t open_h5(const char *path, const char *obj)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    cr_assert_geq(o, 0, "no %s", obj);
    H5Fclose(f); /* the object keeps the file open */
    return o;
}

/* The class of attribute name on obj, and its value as a double (numbers). */
static H5T_class_t attr_class(hid_t obj, const char *name, double *v)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    cr_assert_geq(a, 0, "no attribute '%s'", name);
    hid_t t = H5Aget_type(a);
    H5T_class_t c = H5Tget_class(t);
    if (v && c != H5T_STRING) cr_assert_geq(H5Aread(a, H5T_NATIVE_DOUBLE, v), 0);
    H5Tclose(t);
    H5Aclose(a);
    return c;
}

Test(results_identity, a_stamped_cell_describes_itself)
{
    const char *path = path_in(tu_tmpdir(), "s.h5");
    fs_results *r = fs_results_open(path);
    stamp(r, "cell-A", "fedavg-A");
    write_method(r, CELL, "fedavg", 0, 6, true);
    fs_results_close(r);

    hid_t g = open_h5(path, CELL);
    double v;
    cr_assert_eq(attr_class(g, "data.partition.dirichlet_alpha", &v), H5T_FLOAT);
    cr_assert(isinf(v), "alpha=inf stored as %g", v);
    cr_assert_eq(attr_class(g, "seed", &v), H5T_INTEGER);
    cr_assert_eq(v, 7);
    cr_assert_eq(attr_class(g, "data.dataset", NULL), H5T_STRING);
    cr_assert_eq(attr_class(g, "sweep_keys", NULL), H5T_STRING);
    cr_assert_eq(attr_class(g, "config_yaml", NULL), H5T_STRING);
    cr_assert_eq(attr_class(g, "provenance", NULL), H5T_STRING);
    H5Oclose(g);

    /* rows 2 and 5 are the aggregate rows (client -1): marked in their own column */
    char rounds[300];
    snprintf(rounds, sizeof rounds, "%s/fedavg/rounds", CELL);
    hid_t ds = open_h5(path, rounds);
    for (const char *const *c = (const char *const[]){"round", "client", "train_loss", "test_acc",
                                                       "global_acc", "bytes_up", "bytes_down",
                                                       "seconds", "is_aggregate", NULL};
         *c; c++)
        cr_assert_eq(attr_class(ds, *c, NULL), H5T_STRING, "column %s has no unit", *c);
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(int));
    H5Tinsert(mt, "is_aggregate", 0, H5T_NATIVE_INT);
    int agg[6];
    cr_assert_geq(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, agg), 0, "no is_aggregate column");
    for (int k = 0; k < 6; k++) cr_assert_eq(agg[k], make_row(0, k).client < 0, "row %d", k);
    hid_t a = H5Aopen(ds, "test_acc", H5P_DEFAULT), st = H5Aget_type(a);
    char *unit = NULL;
    hid_t vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    H5Tset_cset(vt, H5T_CSET_UTF8);
    cr_assert_geq(H5Aread(a, vt, &unit), 0);
    cr_assert(strstr(unit, "fraction 0-1"), "test_acc unit: %s", unit);
    H5free_memory(unit);
    H5Tclose(vt), H5Tclose(st), H5Aclose(a), H5Tclose(mt), H5Oclose(ds);

    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 1);
    cr_assert_str_eq(e[0].identity, "fedavg-A");
    cr_assert_str_eq(e[0].cell_identity, "cell-A");
    cr_assert_str_eq(e[0].provenance, "model 0123\n");
    fs_results_list_free(e, n);
    check_rounds(path, CELL, "fedavg", 0, 6); /* the C rows keep client = -1 */
}

/* A forced re-run under another config: until its first method finishes the
 * old methods stay; then the cell holds only methods of the new config. */
Test(results_identity, finishing_under_a_new_config_drops_the_cells_stale_methods)
{
    const char *path = path_in(tu_tmpdir(), "d.h5");
    fs_results *r = fs_results_open(path);
    stamp(r, "cell-A", "fedavg-A");
    write_method(r, CELL, "fedavg", 0, 3, true);
    write_method(r, CELL, "local", 1, 3, true);
    write_method(r, "other", "local", 2, 3, true); /* no stamp for this cell: untouched */
    stamp(r, "cell-B", "fedavg-B");
    write_method(r, CELL, "fedavg", 3, 3, false);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 3, "old methods gone before the new one finished");
    fs_results_list_free(e, n);
    fs_summary s = make_summary(3);
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), 0, "%s", fs_last_error());
    fs_results_close(r);
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 2, "%d groups", n);
    cr_assert(!strcmp(e[0].cell, CELL) && !strcmp(e[0].method, "fedavg") &&
              !strcmp(e[0].identity, "fedavg-B"));
    cr_assert(!strcmp(e[1].cell, "other"));
    fs_results_list_free(e, n);
    check_rounds(path, CELL, "fedavg", 3, 3);
    cr_assert_eq(fs_results_list_cell(path, "other", &e, &n), 0, "%s", fs_last_error());
    cr_assert(n == 1 && !strcmp(e[0].method, "local"), "one cell's listing: %d groups", n);
    fs_results_list_free(e, n);
    cr_assert_eq(fs_results_list_cell(path, "absent", &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 0);
}

/* A rounds table of the layout before is_aggregate and units (written here
 * with plain HDF5) reads through the API as before. */
Test(results_identity, a_file_from_before_identities_still_reads)
{
    const char *path = path_in(tu_tmpdir(), "old.h5");
    fs_results *r = fs_results_open(path); /* root attributes only */
    fs_results_close(r);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t c = H5Gcreate2(f, "c", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t m = H5Gcreate2(c, "fedavg", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(fs_round_row));
    H5Tinsert(t, "round", HOFFSET(fs_round_row, round), H5T_NATIVE_INT32);
    H5Tinsert(t, "client", HOFFSET(fs_round_row, client), H5T_NATIVE_INT32);
    H5Tinsert(t, "train_loss", HOFFSET(fs_round_row, train_loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "test_acc", HOFFSET(fs_round_row, test_acc), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "global_acc", HOFFSET(fs_round_row, global_acc), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "bytes_up", HOFFSET(fs_round_row, bytes_up), H5T_NATIVE_INT64);
    H5Tinsert(t, "bytes_down", HOFFSET(fs_round_row, bytes_down), H5T_NATIVE_INT64);
    H5Tinsert(t, "seconds", HOFFSET(fs_round_row, seconds), H5T_NATIVE_DOUBLE);
    fs_round_row rows[3] = {make_row(0, 0), make_row(0, 1), make_row(0, 2)};
    hsize_t dims[1] = {3};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(m, "rounds", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    int32_t one = 1;
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(m, "complete", H5T_NATIVE_INT32, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT32, &one);
    H5Aclose(a), H5Sclose(as), H5Dclose(ds), H5Sclose(sp), H5Tclose(t), H5Gclose(m),
        H5Gclose(c), H5Fclose(f);

    check_rounds(path, "c", "fedavg", 0, 3);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 1);
    cr_assert(e[0].complete);
    cr_assert_str_eq(e[0].identity, "", "an old group has no identity");
    fs_results_list_free(e, n);
}
