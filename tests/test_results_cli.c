/* Results you can trust, end to end (fedsim run / sweep on a tiny model): a
 * re-run under another config stops and names the keys that differ instead
 * of reusing or mixing old numbers (--force replaces them), a second writer
 * is refused naming the first's pid, a re-run killed early keeps the old
 * results, and --sweep / --yes / empty sweeps behave as documented. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

TestSuite(results_cli, .init = cli_setup, .timeout = 600);

/* Runs a fedsim command line (after "fedsim"), output to <cli_dir>/<log>.txt;
 * returns the exit status and sets *out to the output. */
static int fedsim(const char *log, const char **out, const char *args)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.txt", cli_dir, log);
    int st = cli_sh("'%s' %s > %s 2>&1", cli_fedsim, args, path);
    *out = cli_slurp(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *h5_of(const char *out, const char *name)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/%s/%s.h5", cli_dir, out, name);
    return p;
}

/* The rounds rows of every group, in list order, as "cell/method:rows;". */
static void groups(const char *h5, char *buf, size_t cap)
{
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0, "%s", fs_last_error());
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s/%s:%d%s;", e[i].cell, e[i].method,
                 e[i].n_rounds_rows, e[i].complete ? "" : "(running)");
    fs_results_list_free(e, n);
}

Test(results_cli, a_sweep_rerun_under_another_config_is_refused_then_forced)
{
    const char *cfg = cli_write_config("sw", "sw", " [fedavg]", "sw", "sweep:\n  seed: [0, 1]\n");
    char args[1200], before[2048], after[2048];
    const char *out;
    snprintf(args, sizeof args, "sweep %s --quiet", cfg);
    cr_assert_eq(fedsim("sw1", &out, args), 0, "%s", out);
    groups(h5_of("sw", "sw"), before, sizeof before);
    cr_assert_str_eq(before, "seed=0/fedavg:12;seed=1/fedavg:12;", "rounds 0..2 x 4 rows");

    snprintf(args, sizeof args, "sweep %s --set federation.rounds=3 --set adapter.rank=8", cfg);
    cr_assert_neq(fedsim("sw2", &out, args), 0, "a stale sweep was reused:\n%s", out);
    cr_assert(strstr(out, "federation.rounds 2 -> 3") && strstr(out, "adapter.rank 4 -> 8") &&
              strstr(out, "--force"), "%s", out);
    cr_assert(!strstr(out, "already complete"), "%s", out);
    cr_assert(!strstr(out, "loading model"), "refused only after loading the model:\n%s", out);
    groups(h5_of("sw", "sw"), after, sizeof after);
    cr_assert_str_eq(after, before);

    snprintf(args, sizeof args, "sweep %s --set federation.rounds=3 --set adapter.rank=8 --force --quiet", cfg);
    cr_assert_eq(fedsim("sw3", &out, args), 0, "%s", out);
    groups(h5_of("sw", "sw"), after, sizeof after);
    cr_assert_str_eq(after, "seed=0/fedavg:16;seed=1/fedavg:16;");

    snprintf(args, sizeof args, "sweep %s --set federation.rounds=3 --set adapter.rank=8", cfg);
    cr_assert_eq(fedsim("sw4", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "already complete"), "the same config re-ran:\n%s", out);
    /* what does not change numbers does not make a conflict */
    snprintf(args, sizeof args, "sweep %s --set federation.rounds=3 --set adapter.rank=8 --threads 1 "
             "--set runtime.rows_per_pass=512", cfg);
    cr_assert_eq(fedsim("sw5", &out, args), 0, "%s", out);
}

Test(results_cli, two_runs_of_one_name_with_other_settings_do_not_mix)
{
    const char *cfg = cli_write_config("mix", "mix", " [fedavg]", "mix", "");
    char args[1200], got[2048];
    const char *out;
    snprintf(args, sizeof args, "run %s --quiet", cfg);
    cr_assert_eq(fedsim("mix1", &out, args), 0, "%s", out);
    snprintf(args, sizeof args, "run %s --set data.partition.clients=2 --set methods=local --quiet", cfg);
    cr_assert_neq(fedsim("mix2", &out, args), 0, "a run of 2 clients joined one of 3:\n%s", out);
    cr_assert(strstr(out, "data.partition.clients 3 -> 2") && strstr(out, "mix/fedavg"), "%s", out);
    groups(h5_of("mix", "mix"), got, sizeof got);
    cr_assert_str_eq(got, "mix/fedavg:12;");
    /* another method under the same settings belongs in the same table */
    snprintf(args, sizeof args, "run %s --set methods=fedavg,local --quiet", cfg);
    cr_assert_eq(fedsim("mix3", &out, args), 0, "%s", out);
    groups(h5_of("mix", "mix"), got, sizeof got);
    cr_assert_str_eq(got, "mix/fedavg:12;mix/local:12;");
}

/* Other weights under the same config (model.path moved to a copy with one
 * weight changed): the model's fingerprint tells them apart; the same
 * weights under another path are the same computation. */
Test(results_cli, other_model_weights_are_refused_and_a_moved_model_is_not)
{
    const char *cfg = cli_write_config("w", "w", " [fedavg]", "w", "");
    char args[1600], got[2048];
    const char *out;
    snprintf(args, sizeof args, "run %s --quiet", cfg);
    cr_assert_eq(fedsim("w1", &out, args), 0, "%s", out);
    cr_assert_eq(cli_sh("cp -r '%s' '%s/moved' && cp -r '%s' '%s/edited' && "
                        "printf '\\000\\000\\200\\077' | dd of='%s/edited/model.safetensors' "
                        "bs=1 seek=$(( $(stat -c %%s '%s/edited/model.safetensors') - 4 )) "
                        "conv=notrunc 2> /dev/null",
                        cli_model, cli_dir, cli_model, cli_dir, cli_dir, cli_dir), 0);
    snprintf(args, sizeof args, "run %s --set model.path=%s/moved", cfg, cli_dir);
    cr_assert_eq(fedsim("w2", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "already complete"), "a moved model re-ran:\n%s", out);
    snprintf(args, sizeof args, "run %s --set model.path=%s/edited --quiet", cfg, cli_dir);
    cr_assert_neq(fedsim("w3", &out, args), 0, "other weights reused the results:\n%s", out);
    cr_assert(strstr(out, "model ") && strstr(out, " -> model "), "%s", out);
    groups(h5_of("w", "w"), got, sizeof got);
    cr_assert_str_eq(got, "w/fedavg:12;");
}

/* The pid in path (a lock file), 0 while it holds none. */
static long pid_in(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) pid = 0;
        fclose(f);
    }
    return pid;
}

Test(results_cli, a_second_writer_is_refused_naming_the_first)
{
    const char *cfg = cli_write_config("two", "two", " [fedavg, local]", "two",
                                       "sweep:\n  seed: [0, 1, 2]\n");
    char log[600], lock[700], msg[64], got[2048];
    snprintf(log, sizeof log, "%s/two-first.txt", cli_dir);
    snprintf(lock, sizeof lock, "%s.lock", h5_of("two", "two"));
    const char *const argv[] = {"fedsim", "sweep", cfg, "--quiet", NULL};
    pid_t first = cli_spawn(log, argv);
    double t0 = cli_now();
    while (pid_in(lock) != first) {
        int st;
        cr_assert_eq(waitpid(first, &st, WNOHANG), 0, "the first sweep ended without locking:\n%s",
                     cli_slurp_log(log));
        cr_assert_lt(cli_now() - t0, 120, "the first sweep never took the lock");
        cli_sleep(0.01);
    }
    const char *out;
    char args[1200];
    snprintf(args, sizeof args, "sweep %s --quiet", cfg);
    int rc = fedsim("two-second", &out, args);
    int st = cli_wait(first);
    cr_assert_neq(rc, 0, "a second writer ran beside the first:\n%s", out);
    snprintf(msg, sizeof msg, "process %ld", (long)first);
    cr_assert(strstr(out, msg) && strstr(out, ".lock"), "%s", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", cli_slurp_log(log));
    groups(h5_of("two", "two"), got, sizeof got);
    cr_assert_str_eq(got, "seed=0/fedavg:12;seed=0/local:12;seed=1/fedavg:12;seed=1/local:12;"
                          "seed=2/fedavg:12;seed=2/local:12;");
}

static ino_t inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

Test(results_cli, a_rerun_killed_early_keeps_the_old_results)
{
    const char *cfg = cli_write_config("keep", "keep", " [fedavg, local]", "keep", "");
    const char *out, *h5 = h5_of("keep", "keep");
    char args[1200], log[600];
    snprintf(args, sizeof args, "run %s --quiet", cfg);
    cr_assert_eq(fedsim("keep1", &out, args), 0, "%s", out);
    fs_result_entry *before, *after;
    int nb, na;
    cr_assert_eq(fs_results_list(h5, &before, &nb), 0);
    cr_assert_eq(nb, 2);
    /* A forced re-run under another config, killed at its first write (every
     * write replaces the file, so its inode changes). */
    snprintf(log, sizeof log, "%s/keep2.txt", cli_dir);
    const char *const argv[] = {"fedsim", "run", cfg, "--force", "--set", "federation.rounds=3",
                                "--quiet", NULL};
    ino_t was = inode(h5);
    pid_t pid = cli_spawn(log, argv);
    for (double t0 = cli_now(); inode(h5) == was; cli_sleep(0.002)) {
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "the re-run ended without writing:\n%s",
                     cli_slurp_log(log));
        cr_assert_lt(cli_now() - t0, 120, "the re-run never wrote");
    }
    kill(pid, SIGKILL);
    cli_wait(pid);
    cr_assert_eq(fs_results_list(h5, &after, &na), 0, "%s", fs_last_error());
    cr_assert_eq(na, 2, "the kill lost finished methods (%d left)", na);
    for (int i = 0; i < 2; i++) {
        cr_assert(after[i].complete && !strcmp(after[i].method, before[i].method));
        cr_assert_eq(after[i].n_rounds_rows, before[i].n_rounds_rows);
        cr_assert(after[i].summary.mean_acc == before[i].summary.mean_acc);
    }
    fs_results_list_free(before, nb);
    fs_results_list_free(after, na);
}

Test(results_cli, sweep_axes_from_the_command_line)
{
    const char *cfg = cli_write_config("cl", "cl", " [fedavg]", "cl", "");
    char args[1600], got[2048];
    const char *out;
    snprintf(args, sizeof args, "sweep %s", cfg);
    cr_assert_eq(fedsim("cl1", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "no sweep: section") && strstr(out, "one cell"), "%s", out);
    groups(h5_of("cl", "cl"), got, sizeof got);
    cr_assert_str_eq(got, "cl/fedavg:12;");

    snprintf(args, sizeof args, "sweep %s --sweep seed=5,6 --quiet", cfg);
    cr_assert_eq(fedsim("cl2", &out, args), 0, "%s", out);
    groups(h5_of("cl", "cl"), got, sizeof got);
    cr_assert_str_eq(got, "cl/fedavg:12;seed=5/fedavg:12;seed=6/fedavg:12;");

    snprintf(args, sizeof args, "sweep %s --sweep output.dir=a,b", cfg);
    cr_assert_neq(fedsim("cl3", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "output.dir cannot be swept"), "%s", out);
    snprintf(args, sizeof args, "sweep %s --sweep federation.rounds=1,zero", cfg);
    cr_assert_neq(fedsim("cl4", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "federation.rounds") && strstr(out, "zero"), "%s", out);
    snprintf(args, sizeof args, "run %s --sweep seed=1,2", cfg);
    cr_assert_neq(fedsim("cl5", &out, args), 0, "%s", out);

    /* 32 x 32 x 32 cells: refused before anything loads, unless --yes */
    char many[200] = "", axes[800];
    for (int i = 1; i <= 32; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "%s%d", i > 1 ? "," : "", i);
    snprintf(axes, sizeof axes, "--sweep seed=%s --sweep federation.rounds=%s --sweep adapter.rank=%s",
             many, many, many);
    snprintf(args, sizeof args, "sweep %s %s", cfg, axes);
    cr_assert_neq(fedsim("cl6", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "32768 cells") && strstr(out, "--yes"), "%s", out);

    const char *empty = cli_write_config("empty", "empty", " [fedavg]", "empty", "sweep: {}\n");
    snprintf(args, sizeof args, "sweep %s", empty);
    cr_assert_neq(fedsim("cl7", &out, args), 0, "%s", out);
    cr_assert(strstr(out, "empty.yaml:") && strstr(out, "sweep: empty"), "%s", out);
    snprintf(args, sizeof args, "%s/empty", cli_dir);
    cr_assert_neq(access(args, F_OK), 0, "an empty sweep created its output");
}
