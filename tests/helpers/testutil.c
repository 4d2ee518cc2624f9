#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tu_rng tu_rng_new(uint64_t seed)
{
    tu_rng r = {seed * 0x9E3779B97F4A7C15ull + 0x1234567ull};
    return r;
}

static uint64_t next_u64(tu_rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

float tu_uniform(tu_rng *r, float lo, float hi)
{
    double u = (double)(next_u64(r) >> 11) / (double)(1ull << 53);
    return (float)(lo + (hi - lo) * u);
}

void tu_fill(tu_rng *r, float *x, long n, float lo, float hi)
{
    for (long i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

float *tu_rand_array(tu_rng *r, long n, float lo, float hi)
{
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    cr_assert(x, "out of memory");
    tu_fill(r, x, n, lo, hi);
    return x;
}

int32_t *tu_rand_ints(tu_rng *r, long n, int lo, int hi_exclusive)
{
    int32_t *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    cr_assert(x, "out of memory");
    for (long i = 0; i < n; i++) x[i] = lo + (int32_t)(next_u64(r) % (uint64_t)(hi_exclusive - lo));
    return x;
}

float tu_max_abs_diff(const float *a, const float *b, long n)
{
    float m = 0;
    for (long i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || isnan(d)) m = d;
    }
    return m;
}

void tu_assert_close(const float *got, const float *want, long n, float atol, float rtol,
                     const char *what)
{
    for (long i = 0; i < n; i++) {
        float tol = atol + rtol * fabsf(want[i]);
        cr_assert(fabsf(got[i] - want[i]) <= tol,
                  "%s: element %ld is %.7g, expected %.7g (|diff| %.3g > tol %.3g; max abs diff "
                  "%.3g over %ld elements)",
                  what, i, got[i], want[i], fabsf(got[i] - want[i]), tol,
                  tu_max_abs_diff(got, want, n), n);
    }
}

void tu_check_grad(tu_loss_fn f, void *ctx, float *param, long n, const float *analytic,
                   float eps, float atol, float rtol, int max_checks, const char *what)
{
    long stride = n <= max_checks ? 1 : n / max_checks;
    for (long i = 0; i < n; i += stride) {
        float saved = param[i];
        param[i] = saved + eps;
        double lp = f(ctx);
        param[i] = saved - eps;
        double lm = f(ctx);
        param[i] = saved;
        double fd = (lp - lm) / (2.0 * eps);
        double an = analytic[i];
        double tol = atol + rtol * fmax(fabs(fd), fabs(an));
        cr_assert(fabs(fd - an) <= tol,
                  "%s: gradient[%ld] analytic %.7g vs finite difference %.7g (|diff| %.3g > %.3g)",
                  what, i, an, fd, fabs(fd - an), tol);
    }
}

double tu_dot(const float *w, const float *y, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

fs_tensor tu_tensor(float *data, int ndim, const int64_t *shape)
{
    fs_tensor t = {.data = data, .dtype = FS_F32, .ndim = ndim};
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    return t;
}

const fs_ops *tu_cuda_or_skip(void)
{
    const char *why = NULL;
    const fs_ops *ops = fs_backend_cuda(&why);
    if (!ops) cr_skip_test("CUDA parity test skipped: %s", why ? why : "no CUDA backend");
    return ops;
}

void *tu_dev_copy(const fs_ops *ops, const void *host, size_t bytes)
{
    void *d = ops->alloc(bytes);
    cr_assert(d, "%s backend could not allocate %zu bytes", ops->name, bytes);
    if (host) ops->to_device(d, host, bytes);
    return d;
}

void tu_host_copy(const fs_ops *ops, void *host, const void *dev, size_t bytes)
{
    ops->to_host(host, dev, bytes);
    ops->synchronize();
}

const char *tu_source_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("FEDSIM_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

const char *tu_tmpdir(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/fedsim-test-XXXXXX");
    cr_assert(mkdtemp(buf), "mkdtemp failed");
    return buf;
}

/* Temporary directories of the current test, removed by tu_remove_tmpdirs. */
static char tracked[32][256];
static int n_tracked;

const char *tu_tmpdir_tracked(void)
{
    const char *d = tu_tmpdir();
    if (n_tracked < 32) snprintf(tracked[n_tracked++], sizeof tracked[0], "%s", d);
    return d;
}

void tu_remove_tmpdirs(void)
{
    for (int i = 0; i < n_tracked; i++) {
        char cmd[300];
        if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", tracked[i]) >= (int)sizeof cmd || system(cmd))
            cr_log_warn("could not remove %s", tracked[i]);
    }
    n_tracked = 0;
}

char *tu_path_in(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    int n = snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    cr_assert(n > 0 && (size_t)n < sizeof buf[0], "path too long");
    return p;
}

const char *tu_venv_python_or_skip(void)
{
    static char path[4096];
    const char *venv = getenv("FEDSIM_VENV");
    if (venv) snprintf(path, sizeof path, "%s/bin/python", venv);
    else snprintf(path, sizeof path, "%s/.cache/fedsim/venv/bin/python", getenv("HOME"));
    if (access(path, X_OK))
        cr_skip_test("transformers parity skipped: no reference virtualenv at %s (run "
                     "scripts/setup-reference-venv.sh or set FEDSIM_VENV)", path);
    return path;
}

void tu_run_reference(const char *python, const char *script, const char *args,
                      const char *log_dir)
{
    char rel[512], cmd[8192];
    snprintf(rel, sizeof rel, "tests/reference/%s", script);
    int n = snprintf(cmd, sizeof cmd, "'%s' '%s' %s > '%s/log.txt' 2>&1", python,
                     tu_source_path(rel), args, log_dir);
    cr_assert(n > 0 && (size_t)n < sizeof cmd, "command too long");
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/log.txt' >&2", log_dir);
        if (system(cmd)) cr_log_warn("could not print %s/log.txt", log_dir);
        cr_assert_fail("%s failed (exit %d), see its log above", script, rc);
    }
}
