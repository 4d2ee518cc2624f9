/* A one-line progress display per method run: round, loss, accuracy, ETA.
 * On a terminal it redraws in place; otherwise one line per round. */
#ifndef FEDSIM_PROGRESS_H
#define FEDSIM_PROGRESS_H

#include <stdbool.h>

typedef struct {
    char label[160];
    int total;
    bool quiet, tty;
    double start;
    const char *unit; /* counted loads: what is counted */
    double shown;     /* counted loads: when the last line was printed */
} fs_progress;

/* Monotonic wall-clock seconds. */
double fs_now(void);

/* From now on progress prints whole lines, also on a terminal (which several
 * processes share: the jobs of `fedsim sweep --jobs`). */
void fs_progress_lines_only(void);

void fs_progress_start(fs_progress *p, const char *cell, const char *method, int total, bool quiet);
void fs_progress_update(fs_progress *p, int done, double loss, double acc);
void fs_progress_finish(fs_progress *p, double final_acc, double seconds);

/* For a long load: start with the label ("features") and the total count of
 * `unit`s (e.g. "images"); count redraws "done/total unit, elapsed, ETA"
 * (on a terminal in place, otherwise at most one line per 10 s and the
 * last); finish prints how long it took. */
void fs_progress_start_count(fs_progress *p, const char *label, const char *unit, int total,
                             bool quiet);
void fs_progress_count(fs_progress *p, int done);
void fs_progress_finish_count(fs_progress *p);

#endif
