/* Statistics over seeds for `fedsim report`: mean, sample standard deviation,
 * Student-t confidence intervals and paired differences. The t quantile is
 * computed here (incomplete beta + bisection) so that no statistics library
 * is needed for a handful of numbers. */
#ifndef FEDSIM_STATS_H
#define FEDSIM_STATS_H

#include <stdbool.h>

/* Arithmetic mean of x[0..n-1]; NAN when n == 0. */
double fs_mean(const double *x, int n);
/* Sample standard deviation (denominator n - 1); NAN when n < 2. */
double fs_sample_sd(const double *x, int n);

/* P(T <= t) for Student's t with df > 0 degrees of freedom. */
double fs_student_t_cdf(double t, double df);
/* The p quantile (0 < p < 1) of Student's t with df > 0 degrees of freedom,
 * e.g. fs_student_t_quantile(0.975, 4) = 2.776. NAN for p or df out of range. */
double fs_student_t_quantile(double p, double df);

/* A mean with its two-sided 95 % confidence interval mean ± half_width from
 * the t distribution with n - 1 degrees of freedom. With n == 1 there is no
 * interval: sd and half_width are NAN. */
typedef struct {
    int n;
    double mean, sd, half_width;
} fs_interval;

fs_interval fs_ci95(const double *x, int n);
/* The interval of the paired differences a[i] - b[i], i < n (the caller
 * matches the pairs, e.g. the same seed). */
fs_interval fs_paired_ci95(const double *a, const double *b, int n);
/* True when the interval exists (n >= 2) and does not contain 0. */
bool fs_interval_excludes_zero(fs_interval iv);

#endif
