/* Shared by the results-store suites (tests/helpers/results_helpers.h). */
#include "results_helpers.h"

#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/io/error.h"

const char *const CELL = "alpha=0.1,clients=5,seed=0";

char *path_in(const char *dir, const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

bool exists(const char *path) { return file_size(path) >= 0; }

void copy_to(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out, "cannot copy %s to %s", src, dst);
    char buf[8192];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, k, out), k);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

/* Open HDF5 files, groups, datasets, attributes, named types: the same
 * before and after a call means the call left nothing open. */
long id_census(void) { return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

/* Deterministic rows: row k of method m (any value checks exactness). */
fs_round_row make_row(int m, int k)
{
    fs_round_row r = {.round = k / 3,
                      .client = k % 3 == 2 ? -1 : k % 3,
                      .train_loss = 1.0 / (k + 1) + m,
                      .test_acc = 0.1 * k + 1e-17 * m,
                      .global_acc = -0.0 + k * 0.3333333333333333,
                      .bytes_up = (int64_t)1 << 40 | k,
                      .bytes_down = 1000000007LL * k + m,
                      .seconds = 0.25 * k + 1e-9};
    return r;
}

fs_summary make_summary(int m)
{
    fs_summary s = {0.5 + m, 0.25 + m, 0.75 + m, 1.5 * m, 2.5 * m, 3.25, 10.0 / 3.0 + m,
                    0.375 + m, 3 + m};
    return s;
}

void assert_row_eq(const fs_round_row *a, const fs_round_row *b, int i)
{
    cr_assert(memcmp(a, b, sizeof *a) == 0 ||
                  (a->round == b->round && a->client == b->client &&
                   a->train_loss == b->train_loss && a->test_acc == b->test_acc &&
                   a->global_acc == b->global_acc && a->bytes_up == b->bytes_up &&
                   a->bytes_down == b->bytes_down && a->seconds == b->seconds),
              "round row %d differs", i);
}

void assert_summary_eq(const fs_summary *a, const fs_summary *b)
{
    cr_assert(a->mean_acc == b->mean_acc && a->worst_acc == b->worst_acc &&
              a->global_acc == b->global_acc && a->upload_mb == b->upload_mb &&
              a->download_mb == b->download_mb && a->client_storage_mb == b->client_storage_mb &&
              a->seconds == b->seconds && a->sample_weighted_acc == b->sample_weighted_acc &&
              a->clients_evaluated == b->clients_evaluated);
}

/* Writes a complete method: partition, rows in chunks, final, summary. */
void write_method(fs_results *r, const char *cell, const char *method, int m, int nrows,
                         bool finish)
{
    char cfg[128];
    snprintf(cfg, sizeof cfg, "method: %s\nrank: 16\nnote: \"é ∑\"\n", method);
    cr_assert_eq(fs_results_begin(r, cell, method, cfg), 0, "%s", fs_last_error());
    int32_t counts[3 * 4];
    for (int i = 0; i < 12; i++) counts[i] = i * 7 + m;
    const char *names[4] = {"natural science", "social", "language", ""};
    cr_assert_eq(fs_results_write_partition(r, counts, 3, 4, names, "category"), 0, "%s",
                 fs_last_error());
    for (int k = 0; k < nrows;) {
        fs_round_row rows[4];
        int n = 0;
        for (; n < 4 && k < nrows; n++, k++) rows[n] = make_row(m, k);
        cr_assert_eq(fs_results_append_rounds(r, rows, n), 0, "%s", fs_last_error());
    }
    if (!finish) return;
    fs_final_row fin[3];
    for (int c = 0; c < 3; c++)
        fin[c] = (fs_final_row){c, 100 + c, 20 + c, 0.1 * c + m, 0.9 - 0.01 * c};
    fs_summary s = make_summary(m);
    cr_assert_eq(fs_results_finish(r, fin, 3, &s), 0, "%s", fs_last_error());
}

void check_rounds(const char *path, const char *cell, const char *method, int m,
                         int nrows)
{
    fs_round_row *rows = NULL;
    int n = -1;
    cr_assert_eq(fs_results_read_rounds(path, cell, method, &rows, &n), 0, "%s",
                 fs_last_error());
    cr_assert_eq(n, nrows);
    for (int k = 0; k < n; k++) {
        fs_round_row want = make_row(m, k);
        assert_row_eq(&rows[k], &want, k);
    }
    free(rows);
}
