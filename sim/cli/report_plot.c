/* The figures of `fedsim report`: per cell group, three PNGs drawn by
 * gnuplot (pngcairo) from the aggregate rows (client == -1) of each run:
 *   <prefix>.<slug>.acc-vs-round.png   mean client accuracy, line = mean over
 *                                      seeds, band = min..max over seeds
 *   <prefix>.<slug>.loss-vs-round.png  training loss, the same way
 *   <prefix>.<slug>.acc-vs-upload.png  accuracy against the cumulative bytes
 *                                      all clients uploaded (log x): the
 *                                      communication trade-off
 * Untrusted text (file names, labels, methods) reaches gnuplot only inside
 * quoted strings of a script file, and gnuplot is started with fork/exec, so
 * no shell ever parses it. Each PNG is drawn to a temporary name, checked
 * (PNG signature and final IEND chunk) and renamed, so a failed or cut-short
 * drawing is an error and never leaves a broken figure under the final name. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/cli/report.h"
#include "sim/io/error.h"

enum { ACC_VS_ROUND, LOSS_VS_ROUND, ACC_VS_UPLOAD, FIGURES };
static const char *const FIGURE_NAME[FIGURES] = {"acc-vs-round", "loss-vs-round", "acc-vs-upload"};

/* File-name form of a cell group: [A-Za-z0-9.+-] kept, '=' -> '-', anything
 * else -> '_'; long groups are cut and get a hash of the whole group so
 * that names stay unique and within file-name limits. */
static void slugify(const char *group, char *out, size_t len)
{
    enum { KEEP = 96 };
    size_t n = 0, glen = strlen(group);
    for (const char *p = group; *p && n + 1 < len && n < KEEP; p++) {
        unsigned char c = (unsigned char)*p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '+' || c == '-';
        out[n++] = plain ? (char)c : c == '=' ? '-' : '_';
    }
    out[n] = 0;
    if (n > 0 && out[0] == '.') out[0] = '_'; /* no hidden files */
    if (glen > KEEP) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *p = group; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
        snprintf(out + n, len - n, "~%08x", h);
    }
}

/* A gnuplot single-quoted string: no escapes are interpreted, '' is a quote;
 * control characters (which would end the command) become '?'. */
static void gp_string(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("''", f);
        else
            fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
    }
    fputc('\'', f);
}

static char *concat(const char *a, const char *b, const char *c, const char *d)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s%s", a, b, c, d);
    return s;
}

static int close_checked(FILE *f, const char *path)
{
    bool bad = ferror(f);
    if (fclose(f) || bad)
        return fs_fail("%s: write failed: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

static bool gnuplot_installed(void)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char buf[4096];
        if (n && n + sizeof "/gnuplot" < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)n, p);
            if (access(buf, X_OK) == 0) return true;
        }
        p += n + (colon ? 1 : 0);
    }
    return false;
}

static int run_gnuplot(const char *script)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return fs_fail("cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return fs_fail("waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    return fs_fail("gnuplot failed (%s %d; its own message is above)",
                   WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* A whole PNG: the signature first and the IEND chunk last. */
static int check_png(const char *path, const char *final)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    unsigned char head[8], tail[12];
    FILE *f = fopen(path, "rb");
    bool ok = f && fread(head, 1, 8, f) == 8 && !memcmp(head, sig, 8) && !fseek(f, -12, SEEK_END) &&
              fread(tail, 1, 12, f) == 12 && !memcmp(tail, iend, 12);
    if (f) fclose(f);
    return ok ? 0 : fs_fail("%s: gnuplot wrote no complete PNG (disk full?)", final);
}

/* Mean, min and max over runs of one round of a [run x round] array,
 * ignoring NANs; false when no run has a value. */
static bool over_runs(const double *v, int runs, int rounds, int r, double scale, double out[3])
{
    int n = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < runs; s++) {
        double x = v[(size_t)s * rounds + r];
        if (isnan(x)) continue;
        n++, sum += x, lo = fmin(lo, x), hi = fmax(hi, x);
    }
    out[0] = n ? scale * sum / n : NAN, out[1] = n ? scale * lo : NAN,
    out[2] = n ? scale * hi : NAN;
    return n > 0;
}

/* What a cell group's data file holds, to decide which figures can be drawn. */
typedef struct {
    int max_round;
    bool any_acc, any_loss;
    bool *uploads; /* per method of the group: a cumulative upload > 0 */
} group_extent;

/* Data file: per method two blocks (gnuplot `index`), so that a round with
 * only one of the two values does not break the other's line: block m holds
 * the rounds with an accuracy (round, mean, min, max in %, cumulative upload
 * mean, NaN where zero: no point on a log axis), block n_methods + m the
 * rounds with a training loss (round, mean, min, max). An empty block gets a
 * NaN line so that the block numbering holds. */
static int write_data(const char *path, const char *dat, const fs_result_entry *e,
                      const fs_run_group *g, int n_methods, group_extent *x)
{
    FILE *f = fopen(dat, "w");
    if (!f) return fs_fail("%s: cannot write plot data: %s", dat, strerror(errno));
    fs_group_curves *c = calloc((size_t)n_methods, sizeof *c);
    int rc = c ? 0 : fs_fail("out of memory drawing the figures of %s", path);
    for (int m = 0; m < n_methods && !rc; m++) rc = fs_group_curves_load(path, e, &g[m], &c[m]);
    for (int block = 0; block < 2 * n_methods && !rc; block++) {
        const fs_group_curves *cm = &c[block % n_methods];
        bool accuracy = block < n_methods, any = false;
        const double *v = accuracy ? cm->test_acc : cm->train_loss;
        fprintf(f, "%s", block ? "\n\n" : "");
        for (int r = 0; r < cm->n_rounds; r++) {
            double stat[3], up[3];
            if (!over_runs(v, cm->n_runs, cm->n_rounds, r, accuracy ? 100 : 1, stat)) continue;
            any = true;
            x->max_round = r > x->max_round ? r : x->max_round;
            fprintf(f, "%d %.8g %.8g %.8g", r, stat[0], stat[1], stat[2]);
            if (accuracy) {
                over_runs(cm->cum_bytes_up, cm->n_runs, cm->n_rounds, r, 1, up);
                x->uploads[block] |= up[0] > 0;
                fprintf(f, " %.8g", up[0] > 0 ? up[0] : NAN);
            }
            fprintf(f, "\n");
        }
        if (!any) fprintf(f, "0 NaN NaN NaN%s\n", accuracy ? " NaN" : "");
        if (accuracy)
            x->any_acc |= any;
        else
            x->any_loss |= any;
    }
    for (int m = 0; c && m < n_methods; m++) fs_group_curves_free(&c[m]);
    free(c);
    int closed = close_checked(f, dat);
    return rc ? rc : closed;
}

/* Round ticks at whole numbers: steps of 1, 2, 5, 10, 20, ... with at most
 * about ten ticks. */
static long round_tick_step(int max_round)
{
    long step = 1;
    for (int i = 0; max_round / step > 10; i++) step *= i % 3 == 1 ? 5 : 2;
    return step;
}

/* Plots, for each method m, block first_block + m: the mean (column 2)
 * against x_col as a line, and with bands its min..max (columns 3 and 4). */
static void plot_lines(FILE *f, const char *dat, const fs_run_group *g, int n_methods,
                       int first_block, int x_col, bool bands, const bool *include)
{
    const char *sep = "plot ";
    for (int m = 0; m < n_methods && bands; m++) {
        if (include && !include[m]) continue;
        fprintf(f, "%s", sep);
        gp_string(f, dat);
        fprintf(f, " index %d using %d:3:4 with filledcurves lc %d notitle", first_block + m, x_col,
                m + 1);
        sep = ", \\\n     ";
    }
    for (int m = 0; m < n_methods; m++) {
        if (include && !include[m]) continue;
        char title[128];
        snprintf(title, sizeof title, "%s (%d seed%s)", g[m].method, g[m].n, g[m].n > 1 ? "s" : "");
        fprintf(f, "%s", sep);
        gp_string(f, dat);
        fprintf(f, " index %d using %d:2 with linespoints lc %d pt 7 ps 0.6 title ",
                first_block + m, x_col, m + 1);
        gp_string(f, title);
        sep = ", \\\n     ";
    }
    fprintf(f, "\nunset output\n");
}

static void set_title(FILE *f, const char *group, const char *what)
{
    char *t = concat(group, ": ", what, "");
    fprintf(f, "set title ");
    gp_string(f, t ? t : what);
    fprintf(f, "\n");
    free(t);
}

static void round_figure(FILE *f, const char *out, const char *dat, const fs_run_group *g,
                         int n_methods, const group_extent *x, bool accuracy, bool auto_range)
{
    fprintf(f, "set output ");
    gp_string(f, out);
    fprintf(f,
            "\nunset logscale x\nset format x '%%g'\nset xlabel 'round'\n"
            "set xrange [0:%d]\nset xtics 0,%ld\n",
            x->max_round > 0 ? x->max_round : 1, round_tick_step(x->max_round));
    set_title(f, g[0].cell_group,
              accuracy
                  ? "accuracy vs round (line: mean over seeds; band: min-max over seeds)"
                  : "training loss vs round (line: mean over seeds; band: min-max over seeds)");
    if (accuracy)
        fprintf(f, "set ylabel 'mean client accuracy (%%)'\n%s\n",
                auto_range ? "set autoscale y" : "set yrange [0:100]");
    else
        fprintf(f, "set ylabel 'training loss (mean over clients)'\nset autoscale y\n");
    plot_lines(f, dat, g, n_methods, accuracy ? 0 : n_methods, 1, true, NULL);
}

static void upload_figure(FILE *f, const char *out, const char *dat, const fs_run_group *g,
                          int n_methods, const group_extent *x, bool auto_range)
{
    fprintf(f, "set output ");
    gp_string(f, out);
    fprintf(f,
            "\nset logscale x\nset autoscale x\nset xtics autofreq\nset format x '%%.0s %%cB'\n"
            "set xlabel 'cumulative upload of all clients (bytes, log scale)'\n"
            "set ylabel 'mean client accuracy (%%)'\n%s\n",
            auto_range ? "set autoscale y" : "set yrange [0:100]");
    static const char *const title = "accuracy vs cumulative upload (mean over seeds)";
    char *what = NULL; /* the title and every method without upload, however many */
    size_t len;
    FILE *w = open_memstream(&what, &len);
    if (w) {
        fputs(title, w);
        const char *sep = "; no upload: ";
        for (int m = 0; m < n_methods; m++)
            if (!x->uploads[m]) fprintf(w, "%s%s", sep, g[m].method), sep = ", ";
        if (fclose(w)) free(what), what = NULL;
    }
    set_title(f, g[0].cell_group, what ? what : title);
    free(what);
    plot_lines(f, dat, g, n_methods, 0, 5, false, x->uploads);
}

/* Draws the figures of the n_methods groups g (one cell group). */
static int plot_cell_group(const char *path, const fs_result_entry *e, const fs_run_group *g,
                           int n_methods, const char *slug, const fs_report_options *o,
                           bool first_group)
{
    char *stem = concat(o->plot_prefix, ".", slug, "");
    char *dat = stem ? concat(stem, ".plot.tmp.dat", "", "") : NULL;
    char *gp = stem ? concat(stem, ".plot.tmp.gp", "", "") : NULL;
    char *final[FIGURES + 1] = {0}, *tmp[FIGURES + 1] = {0};
    bool *uploads = calloc((size_t)n_methods, sizeof *uploads);
    bool made[FIGURES + 1] = {0};
    int rc = -1;
    if (!stem || !dat || !gp || !uploads) goto oom;
    for (int k = 0; k <= FIGURES; k++) {
        /* the extra figure: the accuracy plot at o->first_acc_png */
        final[k] = k < FIGURES ? concat(stem, ".", FIGURE_NAME[k], ".png")
                               : concat(o->first_acc_png ? o->first_acc_png : "", "", "", "");
        tmp[k] = final[k] ? concat(final[k], ".tmp", "", "") : NULL;
        if (!final[k] || !tmp[k]) goto oom;
    }
    group_extent x = {.max_round = 0, .uploads = uploads};
    if (write_data(path, dat, e, g, n_methods, &x)) goto done;
    bool any_upload = false;
    for (int m = 0; m < n_methods; m++) any_upload |= uploads[m];
    made[ACC_VS_ROUND] = made[FIGURES] = x.any_acc;
    made[FIGURES] &= first_group && o->first_acc_png;
    made[LOSS_VS_ROUND] = x.any_loss;
    made[ACC_VS_UPLOAD] = x.any_acc && any_upload;
    FILE *f = fopen(gp, "w");
    if (!f) {
        fs_fail("%s: cannot write the gnuplot script: %s", gp, strerror(errno));
        goto done;
    }
    fprintf(f, "set terminal pngcairo size 960,600 font 'sans,11' noenhanced\n"
               "set datafile missing 'NaN'\nset key outside right\nset grid\n"
               "set style fill transparent solid 0.2 noborder\n");
    if (made[ACC_VS_ROUND])
        round_figure(f, tmp[ACC_VS_ROUND], dat, g, n_methods, &x, true, o->auto_range);
    if (made[FIGURES]) round_figure(f, tmp[FIGURES], dat, g, n_methods, &x, true, o->auto_range);
    if (made[LOSS_VS_ROUND])
        round_figure(f, tmp[LOSS_VS_ROUND], dat, g, n_methods, &x, false, false);
    if (made[ACC_VS_UPLOAD])
        upload_figure(f, tmp[ACC_VS_UPLOAD], dat, g, n_methods, &x, o->auto_range);
    if (close_checked(f, gp) || run_gnuplot(gp)) goto done;
    for (int k = 0; k <= FIGURES; k++)
        if (made[k] && check_png(tmp[k], final[k])) goto done;
    for (int k = 0; k <= FIGURES; k++) {
        if (!made[k]) continue;
        if (rename(tmp[k], final[k])) {
            fs_fail("%s: cannot rename the drawn figure into place: %s", final[k], strerror(errno));
            goto done;
        }
        if (!o->quiet) printf("plot: %s\n", final[k]);
    }
    if (!x.any_acc)
        printf("plot: %s: no accuracy figures (no round was evaluated)\n", g[0].cell_group);
    if (!x.any_loss) printf("plot: %s: no loss figure (no training loss)\n", g[0].cell_group);
    if (x.any_acc && !any_upload)
        printf("plot: %s: no accuracy-vs-upload figure (no method uploads)\n", g[0].cell_group);
    rc = 0;
    goto done;
oom:
    fs_fail("out of memory drawing the figures of %s", path);
done:
    if (rc)
        fs_fail_context("drawing the figures of cell group '%s' (%s.*.png); the results file is "
                        "complete and 'fedsim report' redraws them",
                        g[0].cell_group, stem ? stem : "");
    for (int k = 0; k <= FIGURES; k++) {
        if (tmp[k]) unlink(tmp[k]);
        free(final[k]), free(tmp[k]);
    }
    if (dat) unlink(dat);
    if (gp) unlink(gp);
    free(dat), free(gp), free(stem), free(uploads);
    return rc;
}

int fs_report_plots(const char *path, const fs_result_entry *e, const fs_run_groups *gs,
                    const fs_report_options *o)
{
    if (!gnuplot_installed()) {
        printf("(gnuplot not found: no figures; apt-get install gnuplot-nox)\n");
        return 0;
    }
    /* gp_string cannot carry a line break, and a changed path would draw
     * somewhere else */
    const char *paths[2] = {o->plot_prefix, o->first_acc_png};
    for (int i = 0; i < 2; i++)
        for (const char *p = paths[i]; p && *p; p++)
            if ((unsigned char)*p < 0x20)
                return fs_fail(
                    "figure path '%s' holds a control character, which gnuplot cannot be "
                    "given; choose another --plots/--plot path",
                    paths[i]);
    char(*slugs)[128] = calloc((size_t)gs->n, sizeof *slugs);
    if (!slugs) return fs_fail("out of memory drawing the figures of %s", path);
    int rc = 0, n_slugs = 0;
    /* a cell group's methods are adjacent in gs (run_groups.h) */
    for (int j = 0; j < gs->n && !rc;) {
        int end = j;
        while (end < gs->n && !strcmp(gs->group[end].cell_group, gs->group[j].cell_group)) end++;
        char *slug = slugs[n_slugs];
        slugify(gs->group[j].cell_group, slug, 100);
        /* groups that differ only in characters the slug replaces */
        for (int dup = 2, k = 0; k < n_slugs; k++)
            if (!strcmp(slugs[k], slug)) {
                slugify(gs->group[j].cell_group, slug, 100);
                snprintf(slug + strlen(slug), 28, "-%d", dup++);
                k = -1;
            }
        rc = plot_cell_group(path, e, &gs->group[j], end - j, slug, o, n_slugs == 0);
        n_slugs++;
        j = end;
    }
    free(slugs);
    return rc;
}
