/* The results table (method x accuracy, mean +- std over seeds) and the
 * accuracy-vs-round plot of a results file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/cli/experiment.h"
#include "sim/io/error.h"

typedef struct {
    char cell[256], method[64];
    int n;
    double acc[64], worst[64], global[64], upload, seconds;
    int entry[64];
} group;

/* The cell label without its seed=... component, so seeds pool together,
 * and each "a.b.key=value" shortened to "key=value" to keep the table narrow. */
static void strip_seed(const char *cell, char *out, size_t len)
{
    out[0] = 0;
    const char *p = cell;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n), *dot = p;
        for (const char *q = p; eq && q < eq; q++)
            if (*q == '.') dot = q + 1;
        n -= (size_t)(dot - p);
        p = dot;
        if (!(n >= 5 && !strncmp(p, "seed=", 5))) {
            size_t used = strlen(out);
            if (used && used + 1 < len) strcat(out, ",");
            used = strlen(out);
            if (used + n < len) strncat(out, p, n);
        }
        p += n + (end ? 1 : 0);
    }
    if (!out[0]) snprintf(out, len, "%s", strncmp(cell, "seed=", 5) ? cell : "all");
}

static void mean_std(const double *x, int n, double *mean, double *sd)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i] / n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(v / (n - 1)) : 0;
}

static int plot(const char *path, const group *g, int ng, const fs_result_entry *e,
                const char *cell_group, const char *png)
{
    char data[4200], script[4200];
    snprintf(data, sizeof data, "%s.plot.dat", png);
    snprintf(script, sizeof script, "%s.plot.gp", png);
    FILE *f = fopen(data, "w");
    if (!f) return fs_fail("%s: cannot write plot data", data);
    int ncols = 0, max_round = 0;
    double *acc[64] = {0};
    int cnt_rounds = 0;
    for (int i = 0; i < ng && ncols < 64; i++) {
        if (strcmp(g[i].cell, cell_group)) continue;
        /* mean over seeds of the aggregate row's accuracy, per round */
        acc[ncols] = calloc(4096, sizeof(double));
        int *cnt = calloc(4096, sizeof(int));
        for (int s = 0; s < g[i].n; s++) {
            fs_round_row *rows;
            int n;
            if (fs_results_read_rounds(path, e[g[i].entry[s]].cell, g[i].method, &rows, &n)) continue;
            for (int r = 0; r < n; r++)
                if (rows[r].client == -1 && !isnan(rows[r].test_acc) && rows[r].round < 4096) {
                    acc[ncols][rows[r].round] += rows[r].test_acc;
                    cnt[rows[r].round]++;
                    if (rows[r].round > max_round) max_round = rows[r].round;
                }
            free(rows);
        }
        for (int r = 0; r < 4096; r++) acc[ncols][r] = cnt[r] ? 100 * acc[ncols][r] / cnt[r] : NAN;
        free(cnt);
        fprintf(f, "%s%s", ncols ? "\t" : "round\t", g[i].method);
        ncols++;
    }
    fprintf(f, "\n");
    for (int r = 0; r <= max_round; r++) {
        int any = 0;
        for (int c = 0; c < ncols; c++) any |= !isnan(acc[c][r]);
        if (!any) continue;
        fprintf(f, "%d", r);
        for (int c = 0; c < ncols; c++) fprintf(f, "\t%.4f", acc[c][r]);
        fprintf(f, "\n");
        cnt_rounds++;
    }
    fclose(f);
    for (int c = 0; c < ncols; c++) free(acc[c]);
    f = fopen(script, "w");
    if (!f) return fs_fail("%s: cannot write the gnuplot script", script);
    fprintf(f,
            "set terminal pngcairo size 960,600 font 'sans,11'\nset output '%s'\n"
            "set datafile missing 'NaN'\nset key outside right\nset grid\n"
            "set title \"%s\" noenhanced\nset xlabel 'round'\n"
            "set ylabel 'mean client accuracy (%%)'\n"
            "plot for [i=2:%d] '%s' using 1:i with linespoints title columnheader(i) noenhanced\n",
            png, cell_group, ncols + 1, data);
    fclose(f);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
    int rc = cnt_rounds ? system(cmd) : 0;
    unlink(script);
    unlink(data);
    if (rc == -1) return fs_fail("cannot start gnuplot to draw %s: %s", png, strerror(errno));
    if (rc)
        return fs_fail("gnuplot failed (%s %d) drawing %s; the results file is complete, and 'fedsim "
                       "report' redraws the plot", WIFEXITED(rc) ? "exit status" : "signal",
                       WIFEXITED(rc) ? WEXITSTATUS(rc) : WTERMSIG(rc), png);
    return 0;
}

int fs_report(const char *path, const char *png_path, bool quiet)
{
    fs_result_entry *e;
    int n;
    if (fs_results_list(path, &e, &n)) return -1;
    group *g = calloc((size_t)(n ? n : 1), sizeof *g);
    if (!g) {
        fs_results_list_free(e, n);
        return fs_fail("out of memory");
    }
    int ng = 0, incomplete = 0;
    for (int i = 0; i < n; i++) {
        if (!e[i].complete) {
            incomplete++;
            continue;
        }
        char cell[256];
        strip_seed(e[i].cell, cell, sizeof cell);
        int j = 0;
        while (j < ng && (strcmp(g[j].cell, cell) || strcmp(g[j].method, e[i].method))) j++;
        if (j == ng) {
            snprintf(g[ng].cell, sizeof g[ng].cell, "%s", cell);
            snprintf(g[ng].method, sizeof g[ng].method, "%s", e[i].method);
            ng++;
        }
        if (g[j].n == 64) continue;
        const fs_summary *s = &e[i].summary;
        g[j].acc[g[j].n] = 100 * s->mean_acc, g[j].worst[g[j].n] = 100 * s->worst_acc;
        g[j].global[g[j].n] = 100 * s->global_acc;
        g[j].upload += s->upload_mb, g[j].seconds += s->seconds;
        g[j].entry[g[j].n++] = i;
    }
    int width = 4;
    for (int j = 0; j < ng; j++) width = (int)strlen(g[j].cell) > width ? (int)strlen(g[j].cell) : width;
    printf("\n%s\n", path);
    printf("%-*s %-12s %5s  %-15s %-15s %-15s %10s %8s\n", width, "cell", "method", "seeds",
           "mean acc %", "worst acc %", "global acc %", "upload MB", "time s");
    const char *prev = "";
    for (int j = 0; j < ng; j++) {
        double am, as, wm, ws, gm, gs;
        mean_std(g[j].acc, g[j].n, &am, &as);
        mean_std(g[j].worst, g[j].n, &wm, &ws);
        mean_std(g[j].global, g[j].n, &gm, &gs);
        char a[32], w[32], gl[32];
        snprintf(a, sizeof a, "%6.2f ± %-5.2f", am, as);
        snprintf(w, sizeof w, "%6.2f ± %-5.2f", wm, ws);
        snprintf(gl, sizeof gl, "%6.2f ± %-5.2f", gm, gs);
        printf("%-*s %-12s %5d  %-16s %-16s %-16s %10.3f %8.1f\n", width,
               strcmp(prev, g[j].cell) ? g[j].cell : "", g[j].method, g[j].n, a, w, gl,
               g[j].upload / g[j].n, g[j].seconds / g[j].n);
        prev = g[j].cell;
    }
    if (incomplete) printf("(%d unfinished run%s not shown)\n", incomplete, incomplete > 1 ? "s" : "");
    int rc = 0;
    if (png_path && ng) {
        if (system("command -v gnuplot >/dev/null 2>&1")) {
            printf("(gnuplot not found: no plot; apt-get install gnuplot-nox)\n");
        } else {
            /* one plot per cell group; the first gets png_path, the others a suffix */
            int made = 0;
            for (int j = 0; j < ng && !rc; j++) {
                int first = 1;
                for (int k = 0; k < j; k++) first &= strcmp(g[k].cell, g[j].cell) != 0;
                if (!first) continue;
                char png[4096];
                if (made == 0) snprintf(png, sizeof png, "%s", png_path);
                else snprintf(png, sizeof png, "%.*s-%d.png", (int)strlen(png_path) - 4, png_path, made);
                rc = plot(path, g, ng, e, g[j].cell, png);
                if (!rc && !quiet) printf("plot: %s\n", png);
                made++;
            }
        }
    }
    free(g);
    fs_results_list_free(e, n);
    return rc;
}
