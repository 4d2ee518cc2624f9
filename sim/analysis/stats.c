/* Mean, sample sd, Student-t quantiles and 95 % intervals (stats.h). */
#include "sim/analysis/stats.h"

#include <math.h>
#include <stddef.h>

/* Mean and sample sd of a[i] - b[i] (of a[i] alone when b is NULL): one
 * routine for plain samples and paired differences. */
static void mean_and_sd(const double *a, const double *b, int n, double *mean, double *sd)
{
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++) sum += a[i] - (b ? b[i] : 0);
    double m = n > 0 ? sum / n : NAN;
    for (int i = 0; i < n; i++) {
        double d = a[i] - (b ? b[i] : 0) - m;
        ss += d * d;
    }
    *mean = m;
    *sd = n >= 2 ? sqrt(ss / (n - 1)) : NAN;
}

double fs_mean(const double *x, int n)
{
    double m, sd;
    mean_and_sd(x, NULL, n, &m, &sd);
    return m;
}

double fs_sample_sd(const double *x, int n)
{
    double m, sd;
    mean_and_sd(x, NULL, n, &m, &sd);
    return sd;
}

/* Continued fraction of the regularized incomplete beta function (modified
 * Lentz's method); converges fast for x < (a + 1) / (a + b + 2). */
static double beta_continued_fraction(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + num * d, c = 1 + num / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + num * d, c = 1 + num / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double step = d * c;
        h *= step;
        if (fabs(step - 1) < 1e-15) break;
    }
    return h;
}

/* I_x(a, b), the regularized incomplete beta function, 0 <= x <= 1. */
static double incomplete_beta(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
    return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double fs_student_t_cdf(double t, double df)
{
    /* P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2) */
    double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
    return t >= 0 ? 1 - tail : tail;
}

double fs_student_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1 && df > 0)) return NAN;
    if (p < 0.5) return -fs_student_t_quantile(1 - p, df);
    /* The cdf is increasing: bracket the quantile, then bisect to the
     * resolution of a double. */
    double lo = 0, hi = 1;
    while (fs_student_t_cdf(hi, df) < p && hi < 1e300) lo = hi, hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (fs_student_t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static fs_interval interval_of(const double *a, const double *b, int n)
{
    fs_interval iv = {.n = n, .half_width = NAN};
    mean_and_sd(a, b, n, &iv.mean, &iv.sd);
    if (n >= 2) iv.half_width = fs_student_t_quantile(0.975, n - 1) * iv.sd / sqrt(n);
    return iv;
}

fs_interval fs_ci95(const double *x, int n) { return interval_of(x, NULL, n); }

fs_interval fs_paired_ci95(const double *a, const double *b, int n) { return interval_of(a, b, n); }

bool fs_interval_excludes_zero(fs_interval iv)
{
    return iv.n >= 2 && isfinite(iv.half_width) && fabs(iv.mean) > iv.half_width;
}
