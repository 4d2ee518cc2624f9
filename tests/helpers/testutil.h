/* Shared helpers for the Criterion suites: seeded random data, closeness
 * assertions, a finite-difference gradient checker, and CUDA availability. */
#ifndef FEDSIM_TESTUTIL_H
#define FEDSIM_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "kernels/ops.h"

/* TU_UNDER_ASAN is defined in a build with AddressSanitizer, which reserves
 * terabytes of address space: no RLIMIT_AS (ulimit -v) under it. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_ASAN 1
#endif
#endif

/* Deterministic xorshift generator so failures reproduce. */
typedef struct { uint64_t s; } tu_rng;
tu_rng tu_rng_new(uint64_t seed);
float tu_uniform(tu_rng *r, float lo, float hi);
void tu_fill(tu_rng *r, float *x, long n, float lo, float hi);
float *tu_rand_array(tu_rng *r, long n, float lo, float hi); /* malloc'd */
int32_t *tu_rand_ints(tu_rng *r, long n, int lo, int hi_exclusive); /* malloc'd */

/* Asserts |got - want| <= atol + rtol * |want| elementwise, naming the first offender. */
void tu_assert_close(const float *got, const float *want, long n, float atol, float rtol,
                     const char *what);
float tu_max_abs_diff(const float *a, const float *b, long n);

/* Finite-difference check. f(ctx) returns a scalar loss computed from the
 * current contents of param (which the checker perturbs in place and restores).
 * analytic[i] must be d loss / d param[i]. Checks up to max_checks indices
 * spread over the array; central differences with step eps, in double. Passes
 * when |fd - an| <= atol + rtol * max(|fd|, |an|). */
typedef double (*tu_loss_fn)(void *ctx);
void tu_check_grad(tu_loss_fn f, void *ctx, float *param, long n, const float *analytic,
                   float eps, float atol, float rtol, int max_checks, const char *what);

/* Weighted sum sum_i w[i] * y[i] in double: turns a vector output into a scalar loss. */
double tu_dot(const float *w, const float *y, long n);

/* Wraps host f32 memory as an F32 weight tensor. */
fs_tensor tu_tensor(float *data, int ndim, const int64_t *shape);

/* The CUDA op table, or skips the calling test with the reason. */
const fs_ops *tu_cuda_or_skip(void);
/* Backend memory helpers (allocation failures fail the test). */
void *tu_dev_copy(const fs_ops *ops, const void *host, size_t bytes);
void tu_host_copy(const fs_ops *ops, void *host, const void *dev, size_t bytes);

/* Absolute path of a file under the source tree (static buffer). */
const char *tu_source_path(const char *rel);
/* A fresh empty temporary directory (static buffer). */
const char *tu_tmpdir(void);
/* tu_tmpdir, also recorded (up to 32 a test) for tu_remove_tmpdirs. */
const char *tu_tmpdir_tracked(void);
/* Removes (rm -rf) the directories tu_tmpdir_tracked made since the last
 * call, warning about any it cannot; meant as a test's .fini. */
void tu_remove_tmpdirs(void);
/* "<dir>/<name>" in one of 8 rotating static buffers (asserts it fits). */
char *tu_path_in(const char *dir, const char *name);

/* The python of the reference virtualenv ($FEDSIM_VENV, else
 * ~/.cache/fedsim/venv), or skips the calling test saying how to make one. */
const char *tu_venv_python_or_skip(void);
/* Runs `python tests/reference/<script> <args>` with its output in
 * <log_dir>/log.txt; on failure prints that log and fails the test. */
void tu_run_reference(const char *python, const char *script, const char *args,
                      const char *log_dir);

#endif
