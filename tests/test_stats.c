/* The statistics of `fedsim report` (mean, sample sd, Student-t quantiles,
 * 95 % intervals, paired differences) against hand-computed values and
 * published t tables; the cell-label parsing that finds groups and seeds;
 * the grouping of runs (a cell group's methods adjacent, unfinished runs out). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/analysis/cell_label.h"
#include "sim/analysis/run_groups.h"
#include "sim/analysis/stats.h"

static void assert_near(double got, double want, double tol, const char *what)
{
    cr_assert(fabs(got - want) <= tol, "%s: got %.9g, want %.9g (tolerance %g)", what, got, want,
              tol);
}

Test(stats, mean_and_sample_sd)
{
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    assert_near(fs_mean(x, 8), 5, 1e-12, "mean");
    /* sum of squared deviations 32, over n - 1 = 7 */
    assert_near(fs_sample_sd(x, 8), sqrt(32.0 / 7), 1e-12, "sample sd");
    cr_assert(isnan(fs_mean(x, 0)), "mean of nothing");
    cr_assert(isnan(fs_sample_sd(x, 1)), "sd of one value");
}

Test(stats, student_t_quantiles_match_the_tables)
{
    /* two-sided 95 % critical values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2) */
    assert_near(fs_student_t_quantile(0.975, 1), 12.706, 5e-4, "t(0.975, 1)");
    assert_near(fs_student_t_quantile(0.975, 2), 4.303, 5e-4, "t(0.975, 2)");
    assert_near(fs_student_t_quantile(0.975, 4), 2.776, 5e-4, "t(0.975, 4)");
    assert_near(fs_student_t_quantile(0.975, 10), 2.228, 5e-4, "t(0.975, 10)");
    assert_near(fs_student_t_quantile(0.975, 30), 2.042, 5e-4, "t(0.975, 30)");
    assert_near(fs_student_t_quantile(0.995, 10), 3.169, 5e-4, "t(0.995, 10)");
    /* the normal limit and the symmetry */
    assert_near(fs_student_t_quantile(0.975, 1e7), 1.959964, 1e-5, "t(0.975, inf)");
    assert_near(fs_student_t_quantile(0.025, 4), -2.776, 5e-4, "t(0.025, 4)");
    assert_near(fs_student_t_quantile(0.5, 3), 0, 1e-12, "median");
    /* df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi */
    assert_near(fs_student_t_cdf(2.5, 1), 0.5 + atan(2.5) / acos(-1.0), 1e-12, "Cauchy cdf");
    assert_near(fs_student_t_cdf(-2.5, 1), 0.5 - atan(2.5) / acos(-1.0), 1e-12, "Cauchy cdf < 0");
    cr_assert(isnan(fs_student_t_quantile(1, 4)) && isnan(fs_student_t_quantile(0.5, 0)),
              "out-of-range p or df");
}

Test(stats, ci95_half_width_by_hand)
{
    /* mean 43, deviations -3, -1, 4: sd = sqrt(26 / 2) = sqrt(13);
     * half-width = t(0.975, 2) * sqrt(13) / sqrt(3) = 4.302653 * 2.081666 = 8.95669 */
    const double acc[] = {40, 42, 47};
    fs_interval iv = fs_ci95(acc, 3);
    cr_assert_eq(iv.n, 3);
    assert_near(iv.mean, 43, 1e-12, "mean");
    assert_near(iv.sd, sqrt(13), 1e-12, "sd");
    assert_near(iv.half_width, 8.95669, 5e-5, "half-width");
    fs_interval one = fs_ci95(acc, 1);
    cr_assert(one.n == 1 && one.mean == 40 && isnan(one.half_width), "one seed: no interval");
    cr_assert(!fs_interval_excludes_zero(one), "one seed is never significant");
}

Test(stats, paired_difference_by_hand)
{
    /* differences 4, 3, 2: mean 3, sd 1, half-width 4.302653 / sqrt(3) = 2.48414 */
    const double method[] = {44, 45, 49}, reference[] = {40, 42, 47};
    fs_interval d = fs_paired_ci95(method, reference, 3);
    assert_near(d.mean, 3, 1e-12, "mean difference");
    assert_near(d.sd, 1, 1e-12, "sd of differences");
    assert_near(d.half_width, 2.48414, 5e-5, "half-width");
    cr_assert(fs_interval_excludes_zero(d), "[0.52, 5.48] excludes 0");
    /* differences 1, -1, 0.5: mean 1/6, the interval straddles 0 */
    const double noisy[] = {41, 41, 47.5};
    fs_interval n = fs_paired_ci95(noisy, reference, 3);
    assert_near(n.mean, 1.0 / 6, 1e-12, "mean difference");
    cr_assert(!fs_interval_excludes_zero(n), "%.3f ± %.3f is not significant", n.mean,
              n.half_width);
    /* the pairing matters: unpaired, the same samples would overlap widely */
    fs_interval unpaired = fs_ci95(method, 3);
    cr_assert_gt(unpaired.half_width, d.half_width);
}

Test(cell_label, axes_of_a_sweep_label)
{
    fs_cell_label l;
    cr_assert_eq(fs_cell_label_parse(
                     "data.partition.dirichlet_alpha=0.5,data.partition.clients=5,seed=1", &l),
                 0);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.axis[0].key, "data.partition.dirichlet_alpha");
    cr_assert_str_eq(l.axis[0].value, "0.5");
    cr_assert_str_eq(l.axis[2].key, "seed");
    cr_assert_str_eq(l.axis[2].value, "1");
    fs_cell_label_free(&l);
    /* a value holding a comma stays whole */
    cr_assert_eq(fs_cell_label_parse("a=1,b=x,y,c=4", &l), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.axis[1].value, "x,y");
    cr_assert_str_eq(l.axis[2].value, "4");
    fs_cell_label_free(&l);
    /* a run's name has no axes */
    cr_assert_eq(fs_cell_label_parse("quickstart", &l), 0);
    cr_assert_eq(l.n, 0);
    fs_cell_label_free(&l);
}

Test(cell_label, cell_groups_drop_seed_and_method)
{
    char g[256];
    fs_cell_group("data.partition.dirichlet_alpha=0.5,data.partition.clients=5,seed=1", g,
                  sizeof g);
    cr_assert_str_eq(g, "dirichlet_alpha=0.5,clients=5");
    fs_cell_group("seed=2,methods=fedavg", g, sizeof g);
    cr_assert_str_eq(g, "all");
    fs_cell_group("quickstart", g, sizeof g);
    cr_assert_str_eq(g, "quickstart");
}

Test(cell_label, seed_from_config_then_label)
{
    long seed = -1;
    cr_assert(fs_run_seed("name: x\nseed: 7\nfederation:\n  seed: 9\n", "seed=3", &seed));
    cr_assert_eq(seed, 7, "the resolved config's top-level seed wins");
    cr_assert(fs_run_seed("name: x\nseed: 12 # comment\n", "", &seed) && seed == 12);
    cr_assert(fs_run_seed("name: x\n  seed: 9\n", "alpha=1,seed=3", &seed));
    cr_assert_eq(seed, 3, "an indented seed is not the run's; the label's is");
    cr_assert(fs_run_seed("seed: abc\n", "seed=4", &seed) && seed == 4);
    cr_assert(!fs_run_seed(NULL, "quickstart", &seed), "no seed anywhere");
    cr_assert(!fs_run_seed("", "seed=x1", &seed), "not an integer");
}

/* A fs_result_entry of a finished run (only what grouping reads). */
static fs_result_entry finished(const char *cell, const char *method, char *config)
{
    fs_result_entry e = {.complete = true, .config_yaml = config};
    snprintf(e.cell, sizeof e.cell, "%s", cell);
    snprintf(e.method, sizeof e.method, "%s", method);
    return e;
}

Test(run_groups, a_cell_groups_methods_are_adjacent_and_seeds_known)
{
    /* a sweep whose methods axis varies slowest: cells interleave methods */
    char s0[] = "seed: 0\n", s1[] = "seed: 1\n";
    fs_result_entry e[] = {
        finished("methods=fedavg,alpha=0.1,seed=0", "fedavg", s0),
        finished("methods=fedavg,alpha=0.5,seed=0", "fedavg", s0),
        finished("methods=local,alpha=0.1,seed=0", "local", s0),
        finished("methods=local,alpha=0.5,seed=0", "local", s0),
        finished("methods=fedavg,alpha=0.1,seed=1", "fedavg", s1),
        finished("methods=fedavg,alpha=0.1,seed=2", "fedavg", NULL),
    };
    e[5].complete = false;
    fs_run_groups g;
    cr_assert_eq(fs_run_groups_build(e, 6, &g), 0);
    cr_assert_eq(g.n, 4);
    cr_assert_eq(g.incomplete, 1);
    const char *want[4][2] = {{"alpha=0.1", "fedavg"},
                              {"alpha=0.1", "local"},
                              {"alpha=0.5", "fedavg"},
                              {"alpha=0.5", "local"}};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(g.group[i].cell_group, want[i][0], "group %d", i);
        cr_assert_str_eq(g.group[i].method, want[i][1], "group %d", i);
    }
    cr_assert_eq(g.group[0].n, 2, "seeds 0 and 1 pool");
    cr_assert(g.group[0].run[1].seed_known && g.group[0].run[1].seed == 1);
    cr_assert_eq(fs_run_groups_find(&g, "alpha=0.5", "local"), 3);
    cr_assert_eq(fs_run_groups_find(&g, "alpha=0.5", "fednano"), -1);
    fs_run_groups_free(&g);
}
