/* fedsim export: every round row of a results file as one tidy CSV table
 * (one row per cell x method x seed x round x client, every sweep axis a
 * column), ready for pandas.read_csv. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/analysis/cell_label.h"
#include "sim/cli/commands.h"
#include "sim/io/error.h"
#include "sim/io/results.h"

static const char *const ROW_COLUMNS =
    "seed,method,round,client,row_kind,train_loss,test_acc,global_acc,bytes_up,bytes_down,seconds";

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: fedsim export RESULTS.h5 --csv FILE [--format csv|parquet]\n"
            "\n"
            "Writes every round row of the finished runs as CSV (FILE '-': standard output), one\n"
            "row per cell x method x seed x round x client, with the columns\n"
            "  cell,<every sweep axis, named by its dotted config key>,\n"
            "  %s\n"
            "row_kind is 'client' (client >= 0) or 'aggregate' (client -1: the round's mean over\n"
            "clients, sum of bytes); accuracies are fractions 0-1; an empty field is a missing\n"
            "value (e.g. a round that was not evaluated). Read it with pandas.read_csv(FILE).\n"
            "--format parquet is refused: Debian ships no C library that writes Parquet.\n",
            ROW_COLUMNS);
}

/* RFC 4180: quoted when it holds a separator, quote, line break or edge blank. */
static void csv_text(FILE *f, const char *s)
{
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The shortest of %.15g / %.17g that reads back as the same double; a NaN
 * is the empty field pandas reads as missing. */
static void csv_number(FILE *f, double x)
{
    if (isnan(x)) return;
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, sizeof buf, "%.17g", x);
    fputs(buf, f);
}

/* The sweep axes of the finished entries, in order of first appearance,
 * without the seed and method axes (columns of their own). */
static int collect_axes(const fs_cell_label *labels, const fs_result_entry *e, int n,
                        const char ***axes, int *n_axes)
{
    int cap = 1;
    for (int i = 0; i < n; i++) cap += labels[i].n;
    *axes = malloc((size_t)cap * sizeof **axes);
    *n_axes = 0;
    if (!*axes) return fs_fail("out of memory");
    for (int i = 0; i < n; i++) {
        if (!e[i].complete) continue;
        for (int a = 0; a < labels[i].n; a++) {
            const char *key = labels[i].axis[a].key;
            bool seen = fs_label_axis_is_replicate(key);
            for (int k = 0; k < *n_axes && !seen; k++) seen = !strcmp((*axes)[k], key);
            if (!seen) (*axes)[(*n_axes)++] = key;
        }
    }
    return 0;
}

static int write_rows(FILE *f, const char *path, const fs_result_entry *en,
                      const fs_cell_label *label, const char *const *axes, int n_axes)
{
    fs_round_row *rows;
    int n;
    if (fs_results_read_rounds(path, en->cell, en->method, &rows, &n)) return -1;
    long seed;
    bool has_seed = fs_run_seed(en->config_yaml, en->cell, &seed);
    for (int i = 0; i < n; i++) {
        const fs_round_row *r = &rows[i];
        csv_text(f, en->cell);
        for (int k = 0; k < n_axes; k++) {
            fputc(',', f);
            for (int a = 0; a < label->n; a++)
                if (!strcmp(label->axis[a].key, axes[k])) {
                    csv_text(f, label->axis[a].value);
                    break;
                }
        }
        fputc(',', f);
        if (has_seed) fprintf(f, "%ld", seed);
        fputc(',', f);
        csv_text(f, en->method);
        fprintf(f, ",%d,%d,%s,", (int)r->round, (int)r->client,
                r->client < 0 ? "aggregate" : "client");
        csv_number(f, r->train_loss);
        fputc(',', f);
        csv_number(f, r->test_acc);
        fputc(',', f);
        csv_number(f, r->global_acc);
        fprintf(f, ",%lld,%lld,", (long long)r->bytes_up, (long long)r->bytes_down);
        csv_number(f, r->seconds);
        fputc('\n', f);
    }
    free(rows);
    return 0;
}

/* Writes the CSV of the results file `path` to f; the number of runs left
 * out because they are unfinished goes to *unfinished. */
static int write_csv(FILE *f, const char *path, int *unfinished)
{
    fs_result_entry *e;
    int n;
    if (fs_results_list(path, &e, &n)) return -1;
    fs_cell_label *labels = calloc((size_t)(n ? n : 1), sizeof *labels);
    const char **axes = NULL;
    int n_axes = 0, rc = -1;
    *unfinished = 0;
    if (!labels) {
        fs_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (fs_cell_label_parse(e[i].cell, &labels[i])) goto done;
    if (collect_axes(labels, e, n, &axes, &n_axes)) goto done;
    fputs("cell", f);
    for (int k = 0; k < n_axes; k++) {
        fputc(',', f);
        csv_text(f, axes[k]);
    }
    fprintf(f, ",%s\n", ROW_COLUMNS);
    for (int i = 0; i < n; i++) {
        if (!e[i].complete) {
            ++*unfinished;
            continue;
        }
        if (write_rows(f, path, &e[i], &labels[i], axes, n_axes)) goto done;
    }
    rc = 0;
done:
    for (int i = 0; labels && i < n; i++) fs_cell_label_free(&labels[i]);
    free(labels);
    free(axes);
    fs_results_list_free(e, n);
    return rc;
}

/* FILE is written as FILE.tmp and renamed when complete, so a failed export
 * (disk full) never leaves a cut table under the asked-for name. */
static int export_csv(const char *path, const char *out, int *unfinished)
{
    bool to_stdout = !strcmp(out, "-");
    size_t len = strlen(out) + sizeof ".tmp";
    char *tmp = malloc(len);
    if (!tmp) return fs_fail("out of memory");
    snprintf(tmp, len, "%s.tmp", out);
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    int rc = -1;
    if (!f) {
        fs_fail("%s: cannot write: %s", tmp, strerror(errno));
    } else {
        rc = write_csv(f, path, unfinished);
        bool bad = fflush(f) || ferror(f);
        if (!to_stdout) bad |= fclose(f) != 0;
        if (!rc && bad)
            rc = fs_fail("%s: write failed: %s", to_stdout ? "standard output" : tmp,
                         strerror(errno ? errno : EIO));
        if (!rc && !to_stdout && rename(tmp, out))
            rc = fs_fail("%s: cannot rename %s into place: %s", out, tmp, strerror(errno));
        if (rc && !to_stdout) remove(tmp);
    }
    free(tmp);
    return rc;
}

int fs_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"csv", required_argument, NULL, 'c'},
                                         {"format", required_argument, NULL, 'f'},
                                         {0}};
    const char *file, *csv = NULL, *format = "csv";
    for (int c; (c = fs_cli_getopt(argc, argv, "export", "h", opts)) != -1;) {
        if (c == 'h') {
            export_usage(stdout);
            return 0;
        }
        if (c == '?') {
            export_usage(stderr);
            return 2;
        }
        *(c == 'c' ? &csv : &format) = optarg;
    }
    if (fs_cli_operand(argc, argv, "export", &file)) {
        export_usage(stderr);
        return 2;
    }
    if (!strcmp(format, "parquet")) {
        fprintf(stderr, "fedsim export: --format parquet is not supported: Debian packages no C "
                        "library that writes Parquet (Apache Arrow's C++/GLib libraries are not in "
                        "Debian); export CSV and convert with pandas: "
                        "pandas.read_csv(\"x.csv\").to_parquet(\"x.parquet\")\n");
        return 2;
    }
    if (strcmp(format, "csv")) {
        fprintf(stderr, "fedsim export: --format %s: unknown format (csv)\n", format);
        return 2;
    }
    if (!file || !csv) {
        fprintf(stderr, "fedsim export: %s\n\n",
                !file ? "no results file given" : "--csv FILE is required");
        export_usage(stderr);
        return 2;
    }
    int unfinished = 0;
    if (export_csv(file, csv, &unfinished)) {
        fprintf(stderr, "fedsim export: %s\n", fs_last_error());
        return 1;
    }
    if (unfinished)
        fprintf(stderr, "fedsim export: %d unfinished run%s not exported\n", unfinished,
                unfinished > 1 ? "s" : "");
    return 0;
}
