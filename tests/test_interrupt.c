/* Fault injection on `fedsim sweep`, in one process (--jobs 1) and in two job
 * processes (--jobs 2, sim/cli/sweep_jobs.h): a sweep killed with SIGKILL at
 * random moments and restarted until it completes holds exactly the cells,
 * methods, round rows and summary numbers of an uninterrupted sweep; SIGINT /
 * SIGTERM stop it after the current round with exit status 130 / 143,
 * leaving a readable results file that a restart completes.
 *
 * The kill moments are random; the seed is printed in every failure message
 * and can be fixed with FEDSIM_KILL_SEED=N (FEDSIM_KILLS=N sets how many
 * kills, default 4). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static unsigned long long kill_seed;

/* The sweep config: 2 seeds x 2 methods, 2 rounds, into <dir>/<out>/sw.h5. */
static void write_config(const char *out, char *path, size_t cap)
{
    snprintf(path, cap, "%s",
             cli_write_config(out, "sw", " [fedavg, local]", out,
                              "sweep:\n  seed: [0, 1]\n  methods: [fedavg, local]\n"));
}

/* Starts `fedsim sweep config --quiet --jobs <jobs>` with output appended to
 * log; every round checkpointed when `checkpoints` (output keys are not part
 * of a method's identity: the results are the reference's either way). */
static pid_t start_sweep_with(const char *config, const char *log, const char *jobs,
                              bool checkpoints)
{
    const char *argv[9] = {"fedsim", "sweep", config, "--quiet", "--jobs", jobs};
    if (checkpoints) argv[6] = "--set", argv[7] = "output.checkpoint_every=1";
    return cli_spawn(log, argv);
}

static pid_t start_sweep(const char *config, const char *log, const char *jobs)
{
    return start_sweep_with(config, log, jobs, false);
}

static double ref_seconds; /* wall time of the uninterrupted sweep */

static void setup(void)
{
    cli_setup();
    const char *s = getenv("FEDSIM_KILL_SEED");
    kill_seed = s ? strtoull(s, NULL, 10) : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
    /* The reference: one uninterrupted sweep. */
    char cfg[512], log[512];
    write_config("ref", cfg, sizeof cfg);
    snprintf(log, sizeof log, "%s/ref.log", cli_dir);
    double t0 = cli_now();
    int st = cli_wait(start_sweep(cfg, log, "1"));
    ref_seconds = cli_now() - t0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reference sweep failed:\n%s",
              cli_slurp_log(log));
}

TestSuite(interrupt, .init = setup, .timeout = 600);

static int find(const fs_result_entry *e, int n, const char *cell, const char *method)
{
    int at = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].cell, cell) && !strcmp(e[i].method, method)) {
            cr_assert_eq(at, -1, "duplicate group %s/%s (kill seed %llu)", cell, method, kill_seed);
            at = i;
        }
    return at;
}

/* out/sw.h5 holds exactly the reference's groups, all complete, with the same
 * number of round rows and the same summary (all but wall-clock seconds). */
static void assert_same_as_reference(const char *out)
{
    char ref[600], got[600];
    snprintf(ref, sizeof ref, "%s/ref/sw.h5", cli_dir);
    snprintf(got, sizeof got, "%s/%s/sw.h5", cli_dir, out);
    fs_result_entry *re, *ge;
    int rn, gn;
    cr_assert_eq(fs_results_list(ref, &re, &rn), 0);
    cr_assert_eq(rn, 4, "reference: 2 seeds x 2 methods, found %d", rn);
    cr_assert_eq(fs_results_list(got, &ge, &gn), 0, "%s does not open (kill seed %llu)", got,
                 kill_seed);
    cr_assert_eq(gn, rn, "%s: %d groups, reference %d (kill seed %llu)", got, gn, rn, kill_seed);
    for (int i = 0; i < rn; i++) {
        int j = find(ge, gn, re[i].cell, re[i].method);
        cr_assert_geq(j, 0, "%s/%s lost (kill seed %llu)", re[i].cell, re[i].method, kill_seed);
        const fs_result_entry *a = &re[i], *b = &ge[j];
        cr_assert(a->complete && b->complete, "%s/%s incomplete (kill seed %llu)", a->cell,
                  a->method, kill_seed);
        cr_assert_eq(b->n_rounds_rows, a->n_rounds_rows, "%s/%s: %d round rows, reference %d (kill seed %llu)",
                     a->cell, a->method, b->n_rounds_rows, a->n_rounds_rows, kill_seed);
        const double x[] = {a->summary.mean_acc, a->summary.worst_acc, a->summary.global_acc,
                            a->summary.upload_mb};
        const double y[] = {b->summary.mean_acc, b->summary.worst_acc, b->summary.global_acc,
                            b->summary.upload_mb};
        const char *what[] = {"mean_acc", "worst_acc", "global_acc", "upload_mb"};
        for (int k = 0; k < 4; k++)
            cr_assert(x[k] == y[k], "%s/%s %s: %.17g, reference %.17g (kill seed %llu)", a->cell,
                      a->method, what[k], y[k], x[k], kill_seed);
    }
    fs_results_list_free(re, rn);
    fs_results_list_free(ge, gn);
}

/* A finished sweep leaves no job files (<out>/sw.jobs) behind. */
static void assert_no_job_files(const char *out)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s/sw.jobs", cli_dir, out);
    cr_assert(access(dir, F_OK) != 0, "%s is left behind (kill seed %llu)", dir, kill_seed);
}

/* Kills `fedsim sweep --jobs <jobs>` (into <out>) with SIGKILL at random
 * moments, restarts it until it completes, and compares with the reference.
 * The job processes of a parallel sweep die with it. */
static void kill_and_resume(const char *out, const char *jobs)
{
    char cfg[512], log[512];
    write_config(out, cfg, sizeof cfg);
    snprintf(log, sizeof log, "%s/%s.log", cli_dir, out);
    const char *k = getenv("FEDSIM_KILLS");
    int kills = k ? atoi(k) : 4, done = 0, killed = 0;
    tu_rng r = tu_rng_new(kill_seed);
    for (int attempt = 0; attempt < kills && !done; attempt++) {
        /* Anywhere from start-up to most of the sweep's duration: the whole
         * sweep takes well under a second, so a delay near its end can miss. */
        double delay = tu_uniform(&r, 0.f, 0.8f) * ref_seconds;
        pid_t pid = start_sweep(cfg, log, jobs);
        cli_sleep(delay);
        kill(pid, SIGKILL);
        int st = cli_wait(pid);
        if (WIFSIGNALED(st)) {
            killed++;
            cr_log_info("kill %d at %.2f s", attempt + 1, delay);
        } else {
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "sweep exited with %d after a restart (kill seed %llu):\n%s",
                      WEXITSTATUS(st), kill_seed, cli_slurp_log(log));
            /* Finished before any kill landed: start over, so that the
             * resume this test is about still happens. */
            done = killed > 0;
            if (!done) cr_assert_eq(cli_sh("rm -rf '%s/%s'", cli_dir, out), 0);
        }
    }
    if (!done) {
        int st = cli_wait(start_sweep(cfg, log, jobs));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "final resumed sweep failed (kill seed %llu):\n%s", kill_seed,
                  cli_slurp_log(log));
    }
    cr_assert_gt(killed, 0, "no kill landed before the sweep finished (kill seed %llu)", kill_seed);
    assert_same_as_reference(out);
    assert_no_job_files(out);
}

Test(interrupt, sigkill_at_random_moments_then_resume_matches_reference)
{
    kill_and_resume("killed", "1");
}

Test(interrupt, sigkill_of_a_parallel_sweep_then_resume_matches_reference)
{
    kill_and_resume("killed-jobs", "2");
}

/* Waits until the sweep writing h5 has finished its first method (of four),
 * so that a signal lands mid-sweep however loaded the machine is. */
static void wait_first_method(pid_t pid, const char *h5)
{
    for (double t0 = cli_now(); cli_now() - t0 < 300; cli_sleep(0.01)) {
        fs_result_entry *e;
        int n, complete = 0;
        if (fs_results_list(h5, &e, &n) == 0) {
            for (int i = 0; i < n; i++) complete += e[i].complete;
            fs_results_list_free(e, n);
        }
        if (complete > 0) return;
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "the sweep ended before finishing a method");
    }
    cr_assert_fail("the sweep finished no method within 300 s");
}

/* Sends sig halfway through a sweep of `jobs` job processes (with a
 * checkpoint every round when `checkpoints`): exit status 128 + sig, a
 * readable file with at most one unfinished method per job, a message on how
 * to resume, and a restart that completes it to the reference. */
static void stop_with(int sig, const char *out, const char *jobs, bool checkpoints)
{
    char cfg[512], log[512], h5[600];
    write_config(out, cfg, sizeof cfg);
    snprintf(log, sizeof log, "%s/%s.log", cli_dir, out);
    snprintf(h5, sizeof h5, "%s/%s/sw.h5", cli_dir, out);
    pid_t pid = start_sweep_with(cfg, log, jobs, checkpoints);
    wait_first_method(pid, h5);
    kill(pid, sig);
    int st = cli_wait(pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 128 + sig,
              "after signal %d: %s %d, expected exit status %d:\n%s", sig,
              WIFEXITED(st) ? "exit status" : "killed by signal",
              WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), 128 + sig, cli_slurp_log(log));
    const char *text = cli_slurp_log(log);
    cr_assert(strstr(text, "interrupted") && strstr(text, "resume"), "%s", text);
    fs_result_entry *e;
    int n, unfinished = 0;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0, "%s does not open after signal %d", h5, sig);
    for (int i = 0; i < n; i++) unfinished += !e[i].complete;
    fs_results_list_free(e, n);
    cr_assert_leq(unfinished, atoi(jobs), "%d unfinished methods after signal %d", unfinished, sig);
    st = cli_wait(start_sweep_with(cfg, log, jobs, checkpoints));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resume failed:\n%s", cli_slurp_log(log));
    assert_same_as_reference(out);
    assert_no_job_files(out);
}

/* One test for both (the reference sweep runs once per test). */
Test(interrupt, sigint_and_sigterm_stop_after_the_round_with_status_130_143)
{
    stop_with(SIGINT, "int", "1", false);
    stop_with(SIGTERM, "term", "1", false);
}

/* The signal goes to the sweep process alone, which passes it on to its jobs;
 * with checkpoints, the restart continues the stopped methods from them
 * through the job files. */
Test(interrupt, sigint_and_sigterm_stop_a_parallel_sweep_with_status_130_143)
{
    stop_with(SIGINT, "int-jobs", "2", false);
    stop_with(SIGTERM, "term-jobs", "2", true);
}
