/* The memory plan (sim/fed/memory_plan.h, issue 24 item 2): a cell that
 * cannot fit is refused before it allocates, with the estimate and the
 * limit; a normal run is accepted and its estimate is within a sane factor
 * of the peak resident size it reaches; the cgroup's limit is read; and
 * FEDSIM_MEMORY_LIMIT overrides the detected limit. Every run is a child
 * `fedsim run` whose peak RSS comes from wait4. */
#define _DEFAULT_SOURCE /* wait4 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"


TestSuite(memory_plan, .init = cli_setup, .timeout = 300);

typedef struct {
    int status;
    double peak_mb; /* peak resident size of the child */
    const char *log;
} child_run;

/* `fedsim run CFG --set a --set b ...` in a child; limit_gb > 0 puts it under
 * an address-space limit (so the code before the plan fails fast instead of
 * eating the machine), memory_limit sets FEDSIM_MEMORY_LIMIT, cgroup_procs
 * (if not NULL) is the cgroup.procs file it joins first. */
static child_run run_fedsim(const char *cfg, const char *const sets[], int limit_gb,
                            const char *memory_limit, const char *cgroup_procs)
{
    static char log[600];
    snprintf(log, sizeof log, "%s/plan.log", cli_dir);
    const char *argv[32] = {"fedsim", "run", cfg};
    int n = 3;
    for (int i = 0; sets[i]; i++) argv[n++] = "--set", argv[n++] = sets[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *f = fopen(log, "w");
        if (!f) _exit(126);
        dup2(fileno(f), STDOUT_FILENO), dup2(fileno(f), STDERR_FILENO);
        if (cgroup_procs) {
            FILE *p = fopen(cgroup_procs, "w");
            if (!p || fprintf(p, "%d\n", (int)getpid()) < 0 || fclose(p)) _exit(125);
        }
        struct rlimit lim = {(rlim_t)limit_gb << 30, (rlim_t)limit_gb << 30};
        if (limit_gb > 0 && setrlimit(RLIMIT_AS, &lim)) _exit(124);
        setenv("OPENBLAS_NUM_THREADS", "1", 1); /* see test_oom */
        if (memory_limit) setenv("FEDSIM_MEMORY_LIMIT", memory_limit, 1);
        else unsetenv("FEDSIM_MEMORY_LIMIT");
        execv(cli_fedsim, (char *const *)argv);
        _exit(127);
    }
    child_run r = {0};
    struct rusage ru;
    while (wait4(pid, &r.status, 0, &ru) < 0) cr_assert_eq(errno, EINTR);
    r.peak_mb = ru.ru_maxrss / 1024.0;
    r.log = cli_slurp_log(log);
    return r;
}

static void assert_exit(const child_run *r, int code)
{
    cr_assert(WIFEXITED(r->status), "fedsim died of signal %d (137 = killed, e.g. out of memory):\n%s",
              WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0, r->log);
    cr_assert_eq(WEXITSTATUS(r->status), code, "%s", r->log);
}

/* "memory plan: about 2.9 GB" -> MB */
static double planned_mb(const char *log)
{
    const char *at = strstr(log, "memory plan: about ");
    cr_assert(at, "no memory plan line:\n%s", log);
    double v;
    char unit[8];
    cr_assert_eq(sscanf(at + strlen("memory plan: about "), "%lf %7s", &v, unit), 2);
    double scale = !strcmp(unit, "GB") ? 1000 : !strcmp(unit, "MB") ? 1 : !strcmp(unit, "KB") ? 1e-3 : -1;
    cr_assert(scale > 0, "unit %s", unit);
    return v * scale * 1e6 / (1 << 20); /* decimal MB -> MiB, as ru_maxrss */
}

#define NO_MIN "data.partition.min_samples=0"

/* A normal run is accepted, and the plan is within a factor 1.5 of the peak
 * resident size, for a tiny run (the constant part) and one where the
 * adapters dominate (rank 4000, 15 clients: about 600 MB). */
Test(memory_plan, a_normal_run_is_accepted_and_the_estimate_is_near_its_peak)
{
    const char *cfg = cli_write_config("plan", "plan", " [fedavg, fednano]", "plan", "");
    const char *small[] = {"federation.rounds=1", NULL};
    const char *big[] = {"federation.rounds=1", "adapter.rank=4000", "data.partition.clients=15",
                         NO_MIN, "name=big", NULL};
    const char *const *runs[] = {small, big};
    for (int i = 0; i < 2; i++) {
        child_run r = run_fedsim(cfg, runs[i], 0, NULL, NULL);
        assert_exit(&r, 0);
        double plan = planned_mb(r.log), ratio = plan / r.peak_mb;
        cr_log_info("run %d: planned %.0f MiB, peak resident %.0f MiB (x%.2f)", i, plan,
                    r.peak_mb, ratio);
#ifndef TU_UNDER_ASAN /* its shadow memory and quarantine inflate the resident size */
        cr_assert(ratio > 1 / 1.5 && ratio < 1.5, "run %d: planned %.0f MiB, peak %.0f MiB", i,
                  plan, r.peak_mb);
#endif
    }
}

/* The reproductions: 100,000,000 clients (grew to 23.6 GB and was
 * OOM-killed) and rank 1,000,000 with 15 clients (reserved 25 GB). Both are
 * refused with the estimate and the limit before any big allocation. */
Test(memory_plan, runs_that_cannot_fit_are_refused_before_allocating)
{
    const char *cfg = cli_write_config("huge", "huge", " [fedavg]", "huge", "");
    const char *clients[] = {"data.partition.clients=100000000", NO_MIN, NULL};
    const char *rank[] = {"adapter.rank=1000000", "data.partition.clients=15", NO_MIN, NULL};
    const char *const *runs[] = {clients, rank};
#ifdef TU_UNDER_ASAN
    int limit_gb = 0;
#else
    int limit_gb = 4; /* without the plan the allocations fail here, not on the machine */
#endif
    for (int i = 0; i < 2; i++) {
        child_run r = run_fedsim(cfg, runs[i], limit_gb, NULL, NULL);
        assert_exit(&r, 1);
        cr_assert(strstr(r.log, "not enough memory for this run: it needs about"), "%s", r.log);
        cr_assert(strstr(r.log, "is available (") && strstr(r.log, "FEDSIM_MEMORY_LIMIT"), "%s",
                  r.log);
        cr_assert(strstr(r.log, "data.partition.clients") && strstr(r.log, "adapter.rank"), "%s",
                  r.log);
#ifndef TU_UNDER_ASAN
        cr_assert(r.peak_mb < 300, "run %d reached %.0f MiB before refusing", i, r.peak_mb);
#endif
    }
}

/* FEDSIM_MEMORY_LIMIT replaces the detected limit; a malformed one is an error. */
Test(memory_plan, the_limit_can_be_overridden)
{
    const char *cfg = cli_write_config("override", "override", " [fedavg]", "override", "");
    const char *sets[] = {"federation.rounds=1", NULL};
    child_run r = run_fedsim(cfg, sets, 0, "10M", NULL);
    assert_exit(&r, 1);
    cr_assert(strstr(r.log, "not enough memory") && strstr(r.log, "(FEDSIM_MEMORY_LIMIT=10M, less what is loaded)"), "%s",
              r.log);
    r = run_fedsim(cfg, sets, 0, "2GB", NULL);
    assert_exit(&r, 0);
    r = run_fedsim(cfg, sets, 0, "lots", NULL);
    assert_exit(&r, 1);
    cr_assert(strstr(r.log, "FEDSIM_MEMORY_LIMIT='lots'"), "%s", r.log);
}

/* A cgroup (v1 memory controller or v2) of 1 GB under this process's own,
 * or NULL when this process may not make one. */
static const char *make_cgroup(char *dir, size_t cap)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return NULL;
    char line[1024], v1[1024] = "", v2[1024] = "";
    bool has_v1 = false, has_v2 = false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c = strstr(line, ":memory:");
        if (c) snprintf(v1, sizeof v1, "%s", c + 8), has_v1 = true;
        if (!strncmp(line, "0::", 3)) snprintf(v2, sizeof v2, "%s", line + 3), has_v2 = true;
    }
    fclose(f);
    const char *limit_file = NULL;
    if (has_v1) {
        snprintf(dir, cap, "/sys/fs/cgroup/memory%s/fedsim-plan-%d", v1, (int)getpid());
        limit_file = "memory.limit_in_bytes";
    } else if (has_v2) {
        snprintf(dir, cap, "/sys/fs/cgroup%s/fedsim-plan-%d", strcmp(v2, "/") ? v2 : "",
                 (int)getpid());
        limit_file = "memory.max";
    } else {
        return NULL;
    }
    if (mkdir(dir, 0755) != 0) return NULL;
    char p[2300];
    snprintf(p, sizeof p, "%s/%s", dir, limit_file);
    FILE *l = fopen(p, "w");
    if (!l || fprintf(l, "1000000000\n") < 0 || fclose(l) != 0) {
        rmdir(dir);
        return NULL;
    }
    return dir;
}

/* In a 1 GB cgroup, a run that needs about 2.8 GB is refused naming the
 * cgroup's limit (it was killed with status 137). */
Test(memory_plan, a_cgroup_memory_limit_is_read)
{
    char dir[2200];
    if (!make_cgroup(dir, sizeof dir))
        cr_skip_test("cannot make a memory cgroup here (needs root and a writable cgroup "
                     "hierarchy): the cgroup limit is not checked; the other tests check the "
                     "plan against MemAvailable, ulimit -v and FEDSIM_MEMORY_LIMIT");
    const char *cfg = cli_write_config("cgroup", "cgroup", " [fedavg]", "cgroup", "");
    const char *sets[] = {"federation.rounds=1", "adapter.rank=20000", "data.partition.clients=15",
                          NO_MIN, NULL};
    char procs[2300];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    child_run r = run_fedsim(cfg, sets, 0, NULL, procs);
    rmdir(dir);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 125)
        cr_skip_test("cannot join the cgroup made in %s: the cgroup limit is not checked", dir);
    assert_exit(&r, 1);
    cr_assert(strstr(r.log, "not enough memory") && strstr(r.log, "cgroup's memory limit 1000.0 MB"),
              "%s", r.log);
}
