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
} fs_progress;

/* Monotonic wall-clock seconds. */
double fs_now(void);

void fs_progress_start(fs_progress *p, const char *cell, const char *method, int total, bool quiet);
void fs_progress_update(fs_progress *p, int done, double loss, double acc);
void fs_progress_finish(fs_progress *p, double final_acc, double seconds);

#endif
