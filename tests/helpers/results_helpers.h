/* Helpers of the results-store suites (test_results, test_results_identity):
 * deterministic rows and summaries, whole methods written through the API,
 * exact read-back checks, paths and file utilities. */
#ifndef FEDSIM_RESULTS_HELPERS_H
#define FEDSIM_RESULTS_HELPERS_H

#include <stdbool.h>

#include "sim/io/results.h"

extern const char *const CELL; /* a cell name with sweep-like key=value pairs */

/* dir/name in one of 8 rotating static buffers. */
char *path_in(const char *dir, const char *name);
long file_size(const char *path); /* -1 when absent */
bool exists(const char *path);
void copy_to(const char *src, const char *dst);
/* Open HDF5 files, groups, datasets, attributes, named types: the same
 * before and after a call means the call left nothing open. */
long id_census(void);
/* Deterministic rows: row k of method m (any value checks exactness); every
 * third row is an aggregate row (client -1). */
fs_round_row make_row(int m, int k);
fs_summary make_summary(int m);
void assert_row_eq(const fs_round_row *a, const fs_round_row *b, int i);
void assert_summary_eq(const fs_summary *a, const fs_summary *b);
/* Writes a method: partition, rows make_row(m, 0..nrows) in chunks, and when
 * finish, final and make_summary(m). */
void write_method(fs_results *r, const char *cell, const char *method, int m, int nrows,
                  bool finish);
/* Asserts /cell/method/rounds holds exactly make_row(m, 0..nrows). */
void check_rounds(const char *path, const char *cell, const char *method, int m, int nrows);

#endif
