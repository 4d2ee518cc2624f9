/* `fedsim report` and `fedsim export` on a results file built here through
 * the results API (no model run): the statistics table (1 seed, 3 seeds with
 * the hand-computed interval and paired difference, the significance mark,
 * no FedAvg in a group), the figures' names and that a drawing failure is an
 * error, and the tidy CSV (header, row count, quoting, an exact value). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/analysis/run_groups.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static char fedsim[1024];

static void find_fedsim(void)
{
    const char *build = getenv("FEDSIM_BUILD_DIR");
    snprintf(fedsim, sizeof fedsim, "%s/fedsim", build ? build : "build");
    cr_assert(access(fedsim, X_OK) == 0, "no fedsim binary at %s", fedsim);
}

TestSuite(report, .init = find_fedsim, .fini = tu_remove_tmpdirs);

enum { ROUNDS = 3, CLIENTS = 2, ROWS_PER_RUN = ROUNDS * (CLIENTS + 1) };

/* The aggregate accuracy of round r of a run whose final mean accuracy is acc. */
static double round_acc(double acc, int r) { return acc - 0.05 * (ROUNDS - 1 - r); }

/* One finished run: rounds 0..2 of 2 clients plus the aggregate row; the
 * last round's aggregate accuracy is the summary's mean_acc. */
static void write_run(fs_results *r, const char *cell, const char *method, long seed, double acc,
                      int64_t up_per_round)
{
    char cfg[128];
    snprintf(cfg, sizeof cfg, "name: t\nseed: %ld\nmodel:\n  path: m\n", seed);
    cr_assert_eq(fs_results_begin(r, cell, method, cfg), 0, "%s", fs_last_error());
    fs_round_row rows[ROWS_PER_RUN];
    int n = 0;
    for (int round = 0; round < ROUNDS; round++)
        for (int c = 0; c <= CLIENTS; c++) {
            bool aggregate = c == CLIENTS; /* the last row of a round: client -1 */
            rows[n++] =
                (fs_round_row){.round = round,
                               .client = aggregate ? -1 : c,
                               .train_loss = round ? 1.0 / round : NAN,
                               .test_acc = round_acc(acc, round) + (aggregate ? 0 : 0.01 * c),
                               .global_acc = 0.3,
                               .bytes_up = round ? up_per_round / (aggregate ? 1 : CLIENTS) : 0,
                               .bytes_down = aggregate ? 20 : 10,
                               .seconds = 0.5 * round};
        }
    cr_assert_eq(fs_results_append_rounds(r, rows, n), 0, "%s", fs_last_error());
    fs_summary s = {.mean_acc = acc,
                    .worst_acc = acc - 0.1,
                    .global_acc = acc - 0.05,
                    .upload_mb = up_per_round * 2e-6,
                    .seconds = 1,
                    .sample_weighted_acc = acc - 0.02,
                    .clients_evaluated = CLIENTS};
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), 0, "%s", fs_last_error());
}

/* Group alpha=0.5: fedavg and fednano over seeds 0-2 (fedavg 40/42/47 %,
 * fednano 44/45/49 %: paired differences 4, 3, 2; fedprox 41/42/43 % on seeds 1-3);
 * group alpha=1.0: fedavg
 * and local on seed 0 only; group alpha=5.0 (with a tag axis holding a
 * comma): fednano alone; one unfinished run. 12 finished runs. */
static const char *make_results(const char *dir)
{
    const char *path = tu_path_in(dir, "sweep.h5");
    fs_results *r = fs_results_open(path);
    cr_assert(r, "%s", fs_last_error());
    const double fedavg[3] = {0.40, 0.42, 0.47}, fednano[3] = {0.44, 0.45, 0.49};
    for (int s = 0; s < 3; s++) {
        char cell[128];
        snprintf(cell, sizeof cell, "data.partition.dirichlet_alpha=0.5,seed=%d", s);
        write_run(r, cell, "fedavg", s, fedavg[s], 1000);
        write_run(r, cell, "fednano", s, fednano[s], 2000);
        /* seeds 1-3: only 1 and 2 pair with fedavg */
        snprintf(cell, sizeof cell, "data.partition.dirichlet_alpha=0.5,seed=%d", s + 1);
        write_run(r, cell, "fedprox", s + 1, 0.41 + 0.01 * s, 1000);
    }
    write_run(r, "data.partition.dirichlet_alpha=1.0,seed=0", "fedavg", 0, 0.50, 1000);
    write_run(r, "data.partition.dirichlet_alpha=1.0,seed=0", "local", 0, 0.35, 0);
    write_run(r, "data.partition.dirichlet_alpha=5.0,tag=x,y,seed=0", "fednano", 0, 0.60, 2000);
    cr_assert_eq(fs_results_begin(r, "data.partition.dirichlet_alpha=5.0,tag=x,y,seed=1", "fednano",
                                  "seed: 1\n"),
                 0);
    fs_results_close(r);
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    cr_assert(s && fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

/* The line of the report table that holds `method` after the line holding
 * `group` (the group's name is printed on its first row only). */
static const char *table_line(const char *report, const char *group, const char *method, char *line,
                              size_t len)
{
    const char *g = strstr(report, group);
    cr_assert(g, "no group %s in:\n%s", group, report);
    for (const char *p = g; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        snprintf(line, len, "%.*s", (int)n, p);
        if (strstr(line, method)) return line;
        p = eol ? eol + 1 : NULL;
    }
    cr_assert_fail("no %s row in group %s:\n%s", method, group, report);
    return NULL;
}

Test(report, table_states_seeds_intervals_and_paired_differences)
{
    const char *dir = tu_tmpdir_tracked();
    const char *h5 = make_results(dir), *out = tu_path_in(dir, "report.txt");
    cr_assert_eq(cli_sh("'%s' report %s --no-plot > %s 2>&1", fedsim, h5, out), 0, "%s", slurp(out));
    char *rep = slurp(out), line[512];
    /* 3 seeds: 43.00 ± 8.96 (hand computation in test_stats.c) */
    table_line(rep, "dirichlet_alpha=0.5", "fedavg", line, sizeof line);
    cr_assert(strstr(line, " 3 ") && strstr(line, "43.00 ± 8.96") && strstr(line, "(reference)") &&
                  strstr(line, "41.00 ± 8.96"), /* the pooled (sample-weighted) column */
              "%s", line);
    /* fednano 44, 45, 49: 46.00 ± 6.57 (sd sqrt(7)); paired difference
     * +3.00 ± 2.48, significant */
    table_line(rep, "dirichlet_alpha=0.5", "fednano", line, sizeof line);
    cr_assert(strstr(line, "46.00 ± 6.57") && strstr(line, "+3.00 ± 2.48 *"), "%s", line);
    /* paired on seeds 1 and 2 only: 41 - 42 and 42 - 47, mean -3.00 */
    table_line(rep, "dirichlet_alpha=0.5", "fedprox", line, sizeof line);
    cr_assert(strstr(line, "-3.00 ± ") && strstr(line, "[2/3 seeds]") && !strstr(line, "*"), "%s",
              line);
    /* 1 seed: no interval, the difference on that seed */
    table_line(rep, "dirichlet_alpha=1.0", "local", line, sizeof line);
    cr_assert(strstr(line, "35.00 (1 seed)") && strstr(line, "-15.00 (1 seed)"), "%s", line);
    cr_assert(!strstr(rep, "± 0.00"), "a single seed shown as ± 0.00:\n%s", rep);
    /* no fedavg in the group */
    table_line(rep, "dirichlet_alpha=5.0,tag=x,y", "fednano", line, sizeof line);
    cr_assert(strstr(line, "60.00 (1 seed)") && strstr(line, "—"), "%s", line);
    cr_assert(strstr(rep, "Student-t") && strstr(rep, "* = the interval"), "no legend:\n%s", rep);
    cr_assert(strstr(rep, "(1 unfinished run not shown)"), "%s", rep);
    free(rep);
}

static void assert_png(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "no figure %s", path);
    unsigned char sig[8];
    cr_assert(fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8), "%s is no PNG",
              path);
    fclose(f);
}

Test(report, figures_per_cell_group_with_descriptive_names)
{
    if (cli_sh("command -v gnuplot > /dev/null") != 0)
        cr_skip_test("gnuplot is not installed (apt-get install gnuplot-nox): figures not checked");
    const char *dir = tu_tmpdir_tracked();
    const char *h5 = make_results(dir), *out = tu_path_in(dir, "report.txt");
    const char *prefix = tu_path_in(dir, "fig");
    cr_assert_eq(cli_sh("'%s' report %s --plots %s > /dev/null 2>&1", fedsim, h5, prefix), 0);
    char path[1024];
    const char *groups[] = {"dirichlet_alpha-0.5", "dirichlet_alpha-1.0",
                            "dirichlet_alpha-5.0_tag-x_y"};
    const char *figures[] = {"acc-vs-round", "loss-vs-round", "acc-vs-upload"};
    for (int g = 0; g < 3; g++)
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s.%s.%s.png", prefix, groups[g], figures[k]);
            assert_png(path);
        }
    /* nothing left behind: 9 figures + the results file (and its writer's lock file) */
    cr_assert_eq(cli_sh("test $(ls %s | grep -v '\\.lock$' | wc -l) -eq 10", dir), 0,
                 "temporary files left in %s", dir);
    /* --plot: the first group's accuracy figure also at the given path */
    const char *extra = tu_path_in(dir, "main.png");
    cr_assert_eq(cli_sh("'%s' report %s --plot %s > /dev/null 2>&1", fedsim, h5, extra), 0);
    assert_png(extra);
    /* a figure that cannot be written: non-zero exit and a message */
    cr_assert_neq(cli_sh("'%s' report %s --plots /nonexistent-dir/fig > %s 2>&1", fedsim, h5, out), 0);
    char *log = slurp(out);
    cr_assert(strstr(log, "/nonexistent-dir/fig") && strstr(log, "cannot write"), "%s", log);
    free(log);
    /* gnuplot itself failing (its output path is a directory) */
    snprintf(path, sizeof path, "%s.dirichlet_alpha-0.5.loss-vs-round.png.tmp", prefix);
    cr_assert_eq(mkdir(path, 0755), 0);
    cr_assert_neq(cli_sh("'%s' report %s --plots %s > /dev/null 2>&1", fedsim, h5, prefix), 0,
                  "a failed drawing exited 0");
}

/* Splits one CSV line (RFC 4180 quoting) into at most max fields, in place. */
static int csv_fields(char *line, char **field, int max)
{
    int n = 0;
    char *w = line;
    for (char *p = line; n < max;) {
        field[n++] = w;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) *w++ = *p == '"' ? *++p : *p;
            if (*p == '"') p++;
        } else {
            while (*p && *p != ',' && *p != '\n') *w++ = *p++;
        }
        bool more = *p == ',';
        *w++ = 0;
        if (!more) break;
        p++;
    }
    return n;
}

Test(report, export_writes_a_tidy_csv)
{
    const char *dir = tu_tmpdir_tracked();
    const char *h5 = make_results(dir), *csv = tu_path_in(dir, "rows.csv"),
               *log = tu_path_in(dir, "log");
    cr_assert_eq(cli_sh("'%s' export %s --csv %s 2> /dev/null", fedsim, h5, csv), 0);
    char *text = slurp(csv);
    const char *header =
        "cell,data.partition.dirichlet_alpha,tag,seed,method,round,client,row_kind,"
        "train_loss,test_acc,global_acc,bytes_up,bytes_down,seconds\n";
    cr_assert(!strncmp(text, header, strlen(header)), "header:\n%.300s", text);
    int rows = 0, checked = 0, quoted = 0;
    char *save, *line = strtok_r(text + strlen(header), "\n", &save);
    for (; line; line = strtok_r(NULL, "\n", &save), rows++) {
        char *f[16];
        cr_assert_eq(csv_fields(line, f, 16), 14, "row %d has not 14 fields", rows);
        quoted += !strcmp(f[2], "x,y");
        /* fednano, seed 1, round 2, aggregate: accuracy 0.45 exactly */
        if (!strcmp(f[4], "fednano") && !strcmp(f[3], "1") && !strcmp(f[5], "2") &&
            !strcmp(f[6], "-1")) {
            cr_assert_str_eq(f[1], "0.5");
            cr_assert_str_eq(f[7], "aggregate");
            cr_assert_eq(strtod(f[9], NULL), round_acc(0.45, 2));
            cr_assert_str_eq(f[11], "2000");
            checked++;
        }
        if (!strcmp(f[5], "0"))
            cr_assert_str_eq(f[8], "", "round 0's missing loss is an empty field");
    }
    fs_result_entry *e;
    int n_entries, listed_rows = 0;
    cr_assert_eq(fs_results_list(h5, &e, &n_entries), 0);
    for (int i = 0; i < n_entries; i++) listed_rows += e[i].complete ? e[i].n_rounds_rows : 0;
    fs_results_list_free(e, n_entries);
    cr_assert_eq(rows, listed_rows, "%d rows, the finished runs hold %d", rows, listed_rows);
    cr_assert_eq(rows, 12 * ROWS_PER_RUN, "12 finished runs x %d rows", ROWS_PER_RUN);
    cr_assert_eq(checked, 1);
    cr_assert_eq(quoted, ROWS_PER_RUN, "the tag value with a comma survives quoting");
    free(text);
    /* refusals and failures are one message and a non-zero exit */
    int st = cli_sh("'%s' export %s --csv x --format parquet > %s 2>&1", fedsim, h5, log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "parquet: status %d", st);
    text = slurp(log);
    cr_assert(strstr(text, "parquet") && strstr(text, "Debian"), "%s", text);
    free(text);
    cr_assert_neq(cli_sh("'%s' export %s --csv - > /dev/full 2> %s", fedsim, h5, log), 0,
                  "a full disk went unnoticed");
    cr_assert_neq(cli_sh("'%s' export %s/missing.h5 --csv %s 2> /dev/null", fedsim, dir, csv), 0);
    cr_assert_eq(cli_sh("'%s' export --help > %s", fedsim, log), 0);
}

/* No fixed limits: 70 seeds of one method are one row of 70 seeds, and a run of
 * 5000 rounds keeps every round in its curves; the figures are drawn into a
 * directory and from a results file whose names hold spaces and quotes. */
Test(report, seventy_seeds_and_5000_rounds_in_full_under_a_quoted_path)
{
    const char *top = tu_tmpdir_tracked(), *dir = tu_path_in(top, "it's a \"dir\"");
    cr_assert_eq(mkdir(dir, 0755), 0);
    const char *h5 = tu_path_in(dir, "many 'seeds'.h5"), *log = tu_path_in(top, "log");
    fs_results *r = fs_results_open(h5);
    cr_assert(r, "%s", fs_last_error());
    enum { SEEDS = 70, LONG_ROUNDS = 5000 };
    for (int s = 0; s < SEEDS; s++) {
        char cell[64];
        snprintf(cell, sizeof cell, "data.partition.dirichlet_alpha=0.5,seed=%d", s);
        write_run(r, cell, "fedavg", s, 0.40 + 0.001 * s, 1000);
    }
    const char *cfg = "name: t\nseed: 0\n";
    cr_assert_eq(fs_results_begin(r, "long=1,seed=0", "fedavg", cfg), 0, "%s", fs_last_error());
    fs_round_row *rows = calloc(LONG_ROUNDS, sizeof *rows);
    for (int k = 0; k < LONG_ROUNDS; k++)
        rows[k] = (fs_round_row){.round = k, .client = -1, .train_loss = 1, .test_acc = k * 1e-4,
                                 .bytes_up = 10};
    cr_assert_eq(fs_results_append_rounds(r, rows, LONG_ROUNDS), 0, "%s", fs_last_error());
    free(rows);
    fs_summary sum = {.mean_acc = 0.4999, .clients_evaluated = 1};
    cr_assert_eq(fs_results_finish(r, NULL, 0, &sum), 0, "%s", fs_last_error());
    fs_results_close(r);

    fs_result_entry *e;
    int n;
    fs_run_groups gs;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(fs_run_groups_build(e, n, &gs), 0, "%s", fs_last_error());
    int seeds = fs_run_groups_find(&gs, "dirichlet_alpha=0.5", "fedavg");
    int lng = fs_run_groups_find(&gs, "long=1", "fedavg");
    cr_assert(seeds >= 0 && lng >= 0);
    cr_assert_eq(gs.group[seeds].n, SEEDS);
    fs_group_curves c;
    cr_assert_eq(fs_group_curves_load(h5, e, &gs.group[lng], &c), 0, "%s", fs_last_error());
    cr_assert_eq(c.n_rounds, LONG_ROUNDS);
    cr_assert_float_eq(c.test_acc[LONG_ROUNDS - 1], (LONG_ROUNDS - 1) * 1e-4, 1e-12);
    cr_assert_float_eq(c.cum_bytes_up[LONG_ROUNDS - 1], 10.0 * LONG_ROUNDS, 1e-9);
    fs_group_curves_free(&c);
    fs_run_groups_free(&gs);
    fs_results_list_free(e, n);

    /* the whole path reaches fedsim as one argument (no shell quoting games) */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (!freopen(log, "w", stdout)) _exit(126);
        execl(fedsim, "fedsim", "report", h5, (char *)NULL);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    char *text = slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "report failed:\n%s", text);
    char line[512];
    cr_assert(strstr(table_line(text, "dirichlet_alpha=0.5", "fedavg", line, sizeof line), " 70 "),
              "%s", line);
    free(text);
    if (cli_sh("command -v gnuplot > /dev/null") != 0) return;
    char png[1024];
    snprintf(png, sizeof png, "%s/many 'seeds'.long-1.acc-vs-round.png", dir);
    assert_png(png);
    snprintf(png, sizeof png, "%s/many 'seeds'.dirichlet_alpha-0.5.acc-vs-upload.png", dir);
    assert_png(png);
}

/* The accuracy-vs-upload figure names every method without upload in its
 * title, however many (the title was a 512-byte buffer that silently dropped
 * the names past it). gnuplot is replaced by a script that keeps its input. */
Test(report, upload_figure_names_every_method_without_upload)
{
    const char *dir = tu_tmpdir_tracked(), *h5 = tu_path_in(dir, "many.h5");
    const char *kept = tu_path_in(dir, "kept.gp"), *bin = tu_path_in(dir, "bin");
    fs_results *r = fs_results_open(h5);
    cr_assert(r, "%s", fs_last_error());
    enum { METHODS = 14 };
    char method[METHODS][64];
    write_run(r, "data.partition.dirichlet_alpha=0.5,seed=0", "fedavg", 0, 0.40, 1000);
    for (int m = 0; m < METHODS; m++) {
        snprintf(method[m], sizeof method[m], "a_local_method_with_a_long_descriptive_name_%02d", m);
        write_run(r, "data.partition.dirichlet_alpha=0.5,seed=0", method[m], 0, 0.30, 0);
    }
    fs_results_close(r);
    cr_assert_eq(mkdir(bin, 0755), 0);
    FILE *f = fopen(tu_path_in(bin, "gnuplot"), "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\ncp \"$1\" '%s'\nexit 1\n", kept);
    fclose(f);
    cr_assert_eq(chmod(tu_path_in(bin, "gnuplot"), 0755), 0);
    cr_assert_neq(cli_sh("PATH='%s':\"$PATH\" '%s' report %s > /dev/null 2>&1", bin, fedsim, h5), 0,
                  "the stand-in gnuplot fails, so must the report");
    char *script = slurp(kept);
    const char *title = strstr(script, "no upload: ");
    cr_assert(title, "%s", script);
    for (int m = 0; m < METHODS; m++)
        cr_assert(strstr(title, method[m]), "%s is missing from the title:\n%.2000s", method[m],
                  title);
    free(script);
}
