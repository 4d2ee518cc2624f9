/* Results store: exact round trips of every table and attribute, appends in
 * several calls, restart of a killed method, replacement of a finished one,
 * many cells and methods in one file, one writer at a time, clear errors for
 * bad files, h5dump and
 * h5py readability, and kill -9 (at random moments, before every commit step,
 * and before every write HDF5 makes) never leaving a file that is damaged or
 * has lost a completed call. */
#define _DEFAULT_SOURCE /* syscall() for the pwrite interposer */
#include <criterion/criterion.h>
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/io/results.h"
#include "sim/io/results_internal.h"
#include "tests/helpers/results_helpers.h"
#include "tests/helpers/testutil.h"


Test(results, round_trip_exact)
{
    long ids0 = id_census();
    const char *path = path_in(tu_tmpdir(), "run.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    cr_assert(!fs_results_is_complete(r, CELL, "fedavg"));
    write_method(r, CELL, "fedavg", 1, 10, true);
    cr_assert(fs_results_is_complete(r, CELL, "fedavg"));
    fs_results_close(r);

    check_rounds(path, CELL, "fedavg", 1, 10);

    fs_final_row *fin = NULL;
    int n = 0;
    cr_assert_eq(fs_results_read_final(path, CELL, "fedavg", &fin, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 3);
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(fin[c].client, c);
        cr_assert_eq(fin[c].n_train, 100 + c);
        cr_assert_eq(fin[c].n_test, 20 + c);
        cr_assert(fin[c].test_acc == 0.1 * c + 1);
        cr_assert(fin[c].global_acc == 0.9 - 0.01 * c);
    }
    free(fin);

    fs_partition p;
    cr_assert_eq(fs_results_read_partition(path, CELL, "fedavg", &p), 0, "%s", fs_last_error());
    cr_assert_eq(p.clients, 3);
    cr_assert_eq(p.categories, 4);
    for (int i = 0; i < 12; i++) cr_assert_eq(p.counts[i], i * 7 + 1);
    cr_assert_str_eq(p.category_names[0], "natural science");
    cr_assert_str_eq(p.category_names[2], "language");
    cr_assert_str_eq(p.category_names[3], "");
    cr_assert_str_eq(p.key, "category");
    fs_partition_free(&p);

    fs_result_entry *e = NULL;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 1);
    cr_assert_str_eq(e[0].cell, CELL);
    cr_assert_str_eq(e[0].method, "fedavg");
    cr_assert(e[0].complete);
    cr_assert_eq(e[0].n_rounds_rows, 10);
    cr_assert_str_eq(e[0].config_yaml, "method: fedavg\nrank: 16\nnote: \"é ∑\"\n");
    fs_summary want = make_summary(1);
    assert_summary_eq(&e[0].summary, &want);
    fs_results_list_free(e, n);
    cr_assert_eq(id_census(), ids0, "HDF5 ids leaked");

    /* Root attributes, read with plain HDF5. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0);
    const char *attrs[3] = {"fedsim_version", "git_sha", "created"};
    for (int i = 0; i < 3; i++) {
        hid_t a = H5Aopen(f, attrs[i], H5P_DEFAULT), t = H5Aget_type(a);
        cr_assert(a >= 0 && H5Tis_variable_str(t) > 0, "root attribute %s", attrs[i]);
        char *s = NULL;
        cr_assert(H5Aread(a, t, &s) >= 0);
        if (i == 0) cr_assert_str_eq(s, FEDSIM_VERSION);
        if (i == 2) {
            int y, mo, d, h, mi, se;
            char z = 0;
            cr_assert_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z), 7,
                         "created = %s", s);
            cr_assert_eq(z, 'Z');
            cr_assert_eq(strlen(s), 20u);
        }
        H5free_memory(s);
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Fclose(f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert(!exists(tmp), "the working copy is left behind");
}

Test(results, appends_across_reopen_and_partition_replace)
{
    const char *path = path_in(tu_tmpdir(), "x.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    cr_assert_eq(fs_results_begin(r, CELL, "fedprox", NULL), 0, "%s", fs_last_error());
    for (int k = 0; k < 7; k++) {
        fs_round_row row = make_row(2, k);
        cr_assert_eq(fs_results_append_rounds(r, &row, 1), 0, "%s", fs_last_error());
    }
    cr_assert_eq(fs_results_append_rounds(r, NULL, 0), 0);
    check_rounds(path, CELL, "fedprox", 2, 7);
    int32_t c1[2] = {1, 2}, c2[6] = {3, 4, 5, 6, 7, 8};
    const char *n1[1] = {"a"}, *n2[3] = {"x", "y", "z"};
    cr_assert_eq(fs_results_write_partition(r, c1, 2, 1, n1, "k1"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_write_partition(r, c2, 2, 3, n2, "k2"), 0, "%s", fs_last_error());
    fs_partition p;
    cr_assert_eq(fs_results_read_partition(path, CELL, "fedprox", &p), 0, "%s", fs_last_error());
    cr_assert_eq(p.clients, 2);
    cr_assert_eq(p.categories, 3);
    cr_assert_eq(p.counts[5], 8);
    cr_assert_str_eq(p.category_names[2], "z");
    cr_assert_str_eq(p.key, "k2");
    fs_partition_free(&p);
    /* final before finish: a clear error */
    fs_final_row *fin = NULL;
    int n = 0;
    cr_assert_eq(fs_results_read_final(path, CELL, "fedprox", &fin, &n), -1);
    cr_assert(strstr(fs_last_error(), "did not finish"), "%s", fs_last_error());
    fs_summary s = make_summary(2);
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_read_final(path, CELL, "fedprox", &fin, &n), 0, "%s",
                 fs_last_error());
    cr_assert_eq(n, 0);
    /* after finish nothing is started */
    fs_round_row row = make_row(2, 0);
    cr_assert_eq(fs_results_append_rounds(r, &row, 1), -1);
    cr_assert(strstr(fs_last_error(), "fs_results_begin"), "%s", fs_last_error());
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), -1);
    fs_results_close(r);
}

Test(results, restart_replaces_incomplete_group)
{
    const char *path = path_in(tu_tmpdir(), "sweep.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r);
    write_method(r, CELL, "fedavg", 0, 6, true);
    write_method(r, CELL, "fednano", 3, 9, false); /* "killed" mid-run */
    write_method(r, "other", "local", 4, 3, true);
    fs_results_close(r);

    long size0 = -1;
    for (int attempt = 0; attempt < 4; attempt++) {
        r = fs_results_open(path);
        cr_assert(r, "%s", fs_last_error());
        cr_assert(fs_results_is_complete(r, CELL, "fedavg"));
        cr_assert(!fs_results_is_complete(r, CELL, "fednano"));
        fs_result_entry *e;
        int n;
        cr_assert_eq(fs_results_list(path, &e, &n), 0);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(e[1].method, "fednano");
        cr_assert(!e[1].complete);
        cr_assert_eq(e[1].n_rounds_rows, 9);
        fs_results_list_free(e, n);
        /* restart: the partial table is gone, a fresh one grows */
        cr_assert_eq(fs_results_begin(r, CELL, "fednano", "restarted"), 0, "%s", fs_last_error());
        check_rounds(path, CELL, "fednano", 3, 0);
        fs_round_row rows[9];
        for (int k = 0; k < 9; k++) rows[k] = make_row(3, k);
        cr_assert_eq(fs_results_append_rounds(r, rows, 9), 0, "%s", fs_last_error());
        fs_results_close(r);
        /* the rewrite leaves no dead space behind: the size does not creep */
        long sz = file_size(path);
        if (size0 < 0) size0 = sz;
        cr_assert_eq(sz, size0, "file grew from %ld to %ld bytes on restart %d", size0, sz,
                     attempt);
    }
    /* others intact, order kept (fedavg, fednano, then cell other) */
    check_rounds(path, CELL, "fedavg", 0, 6);
    check_rounds(path, "other", "local", 4, 3);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(e[0].method, "fedavg");
    cr_assert_str_eq(e[1].method, "fednano");
    cr_assert_str_eq(e[1].config_yaml, "restarted");
    cr_assert_str_eq(e[2].cell, "other");
    cr_assert(e[0].complete && !e[1].complete && e[2].complete);
    fs_summary want = make_summary(4);
    assert_summary_eq(&e[2].summary, &want);
    fs_results_list_free(e, n);
    fs_partition p;
    cr_assert_eq(fs_results_read_partition(path, CELL, "fedavg", &p), 0, "%s", fs_last_error());
    cr_assert_eq(p.counts[11], 77);
    fs_partition_free(&p);
}

/* HDF5 does not reuse space freed in an earlier session (a grown object
 * header leaves its old copy behind); finish rewrites the file without it, so
 * finishing adds the final table and summary but the file does not grow
 * (in place it grows by about a third). */
Test(results, finish_leaves_no_dead_space)
{
    const char *path = path_in(tu_tmpdir(), "dead.h5");
    fs_results *r = fs_results_open(path);
    write_method(r, CELL, "fedavg", 0, 40, false);
    long before = file_size(path);
    fs_summary sm = make_summary(0);
    cr_assert_eq(fs_results_finish(r, NULL, 0, &sm), 0, "%s", fs_last_error());
    fs_results_close(r);
    long after = file_size(path);
    cr_assert(after <= before, "finish grew the file from %ld to %ld bytes", before, after);
    check_rounds(path, CELL, "fedavg", 0, 40);
}

/* A re-run of a finished method keeps the old results, listed and
 * readable, until it finishes (they used to be deleted at the start of a
 * re-run, so a kill lost them); a kill before that leaves the old ones and
 * hides the partial new ones. */
Test(results, a_finished_method_is_replaced_only_when_its_rerun_finishes)
{
    const char *path = path_in(tu_tmpdir(), "p.h5");
    fs_results *r = fs_results_open(path);
    write_method(r, CELL, "fedavg", 0, 3, true);
    write_method(r, "solo", "local", 1, 3, true);
    write_method(r, CELL, "fedavg", 7, 2, false); /* the re-run, killed before it finishes */
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 2, "the replacement in progress is listed");
    cr_assert(e[0].complete && !strcmp(e[0].method, "fedavg"));
    fs_summary old = make_summary(0);
    assert_summary_eq(&e[0].summary, &old);
    fs_results_list_free(e, n);
    check_rounds(path, CELL, "fedavg", 0, 3);
    fs_results_close(r);

    r = fs_results_open(path); /* the next run starts it over, then finishes */
    write_method(r, CELL, "fedavg", 5, 2, true);
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 2);
    cr_assert(e[0].complete && !strcmp(e[0].method, "fedavg"));
    fs_summary want = make_summary(5);
    assert_summary_eq(&e[0].summary, &want);
    fs_results_list_free(e, n);
    check_rounds(path, CELL, "fedavg", 5, 2);

    cr_assert_eq(fs_results_remove(r, "solo", "local"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_remove(r, "solo", "local"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_remove(r, CELL, "fedavg"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_list(path, &e, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(e);
    fs_results_close(r);
}

Test(results, many_cells_and_methods)
{
    const char *path = path_in(tu_tmpdir(), "grid.h5");
    const char *cells[2] = {"alpha=0.1,clients=5,seed=0", "alpha=1/2,clients=5,seed=1"};
    const char *methods[4] = {"fedavg", "fedprox", "feddpa_f", "fednano"};
    fs_results *r = fs_results_open(path);
    cr_assert(r);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < 4; m++)
            write_method(r, cells[c], methods[m], 10 * c + m, 3 + m, m != 3);
    fs_results_close(r);

    /* reopen for appending keeps everything */
    r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    cr_assert(fs_results_is_complete(r, cells[1], "fedprox"));
    cr_assert(fs_results_is_complete(r, "alpha=1_2,clients=5,seed=1", "fedprox"));
    cr_assert(!fs_results_is_complete(r, cells[1], "fednano"));
    cr_assert(!fs_results_is_complete(r, cells[1], "centralized"));
    cr_assert(!fs_results_is_complete(r, "nope", "fedavg"));
    fs_results_close(r);

    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 8);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < 4; m++) {
            fs_result_entry *x = &e[4 * c + m];
            cr_assert_str_eq(x->cell, c ? "alpha=1_2,clients=5,seed=1" : cells[0]);
            cr_assert_str_eq(x->method, methods[m]);
            cr_assert_eq(x->complete, m != 3);
            cr_assert_eq(x->n_rounds_rows, 3 + m);
            fs_summary want = make_summary(10 * c + m), zero = {0};
            assert_summary_eq(&x->summary, m != 3 ? &want : &zero);
            check_rounds(path, cells[c], methods[m], 10 * c + m, 3 + m);
        }
    fs_results_list_free(e, n);

    /* A rewrite (remove) keeps every other group, in order, with its data. */
    r = fs_results_open(path);
    cr_assert_eq(fs_results_remove(r, cells[1], "fedprox"), 0, "%s", fs_last_error());
    fs_results_close(r);
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 7);
    const char *order[7] = {"fedavg", "fedprox", "feddpa_f", "fednano",
                            "fedavg", "feddpa_f", "fednano"};
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(e[i].method, order[i], "entry %d", i);
        int m = i < 4 ? i : (i == 4 ? 0 : i - 3), c = i >= 4;
        cr_assert_eq(e[i].complete, m != 3);
        check_rounds(path, cells[c], order[i], 10 * c + m, 3 + m);
    }
    fs_partition p;
    cr_assert_eq(fs_results_read_partition(path, cells[0], "feddpa_f", &p), 0, "%s",
                 fs_last_error());
    cr_assert_eq(p.counts[3], 21 + 2);
    cr_assert_str_eq(p.category_names[1], "social");
    fs_partition_free(&p);
    fs_results_list_free(e, n);
}

Test(results, bad_names_and_calls)
{
    long ids0 = id_census();
    const char *path = path_in(tu_tmpdir(), "n.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r);
    char longname[300];
    memset(longname, 'c', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    cr_assert_eq(fs_results_begin(r, longname, "fedavg", ""), -1);
    cr_assert(strstr(fs_last_error(), "too long"), "%s", fs_last_error());
    cr_assert_eq(fs_results_begin(r, "", "fedavg", ""), -1);
    cr_assert(strstr(fs_last_error(), "empty cell"), "%s", fs_last_error());
    fs_round_row row = make_row(0, 0);
    cr_assert_eq(fs_results_append_rounds(r, &row, 1), -1);
    cr_assert(strstr(fs_last_error(), "no method started"), "%s", fs_last_error());
    cr_assert_eq(fs_results_begin(r, ".", "a/b", ""), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_append_rounds(r, &row, -1), -1);
    cr_assert_eq(fs_results_append_rounds(r, &row, 1), 0, "%s", fs_last_error());
    fs_results_close(r);
    check_rounds(path, "_", "a_b", 0, 1);
    fs_round_row *rows;
    int n;
    cr_assert_eq(fs_results_read_rounds(path, "missing", "fedavg", &rows, &n), -1);
    cr_assert(strstr(fs_last_error(), "no cell 'missing'"), "%s", fs_last_error());
    cr_assert_eq(fs_results_read_rounds(path, "_", "fedavg", &rows, &n), -1);
    cr_assert(strstr(fs_last_error(), "no method 'fedavg'"), "%s", fs_last_error());
    cr_assert_eq(id_census(), ids0, "HDF5 ids leaked on error paths");
}

Test(results, rejects_bad_files)
{
    long ids0 = id_census();
    const char *dir = tu_tmpdir();
    fs_result_entry *e;
    fs_round_row *rows;
    int n;

    const char *text = path_in(dir, "notes.h5");
    FILE *f = fopen(text, "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    cr_assert_null(fs_results_open(text));
    cr_assert(strstr(fs_last_error(), "not an HDF5 file") && strstr(fs_last_error(), text), "%s",
              fs_last_error());
    cr_assert_eq(fs_results_list(text, &e, &n), -1);
    cr_assert(strstr(fs_last_error(), "not an HDF5 file"), "%s", fs_last_error());
    cr_assert_eq(fs_results_read_rounds(text, "a", "b", &rows, &n), -1);

    const char *empty = path_in(dir, "empty.h5");
    fclose(fopen(empty, "w"));
    cr_assert_null(fs_results_open(empty));
    cr_assert(strstr(fs_last_error(), "not an HDF5 file"), "%s", fs_last_error());

    /* a valid HDF5 file that fedsim did not write */
    const char *foreign = path_in(dir, "foreign.h5");
    hid_t h = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(h >= 0);
    H5Fclose(h);
    cr_assert_null(fs_results_open(foreign));
    cr_assert(strstr(fs_last_error(), "not a fedsim results file"), "%s", fs_last_error());
    cr_assert_eq(fs_results_list(foreign, &e, &n), -1);

    /* truncated to half */
    const char *good = path_in(dir, "good.h5");
    fs_results *r = fs_results_open(good);
    write_method(r, CELL, "fedavg", 0, 40, true);
    fs_results_close(r);
    long sz = file_size(good);
    cr_assert(sz > 0);
    cr_assert_eq(truncate(good, sz / 2), 0);
    cr_assert_null(fs_results_open(good));
    cr_assert(strstr(fs_last_error(), "damaged or truncated") && strstr(fs_last_error(), good),
              "%s", fs_last_error());
    cr_assert_eq(fs_results_list(good, &e, &n), -1);
    cr_assert_eq(fs_results_read_rounds(good, CELL, "fedavg", &rows, &n), -1);

    /* missing, directory, unwritable directory */
    cr_assert_eq(fs_results_list(path_in(dir, "absent.h5"), &e, &n), -1);
    cr_assert(strstr(fs_last_error(), "No such file"), "%s", fs_last_error());
    cr_assert_null(fs_results_open(dir));
    cr_assert(strstr(fs_last_error(), "directory"), "%s", fs_last_error());
    cr_assert_null(fs_results_open(path_in(dir, "no/such/dir/x.h5")));
    cr_assert(strstr(fs_last_error(), "no/such/dir/x.h5"), "%s", fs_last_error());
    cr_assert_eq(id_census(), ids0, "HDF5 ids leaked on error paths");
}

Test(results, stale_tmp_is_ignored)
{
    const char *path = path_in(tu_tmpdir(), "s.h5");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fputs("half-written garbage", f);
    fclose(f);
    chmod(tmp, 0444);
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    write_method(r, CELL, "fedavg", 0, 2, false);
    f = fopen(tmp, "w");
    fputs("more garbage", f);
    fclose(f);
    fs_round_row row = make_row(0, 2);
    cr_assert_eq(fs_results_append_rounds(r, &row, 1), 0, "%s", fs_last_error());
    fs_results_close(r);
    check_rounds(path, CELL, "fedavg", 0, 3);
    cr_assert(!exists(tmp));
}

/* One writer per file: a second open, from another process or this one, is
 * refused at once naming the holder's pid (two writers used to interleave
 * methods and leave one marked complete with the wrong rows); the holder
 * goes on, and once it closes the file opens again. */
Test(results, a_second_writer_is_refused_naming_the_holder, .timeout = 60)
{
    const char *path = path_in(tu_tmpdir(), "shared.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    write_method(r, CELL, "fedavg", 0, 3, false);
    char pid[32];
    snprintf(pid, sizeof pid, "process %ld", (long)getpid());
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        fs_results *other = fs_results_open(path);
        _exit(other ? 1 : !strstr(fs_last_error(), pid) ? 2 : !strstr(fs_last_error(), ".lock") ? 3 : 0);
    }
    int st;
    cr_assert_eq(waitpid(child, &st, 0), child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the second writer was %s", WEXITSTATUS(st) == 1 ? "let in" : "refused without the holder's pid and lock file");
    cr_assert_null(fs_results_open(path), "the same process opened it twice");
    cr_assert(strstr(fs_last_error(), pid), "%s", fs_last_error());
    fs_round_row more[3] = {make_row(0, 3), make_row(0, 4), make_row(0, 5)};
    cr_assert_eq(fs_results_append_rounds(r, more, 3), 0, "%s", fs_last_error());
    fs_summary s = make_summary(0);
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), 0, "%s", fs_last_error());
    fs_results_close(r);
    check_rounds(path, CELL, "fedavg", 0, 6);
    r = fs_results_open(path);
    cr_assert(r, "closing did not release the lock: %s", fs_last_error());
    fs_results_close(r);
}

Test(results, follows_a_symlink)
{
    const char *dir = tu_tmpdir();
    const char *real = path_in(dir, "real.h5"), *link = path_in(dir, "link.h5");
    fs_results *r = fs_results_open(real);
    cr_assert(r);
    fs_results_close(r);
    cr_assert_eq(symlink("real.h5", link), 0);
    r = fs_results_open(link);
    cr_assert(r, "%s", fs_last_error());
    write_method(r, CELL, "fedavg", 0, 2, true);
    fs_results_close(r);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the symlink was replaced by a file");
    check_rounds(real, CELL, "fedavg", 0, 2);
}

/* Files written by other tools may hold fixed-length (ASCII) strings. */
Test(results, reads_fixed_length_strings)
{
    const char *path = path_in(tu_tmpdir(), "fixed.h5");
    fs_results *r = fs_results_open(path);
    write_method(r, CELL, "fedavg", 0, 2, true);
    fs_results_close(r);

    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    char where[300];
    snprintf(where, sizeof where, "/%s/fedavg/partition", CELL);
    hid_t ds = H5Dopen2(f, where, H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
    cr_assert(ds >= 0 && H5Adelete(ds, "categories") >= 0);
    H5Tset_size(t, 6);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hsize_t n4[1] = {4};
    hid_t sp = H5Screate_simple(1, n4, NULL);
    hid_t a = H5Acreate2(ds, "categories", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    char cats[4][6] = {"cat0", {'s', 'i', 'x', 'c', 'h', 'r'}, "ab", ""};
    cr_assert(H5Awrite(a, t, cats) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    snprintf(where, sizeof where, "/%s/fedavg", CELL);
    hid_t g = H5Gopen2(f, where, H5P_DEFAULT);
    cr_assert(g >= 0 && H5Adelete(g, "config_yaml") >= 0);
    hid_t t2 = H5Tcopy(H5T_C_S1), s1 = H5Screate(H5S_SCALAR);
    H5Tset_size(t2, 9);
    a = H5Acreate2(g, "config_yaml", t2, s1, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(H5Awrite(a, t2, "rank: 16\0") >= 0);
    H5Aclose(a);
    H5Sclose(s1);
    H5Tclose(t2);
    H5Gclose(g);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);

    fs_partition p;
    cr_assert_eq(fs_results_read_partition(path, CELL, "fedavg", &p), 0, "%s", fs_last_error());
    cr_assert_eq(p.categories, 4);
    cr_assert_str_eq(p.category_names[0], "cat0");
    cr_assert_str_eq(p.category_names[1], "sixchr");
    cr_assert_str_eq(p.category_names[2], "ab");
    cr_assert_str_eq(p.category_names[3], "");
    fs_partition_free(&p);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    cr_assert_str_eq(e[0].config_yaml, "rank: 16");
    fs_results_list_free(e, n);
}

Test(results, h5dump_reads_it)
{
    if (system("command -v h5dump >/dev/null 2>&1") != 0) cr_skip_test("h5dump not installed");
    const char *path = path_in(tu_tmpdir(), "d.h5");
    fs_results *r = fs_results_open(path);
    write_method(r, CELL, "fedavg", 0, 5, true);
    write_method(r, CELL, "fednano", 1, 5, false);
    fs_results_close(r);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' >/dev/null 2>&1", path);
    cr_assert_eq(system(cmd), 0, "h5dump -H failed on %s", path);
    snprintf(cmd, sizeof cmd, "h5dump '%s' >/dev/null 2>&1", path);
    cr_assert_eq(system(cmd), 0, "h5dump failed on %s", path);
}

Test(results, h5py_reads_structured_arrays)
{
    char py[1024];
    const char *venv = getenv("FEDSIM_VENV");
    if (venv)
        snprintf(py, sizeof py, "%s/bin/python", venv);
    else
        snprintf(py, sizeof py, "%s", tu_source_path(".venv/bin/python"));
    if (access(py, X_OK) != 0) cr_skip_test("no Python venv at %s", py);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import h5py, numpy' >/dev/null 2>&1", py);
    if (system(cmd) != 0) cr_skip_test("h5py is not installed in %s", py);
    const char *path = path_in(tu_tmpdir(), "py.h5");
    fs_results *r = fs_results_open(path);
    write_method(r, CELL, "fedavg", 0, 6, true);
    write_method(r, CELL, "fednano", 1, 4, false);
    fs_results_close(r);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", py,
             tu_source_path("tests/reference/read_results.py"), path);
    cr_assert_eq(system(cmd), 0, "h5py cross-check failed: %s", cmd);
}

/* ---- kill -9 at random moments ---- */

#define KILL_METHODS 8
#define KILL_ROUNDS 20
#define KILL_ROWS 3 /* rows per append: a partial append would break the count */

static void kill_child(const char *path)
{
    fs_results *r = fs_results_open(path);
    if (!r) _exit(2);
    for (int m = 0; m < KILL_METHODS; m++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", m);
        if (fs_results_is_complete(r, "cell", name)) continue;
        if (fs_results_begin(r, "cell", name, "cfg") != 0) _exit(3);
        for (int k = 0; k < KILL_ROUNDS * KILL_ROWS; k += KILL_ROWS) {
            fs_round_row rows[KILL_ROWS];
            for (int j = 0; j < KILL_ROWS; j++) rows[j] = make_row(m, k + j);
            if (fs_results_append_rounds(r, rows, KILL_ROWS) != 0) _exit(4);
        }
        fs_final_row fin = {0, 1, 2, 0.5, 0.25};
        fs_summary s = make_summary(m);
        if (fs_results_finish(r, &fin, 1, &s) != 0) _exit(5);
    }
    fs_results_close(r);
    _exit(0);
}

/* What must hold after any kill: the file opens, methods appear in order,
 * all but the last are complete, every table is a whole number of appends
 * with exactly the values written. Returns the number of complete methods. */
static int check_after_kill(const char *path, int attempt)
{
    fs_results *r = fs_results_open(path);
    cr_assert(r, "attempt %d: %s", attempt, fs_last_error());
    fs_results_close(r);
    fs_result_entry *e;
    int n, complete = 0;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "attempt %d: %s", attempt, fs_last_error());
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        cr_assert_str_eq(e[i].method, name, "attempt %d", attempt);
        cr_assert(e[i].complete || i == n - 1, "attempt %d: m%d incomplete but not last", attempt,
                  i);
        cr_assert_eq(e[i].n_rounds_rows % KILL_ROWS, 0, "attempt %d: torn append (%d rows)",
                     attempt, e[i].n_rounds_rows);
        if (e[i].complete) {
            complete++;
            cr_assert_eq(e[i].n_rounds_rows, KILL_ROUNDS * KILL_ROWS);
            fs_summary want = make_summary(i);
            assert_summary_eq(&e[i].summary, &want);
        }
        check_rounds(path, "cell", name, i, e[i].n_rounds_rows);
    }
    fs_results_list_free(e, n);
    return complete;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run_child(const char *path, double kill_after_s)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) kill_child(path);
    int killed = 0;
    if (kill_after_s > 0) {
        struct timespec ts = {(time_t)kill_after_s,
                              (long)((kill_after_s - (double)(time_t)kill_after_s) * 1e9)};
        nanosleep(&ts, NULL);
        killed = kill(pid, SIGKILL) == 0;
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st))
        cr_assert_eq(WEXITSTATUS(st), 0, "the child failed with %d", WEXITSTATUS(st));
    return killed && WIFSIGNALED(st);
}

Test(results, survives_kill_9, .timeout = 60)
{
    const char *dir = tu_tmpdir();
    /* Calibrate: how long a whole unkilled run takes here. */
    const char *scratch = path_in(dir, "calibrate.h5");
    double t0 = now_s();
    run_child(scratch, 0);
    double full = now_s() - t0;
    cr_assert_eq(check_after_kill(scratch, -1), KILL_METHODS);

    /* Kill at random moments, each run resuming the last one's file, so that
     * over the attempts the kills land all over begin/append/finish. */
    const char *path = path_in(dir, "killed.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r);
    fs_results_close(r);
    tu_rng rng = tu_rng_new((uint64_t)time(NULL));
    double scale = full / 4; /* kill within the first quarter of what is left, roughly */
    int kills = 0, attempt = 0, done = 0, fresh = 0;
    for (; attempt < 100 && kills < 12; attempt++) {
        if (done == KILL_METHODS) { /* all finished before enough kills: start over */
            cr_assert_eq(unlink(path), 0);
            fs_results *nr = fs_results_open(path);
            cr_assert(nr, "%s", fs_last_error());
            fs_results_close(nr);
            fresh++;
            done = 0;
        }
        double delay = tu_uniform(&rng, 0.0f, (float)scale) + 1e-4, t1 = now_s();
        int killed = run_child(path, delay);
        kills += killed;
        if (!killed && done == 0) scale = (now_s() - t1) / 4; /* recalibrate on a whole run */
        done = check_after_kill(path, attempt);
        cr_log_info("attempt %d: %s after %.1f ms, %d of %d methods complete", attempt,
                    killed ? "killed" : "not killed", delay * 1e3, done, KILL_METHODS);
    }
    run_child(path, 0);
    cr_assert_eq(check_after_kill(path, attempt), KILL_METHODS, "the unkilled run did not finish");
    cr_log_info("%d kills in %d attempts (%d fresh files); a whole run takes %.0f ms", kills,
                attempt, fresh, full * 1e3);
    cr_assert(kills >= 12, "only %d children were killed mid-run", kills);
}

/* ---- kill -9 at every step of every call, deterministically ---- */

#define SCRIPT_CALLS 12

/* Call i (0-based) of a fixed script touching every mutating path: begin,
 * append, partition, finish, restart of an incomplete method (a rewrite),
 * remove. *r is reopened to model a restarted process. 0, or -1 with a
 * message. */
static int script_call(fs_results **r, const char *path, int i)
{
    fs_round_row rows[3];
    fs_final_row fin = {0, 10, 5, 0.5, 0.25};
    fs_summary sm = make_summary(i);
    int32_t counts[4] = {1, 2, 3, 4};
    const char *names[2] = {"a", "b"};
    int rc = 0;
    switch (i) {
    case 0: rc = fs_results_begin(*r, "c", "m0", "cfg0"); break;
    case 1:
    case 3:
    case 6:
    case 9:
        for (int j = 0; j < 3; j++) rows[j] = make_row(0, (i == 3 ? 3 : 0) + j);
        rc = fs_results_append_rounds(*r, rows, 3);
        break;
    case 2: rc = fs_results_write_partition(*r, counts, 2, 2, names, "category"); break;
    case 4: rc = fs_results_finish(*r, &fin, 1, &sm); break;
    case 5: rc = fs_results_begin(*r, "c", "m1", "cfg1"); break;
    case 7: /* the process restarts: m1 is incomplete and gets replaced */
        fs_results_close(*r);
        if (!(*r = fs_results_open(path))) rc = -1;
        if (rc == 0) rc = fs_results_begin(*r, "c", "m1", "cfg1 again");
        break;
    case 8: rc = fs_results_begin(*r, "d", "m2", "cfg2"); break;
    case 10: rc = fs_results_remove(*r, "c", "m0"); break;
    case 11: rc = fs_results_finish(*r, &fin, 1, &sm); break;
    }
    return rc;
}

/* script_call in a child that must not fail: its exit status names the call. */
static void script_call_or_exit(fs_results **r, const char *path, int i)
{
    if (script_call(r, path, i) != 0) {
        fprintf(stderr, "script call %d failed: %s\n", i, fs_last_error());
        _exit(10 + i);
    }
}

/* A summary of what the file holds, with every rounds table checked. */
static void signature(const char *path, char *out, size_t cap)
{
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(path, &e, &n), 0, "%s", fs_last_error());
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        fs_partition p;
        bool part = fs_results_read_partition(path, e[i].cell, e[i].method, &p) == 0;
        if (part) fs_partition_free(&p);
        check_rounds(path, e[i].cell, e[i].method, 0, e[i].n_rounds_rows);
        len += (size_t)snprintf(out + len, cap - len, "%s/%s:%s:%d:%d:%d:%g;", e[i].cell,
                                e[i].method, e[i].config_yaml, e[i].complete,
                                e[i].n_rounds_rows, part, e[i].summary.mean_acc);
    }
    fs_results_list_free(e, n);
}

/* Every write of a results file goes through pwrite (fedsim's own writes of
 * the working copy; before, HDF5's sec2 driver); the definitions here
 * interpose on them, so a child can be killed right before its n-th write,
 * e.g. halfway through writing the working copy, or from its n-th write on
 * see them fail with ENOSPC, as on a full disk. */
static int io_countdown = 0, io_full_countdown = 0;

static bool io_point(void)
{
    if (io_countdown > 0 && --io_countdown == 0) raise(SIGKILL);
    return io_full_countdown > 0 && --io_full_countdown == 0 ? (io_full_countdown = 1, true) : false;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (io_point()) return errno = ENOSPC, -1;
    return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

int ftruncate(int fd, off_t len)
{
    if (io_point()) return errno = ENOSPC, -1;
    return (int)syscall(SYS_ftruncate, fd, len);
}

/* The state of path before each call and after the last, from an
 * uninterrupted run starting from a copy of empty. */
static void script_states(const char *path, const char *empty, char states[][1024])
{
    copy_to(empty, path);
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    signature(path, states[0], sizeof states[0]);
    for (int i = 0; i < SCRIPT_CALLS; i++) {
        cr_assert_eq(script_call(&r, path, i), 0, "call %d: %s", i, fs_last_error());
        signature(path, states[i + 1], sizeof states[i + 1]);
        cr_assert_str_neq(states[i + 1], states[i], "call %d changed nothing", i);
    }
    fs_results_close(r);
}

/* Runs the script in children killed at the 1st, 2nd, ... crash point (or
 * HDF5 write when at_writes), until one runs to the end; after each kill the
 * file must hold exactly the state before or after the call in flight. */
static void kill_at_every_step(bool at_writes)
{
    const char *dir = tu_tmpdir();
    const char *path = path_in(dir, "steps.h5"), *empty = path_in(dir, "empty.h5");
    fs_results *r = fs_results_open(empty);
    cr_assert(r);
    fs_results_close(r);

    static char states[SCRIPT_CALLS + 1][1024];
    script_states(path, empty, states);

    int kills = 0;
    for (int step = 1; step < 2000; step++) {
        copy_to(empty, path);
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            fs_results *cr = fs_results_open(path);
            if (!cr) _exit(2);
            if (at_writes)
                io_countdown = step;
            else
                fsr_test_crash_countdown = step;
            for (int i = 0; i < SCRIPT_CALLS; i++) {
                script_call_or_exit(&cr, path, i);
                if (write(fds[1], "x", 1) != 1) _exit(3);
            }
            _exit(0);
        }
        close(fds[1]);
        int done = 0;
        char b;
        while (read(fds[0], &b, 1) == 1) done++;
        close(fds[0]);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st)) {
            cr_assert_eq(WEXITSTATUS(st), 0, "step %d: child failed with %d", step,
                         WEXITSTATUS(st));
            cr_assert_eq(done, SCRIPT_CALLS);
            cr_log_info("%d kills, one before every %s of %d calls", kills,
                        at_writes ? "write" : "commit step", SCRIPT_CALLS);
            cr_assert(kills >= (at_writes ? 1 : 4) * SCRIPT_CALLS);
            return;
        }
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "step %d: child died oddly", step);
        kills++;
        char got[1024];
        signature(path, got, sizeof got);
        /* killed inside call `done`: its effect is all there or not at all */
        cr_assert(strcmp(got, states[done]) == 0 || strcmp(got, states[done + 1]) == 0,
                  "killed at step %d during call %d: file holds\n  %s\nexpected\n  %s\nor\n  %s",
                  step, done, got, states[done], states[done + 1]);
    }
    cr_assert_fail("the script never ran to the end");
}

Test(results, survives_kill_9_at_every_commit_step, .timeout = 60) { kill_at_every_step(false); }

Test(results, survives_kill_9_at_every_write, .timeout = 60) { kill_at_every_step(true); }


/* A full disk: from the n-th write on, every write fails with ENOSPC, for
 * n = 1, 2, ... until the script runs to the end. The call in flight fails
 * with one message naming the disk's error, the file keeps exactly the state
 * before it, and the process then leaves through exit(), HDF5's atexit
 * clean-up included. When HDF5 wrote to the disk itself, a failed write left
 * its file id half closed and H5_term_library crashed at exit (SIGSEGV in
 * H5F__close_cb; `fedsim sweep` on a full tmpfs, 3 runs in 7). */
Test(results, a_full_disk_fails_the_call_and_keeps_the_file, .timeout = 60)
{
    const char *dir = tu_tmpdir();
    const char *path = path_in(dir, "full.h5"), *empty = path_in(dir, "empty.h5");
    const char *log = path_in(dir, "full.log");
    fs_results *r = fs_results_open(empty);
    cr_assert(r);
    fs_results_close(r);
    static char states[SCRIPT_CALLS + 1][1024];
    script_states(path, empty, states);

    int failed = 0;
    for (int step = 1; step < 2000; step++) {
        copy_to(empty, path);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            FILE *out = fopen(log, "w");
            fs_results *cr = fs_results_open(path);
            if (!out || !cr) _exit(2);
            io_full_countdown = step;
            int done = 0;
            while (done < SCRIPT_CALLS && script_call(&cr, path, done) == 0) done++;
            fprintf(out, "%d %s", done, done < SCRIPT_CALLS ? fs_last_error() : "");
            fclose(out);
            fs_results_close(cr);
            exit(0);
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        char text[2048] = "";
        FILE *lf = fopen(log, "r");
        if (lf) text[fread(text, 1, sizeof text - 1, lf)] = 0, fclose(lf);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "disk full from write %d on: the process %s %d (%s)", step,
                  WIFSIGNALED(st) ? "died of signal" : "exited with",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), text);
        int done = atoi(text);
        if (done == SCRIPT_CALLS) {
            cr_log_info("%d calls failed on a full disk, each cleanly", failed);
            cr_assert(failed >= SCRIPT_CALLS, "only %d writes failed", failed);
            return;
        }
        failed++;
        cr_assert(strstr(text, "No space left on device"), "write %d: %s", step, text);
        char got[1024];
        signature(path, got, sizeof got);
        cr_assert_str_eq(got, states[done], "disk full at write %d, in call %d: the file changed",
                         step, done);
    }
    cr_assert_fail("the script never ran to the end");
}
