/* Dirichlet label-skew partitioner: Gamma sampler moments and tails,
 * Dirichlet proportions (concentration, uniform limit, exact IID), the
 * partition's bookkeeping (every example once, counts, minimum per client,
 * determinism), label skew versus alpha, splitting a test set with the same
 * proportions, clear failures, and string-key category tables. Statistical
 * checks use fixed seeds, so they are deterministic; tolerances are several
 * standard errors wide. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/partition.h"
#include "sim/io/error.h"
#include "sim/io/rng.h"

/* ---- Gamma ---- */

static void gamma_moments(double shape, int n, uint64_t seed, double *mean, double *var,
                          double *frac_below, double x)
{
    fs_rng r = fs_rng_seed(seed);
    double s = 0, s2 = 0;
    int below = 0;
    for (int i = 0; i < n; i++) {
        double g = fs_rng_gamma(&r, shape);
        cr_assert(isfinite(g) && g >= 0, "shape %g: sample %d is %g", shape, i, g);
        s += g, s2 += g * g;
        below += g < x;
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
    *frac_below = (double)below / n;
}

Test(gamma, moments_for_small_and_large_shapes)
{
    const double shapes[] = {0.1, 0.5, 1.0, 5.0};
    const int n = 50000;
    for (int i = 0; i < 4; i++) {
        double k = shapes[i], mean, var, fb;
        gamma_moments(k, n, 1234 + i, &mean, &var, &fb, 1.0);
        /* Gamma(k,1): mean k, variance k; Var(s^2) ~ k^2 (2 + 6/k) / n. */
        double se_mean = sqrt(k / n), se_var = k * sqrt((2.0 + 6.0 / k) / n);
        cr_expect(fabs(mean - k) < 5 * se_mean, "shape %g: mean %g (want %g +- %g)", k, mean, k,
                  5 * se_mean);
        cr_expect(fabs(var - k) < 5 * se_var, "shape %g: variance %g (want %g +- %g)", k, var, k,
                  5 * se_var);
    }
}

Test(gamma, distribution_shape)
{
    const int n = 50000;
    double mean, var, fb;
    /* Shape 1 is Exp(1): P(X < 1) = 1 - 1/e. */
    gamma_moments(1.0, n, 77, &mean, &var, &fb, 1.0);
    cr_expect(fabs(fb - (1 - exp(-1.0))) < 0.01, "P(Exp < 1) = %g", fb);
    /* The shape<1 boost governs the small tail: P(X < x) ~ x^k / Gamma(k+1). */
    gamma_moments(0.1, n, 78, &mean, &var, &fb, 1e-5);
    double want = pow(1e-5, 0.1) / tgamma(1.1);
    cr_expect(fabs(fb - want) < 0.01, "P(Gamma(0.1) < 1e-5) = %g, want %g", fb, want);
}

Test(gamma, invalid_shape_is_nan)
{
    fs_rng r = fs_rng_seed(1);
    cr_expect(isnan(fs_rng_gamma(&r, 0.0)));
    cr_expect(isnan(fs_rng_gamma(&r, -1.0)));
    cr_expect(isnan(fs_rng_gamma(&r, NAN)));
}

/* ---- Dirichlet proportions ---- */

enum { DK = 200, DC = 10 };

static void check_rows_sum_to_one(const double *p, int K, int C)
{
    for (int c = 0; c < K; c++) {
        double s = 0;
        for (int k = 0; k < C; k++) {
            cr_assert(p[c * C + k] >= 0 && p[c * C + k] <= 1, "p[%d][%d] = %g", c, k, p[c * C + k]);
            s += p[c * C + k];
        }
        cr_assert(fabs(s - 1) < 1e-12, "row %d sums to %.17g", c, s);
    }
}

static double mean_max_share(int rows, int clients, double alpha, uint64_t seed)
{
    double *p = malloc((size_t)rows * clients * sizeof *p), mean_max = 0;
    cr_assert(p);
    fs_rng r = fs_rng_seed(seed);
    fs_dirichlet_proportions(&r, rows, clients, alpha, p);
    check_rows_sum_to_one(p, rows, clients);
    for (int c = 0; c < rows; c++) {
        double mx = 0;
        for (int k = 0; k < clients; k++) mx = fmax(mx, p[(long)c * clients + k]);
        mean_max += mx / rows;
    }
    free(p);
    return mean_max;
}

Test(dirichlet, small_alpha_concentrates)
{
    /* E[max share] of Dirichlet(0.05) over C clients falls with C (total
     * concentration 0.05*C): ~0.886 for 5, ~0.782 for 10, ~0.645 for 20
     * (reference: 1e5 rows normalising Python's random.gammavariate). */
    double m5 = mean_max_share(4000, 5, 0.05, 5);
    cr_expect(m5 > 0.8, "mean max share at alpha 0.05 over 5 clients = %g", m5);
    double m10 = mean_max_share(4000, 10, 0.05, 6), m20 = mean_max_share(4000, 20, 0.05, 7);
    cr_expect(fabs(m10 - 0.782) < 0.02, "10 clients: mean max share %g, want ~0.782", m10);
    cr_expect(fabs(m20 - 0.645) < 0.02, "20 clients: mean max share %g, want ~0.645", m20);
}

Test(dirichlet, tiny_alpha_never_degenerates)
{
    static double p[DK * DC];
    fs_rng r = fs_rng_seed(6);
    fs_dirichlet_proportions(&r, DK, DC, 1e-4, p); /* U^(1/alpha) underflows in double */
    check_rows_sum_to_one(p, DK, DC);
}

Test(dirichlet, large_alpha_approaches_uniform)
{
    static double p[DK * DC];
    fs_rng r = fs_rng_seed(7);
    fs_dirichlet_proportions(&r, DK, DC, 1000, p);
    check_rows_sum_to_one(p, DK, DC);
    double dev = 0;
    for (int i = 0; i < DK * DC; i++) dev = fmax(dev, fabs(p[i] - 1.0 / DC));
    cr_expect(dev < 0.05, "max deviation from 1/K at alpha 1000 = %g", dev);
}

Test(dirichlet, infinite_alpha_is_exactly_uniform)
{
    static double p[DK * 7];
    fs_rng r = fs_rng_seed(8), before = r;
    fs_dirichlet_proportions(&r, DK, 7, INFINITY, p);
    for (int i = 0; i < DK * 7; i++) cr_assert_eq(p[i], 1.0 / 7, "p[%d] = %.17g", i, p[i]);
    cr_expect(memcmp(&r, &before, sizeof r) == 0, "IID proportions must not consume randomness");
}

Test(dirichlet, seeded)
{
    static double a[DK * DC], b[DK * DC];
    fs_rng r1 = fs_rng_seed(9), r2 = fs_rng_seed(9);
    fs_dirichlet_proportions(&r1, DK, DC, 0.5, a);
    fs_dirichlet_proportions(&r2, DK, DC, 0.5, b);
    cr_expect(memcmp(a, b, sizeof a) == 0);
}

/* ---- partition ---- */

enum { PN = 6000, PK = 10, PC = 20 };

/* Keys with unequal category sizes (category c has weight c+1). */
static void make_keys(int *keys, int n, int K, uint64_t seed)
{
    fs_rng r = fs_rng_seed(seed);
    int total = K * (K + 1) / 2;
    for (int i = 0; i < n; i++) {
        int u = (int)fs_rng_below(&r, (uint64_t)total), c = 0;
        while (u >= c + 1) u -= c + 1, c++;
        keys[i] = c;
    }
}

typedef struct {
    double p[PK * PC];
    int client_of[PN];
    int counts[PC * PK];
} part_out;

static void check_partition(const int *keys, int n, int K, int C, const int *client_of,
                            const int *counts, int min_per_client)
{
    int *recount = calloc((size_t)K * C, sizeof *recount);
    int *ncat = calloc((size_t)K, sizeof *ncat);
    cr_assert(recount && ncat);
    for (int i = 0; i < n; i++) {
        cr_assert(client_of[i] >= 0 && client_of[i] < C, "example %d -> client %d", i,
                  client_of[i]);
        recount[client_of[i] * K + keys[i]]++;
        ncat[keys[i]]++;
    }
    long total = 0;
    for (int k = 0; k < C; k++) {
        int tot = 0;
        for (int c = 0; c < K; c++) {
            cr_assert_eq(counts[k * K + c], recount[k * K + c], "counts[%d][%d]", k, c);
            tot += counts[k * K + c];
        }
        cr_assert(tot >= min_per_client, "client %d has %d < %d examples", k, tot, min_per_client);
        total += tot;
    }
    cr_assert_eq(total, n);
    for (int c = 0; c < K; c++) {
        int s = 0;
        for (int k = 0; k < C; k++) s += counts[k * K + c];
        cr_assert_eq(s, ncat[c], "category %d: %d assigned of %d", c, s, ncat[c]);
    }
    free(recount), free(ncat);
}

/* Mean over clients of the entropy (nats) of the client's category mix. */
static double mean_client_entropy(const int *counts, int K, int C)
{
    double h = 0;
    for (int k = 0; k < C; k++) {
        double tot = 0, hk = 0;
        for (int c = 0; c < K; c++) tot += counts[k * K + c];
        for (int c = 0; c < K; c++)
            if (counts[k * K + c]) {
                double q = counts[k * K + c] / tot;
                hk -= q * log(q);
            }
        h += hk / C;
    }
    return h;
}

Test(partition, bookkeeping_and_minimum)
{
    static int keys[PN];
    static part_out o;
    make_keys(keys, PN, PK, 11);
    const double alphas[] = {0.05, 0.1, 0.5, 1, 5, INFINITY};
    for (int a = 0; a < 6; a++) {
        fs_clear_error();
        int rc = fs_partition_dirichlet(42, keys, PN, PK, PC, alphas[a], 20, o.p, o.client_of,
                                        o.counts);
        cr_assert_eq(rc, 0, "alpha %g: %s", alphas[a], fs_last_error());
        check_rows_sum_to_one(o.p, PK, PC);
        check_partition(keys, PN, PK, PC, o.client_of, o.counts, 20);
    }
}

Test(partition, seeded)
{
    static int keys[PN];
    static part_out a, b, c;
    make_keys(keys, PN, PK, 12);
    cr_assert_eq(fs_partition_dirichlet(7, keys, PN, PK, PC, 0.5, 10, a.p, a.client_of, a.counts), 0);
    cr_assert_eq(fs_partition_dirichlet(7, keys, PN, PK, PC, 0.5, 10, b.p, b.client_of, b.counts), 0);
    cr_assert_eq(fs_partition_dirichlet(8, keys, PN, PK, PC, 0.5, 10, c.p, c.client_of, c.counts), 0);
    cr_expect(memcmp(&a, &b, sizeof a) == 0, "same seed, different partition");
    cr_expect(memcmp(a.p, c.p, sizeof a.p) != 0, "different seeds, same proportions");
    cr_expect(memcmp(a.client_of, c.client_of, sizeof a.client_of) != 0,
              "different seeds, same assignment");
    /* IID: the proportions are fixed, but the shuffle still follows the seed. */
    cr_assert_eq(fs_partition_dirichlet(7, keys, PN, PK, PC, INFINITY, 0, a.p, a.client_of, a.counts), 0);
    cr_assert_eq(fs_partition_dirichlet(8, keys, PN, PK, PC, INFINITY, 0, c.p, c.client_of, c.counts), 0);
    cr_expect(memcmp(a.client_of, c.client_of, sizeof a.client_of) != 0);
}

Test(partition, iid_is_balanced)
{
    static int keys[PN - 7];
    static part_out o;
    const int n = PN - 7; /* not a multiple of the client count */
    make_keys(keys, n, PK, 13);
    cr_assert_eq(fs_partition_dirichlet(3, keys, n, PK, PC, INFINITY, 0, o.p, o.client_of, o.counts), 0);
    check_partition(keys, n, PK, PC, o.client_of, o.counts, n / PC);
    for (int i = 0; i < PK * PC; i++) cr_assert_eq(o.p[i], 1.0 / PC);
    for (int c = 0; c < PK; c++) {
        int lo = n, hi = 0;
        for (int k = 0; k < PC; k++) {
            lo = o.counts[k * PK + c] < lo ? o.counts[k * PK + c] : lo;
            hi = o.counts[k * PK + c] > hi ? o.counts[k * PK + c] : hi;
        }
        cr_expect(hi - lo <= 1, "category %d: per-client counts %d..%d", c, lo, hi);
    }
    int lo = n, hi = 0;
    for (int k = 0; k < PC; k++) {
        int t = 0;
        for (int c = 0; c < PK; c++) t += o.counts[k * PK + c];
        lo = t < lo ? t : lo, hi = t > hi ? t : hi;
    }
    cr_expect(hi - lo <= 1, "per-client totals %d..%d", lo, hi);
}

Test(partition, skew_grows_as_alpha_shrinks)
{
    static int keys[PN];
    static part_out o;
    make_keys(keys, PN, PK, 14);
    const double alphas[] = {0.1, 1, 100, INFINITY};
    double h[4];
    for (int a = 0; a < 4; a++) {
        cr_assert_eq(fs_partition_dirichlet(21, keys, PN, PK, PC, alphas[a], 10, o.p, o.client_of,
                                            o.counts), 0, "%s", fs_last_error());
        h[a] = mean_client_entropy(o.counts, PK, PC);
    }
    /* The ratio is 0.40 +- 0.04 over 50 seeds (min 10 per client). */
    cr_expect(h[0] < 0.6 * h[2], "entropy alpha 0.1: %g vs alpha 100: %g", h[0], h[2]);
    cr_expect(h[0] < h[1] && h[1] < h[2], "entropies %g %g %g", h[0], h[1], h[2]);
    /* IID mix matches the global category mix (entropy ~1.97 nats for weights 1..10). */
    cr_expect(fabs(h[3] - h[2]) < 0.05, "entropy IID %g vs alpha 100 %g", h[3], h[2]);
}

Test(partition, impossible_minimum_fails_with_advice)
{
    static int keys[1000];
    static part_out o;
    make_keys(keys, 1000, PK, 15);
    fs_clear_error();
    /* Feasible on paper (10 x 95 <= 1000), hopeless at alpha 0.05. */
    cr_assert_eq(fs_partition_dirichlet(1, keys, 1000, PK, 10, 0.05, 95, o.p, o.client_of,
                                        o.counts), -1);
    const char *msg = fs_last_error();
    cr_expect(strstr(msg, "larger alpha") && strstr(msg, "fewer clients") &&
                  strstr(msg, "smaller minimum") && strstr(msg, "1000"),
              "message: %s", msg);
    /* Infeasible outright. */
    fs_clear_error();
    cr_assert_eq(fs_partition_dirichlet(1, keys, 1000, PK, 10, 1.0, 101, o.p, o.client_of,
                                        o.counts), -1);
    msg = fs_last_error();
    cr_expect(strstr(msg, "fewer clients") && strstr(msg, "smaller minimum") && strstr(msg, "1010"),
              "message: %s", msg);
}

Test(partition, bad_arguments_fail_clearly)
{
    static int keys[100];
    static part_out o;
    make_keys(keys, 100, PK, 16);
    keys[37] = PK;
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, 1.0, 0, o.p, o.client_of, o.counts), -1);
    cr_expect(strstr(fs_last_error(), "example 37") && strstr(fs_last_error(), "key 10"), "%s",
              fs_last_error());
    keys[37] = -1;
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, 1.0, 0, o.p, o.client_of, o.counts), -1);
    cr_expect(strstr(fs_last_error(), "key -1"), "%s", fs_last_error());
    keys[37] = 0;
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, 0.0, 0, o.p, o.client_of, o.counts), -1);
    cr_expect(strstr(fs_last_error(), "alpha"), "%s", fs_last_error());
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, NAN, 0, o.p, o.client_of, o.counts), -1);
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, -1.0, 0, o.p, o.client_of, o.counts), -1);
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 0, 1.0, 0, o.p, o.client_of, o.counts), -1);
    cr_expect(strstr(fs_last_error(), "clients"), "%s", fs_last_error());
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, 0, 4, 1.0, 0, o.p, o.client_of, o.counts), -1);
    cr_expect(strstr(fs_last_error(), "categories"), "%s", fs_last_error());
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, 1.0, -1, o.p, o.client_of, o.counts), -1);
    /* Valid again. */
    cr_assert_eq(fs_partition_dirichlet(1, keys, 100, PK, 4, 1.0, 0, o.p, o.client_of, o.counts), 0);
    /* No examples, no minimum: fine. */
    cr_assert_eq(fs_partition_dirichlet(1, keys, 0, PK, 4, 1.0, 0, o.p, o.client_of, o.counts), 0);
    for (int i = 0; i < 4 * PK; i++) cr_assert_eq(o.counts[i], 0);
}

/* ---- fs_partition_by_proportions ---- */

Test(by_proportions, largest_remainder_rounding)
{
    const double p[3] = {0.5, 0.3, 0.2}; /* one category, 3 clients */
    int keys[7] = {0}, client_of[7], counts[3];
    fs_rng r = fs_rng_seed(1);
    fs_partition_by_proportions(&r, keys, 7, 1, 3, p, client_of, counts);
    /* targets 3.5, 2.1, 1.4 -> floors 3, 2, 1, the spare one to the largest remainder */
    cr_expect(counts[0] == 4 && counts[1] == 2 && counts[2] == 1, "%d %d %d", counts[0], counts[1],
              counts[2]);
    /* Unnormalised rows and zero rows. */
    const double w[6] = {5, 3, 2, 0, 0, 0};
    int keys2[14] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}, co2[14], counts2[6];
    fs_partition_by_proportions(&r, keys2, 14, 2, 3, w, co2, counts2);
    cr_expect(counts2[0 * 2 + 0] == 4 && counts2[1 * 2 + 0] == 2 && counts2[2 * 2 + 0] == 1);
    int s = counts2[0 * 2 + 1] + counts2[1 * 2 + 1] + counts2[2 * 2 + 1];
    cr_expect(s == 7 && counts2[1] >= 2 && counts2[1] <= 3, "zero row shared uniformly");
    /* Out-of-range keys are left unassigned; n == 0 is fine. */
    int keys3[3] = {0, 5, -2}, co3[3], counts3[3];
    fs_partition_by_proportions(&r, keys3, 3, 1, 3, p, co3, counts3);
    cr_expect(co3[0] >= 0 && co3[1] == -1 && co3[2] == -1);
    cr_expect(counts3[0] + counts3[1] + counts3[2] == 1);
    fs_partition_by_proportions(&r, keys3, 0, 1, 3, p, co3, counts3);
    cr_expect(counts3[0] + counts3[1] + counts3[2] == 0);
}

Test(by_proportions, chunk_sizes_follow_shares)
{
    static int keys[PN], client_of[PN], counts[PC * PK];
    static double p[PK * PC];
    make_keys(keys, PN, PK, 17);
    fs_rng r = fs_rng_seed(18);
    fs_dirichlet_proportions(&r, PK, PC, 0.3, p);
    fs_partition_by_proportions(&r, keys, PN, PK, PC, p, client_of, counts);
    check_partition(keys, PN, PK, PC, client_of, counts, 0);
    int ncat[PK] = {0};
    for (int i = 0; i < PN; i++) ncat[keys[i]]++;
    for (int c = 0; c < PK; c++)
        for (int k = 0; k < PC; k++)
            cr_assert(fabs(counts[k * PK + c] - p[c * PC + k] * ncat[c]) < 1.0,
                      "category %d client %d: %d vs %g", c, k, counts[k * PK + c],
                      p[c * PC + k] * ncat[c]);
}

Test(by_proportions, test_split_follows_strongly_skewed_shares)
{
    enum { K = 5, C = 5, N = 2000 };
    double p[K * C];
    for (int c = 0; c < K; c++)
        for (int k = 0; k < C; k++) p[c * C + k] = k == c ? 0.9 : 0.025;
    static int keys[N], client_of[N], counts[C * K];
    make_keys(keys, N, K, 19);
    fs_rng r = fs_rng_seed(20);
    fs_partition_by_proportions(&r, keys, N, K, C, p, client_of, counts);
    check_partition(keys, N, K, C, client_of, counts, 0);
    for (int k = 0; k < C; k++) {
        int best = 0;
        for (int c = 1; c < K; c++)
            if (counts[k * K + c] > counts[k * K + best]) best = c;
        cr_expect_eq(best, k, "client %d's dominant test category is %d", k, best);
    }
}

Test(by_proportions, test_split_matches_train_mix)
{
    /* Partition a training set, then split a test set with its proportions:
     * per-client category shares of the two correlate strongly. */
    enum { NTR = PN, NTE = 3000 };
    static int tr[NTR], te[NTE], te_client[NTE], te_counts[PC * PK];
    static part_out o;
    make_keys(tr, NTR, PK, 21);
    make_keys(te, NTE, PK, 22);
    cr_assert_eq(fs_partition_dirichlet(5, tr, NTR, PK, PC, 0.3, 10, o.p, o.client_of, o.counts), 0);
    fs_rng r = fs_rng_seed(23);
    fs_partition_by_proportions(&r, te, NTE, PK, PC, o.p, te_client, te_counts);
    check_partition(te, NTE, PK, PC, te_client, te_counts, 0);
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    int m = 0;
    for (int k = 0; k < PC; k++) {
        double ntr = 0, nte = 0;
        for (int c = 0; c < PK; c++) ntr += o.counts[k * PK + c], nte += te_counts[k * PK + c];
        cr_assert(nte > 0, "client %d got no test examples", k);
        for (int c = 0; c < PK; c++) {
            double x = o.counts[k * PK + c] / ntr, y = te_counts[k * PK + c] / nte;
            sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y, m++;
        }
    }
    double cov = sxy / m - sx / m * sy / m, vx = sxx / m - sx / m * sx / m,
           vy = syy / m - sy / m * sy / m, corr = cov / sqrt(vx * vy);
    cr_expect(corr > 0.9, "train/test per-client category share correlation %g", corr);
}

/* ---- string keys ---- */

Test(categories, sorted_dense_stable)
{
    const char *keys[] = {"social science", "natural science", "language science",
                          "natural science", "social science", "natural science"};
    int ids[6], K;
    char **names;
    cr_assert_eq(fs_categories_from_strings(keys, 6, ids, &names, &K), 0);
    cr_assert_eq(K, 3);
    cr_expect_str_eq(names[0], "language science");
    cr_expect_str_eq(names[1], "natural science");
    cr_expect_str_eq(names[2], "social science");
    const int want[6] = {2, 1, 0, 1, 2, 1};
    for (int i = 0; i < 6; i++) cr_expect_eq(ids[i], want[i], "ids[%d]", i);
    /* The table is a copy, independent of the keys' storage. */
    cr_expect(names[0] != keys[2]);

    /* Another order of the same keys: same table, same id per key. */
    const char *perm[] = {"natural science", "language science", "social science",
                          "natural science", "social science", "natural science"};
    int ids2[6], K2;
    char **names2;
    cr_assert_eq(fs_categories_from_strings(perm, 6, ids2, &names2, &K2), 0);
    cr_assert_eq(K2, K);
    for (int c = 0; c < K; c++) cr_expect_str_eq(names2[c], names[c]);
    for (int i = 0; i < 6; i++) cr_expect_str_eq(names2[ids2[i]], perm[i]);
    fs_categories_free(names, K);
    fs_categories_free(names2, K2);
}

Test(categories, edge_cases)
{
    int ids[3], K = -1;
    char **names = (char **)1;
    cr_assert_eq(fs_categories_from_strings(NULL, 0, ids, &names, &K), 0);
    cr_expect(names == NULL && K == 0);
    fs_categories_free(names, K);

    const char *one[] = {"x", "x", "x"};
    cr_assert_eq(fs_categories_from_strings(one, 3, ids, &names, &K), 0);
    cr_expect(K == 1 && ids[0] == 0 && ids[1] == 0 && ids[2] == 0);
    fs_categories_free(names, K);

    const char *bad[] = {"a", NULL, "b"};
    fs_clear_error();
    cr_assert_eq(fs_categories_from_strings(bad, 3, ids, &names, &K), -1);
    cr_expect(names == NULL && K == 0);
    cr_expect(strstr(fs_last_error(), "key 1"), "%s", fs_last_error());
}

/* ---- validation split (data.validation) ---- */

#include "sim/fed/federation.h"
#include "sim/io/config.h"

/* 200 training and 40 test samples over 4 categories. */
static void toy_task(fs_task *t, fs_sample *s)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 240; i++)
        s[i] = (fs_sample){.category = i % 4, .split = i < 200 ? FS_SPLIT_TRAIN : FS_SPLIT_TEST};
    t->samples = s, t->n = 240, t->n_categories = 4;
}

static void toy_config(fs_config *c, const char *validation)
{
    const char *yaml = "model: {path: m}\ndata: {partition: {clients: 4}}\nmethods: [fedavg]\n";
    const char *set[] = {validation};
    cr_assert_eq(fs_config_load_string(yaml, "toy.yaml", set, 1, c), 0, "%s", fs_last_error());
}

Test(validation, held_out_from_training_and_test_untouched)
{
    static fs_sample s[240];
    fs_task t;
    toy_task(&t, s);
    fs_config c;
    toy_config(&c, "data.validation=0.25");
    fs_partition_plan p;
    cr_assert_eq(fs_plan_partition(&t, &c, &p), 0, "%s", fs_last_error());
    cr_assert_eq(p.global_test.n, 50);
    cr_assert_eq(p.all_train.n, 150);
    bool in_val[240] = {0};
    for (int i = 0; i < p.global_test.n; i++) {
        int idx = p.global_test.samples[i];
        cr_assert_eq(s[idx].split, FS_SPLIT_TRAIN, "validation item %d comes from the test split", idx);
        in_val[idx] = true;
    }
    for (int i = 0; i < p.all_train.n; i++)
        cr_assert(!in_val[p.all_train.samples[i]], "item %d both trained on and validated",
                  p.all_train.samples[i]);
    int per_client = 0;
    for (int k = 0; k < p.clients; k++) per_client += p.test[k].n;
    cr_assert_eq(per_client, 50, "the clients' validation shards hold every validation item");
    fs_plan_free(&p);
}

Test(validation, seeded_and_zero_means_test)
{
    static fs_sample s[240];
    fs_task t;
    toy_task(&t, s);
    fs_config a, b;
    toy_config(&a, "data.validation=0.2");
    toy_config(&b, "seed=1");
    cr_assert_eq(fs_config_set(&b, "data.validation", "0.2"), 0);
    fs_partition_plan pa, pa2, pb, pt;
    cr_assert_eq(fs_plan_partition(&t, &a, &pa), 0);
    cr_assert_eq(fs_plan_partition(&t, &a, &pa2), 0);
    cr_assert_eq(fs_plan_partition(&t, &b, &pb), 0);
    cr_assert_arr_eq(pa.global_test.samples, pa2.global_test.samples, 40 * sizeof(int));
    cr_assert(memcmp(pa.global_test.samples, pb.global_test.samples, 40 * sizeof(int)) != 0,
              "seeds 0 and 1 hold out the same items");
    fs_config z;
    toy_config(&z, "data.validation=0");
    cr_assert_eq(fs_plan_partition(&t, &z, &pt), 0);
    cr_assert_eq(pt.global_test.n, 40);
    for (int i = 0; i < 40; i++) cr_assert_eq(s[pt.global_test.samples[i]].split, FS_SPLIT_TEST);
    fs_plan_free(&pa), fs_plan_free(&pa2), fs_plan_free(&pb), fs_plan_free(&pt);
}

Test(validation, out_of_range_refused)
{
    fs_config c;
    const char *yaml = "model: {path: m}\nmethods: [fedavg]\n";
    const char *set[] = {"data.validation=0.95"};
    cr_assert_neq(fs_config_load_string(yaml, "toy.yaml", set, 1, &c), 0);
    cr_assert(strstr(fs_last_error(), "data.validation"), "%s", fs_last_error());
    static fs_sample s[240];
    fs_task t;
    toy_task(&t, s);
    toy_config(&c, "data.validation=0.001");
    fs_partition_plan p;
    cr_assert_neq(fs_plan_partition(&t, &c, &p), 0);
    cr_assert(strstr(fs_last_error(), "no validation items"), "%s", fs_last_error());
}
