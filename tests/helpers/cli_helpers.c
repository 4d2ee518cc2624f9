/* Shared fixture of the end-to-end suites (tests/helpers/cli_helpers.h). */
#include "cli_helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

char cli_dir[256], cli_model[512], cli_fedsim[1024];

int cli_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *read_file(const char *path, int required)
{
    static char buf[65536];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    cr_assert(f || !required, "cannot open %s", path);
    if (!f) return "(no log)";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

const char *cli_slurp(const char *path) { return read_file(path, 1); }
const char *cli_slurp_log(const char *path) { return read_file(path, 0); }

void cli_setup(void)
{
    snprintf(cli_dir, sizeof cli_dir, "%s", tu_tmpdir());
    const char *build = getenv("FEDSIM_BUILD_DIR");
    snprintf(cli_fedsim, sizeof cli_fedsim, "%s/fedsim", build ? build : "build");
    cr_assert(access(cli_fedsim, X_OK) == 0, "no fedsim binary at %s", cli_fedsim);
    snprintf(cli_model, sizeof cli_model, "%s/model", cli_dir);
    setenv("FEDSIM_DATA_CACHE", cli_dir, 1);
    cr_assert_eq(cli_sh("'%s' pretrain --out '%s' --steps 2 --batch 2 --corpus 16 --quiet",
                        cli_fedsim, cli_model),
                 0, "fedsim pretrain failed");
    cr_assert_eq(cli_sh("'%s' data synth synth-iconqa --out '%s/data' --train 60 --test 40 "
                        "> /dev/null", cli_fedsim, cli_dir),
                 0, "fedsim data synth failed");
}

const char *cli_write_config(const char *file, const char *name, const char *methods,
                             const char *out, const char *extra)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", cli_dir, file);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot create %s", path);
    fprintf(f,
            "name: %s\nseed: 3\nmodel: { path: %s }\n"
            "data:\n  dataset: synth-iconqa\n  root: %s/data\n"
            "  partition: { clients: 3, dirichlet_alpha: 0.5, key: category, min_samples: 4 }\n"
            "federation: { rounds: 2, local_epochs: 1, batch_size: 8, eval_every: 2 }\n"
            "adapter: { rank: 4, alpha: 8 }\n"
            "methods:%s\n"
            "runtime: { backend: cpu, threads: 2 }\noutput: { dir: %s/%s }\n%s",
            name, cli_model, cli_dir, methods, cli_dir, out, extra);
    fclose(f);
    return path;
}

pid_t cli_spawn(const char *log, const char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) {
        FILE *f = fopen(log, "a");
        if (f) dup2(fileno(f), STDOUT_FILENO), dup2(fileno(f), STDERR_FILENO);
        execv(cli_fedsim, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int cli_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) continue;
    return st;
}

void cli_sleep(double s)
{
    struct timespec t = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) continue;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
