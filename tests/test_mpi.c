/* `mpirun -np N fedsim run` end to end: 1, 3 and 4 CPU ranks of the same
 * config (every method, partial participation, three lockstep groups, so 4
 * ranks is more than there are groups and centralized's single trainer sits
 * on one rank) write identical results, bit for bit; a sweep under mpirun
 * resumes. One test, as the fixture (a pretrained tiny model) dominates its
 * cost. Skipped when fedsim was built without MPI or mpirun is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"

static void setup(void)
{
#ifndef FEDSIM_HAVE_MPI
    cr_skip_test("fedsim was built without MPI (install libopenmpi-dev and re-run cmake)");
#endif
    if (cli_sh("command -v mpirun > /dev/null") != 0)
        cr_skip_test("mpirun not found (install openmpi-bin)");
    cli_setup();
}

TestSuite(mpi, .init = setup, .timeout = 600);

/* mpirun of `fedsim <cmd> <config> --quiet <args>` on np ranks; asserts success. */
static void mpirun(int np, const char *cmd, const char *config, const char *args)
{
    char log[600];
    snprintf(log, sizeof log, "%s/mpirun-%s-%d.txt", cli_dir, cmd, np);
    /* the suite's config asks for 2 threads per rank: more threads than the CI
     * cores, so they must sleep rather than spin while they wait */
    int rc = cli_sh("mpirun --oversubscribe --allow-run-as-root -x OMP_WAIT_POLICY=PASSIVE -np %d "
                    "'%s' %s %s --quiet %s > %s 2>&1",
                    np, cli_fedsim, cmd, config, args, log);
    cr_assert_eq(rc, 0, "mpirun -np %d fedsim %s failed:\n%s", np, cmd, cli_slurp_log(log));
}

static void assert_same_double(double a, double b, const char *what, const char *method, int row)
{
    cr_assert(memcmp(&a, &b, sizeof a) == 0, "%s row %d: %s %.17g vs %.17g", method, row, what, a,
              b);
}

/* Every number of every method of b equals a's (wall times aside). */
static void assert_same_results(const char *a, const char *b, const char *cell)
{
    fs_result_entry *ea, *eb;
    int na, nb;
    cr_assert_eq(fs_results_list(a, &ea, &na), 0, "%s", a);
    cr_assert_eq(fs_results_list(b, &eb, &nb), 0, "%s", b);
    cr_assert_eq(na, 10, "expected 10 methods in %s, found %d", a, na);
    cr_assert_eq(nb, na, "%s has %d methods, %s %d", b, nb, a, na);
    for (int m = 0; m < na; m++) {
        const char *method = ea[m].method;
        cr_assert_str_eq(eb[m].method, method);
        cr_assert(ea[m].complete && eb[m].complete, "%s incomplete", method);
        fs_round_row *ra, *rb;
        int n, n2;
        cr_assert_eq(fs_results_read_rounds(a, cell, method, &ra, &n), 0);
        cr_assert_eq(fs_results_read_rounds(b, cell, method, &rb, &n2), 0);
        cr_assert_eq(n, n2, "%s: %d vs %d round rows", method, n, n2);
        for (int i = 0; i < n; i++) {
            cr_assert(ra[i].round == rb[i].round && ra[i].client == rb[i].client);
            assert_same_double(ra[i].train_loss, rb[i].train_loss, "train loss", method, i);
            assert_same_double(ra[i].test_acc, rb[i].test_acc, "test acc", method, i);
            assert_same_double(ra[i].global_acc, rb[i].global_acc, "global acc", method, i);
            cr_assert(ra[i].bytes_up == rb[i].bytes_up && ra[i].bytes_down == rb[i].bytes_down,
                      "%s row %d: bytes", method, i);
        }
        fs_final_row *fa, *fb;
        cr_assert_eq(fs_results_read_final(a, cell, method, &fa, &n), 0);
        cr_assert_eq(fs_results_read_final(b, cell, method, &fb, &n2), 0);
        cr_assert_eq(n, n2);
        for (int i = 0; i < n; i++) {
            cr_assert(fa[i].n_train == fb[i].n_train && fa[i].n_test == fb[i].n_test);
            assert_same_double(fa[i].test_acc, fb[i].test_acc, "final test acc", method, i);
            assert_same_double(fa[i].global_acc, fb[i].global_acc, "final global acc", method, i);
        }
        assert_same_double(ea[m].summary.mean_acc, eb[m].summary.mean_acc, "mean acc", method, -1);
        assert_same_double(ea[m].summary.upload_mb, eb[m].summary.upload_mb, "upload", method, -1);
        free(ra), free(rb), free(fa), free(fb);
    }
    fs_results_list_free(ea, na), fs_results_list_free(eb, nb);
}

/* 1, 3 and 4 ranks: the same numbers. */
static void assert_rank_count_changes_nothing(void)
{
    const char *config = cli_write_config(
        "ranks", "ranks",
        "\n  - fedavg\n  - { name: fedprox, mu: 0.1 }\n  - { name: feddpa_f, instances: 3 }\n"
        "  - { name: fednano, fisher: { samples: 8 } }\n  - fednano_ef\n  - centralized\n"
        "  - local\n  - fedadam\n  - fedyogi\n  - scaffold",
        "out", "");
    /* 6 clients, 5 taking part per round; with batches of 16 the tiny model's
     * pass holds two clients, so three lockstep groups. */
    const char *overrides = "--set data.partition.clients=6 --set federation.participation=0.7 "
                            "--set federation.batch_size=16 --threads 1";
    char args[800], h5[3][600], stale[700];
    /* A single-process run's leftover checkpoint: mpirun ranks must neither
     * resume from it nor trip over it; rank 0 deletes it with its method. */
    snprintf(stale, sizeof stale, "%s/out3/ranks.ckpt/ranks--fedavg.ckpt", cli_dir);
    cr_assert_eq(cli_sh("mkdir -p %s/out3/ranks.ckpt && echo not-a-checkpoint > %s", cli_dir, stale),
                 0);
    const int ranks[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s --set output.dir=%s/out%d", overrides, cli_dir, ranks[i]);
        mpirun(ranks[i], "run", config, args);
        snprintf(h5[i], sizeof h5[i], "%s/out%d/ranks.h5", cli_dir, ranks[i]);
    }
    cr_assert_neq(access(stale, F_OK), 0, "the finished method's leftover checkpoint %s remains",
                  stale);
    assert_same_results(h5[0], h5[1], "ranks");
    assert_same_results(h5[0], h5[2], "ranks");
}

/* A sweep re-run under mpirun skips what it finished (rank 0 decides for all). */
static void assert_sweep_resumes(void)
{
    const char *config = cli_write_config("msw", "msw", " [fedavg]", "outsw",
                                          "sweep:\n  seed: [0, 1]\n");
    mpirun(2, "sweep", config, "--threads 1");
    char h5[600], log[600];
    snprintf(h5, sizeof h5, "%s/outsw/msw.h5", cli_dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 2, "2 seeds x 1 method, found %d", n);
    fs_results_list_free(e, n);
    snprintf(log, sizeof log, "%s/msw-again.txt", cli_dir);
    cr_assert_eq(cli_sh("mpirun --oversubscribe --allow-run-as-root -np 2 '%s' sweep %s "
                        "--threads 1 > %s 2>&1",
                        cli_fedsim, config, log),
                 0, "%s", cli_slurp_log(log));
    const char *out = cli_slurp(log);
    cr_assert(strstr(out, "already complete"), "a resumed sweep re-ran finished cells:\n%s", out);
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 2, "a resumed sweep under mpirun duplicated cells: %d groups", n);
    fs_results_list_free(e, n);
}

Test(mpi, rank_count_changes_no_number_and_sweeps_resume)
{
    assert_rank_count_changes_nothing();
    assert_sweep_resumes();
}
