#include "sim/io/progress.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double fs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool lines_only;

void fs_progress_lines_only(void) { lines_only = true; }

void fs_progress_start(fs_progress *p, const char *cell, const char *method, int total, bool quiet)
{
    snprintf(p->label, sizeof p->label, "%s%s%s", cell && *cell ? cell : "",
             cell && *cell ? " " : "", method);
    p->total = total;
    p->quiet = quiet;
    p->tty = !lines_only && isatty(fileno(stderr));
    p->start = fs_now();
}

void fs_progress_update(fs_progress *p, int done, double loss, double acc)
{
    if (p->quiet) return;
    double el = fs_now() - p->start, eta = done ? el / done * (p->total - done) : 0;
    char accs[32] = "   -  ";
    if (!isnan(acc)) snprintf(accs, sizeof accs, "%5.1f%%", 100 * acc);
    fprintf(stderr, "%s[%-28s] round %3d/%-3d  loss %7.4f  acc %s  %6.1fs  ETA %5.1fs%s",
            p->tty ? "\r" : "", p->label, done, p->total, loss, accs, el, eta,
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void fs_progress_finish(fs_progress *p, double final_acc, double seconds)
{
    if (p->quiet) return;
    fprintf(stderr, "%s[%-28s] done: mean client accuracy %.1f%% in %.1fs%s\n", p->tty ? "\r" : "",
            p->label, 100 * final_acc, seconds, p->tty ? "\033[K" : "");
}

void fs_progress_start_count(fs_progress *p, const char *label, const char *unit, int total,
                             bool quiet)
{
    fs_progress_start(p, NULL, label, total, quiet);
    p->unit = unit;
    p->shown = p->start;
}

void fs_progress_count(fs_progress *p, int done)
{
    double now = fs_now(), el = now - p->start;
    /* A log file gets a line per 10 s, not one per batch. */
    if (p->quiet || (!p->tty && done < p->total && now - p->shown < 10)) return;
    p->shown = now;
    double eta = done ? el / done * (p->total - done) : 0;
    fprintf(stderr, "%s[%-28s] %d/%d %s  %6.1fs  ETA %5.1fs%s", p->tty ? "\r" : "", p->label,
            done, p->total, p->unit, el, eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void fs_progress_finish_count(fs_progress *p)
{
    if (p->quiet) return;
    fprintf(stderr, "%s[%-28s] %d %s in %.1fs%s\n", p->tty ? "\r" : "", p->label, p->total,
            p->unit, fs_now() - p->start, p->tty ? "\033[K" : "");
}
