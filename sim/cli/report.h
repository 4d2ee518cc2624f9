/* `fedsim report`: the statistics table of a results file (report.c) and its
 * figures (report_plot.c). fs_report is the form `fedsim run`
 * and `fedsim sweep` call. */
#ifndef FEDSIM_REPORT_H
#define FEDSIM_REPORT_H

#include <stdbool.h>

#include "sim/analysis/run_groups.h"

typedef struct {
    /* Figures go to <plot_prefix>.<cell-group-slug>.<figure>.png; NULL: none. */
    const char *plot_prefix;
    /* Where the first cell group's accuracy-vs-round figure is also drawn
     * (`fedsim run`'s results/<name>.png); may be NULL. */
    const char *first_acc_png;
    bool auto_range; /* accuracy axes fit the data instead of 0-100 % */
    bool quiet;      /* no "plot: FILE" lines */
} fs_report_options;

/* The method used as the reference of the paired differences. */
#define FS_REPORT_REFERENCE_METHOD "fedavg"

/* Prints the table and draws the figures; -1 with fs_last_error() set. */
int fs_report_file(const char *results_path, const fs_report_options *o);

/* The default figure prefix of a results file: its path without ".h5"
 * (malloc'd; NULL with fs_last_error() set when out of memory). */
char *fs_report_default_prefix(const char *results_path);

/* Draws every cell group's figures (gnuplot); a note and 0 when gnuplot is
 * not installed. */
int fs_report_plots(const char *results_path, const fs_result_entry *e, const fs_run_groups *g,
                    const fs_report_options *o);

/* Prints the statistics table of a results file (per cell group and method:
 * mean over seeds with 95 % intervals, paired difference to FedAvg) and, when
 * png_path is given, draws its figures next to it (fs_report_plots) plus the
 * first cell group's accuracy-vs-round figure at png_path (skipped with a
 * note when gnuplot is absent). */
int fs_report(const char *results_path, const char *png_path, bool quiet);

#endif
