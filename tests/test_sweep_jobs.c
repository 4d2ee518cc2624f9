/* `fedsim sweep --jobs N` (sim/cli/sweep_jobs.h) against a one-process sweep,
 * bad --jobs values, and OpenMP's passive waiting by default (sim/cli/main.c).
 * Stopping and resuming parallel sweeps: tests/test_interrupt.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"

TestSuite(sweep_jobs, .init = cli_setup, .timeout = 600);

/* A sweep of 3 seeds x 2 methods (6 cells of one method each) into <out>. */
static const char *sweep_config(const char *out)
{
    return cli_write_config(out, "sw", " [fedavg, local]", out,
                            "sweep:\n  seed: [0, 1, 2]\n  methods: [fedavg, local]\n");
}

/* Runs `fedsim sweep` of sweep_config(out) with extra arguments; its log. */
static const char *sweep(const char *out, const char *args)
{
    static char log[600];
    snprintf(log, sizeof log, "%s/%s.log", cli_dir, out);
    int st = cli_sh("'%s' sweep '%s' %s > '%s' 2>&1", cli_fedsim, sweep_config(out), args, log);
    cr_assert_eq(st, 0, "fedsim sweep %s failed:\n%s", args, cli_slurp_log(log));
    return cli_slurp(log);
}

/* The file's text with the last field of every line (the export's seconds
 * column, wall time) cut off; malloc'd. */
static char *without_last_column(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap), line[4096];
    cr_assert(text);
    while (fgets(line, sizeof line, f)) {
        char *comma = strrchr(line, ',');
        cr_assert(comma, "%s: a line without a comma: %s", path, line);
        size_t len = (size_t)(comma - line);
        cr_assert_lt(n + len + 2, cap, "%s is too long for this test", path);
        memcpy(text + n, line, len);
        n += len;
        text[n++] = '\n';
    }
    text[n] = 0;
    fclose(f);
    return text;
}

Test(sweep_jobs, two_jobs_give_the_numbers_identities_and_order_of_one)
{
    sweep("one", "--jobs 1");
    const char *log = sweep("two", "--jobs 2");
    cr_assert(strstr(log, "(job 1 of 2") && strstr(log, "(job 2 of 2"),
              "the progress names both jobs:\n%s", log);
    cr_assert(strstr(log, "mean acc %"), "no summary table:\n%s", log);
    char csv[2][600], h5[2][600];
    const char *outs[2] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        snprintf(h5[i], sizeof h5[i], "%s/%s/sw.h5", cli_dir, outs[i]);
        snprintf(csv[i], sizeof csv[i], "%s/%s.csv", cli_dir, outs[i]);
        cr_assert_eq(cli_sh("'%s' export '%s' --csv '%s'", cli_fedsim, h5[i], csv[i]), 0);
    }
    char *a = without_last_column(csv[0]), *b = without_last_column(csv[1]);
    cr_assert(strstr(a, "seconds\n") == NULL && strchr(a, '\n') != NULL);
    cr_assert_str_eq(b, a, "--jobs 2 exported other rows than --jobs 1");
    free(a);
    free(b);
    fs_result_entry *e[2];
    int n[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(fs_results_list(h5[i], &e[i], &n[i]), 0);
    cr_assert_eq(n[0], 6);
    cr_assert_eq(n[1], n[0]);
    for (int j = 0; j < n[0]; j++) {
        cr_assert_str_eq(e[1][j].cell, e[0][j].cell, "cell order differs at %d", j);
        cr_assert_str_eq(e[1][j].method, e[0][j].method);
        cr_assert(e[0][j].identity[0] && e[1][j].complete);
        cr_assert_str_eq(e[1][j].identity, e[0][j].identity, "%s", e[0][j].cell);
        cr_assert_str_eq(e[1][j].cell_identity, e[0][j].cell_identity, "%s", e[0][j].cell);
    }
    for (int i = 0; i < 2; i++) fs_results_list_free(e[i], n[i]);
    char jobs_dir[600];
    snprintf(jobs_dir, sizeof jobs_dir, "%s/two/sw.jobs", cli_dir);
    cr_assert(access(jobs_dir, F_OK) != 0, "%s is left behind", jobs_dir);
    /* A finished sweep is reused whatever the jobs: nothing runs again. */
    log = sweep("two", "--jobs 1");
    cr_assert(strstr(log, "already complete, skipped"), "%s", log);
    log = sweep("one", "--jobs 2");
    cr_assert(strstr(log, "already complete, skipped") && !strstr(log, "] done:"), "%s", log);
}

/* A parallel sweep refuses another config's results as a one-process sweep
 * does (naming the key and the results file), and --force replaces them. */
Test(sweep_jobs, identity_checks_and_force_hold_in_jobs)
{
    sweep("ident", "--jobs 2");
    char log[600];
    snprintf(log, sizeof log, "%s/ident2.log", cli_dir);
    int st = cli_sh("'%s' sweep '%s' --jobs 2 --set federation.rounds=3 > '%s' 2>&1", cli_fedsim,
                    sweep_config("ident"), log);
    const char *text = cli_slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "another config was accepted:\n%s", text);
    cr_assert(strstr(text, "federation.rounds 2 -> 3") && strstr(text, "ident/sw.h5'") &&
              strstr(text, "--force"), "%s", text);
    cr_assert(!strstr(text, ".jobs/"), "the message names a job file:\n%s", text);
    const char *forced = sweep("ident", "--jobs 2 --force --set federation.rounds=3");
    cr_assert(strstr(forced, "--force"), "%s", forced);
    fs_result_entry *e;
    int n;
    char h5[600];
    snprintf(h5, sizeof h5, "%s/ident/sw.h5", cli_dir);
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 6, "the forced sweep left %d groups", n);
    for (int i = 0; i < n; i++)
        cr_assert(e[i].complete && e[i].n_rounds_rows == 4 * 4, "%s/%s: %d rows", e[i].cell,
                  e[i].method, e[i].n_rounds_rows);
    fs_results_list_free(e, n);
}

Test(sweep_jobs, bad_jobs_values_are_refused_with_a_message)
{
    const char *bad[] = {"0", "-2", "two", "3x", "''", "1000000", "99999999999"};
    char log[600];
    snprintf(log, sizeof log, "%s/bad.log", cli_dir);
    const char *cfg = sweep_config("bad");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int st = cli_sh("'%s' sweep '%s' --jobs %s > '%s' 2>&1", cli_fedsim, cfg, bad[i], log);
        const char *text = cli_slurp(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "--jobs %s: exit status %d:\n%s",
                  bad[i], WEXITSTATUS(st), text);
        cr_assert(strstr(text, "--jobs"), "--jobs %s: the message does not name --jobs:\n%s",
                  bad[i], text);
    }
    int st = cli_sh("'%s' run '%s' --jobs 2 > '%s' 2>&1", cli_fedsim, cfg, log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    cr_assert(strstr(cli_slurp(log), "fedsim sweep"), "%s", cli_slurp(log));
    snprintf(log, sizeof log, "%s/bad/sw.h5", cli_dir);
    cr_assert(access(log, F_OK) != 0, "a refused sweep wrote %s", log);
}

/* Writes a finished method with the given mean accuracy into cell. */
static void finished(fs_results *r, const char *cell, const char *method, double acc)
{
    fs_summary s = {.mean_acc = acc};
    cr_assert_eq(fs_results_begin(r, cell, method, NULL), 0, "%s", fs_last_error());
    cr_assert_eq(fs_results_finish(r, NULL, 0, &s), 0, "%s", fs_last_error());
}

/* How a job's file goes back into the sweep's: whole cells, in place. */
Test(sweep_jobs, copy_cells_replaces_cells_in_place_and_appends_new_ones)
{
    char a_path[600], b_path[600];
    snprintf(a_path, sizeof a_path, "%s/copy-a.h5", cli_dir);
    snprintf(b_path, sizeof b_path, "%s/copy-b.h5", cli_dir);
    fs_results *a = fs_results_open(a_path), *b = fs_results_open(b_path);
    cr_assert(a && b, "%s", fs_last_error());
    finished(a, "c1", "fedavg", 0.1);
    finished(a, "c2", "fedavg", 0.2);
    finished(a, "c3", "fedavg", 0.3);
    finished(b, "c2", "local", 0.5); /* c2 as a job left it: another method set */
    finished(b, "c4", "fedavg", 0.4);
    int copied = -1;
    cr_assert_eq(fs_results_copy_cells(a, b_path, "absent", &copied), 0);
    cr_assert_eq(copied, 0);
    cr_assert_eq(fs_results_copy_cells(a, b_path, "c2", &copied), 0, "%s", fs_last_error());
    cr_assert_eq(copied, 1);
    cr_assert_eq(fs_results_copy_cells(a, b_path, NULL, &copied), 0, "%s", fs_last_error());
    cr_assert_eq(copied, 2);
    fs_results_close(a);
    fs_results_close(b);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(a_path, &e, &n), 0);
    const char *cells[] = {"c1", "c2", "c3", "c4"}, *methods[] = {"fedavg", "local", "fedavg",
                                                                   "fedavg"};
    const double accs[] = {0.1, 0.5, 0.3, 0.4};
    cr_assert_eq(n, 4, "%d groups", n);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(e[i].cell, cells[i]);
        cr_assert_str_eq(e[i].method, methods[i], "%s", e[i].cell);
        cr_assert(e[i].complete && e[i].summary.mean_acc == accs[i], "%s", e[i].cell);
    }
    fs_results_list_free(e, n);
}

/* Runs `env <env> OMP_DISPLAY_ENV=verbose fedsim <args>`: how many times
 * libgomp showed `name` (once per start of the binary), its last value into
 * value, and the output into *text. */
static int omp_shown(const char *env, const char *args, const char *name, char *value,
                     size_t cap, const char **text)
{
    char log[600], key[64];
    snprintf(log, sizeof log, "%s/omp.log", cli_dir);
    cr_assert_eq(cli_sh("env %s OMP_DISPLAY_ENV=verbose '%s' %s > '%s' 2>&1", env, cli_fedsim,
                        args, log), 0);
    *text = cli_slurp(log);
    int count = 0;
    snprintf(key, sizeof key, "  %s = '", name);
    value[0] = 0;
    for (const char *p = strstr(*text, key); p; p = strstr(p + 1, key)) {
        const char *v = p + strlen(key);
        snprintf(value, cap, "%.*s", (int)strcspn(v, "'"), v);
        count++;
    }
    return count;
}

Test(sweep_jobs, openmp_waits_passively_unless_the_user_chose_a_policy)
{
    char v[64];
    const char *text;
    /* A computing command starts again with idle threads that sleep. */
    int n = omp_shown("-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT", "run --help", "GOMP_SPINCOUNT", v,
                      sizeof v, &text);
    cr_assert_eq(n, 2, "%s", text);
    cr_assert_str_eq(v, "0", "idle OpenMP threads still spin by default:\n%s", text);
    cr_assert(strstr(text, "usage: fedsim run"), "%s", text);
    /* The user's policy or spin count is kept: one start. */
    n = omp_shown("-u GOMP_SPINCOUNT OMP_WAIT_POLICY=ACTIVE", "sweep --help", "OMP_WAIT_POLICY",
                  v, sizeof v, &text);
    cr_assert_eq(n, 1, "a chosen policy started fedsim again:\n%s", text);
    cr_assert_str_eq(v, "ACTIVE", "%s", text);
    n = omp_shown("-u OMP_WAIT_POLICY GOMP_SPINCOUNT=5000", "sweep --help", "GOMP_SPINCOUNT", v,
                  sizeof v, &text);
    cr_assert_eq(n, 1, "a chosen spin count started fedsim again:\n%s", text);
    cr_assert_str_eq(v, "5000", "%s", text);
    /* Commands that do not compute start once. */
    n = omp_shown("-u OMP_WAIT_POLICY", "--version", "OMP_WAIT_POLICY", v, sizeof v, &text);
    cr_assert_eq(n, 1, "%s", text);
}
