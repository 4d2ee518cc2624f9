/* `fedsim sweep --jobs N`: see sweep_jobs.h. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "sim/cli/sweep_jobs.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/fed/comm.h"
#include "sim/io/error.h"
#include "sim/io/fingerprint.h"
#include "sim/io/interrupt.h"
#include "sim/io/progress.h"

int fs_sweep_cell_at(const fs_config *cfg, long c, fs_sweep_cell *out)
{
    out->cfg = *cfg;
    out->n_axes = cfg->n_sweep;
    if (!cfg->n_sweep) {
        snprintf(out->label, sizeof out->label, "%s", cfg->name);
        return 0;
    }
    if (fs_config_sweep_cell(cfg, c, &out->cfg, out->label, sizeof out->label) ||
        fs_config_sweep_values(cfg, c, out->values))
        return -1;
    for (int k = 0; k < cfg->n_sweep; k++)
        out->axes[k] = (fs_cell_axis){cfg->sweep[k].key, out->values[k],
                                      fs_config_key_type(cfg->sweep[k].key)};
    return 0;
}

int fs_sweep_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int fs_sweep_default_jobs(const fs_config *cfg)
{
    if (fs_comm_size() > 1 || !strcmp(cfg->backend, "cuda")) return 1;
#if defined(FEDSIM_HAVE_CUDA) && !defined(FEDSIM_CUDA_EMU)
    /* "auto" takes a GPU when there is one; asking CUDA would start it in
     * this process, which the forked jobs then cannot use. */
    if (!strcmp(cfg->backend, "auto") && access("/dev/nvidiactl", F_OK) == 0) return 1;
#endif
    return fs_sweep_cores();
}

/* Room for <output.dir>/<name>.jobs, a job file in it, and a file beside that. */
enum { DIR_CAP = 4300, FILE_CAP = 4400, SIDE_CAP = 4500 };

/* <output.dir>/<name>.jobs */
static void jobs_dir(const fs_config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.jobs", cfg->output_dir, cfg->name);
}

/* The job file of a cell: named by a hash of its label (labels may be long
 * or hold any character). */
static void job_file(const fs_config *cfg, const char *label, char *out, size_t cap)
{
    char dir[DIR_CAP];
    jobs_dir(cfg, dir, sizeof dir);
    snprintf(out, cap, "%s/cell-%016llx.h5", dir,
             (unsigned long long)fs_hash64(FS_HASH64_SEED, label, strlen(label)));
}

/* Deletes a job file with its lock and working copy (once nothing writes it). */
static int remove_job_file(const char *path)
{
    char side[SIDE_CAP];
    int rc = unlink(path) && errno != ENOENT ? -1 : 0;
    snprintf(side, sizeof side, "%s.lock", path);
    if (unlink(side) && errno != ENOENT) rc = -1;
    snprintf(side, sizeof side, "%s.tmp", path);
    if (unlink(side) && errno != ENOENT) rc = -1;
    return rc ? fs_fail("cannot delete the job file %s: %s", path, strerror(errno)) : 0;
}

/* Copies the cells of job file `path` into res and deletes it. The file's
 * lock is taken first: a job of a killed sweep may take a moment to go. */
static int take_back(fs_results *res, const char *path, int *copied)
{
    fs_results *job = NULL;
    for (int tries = 0; !(job = fs_results_open(path)) && tries < 50; tries++) usleep(100000);
    if (!job)
        return fs_fail_context("cannot take back the job file of a parallel sweep (delete it to "
                               "run its cell again)");
    int rc = fs_results_copy_cells(res, path, NULL, copied);
    fs_results_close(job);
    return rc ? -1 : remove_job_file(path);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_sweep_jobs_recover(fs_results *res, const fs_config *cfg, bool quiet)
{
    char dir[DIR_CAP];
    jobs_dir(cfg, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : fs_fail("%s: cannot read it: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, rc = 0, cells = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".h5")) continue;
        char **more = realloc(names, (n + 1) * sizeof *names);
        if (!more || !(more[n] = strdup(e->d_name))) {
            names = more ? more : names;
            rc = fs_fail("out of memory");
            break;
        }
        names = more, n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    for (int i = 0; i < n && !rc; i++) {
        char path[DIR_CAP + 256];
        int copied = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = take_back(res, path, &copied);
        cells += copied;
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!rc) rmdir(dir); /* fails harmlessly when something else is in it */
    if (!rc && cells && !quiet)
        fprintf(stderr, "fedsim sweep: took back %d cell%s a stopped parallel sweep left in %s\n",
                cells, cells == 1 ? "" : "s", dir);
    return rc;
}

/* ---- the job processes ---- */

/* What a job tells the parent after each cell. */
typedef struct {
    int32_t cell;
    int32_t status; /* JOB_* */
    int32_t ran;    /* methods run (0: all were done already) */
    double seconds;
} job_reply;

enum { JOB_OK = 0, JOB_FAILED = 1, JOB_INTERRUPTED = 2 };

typedef struct {
    pid_t pid;
    int to, from; /* cell numbers to it, replies from it; -1 when closed */
    long cell;    /* the cell it runs, -1: none */
} job;

static int write_all(int fd, const void *buf, size_t n)
{
    for (const char *p = buf; n;) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* 1: read n bytes; 0: end of file before any; -1: error or a short read. */
static int read_all(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r == 0 && got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* Runs cell c in this job process through its job file, on `threads`
 * threads unless the config sets runtime.threads. */
static int job_cell(fs_experiment *x, const fs_sweep_jobs_args *a, const char *main_path,
                    long c, int threads, int *ran)
{
    fs_sweep_cell cell;
    char path[FILE_CAP], dir[DIR_CAP];
    if (fs_sweep_cell_at(a->cfg, c, &cell)) return -1;
    if (!cell.cfg.threads) cell.cfg.threads = threads;
    jobs_dir(a->cfg, dir, sizeof dir);
    job_file(a->cfg, cell.label, path, sizeof path);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create the directory of the job files: %s", dir, strerror(errno));
    fs_results *mine = fs_results_open(path);
    if (!mine || fs_results_copy_cells(mine, main_path, cell.label, NULL)) {
        fs_results_close(mine);
        return -1;
    }
    fs_cell_opts opts = {.axes = cell.axes, .n_axes = cell.n_axes, .force = a->force,
                         .shown_path = main_path};
    *ran = fs_experiment_run_cell(x, &cell.cfg, mine, cell.label, &opts);
    fs_results_close(mine);
    return *ran < 0 ? -1 : 0;
}

/* A job process: runs the cells it is sent until the pipe closes. */
static void job_main(const fs_sweep_jobs_args *a, char *main_path, int to_parent, int from_parent)
{
    int cores = fs_sweep_cores(), threads = cores / a->jobs > 1 ? cores / a->jobs : 1;
    fs_progress_lines_only(); /* several jobs share the terminal */
    fs_experiment x = {.quiet = a->quiet};
    int status = JOB_OK;
    for (int32_t c; status == JOB_OK && read_all(from_parent, &c, sizeof c) == 1;) {
        job_reply reply = {.cell = c};
        double t0 = fs_now();
        int ran = 0;
        if (job_cell(&x, a, main_path, c, threads, &ran)) {
            status = fs_interrupted() ? JOB_INTERRUPTED : JOB_FAILED;
            if (status == JOB_FAILED) fprintf(stderr, "fedsim sweep: %s\n", fs_last_error());
        }
        reply.status = status, reply.ran = ran, reply.seconds = fs_now() - t0;
        if (write_all(to_parent, &reply, sizeof reply)) break;
    }
    fs_experiment_free(&x);
    fflush(NULL);
    _exit(status == JOB_INTERRUPTED ? fs_interrupt_exit_code() : status);
}

/* Starts job k; in the parent, 0 or -1. */
static int start_job(const fs_sweep_jobs_args *a, char *main_path, job *jobs, int k)
{
    int to[2], from[2];
    if (pipe(to)) return fs_fail("cannot start a job process: %s", strerror(errno));
    if (pipe(from)) {
        close(to[0]), close(to[1]);
        return fs_fail("cannot start a job process: %s", strerror(errno));
    }
    pid_t parent = getpid();
    fflush(NULL); /* nothing buffered is printed twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        return fs_fail("cannot start a job process: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The job dies with the sweep (kill -9 included), and a Ctrl-C on
         * the terminal reaches the sweep alone, which passes it on once. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(1);
        setpgid(0, 0);
        /* Our copy of the results file's lock descriptor goes (the sweep's
         * lock stays: a flock lasts while any copy is open), and so do the
         * other jobs' pipes, so that each job sees its own close. */
        fs_results_close(a->res);
        for (int j = 0; j < k; j++) close(jobs[j].to), close(jobs[j].from);
        close(to[1]), close(from[0]);
        job_main(a, main_path, from[1], to[0]);
    }
    close(to[0]), close(from[1]);
    jobs[k] = (job){.pid = pid, .to = to[1], .from = from[0], .cell = -1};
    return 0;
}

/* Copies cell c's job file back into the results file and deletes it. */
static int take_back_cell(const fs_sweep_jobs_args *a, long c)
{
    fs_sweep_cell cell;
    char path[FILE_CAP];
    if (fs_sweep_cell_at(a->cfg, c, &cell)) return -1;
    job_file(a->cfg, cell.label, path, sizeof path);
    if (access(path, F_OK)) return 0; /* the job stopped before making it */
    return take_back(a->res, path, NULL);
}

enum { PENDING, RUNNING, RETURNED, TAKEN_BACK };

/* Takes back, in cell order, the returned cells that no running or pending
 * cell precedes (all returned ones when `all`). */
static int take_back_in_order(const fs_sweep_jobs_args *a, unsigned char *state, long *next,
                              bool all)
{
    for (long c = *next; c < a->cells; c++) {
        if (state[c] == RETURNED) {
            if (take_back_cell(a, c)) return -1;
            state[c] = TAKEN_BACK;
        }
        if (state[c] != TAKEN_BACK && !all) break;
        if (c == *next && state[c] == TAKEN_BACK) (*next)++;
    }
    return 0;
}

/* A job's pipe closed without a reply: it died (a crash, or a second signal). */
static void job_died(job *j)
{
    int st = 0;
    while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st))
        fprintf(stderr, "fedsim sweep: job process %ld was killed by signal %d%s\n", (long)j->pid,
                WTERMSIG(st), j->cell >= 0 ? " in the middle of its cell" : "");
    j->pid = 0;
}

int fs_sweep_run_jobs(const fs_sweep_jobs_args *a)
{
    job *jobs = calloc((size_t)a->jobs, sizeof *jobs);
    unsigned char *state = calloc((size_t)a->cells, 1);
    char *main_path = strdup(fs_results_path(a->res));
    if (!jobs || !state || !main_path) {
        free(jobs), free(state), free(main_path);
        return fs_fail("out of memory");
    }
    int started = 0, rc = 0, running = 0, forwarded = 0;
    long next = 0, merged = 0, done = 0, failed = -1, cells_ran = 0;
    double ran_seconds = 0;
    /* A job gone between two cells makes writes to it fail, not end the sweep. */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, was;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &was);
    while (started < a->jobs && !rc)
        if (!(rc = start_job(a, main_path, jobs, started))) started++;
    bool stop = rc != 0;
    for (;;) {
        /* Pass a signal on to the jobs, once, and start no more cells. */
        if (fs_interrupted() && !forwarded) {
            forwarded = fs_interrupt_signal();
            for (int k = 0; k < started; k++)
                if (jobs[k].pid) kill(jobs[k].pid, forwarded);
            stop = true;
        }
        /* Hand out cells to idle jobs. */
        for (int k = 0; k < started && !stop; k++) {
            if (!jobs[k].pid || jobs[k].cell >= 0 || next >= a->cells) continue;
            int32_t c = (int32_t)next;
            if (write_all(jobs[k].to, &c, sizeof c)) { /* it ended: a crash, or killed */
                job_died(&jobs[k]);
                stop = true;
                continue;
            }
            jobs[k].cell = next, state[next] = RUNNING, running++;
            if (!a->quiet) {
                char eta[64] = "";
                if (cells_ran)
                    snprintf(eta, sizeof eta, ", ETA %.0f s",
                             ran_seconds / cells_ran * (double)(a->cells - done) / a->jobs);
                fs_sweep_cell cell;
                if (fs_sweep_cell_at(a->cfg, next, &cell) == 0)
                    fprintf(stderr, "fedsim sweep: cell %ld/%ld (job %d of %d; %ld done%s): %s\n",
                            next + 1, a->cells, k + 1, a->jobs, done, eta, cell.label);
            }
            next++;
        }
        if (!running) break;
        struct pollfd fds[256];
        int nfds = 0, which[256];
        for (int k = 0; k < started && nfds < 256; k++)
            if (jobs[k].pid && jobs[k].cell >= 0)
                fds[nfds] = (struct pollfd){.fd = jobs[k].from, .events = POLLIN}, which[nfds++] = k;
        /* A signal may come just before poll: poll wakes every 200 ms. */
        if (poll(fds, (nfds_t)nfds, 200) < 0 && errno != EINTR) {
            rc = fs_fail("cannot wait for the job processes: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < nfds; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            job *j = &jobs[which[i]];
            job_reply reply;
            long c = j->cell;
            if (read_all(j->from, &reply, sizeof reply) != 1 || reply.cell != c) {
                job_died(j); /* what it wrote of its cell is still taken back */
                if (!fs_interrupted() && failed < 0) failed = c;
                stop = true;
            } else if (reply.status != JOB_OK) { /* failed, or a signal sent to the job alone */
                if (failed < 0) failed = c;
                stop = true;
            } else {
                done++;
                if (reply.ran) ran_seconds += reply.seconds, cells_ran++;
            }
            state[c] = RETURNED, j->cell = -1, running--;
        }
        if (take_back_in_order(a, state, &merged, false)) {
            rc = -1;
            break;
        }
    }
    /* The jobs end when their pipe closes (after their round, when the sweep
     * itself failed: their job files are taken back by the next start). */
    for (int k = 0; k < started; k++) {
        if (!jobs[k].pid) continue;
        if (rc) kill(jobs[k].pid, SIGTERM);
        close(jobs[k].to);
        int st;
        while (waitpid(jobs[k].pid, &st, 0) < 0 && errno == EINTR) {
        }
        close(jobs[k].from);
    }
    for (int k = 0; k < started; k++)
        if (!jobs[k].pid) close(jobs[k].to), close(jobs[k].from);
    if (!rc && take_back_in_order(a, state, &merged, true)) rc = -1;
    sigaction(SIGPIPE, &was, NULL);
    if (!rc && fs_interrupted()) {
        rc = fs_fail("interrupted with %ld of %ld cells done", done, a->cells);
    } else if (!rc && failed >= 0) {
        fs_sweep_cell cell;
        rc = fs_fail("cell %ld (%s) failed (its job's message is above); the cells that "
                     "finished are saved", failed + 1,
                     fs_sweep_cell_at(a->cfg, failed, &cell) ? "?" : cell.label);
    } else if (!rc && done < a->cells) {
        rc = fs_fail("the job processes ended with %ld of %ld cells done (see above)", done,
                     a->cells);
    }
    char dir[DIR_CAP];
    jobs_dir(a->cfg, dir, sizeof dir);
    rmdir(dir); /* stays when a job file could not be taken back */
    free(jobs), free(state), free(main_path);
    return rc ? -1 : 0;
}
