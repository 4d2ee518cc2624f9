/* Mid-run checkpoints (sim/fed/checkpoint.h, output.checkpoint_every).
 *
 * file: a checkpoint round-trips every bank bit for bit, and every unusable
 * one (not a checkpoint, truncated, damaged, written under another config,
 * other sizes) is refused with a message naming the file and what to do;
 * fs_results_resume cuts the rows written after the checkpoint.
 * resume: `fedsim run` killed with SIGKILL mid-method (once right after a
 * checkpoint, then at random moments), or stopped with SIGTERM, then re-run,
 * writes exactly the per-round table of an uninterrupted run. The random kill
 * moments print their seed on failure (FEDSIM_KILL_SEED=N repeats them). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/fed/checkpoint.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

/* ---- file ---- */

enum { CLIENTS = 3, ROUNDS = 5 };

typedef struct {
    fs_config cfg;
    fs_fed_run run;
    fs_checkpoint ck;
} world;

static void load_config(fs_config *cfg, const char *dir, const char *extra)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "name: ck\nmodel: { path: m }\ndata: { partition: { clients: %d } }\n"
             "federation: { rounds: %d }\nmethods: [fednano]\noutput: { dir: %s }\n%s",
             CLIENTS, ROUNDS, dir, extra);
    cr_assert_eq(fs_config_load_string(yaml, "ck.yaml", NULL, 0, cfg), 0, "%s", fs_last_error());
}

/* Random banks (global, clients, and the method's extra and server banks
 * unless without_extra). */
static void make_world(world *w, const char *dir, bool without_extra, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    load_config(&w->cfg, dir, "");
    fs_adapter_shape shape = {.rank = 2, .dim = 8, .scale = 1, .targets = {true, true}};
    const fs_ops *o = fs_backend_cpu();
    w->run = (fs_fed_run){.cfg = &w->cfg, .method = w->cfg.methods[0].method, .clients = CLIENTS};
    cr_assert_eq(fs_bank_init(&w->run.global, o, &shape, 1), 0);
    cr_assert_eq(fs_bank_init(&w->run.local, o, &shape, CLIENTS), 0);
    if (!without_extra) {
        cr_assert_eq(fs_bank_init(&w->run.extra, o, &shape, CLIENTS), 0);
        cr_assert_eq(fs_bank_init(&w->run.server, o, &shape, 2), 0);
    }
    tu_rng r = tu_rng_new(seed);
    fs_adapter_bank *banks[] = {&w->run.global, &w->run.local, &w->run.extra, &w->run.server};
    for (int b = 0; b < 4; b++)
        if (banks[b]->data) tu_fill(&r, banks[b]->data, (long)fs_bank_numel(banks[b]), -1, 1);
    cr_assert_eq(fs_checkpoint_init(&w->ck, &w->cfg, "cell/1", &w->cfg.methods[0]), 0, "%s",
                 fs_last_error());
}

static void free_world(world *w)
{
    fs_bank_free(&w->run.global), fs_bank_free(&w->run.local), fs_bank_free(&w->run.extra);
    fs_bank_free(&w->run.server);
}

static const fs_checkpoint_progress saved = {.round = 3, .seconds = 1.25, .bytes_up = 1e6,
                                             .bytes_down = 2e6};

/* Saves w, then returns what loading it into a fresh world of the same seed says. */
static int save_then_load(world *w, void (*damage)(const char *path), bool load_without_extra)
{
    cr_assert_eq(fs_checkpoint_save(&w->ck, &w->run, &saved), 0, "%s", fs_last_error());
    if (damage) damage(w->ck.path);
    world fresh;
    make_world(&fresh, w->cfg.output_dir, load_without_extra, 99);
    fs_checkpoint_progress p;
    int rc = fs_checkpoint_load(&fresh.ck, &fresh.run, &p);
    free_world(&fresh);
    return rc;
}

static void assert_refused(const char *path, const char *what)
{
    const char *msg = fs_last_error();
    cr_assert(strstr(msg, path), "the message does not name %s: %s", path, msg);
    cr_assert(strstr(msg, what), "the message does not say '%s': %s", what, msg);
    cr_assert(strstr(msg, "delete"), "the message does not say what to do: %s", msg);
}

TestSuite(checkpoint_file, .fini = tu_remove_tmpdirs);

Test(checkpoint_file, round_trip_restores_every_bank_bit_for_bit)
{
    world w, back;
    make_world(&w, tu_tmpdir_tracked(), false, 1);
    cr_assert_str_eq(strrchr(w.ck.path, '/') + 1, "cell_1--fednano.ckpt");
    cr_assert_not(fs_checkpoint_exists(&w.ck));
    cr_assert_eq(fs_checkpoint_save(&w.ck, &w.run, &saved), 0, "%s", fs_last_error());
    cr_assert(fs_checkpoint_exists(&w.ck));
    make_world(&back, w.cfg.output_dir, false, 2); /* other values, overwritten by the load */
    fs_checkpoint_progress p;
    cr_assert_eq(fs_checkpoint_load(&back.ck, &back.run, &p), 1, "%s", fs_last_error());
    cr_assert(p.round == saved.round && p.seconds == saved.seconds &&
              p.bytes_up == saved.bytes_up && p.bytes_down == saved.bytes_down);
    const fs_adapter_bank *a[] = {&w.run.global, &w.run.local, &w.run.extra, &w.run.server};
    const fs_adapter_bank *b[] = {&back.run.global, &back.run.local, &back.run.extra,
                                  &back.run.server};
    for (int k = 0; k < 4; k++)
        cr_assert_eq(memcmp(a[k]->data, b[k]->data, fs_bank_numel(a[k]) * sizeof(float)), 0,
                     "bank %d differs after the round trip", k);
    cr_assert_eq(fs_checkpoint_remove(&w.ck), 0, "%s", fs_last_error());
    cr_assert_not(fs_checkpoint_exists(&w.ck));
    char dir[sizeof w.ck.path];
    snprintf(dir, sizeof dir, "%s", w.ck.path);
    *strrchr(dir, '/') = 0;
    cr_assert_neq(access(dir, F_OK), 0, "the emptied %s was not removed", dir);
    cr_assert_eq(fs_checkpoint_load(&back.ck, &back.run, &p), 0, "no checkpoint: nothing to load");
    free_world(&w), free_world(&back);
}

static void truncate_by_9(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - 9), 0);
}

static void flip_a_data_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    cr_assert_eq(fseek(f, 200, SEEK_SET), 0);
    int c = fgetc(f);
    cr_assert_eq(fseek(f, 200, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    cr_assert_eq(fclose(f), 0);
}

static void overwrite_with_text(const char *path)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    for (int i = 0; i < 20; i++) fputs("not a checkpoint\n", f);
    cr_assert_eq(fclose(f), 0);
}

Test(checkpoint_file, truncated_damaged_or_foreign_files_are_refused_with_the_path)
{
    world w;
    make_world(&w, tu_tmpdir_tracked(), false, 1);
    cr_assert_eq(save_then_load(&w, truncate_by_9, false), -1);
    assert_refused(w.ck.path, "truncated");
    cr_assert_eq(save_then_load(&w, flip_a_data_byte, false), -1);
    assert_refused(w.ck.path, "checksum");
    cr_assert_eq(save_then_load(&w, overwrite_with_text, false), -1);
    assert_refused(w.ck.path, "not a fedsim checkpoint");
    cr_assert_eq(save_then_load(&w, NULL, true), -1, "a run without the extra bank");
    assert_refused(w.ck.path, "extra bank");
    free_world(&w);
}

Test(checkpoint_file, another_config_is_refused_but_checkpoint_every_is_not_part_of_it)
{
    world w;
    make_world(&w, tu_tmpdir_tracked(), false, 1);
    cr_assert_eq(fs_checkpoint_save(&w.ck, &w.run, &saved), 0, "%s", fs_last_error());
    fs_config changed;
    load_config(&changed, w.cfg.output_dir, "seed: 4\n");
    fs_checkpoint ck;
    fs_checkpoint_progress p;
    cr_assert_eq(fs_checkpoint_init(&ck, &changed, "cell/1", &changed.methods[0]), 0);
    cr_assert_str_eq(ck.path, w.ck.path);
    cr_assert_eq(fs_checkpoint_load(&ck, &w.run, &p), -1);
    assert_refused(w.ck.path, "config changed");
    load_config(&changed, w.cfg.output_dir, "");
    changed.checkpoint_every = 7;
    cr_assert_eq(fs_checkpoint_init(&ck, &changed, "cell/1", &changed.methods[0]), 0);
    cr_assert_eq(fs_checkpoint_load(&ck, &w.run, &p), 1, "%s", fs_last_error());
    free_world(&w);
}

/* rounds 0..3 of CLIENTS clients + the aggregate row */
static void append_rounds(fs_results *res, int from, int to)
{
    for (int round = from; round <= to; round++) {
        fs_round_row rows[CLIENTS + 1];
        for (int k = 0; k <= CLIENTS; k++)
            rows[k] = (fs_round_row){.round = round, .client = k < CLIENTS ? k : -1,
                                     .train_loss = round + 0.1 * k};
        cr_assert_eq(fs_results_append_rounds(res, rows, CLIENTS + 1), 0, "%s", fs_last_error());
    }
}

Test(checkpoint_file, results_resume_drops_the_rows_after_the_checkpoint)
{
    const char *h5 = tu_path_in(tu_tmpdir_tracked(), "r.h5");
    fs_results *res = fs_results_open(h5);
    cr_assert(res, "%s", fs_last_error());
    cr_assert_eq(fs_results_begin(res, "c", "fedavg", NULL), 0, "%s", fs_last_error());
    append_rounds(res, 0, 3);
    fs_results_close(res);
    /* a killed run: checkpoint at round 1, rows written up to round 3 */
    res = fs_results_open(h5);
    cr_assert_eq(fs_results_resume(res, "c", "fedavg", 3 * (CLIENTS + 1), 1), -1,
                 "row 12 belongs to round 2, not the end of round 1");
    cr_assert_eq(fs_results_resume(res, "c", "fedavg", 2 * (CLIENTS + 1), 1), 0, "%s",
                 fs_last_error());
    append_rounds(res, 2, 2);
    fs_round_row *rows;
    int n;
    cr_assert_eq(fs_results_read_rounds(h5, "c", "fedavg", &rows, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 3 * (CLIENTS + 1));
    for (int i = 0; i < n; i++) cr_assert_eq(rows[i].round, i / (CLIENTS + 1), "row %d", i);
    free(rows);
    cr_assert_eq(fs_results_resume(res, "c", "fedprox", CLIENTS + 1, 0), -1, "no such method");
    cr_assert_eq(fs_results_resume(res, "c", "fedavg", 100, 9), -1, "fewer rows than that");
    cr_assert(strstr(fs_last_error(), "fewer than"), "%s", fs_last_error());
    fs_results_close(res);
}

/* ---- resume: the fedsim binary killed and restarted ---- */

static unsigned long long kill_seed;

/* ck.yaml: local (clients' own adapters persist), fednano_ef (an extra
 * bank), scaffold (control variates: a bank per client and a server one)
 * and fedyogi (the server's m and v), 4 rounds, into <cli_dir>/<out>. */
static const char *config(const char *out)
{
    return cli_write_config(out, "ck", " [local, fednano_ef, scaffold, fedyogi]", out, "");
}

static pid_t start_run(const char *cfg, const char *log, int checkpoint_every)
{
    char every[64];
    snprintf(every, sizeof every, "output.checkpoint_every=%d", checkpoint_every);
    const char *const argv[] = {"fedsim", "run", cfg, "--quiet", "--set", "federation.rounds=4",
                                "--set", every, NULL};
    return cli_spawn(log, argv);
}

static double ref_seconds;

static void setup_reference(void)
{
    cli_setup();
    const char *s = getenv("FEDSIM_KILL_SEED");
    kill_seed = s ? strtoull(s, NULL, 10)
                  : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
    char log[600];
    snprintf(log, sizeof log, "%s/ref.log", cli_dir);
    double t0 = cli_now();
    int st = cli_wait(start_run(config("ref"), log, 0));
    ref_seconds = cli_now() - t0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reference run failed:\n%s",
              cli_slurp_log(log));
}

static bool same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* <out>/ck.h5 holds the reference's rows (all but wall-clock seconds) and
 * finals, and no checkpoint is left. */
static void assert_same_as_reference(const char *out)
{
    char ref[600], got[600], ckdir[600];
    snprintf(ref, sizeof ref, "%s/ref/ck.h5", cli_dir);
    snprintf(got, sizeof got, "%s/%s/ck.h5", cli_dir, out);
    snprintf(ckdir, sizeof ckdir, "%s/%s/ck.ckpt", cli_dir, out);
    const char *methods[] = {"local", "fednano_ef", "scaffold", "fedyogi"};
    for (int m = 0; m < 4; m++) {
        fs_round_row *a, *b;
        int na, nb;
        cr_assert_eq(fs_results_read_rounds(ref, "ck", methods[m], &a, &na), 0);
        cr_assert_eq(fs_results_read_rounds(got, "ck", methods[m], &b, &nb), 0,
                     "%s (kill seed %llu)", fs_last_error(), kill_seed);
        cr_assert_eq(na, 5 * 4, "rounds 0..4 x (3 clients + aggregate)");
        cr_assert_eq(nb, na, "%s: %d rows, reference %d (kill seed %llu)", methods[m], nb, na,
                     kill_seed);
        for (int i = 0; i < na; i++)
            cr_assert(a[i].round == b[i].round && a[i].client == b[i].client &&
                          same(a[i].train_loss, b[i].train_loss) &&
                          same(a[i].test_acc, b[i].test_acc) &&
                          same(a[i].global_acc, b[i].global_acc) &&
                          a[i].bytes_up == b[i].bytes_up && a[i].bytes_down == b[i].bytes_down,
                      "%s row %d (round %d client %d): loss %.17g acc %.17g, reference %.17g "
                      "%.17g (kill seed %llu)",
                      methods[m], i, b[i].round, b[i].client, b[i].train_loss, b[i].test_acc,
                      a[i].train_loss, a[i].test_acc, kill_seed);
        free(a), free(b);
        fs_final_row *fa, *fb;
        cr_assert_eq(fs_results_read_final(ref, "ck", methods[m], &fa, &na), 0);
        cr_assert_eq(fs_results_read_final(got, "ck", methods[m], &fb, &nb), 0);
        cr_assert_eq(nb, na);
        for (int i = 0; i < na; i++)
            cr_assert(fa[i].test_acc == fb[i].test_acc && fa[i].global_acc == fb[i].global_acc,
                      "%s final row %d differs (kill seed %llu)", methods[m], i, kill_seed);
        free(fa), free(fb);
    }
    cr_assert_neq(access(ckdir, F_OK), 0, "%s is left behind", ckdir);
}

static int count(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, word)); p++) n++;
    return n;
}

/* Polls until path exists or the process ends; true when it exists. */
static bool await_file(const char *path, pid_t pid)
{
    while (access(path, F_OK) != 0) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return false;
        cli_sleep(0.005);
    }
    return true;
}

/* Round rows local has written to h5 so far (0 before it starts). */
static int local_rows(const char *h5)
{
    fs_result_entry *e;
    int n, rows = 0;
    if (access(h5, F_OK) != 0 || fs_results_list(h5, &e, &n)) return 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].method, "local")) rows = e[i].n_rounds_rows;
    fs_results_list_free(e, n);
    return rows;
}

TestSuite(checkpoint_resume, .init = setup_reference, .timeout = 600);

/* SIGKILL mid-method, then reruns until one finishes. */
static void kill_and_rerun(void)
{
    char log[600], first_ckpt[600];
    const char *cfg = config("killed");
    snprintf(log, sizeof log, "%s/killed.log", cli_dir);
    snprintf(first_ckpt, sizeof first_ckpt, "%s/killed/ck.ckpt/ck--local.ckpt", cli_dir);
    /* First kill: right after local's first checkpoint, so the rerun must resume. */
    pid_t pid = start_run(cfg, log, 1);
    cr_assert(await_file(first_ckpt, pid), "no checkpoint appeared:\n%s", cli_slurp_log(log));
    kill(pid, SIGKILL);
    cr_assert(WIFSIGNALED(cli_wait(pid)));
    /* Then at random moments of a run's length (checkpoints every 2 rounds). */
    tu_rng r = tu_rng_new(kill_seed);
    bool done = false;
    for (int k = 0; k < 2 && !done; k++) {
        double delay = tu_uniform(&r, 0.f, 1.f) * ref_seconds;
        pid = start_run(cfg, log, 2);
        cli_sleep(delay);
        kill(pid, SIGKILL);
        int st = cli_wait(pid);
        done = WIFEXITED(st);
        cr_assert(!done || WEXITSTATUS(st) == 0, "run exited with %d (kill seed %llu):\n%s",
                  WEXITSTATUS(st), kill_seed, cli_slurp_log(log));
        cr_log_info("kill %d at %.2f s%s", k + 2, delay, done ? " (too late: it finished)" : "");
    }
    if (!done) {
        int st = cli_wait(start_run(cfg, log, 2));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "final run failed (kill seed %llu):\n%s",
                  kill_seed, cli_slurp_log(log));
    }
    const char *text = cli_slurp_log(log);
    cr_assert(strstr(text, "resuming ck/local from round"), "never resumed:\n%s", text);
    assert_same_as_reference("killed");
}

/* SIGTERM: a checkpoint at the stop, then a rerun from it. */
static void stop_and_rerun(void)
{
    char log[600], ckpt[600];
    const char *cfg = config("term");
    snprintf(log, sizeof log, "%s/term.log", cli_dir);
    snprintf(ckpt, sizeof ckpt, "%s/term/ck.ckpt/ck--local.ckpt", cli_dir);
    /* checkpoint_every larger than the run: only the stop writes one */
    pid_t pid = start_run(cfg, log, 100);
    char h5[600];
    snprintf(h5, sizeof h5, "%s/term/ck.h5", cli_dir);
    /* Once local's round 1 is written, the stop comes two rounds before its end. */
    while (local_rows(h5) < 2 * 4) {
        cr_assert_neq(waitpid(pid, NULL, WNOHANG), pid, "%s", cli_slurp_log(log));
        cli_sleep(0.005);
    }
    kill(pid, SIGTERM);
    int st = cli_wait(pid);
    const char *text = cli_slurp_log(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 143, "after SIGTERM:\n%s", text);
    cr_assert(strstr(text, "resume from the last checkpoint"), "%s", text);
    cr_assert_eq(access(ckpt, F_OK), 0, "no checkpoint at the stop:\n%s", text);
    st = cli_wait(start_run(cfg, log, 100));
    text = cli_slurp_log(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rerun failed:\n%s", text);
    cr_assert_eq(count(text, "resuming ck/local from round"), 1, "%s", text);
    assert_same_as_reference("term");
}

/* One test for both: the reference run is made once per test. */
Test(checkpoint_resume, sigkill_or_sigterm_then_rerun_gives_the_uninterrupted_rows)
{
    kill_and_rerun();
    stop_and_rerun();
}

/* ---- the command refuses an unusable checkpoint ---- */

TestSuite(checkpoint_cli, .init = cli_setup, .timeout = 600);

Test(checkpoint_cli, a_foreign_checkpoint_stops_the_run_with_a_message)
{
    const char *cfg = config("bad");
    char dir[600], ckpt[700], log[600];
    snprintf(dir, sizeof dir, "%s/bad/ck.ckpt", cli_dir);
    snprintf(ckpt, sizeof ckpt, "%s/ck--local.ckpt", dir);
    snprintf(log, sizeof log, "%s/bad.log", cli_dir);
    cr_assert_eq(cli_sh("mkdir -p '%s' && head -c 500 /dev/urandom > '%s'", dir, ckpt), 0);
    int st = cli_wait(start_run(cfg, log, 1));
    const char *text = cli_slurp_log(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", text);
    cr_assert(strstr(text, ckpt) && strstr(text, "not a fedsim checkpoint") &&
                  strstr(text, "delete it"),
              "%s", text);
}
