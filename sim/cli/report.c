/* The results table of a results file: per cell group and method, the mean
 * over seeds with its 95 % confidence interval, and the paired difference to
 * FedAvg on the same seeds (the seed fixes the partition, so pairing removes
 * the partition's share of the spread). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/analysis/stats.h"
#include "sim/cli/report.h"
#include "sim/io/error.h"

/* Characters, not bytes: the table holds UTF-8 (±, —, Δ). */
static int display_width(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void print_padded(const char *s, int width, bool right)
{
    int pad = width - display_width(s);
    if (right)
        printf("%*s%s", pad > 0 ? pad : 0, "", s);
    else
        printf("%s%*s", s, pad > 0 ? pad : 0, "");
}

typedef double (*summary_field)(const fs_summary *s);
static double mean_acc_pct(const fs_summary *s) { return 100 * s->mean_acc; }
static double pooled_acc_pct(const fs_summary *s) { return 100 * s->sample_weighted_acc; }
static double worst_acc_pct(const fs_summary *s) { return 100 * s->worst_acc; }
static double global_acc_pct(const fs_summary *s) { return 100 * s->global_acc; }
static double upload_mb(const fs_summary *s) { return s->upload_mb; }
static double seconds(const fs_summary *s) { return s->seconds; }

/* "43.00 ± 8.96", or "40.00 (1 seed)" where one seed gives no interval. */
static void format_interval(fs_interval iv, bool signed_mean, char *out, size_t len)
{
    const char *fmt = signed_mean ? "%+.2f" : "%.2f";
    int k = snprintf(out, len, fmt, iv.mean);
    if (k < 0 || (size_t)k >= len) return;
    if (iv.n >= 2)
        snprintf(out + k, len - (size_t)k, " ± %.2f", iv.half_width);
    else
        snprintf(out + k, len - (size_t)k, " (1 seed)");
}

static fs_interval group_interval(const fs_result_entry *e, const fs_run_group *g, summary_field f,
                                  double *scratch)
{
    for (int i = 0; i < g->n; i++) scratch[i] = f(&e[g->run[i].entry].summary);
    return fs_ci95(scratch, g->n);
}

/* The paired difference of g's mean accuracy to the reference group's on
 * the seeds both have; n == 0 when they share none. */
static fs_interval paired_to_reference(const fs_result_entry *e, const fs_run_group *g,
                                       const fs_run_group *ref, double *a, double *b)
{
    int pairs = 0;
    for (int i = 0; i < g->n; i++) {
        if (!g->run[i].seed_known) continue;
        for (int j = 0; j < ref->n; j++)
            if (ref->run[j].seed_known && ref->run[j].seed == g->run[i].seed) {
                a[pairs] = mean_acc_pct(&e[g->run[i].entry].summary);
                b[pairs++] = mean_acc_pct(&e[ref->run[j].entry].summary);
                break;
            }
    }
    return pairs ? fs_paired_ci95(a, b, pairs) : (fs_interval){.n = 0};
}

/* The Δ column of group g. */
static void format_difference(const fs_result_entry *e, const fs_run_groups *gs,
                              const fs_run_group *g, double *a, double *b, char *out, size_t len)
{
    if (!strcmp(g->method, FS_REPORT_REFERENCE_METHOD)) {
        snprintf(out, len, "(reference)");
        return;
    }
    int r = fs_run_groups_find(gs, g->cell_group, FS_REPORT_REFERENCE_METHOD);
    fs_interval d = r < 0 ? (fs_interval){.n = 0} : paired_to_reference(e, g, &gs->group[r], a, b);
    if (d.n == 0) {
        snprintf(out, len, "—");
        return;
    }
    char iv[64];
    format_interval(d, true, iv, sizeof iv);
    int k = snprintf(out, len, "%s%s", iv, fs_interval_excludes_zero(d) ? " *" : "");
    if (d.n < g->n && k >= 0 && (size_t)k < len)
        snprintf(out + k, len - (size_t)k, " [%d/%d seeds]", d.n, g->n);
}

static const char *const LEGEND =
    "mean/worst/global acc %: unweighted mean of the clients' accuracies on their own test\n"
    "  items (clients without test items left out), the worst client's, and the accuracy on\n"
    "  the global test set, at the last round; pooled acc %: the clients' test items pooled\n"
    "  (each client weighted by its test items, Flower's default). Each is the mean over\n"
    "  seeds ± half-width of its 95 % Student-t confidence interval (df = seeds - 1);\n"
    "  \"1 seed\": no interval.\n"
    "Δ " FS_REPORT_REFERENCE_METHOD " (points): mean acc minus " FS_REPORT_REFERENCE_METHOD
    "'s in the same cell group and seed (the seed\n"
    "  fixes the partition), mean ± 95 % CI of these paired differences; * = the interval\n"
    "  excludes 0 (significant at 5 %); [k/n seeds] = only k of the row's n seeds have\n"
    "  a " FS_REPORT_REFERENCE_METHOD " run; — = none has. upload MB, time s: means over seeds.\n";

enum { COLUMNS = 10, CELL_TEXT = 256 /* a cell group has at most 255 bytes */ };

static void print_row(const char *const cols[COLUMNS], const int width[COLUMNS])
{
    /* text columns left-aligned, numbers right-aligned */
    static const bool right[COLUMNS] = {false, false, true,  false, false,
                                        false, false, false, true,  true};
    for (int c = 0; c < COLUMNS; c++) {
        if (c) printf("  ");
        print_padded(cols[c], width[c], right[c]);
    }
    printf("\n");
}

static int print_table(const char *path, const fs_result_entry *e, const fs_run_groups *gs)
{
    int most = 1;
    for (int j = 0; j < gs->n; j++) most = gs->group[j].n > most ? gs->group[j].n : most;
    double *a = malloc((size_t)most * sizeof *a), *b = malloc((size_t)most * sizeof *b);
    char(*cells)[COLUMNS][CELL_TEXT] = malloc((size_t)(gs->n ? gs->n : 1) * sizeof *cells);
    if (!a || !b || !cells) {
        free(a), free(b), free(cells);
        return fs_fail("out of memory printing the table of %s", path);
    }
    const char *head[COLUMNS] = {
        "cell group",  "method",       "seeds",     "mean acc %", "Δ " FS_REPORT_REFERENCE_METHOD,
        "pooled acc %", "worst acc %", "global acc %", "upload MB", "time s"};
    int width[COLUMNS];
    for (int c = 0; c < COLUMNS; c++) width[c] = display_width(head[c]);
    for (int j = 0; j < gs->n; j++) {
        const fs_run_group *g = &gs->group[j];
        char(*row)[CELL_TEXT] = cells[j];
        bool same_cell_group = j && !strcmp(gs->group[j - 1].cell_group, g->cell_group);
        snprintf(row[0], CELL_TEXT, "%s", same_cell_group ? "" : g->cell_group);
        snprintf(row[1], CELL_TEXT, "%s", g->method);
        snprintf(row[2], CELL_TEXT, "%d", g->n);
        format_interval(group_interval(e, g, mean_acc_pct, a), false, row[3], CELL_TEXT);
        format_difference(e, gs, g, a, b, row[4], CELL_TEXT);
        format_interval(group_interval(e, g, pooled_acc_pct, a), false, row[5], CELL_TEXT);
        format_interval(group_interval(e, g, worst_acc_pct, a), false, row[6], CELL_TEXT);
        format_interval(group_interval(e, g, global_acc_pct, a), false, row[7], CELL_TEXT);
        snprintf(row[8], CELL_TEXT, "%.3f", group_interval(e, g, upload_mb, a).mean);
        snprintf(row[9], CELL_TEXT, "%.1f", group_interval(e, g, seconds, a).mean);
        for (int c = 0; c < COLUMNS; c++)
            if (display_width(row[c]) > width[c]) width[c] = display_width(row[c]);
    }
    printf("\n%s\n", path);
    print_row(head, width);
    for (int j = 0; j < gs->n; j++) {
        const char *row[COLUMNS];
        for (int c = 0; c < COLUMNS; c++) row[c] = cells[j][c];
        print_row(row, width);
    }
    printf("%s", LEGEND);
    free(a), free(b), free(cells);
    return 0;
}

int fs_report_file(const char *path, const fs_report_options *o)
{
    fs_result_entry *e;
    int n;
    if (fs_results_list(path, &e, &n)) return -1;
    fs_run_groups gs;
    int rc = fs_run_groups_build(e, n, &gs);
    if (!rc) {
        rc = print_table(path, e, &gs);
        if (gs.incomplete)
            printf("(%d unfinished run%s not shown)\n", gs.incomplete,
                   gs.incomplete > 1 ? "s" : "");
        fflush(stdout);
        if (!rc && o->plot_prefix && gs.n) rc = fs_report_plots(path, e, &gs, o);
        fs_run_groups_free(&gs);
    }
    fs_results_list_free(e, n);
    return rc;
}

char *fs_report_default_prefix(const char *results_path)
{
    size_t len = strlen(results_path);
    if (len > 3 && !strcmp(results_path + len - 3, ".h5")) len -= 3;
    char *prefix = malloc(len + 1);
    if (!prefix) {
        fs_fail("out of memory");
        return NULL;
    }
    memcpy(prefix, results_path, len);
    prefix[len] = 0;
    return prefix;
}

int fs_report(const char *results_path, const char *png_path, bool quiet)
{
    char *prefix = fs_report_default_prefix(results_path);
    if (!prefix) return -1;
    fs_report_options o = {
        .plot_prefix = png_path ? prefix : NULL, .first_acc_png = png_path, .quiet = quiet};
    int rc = fs_report_file(results_path, &o);
    free(prefix);
    return rc;
}
