/* LayerNorm (PyTorch: biased variance, eps inside the square root) and
 * RMSNorm (LLaMA). mean/rstd are saved per row for the backward pass.
 * A NULL weight counts as all ones and a NULL bias as zeros (no affine). */
#include "kernels/backends/cpu/cpu_ops.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many elements a parallel region costs more than it saves. */
#define FS_NORM_PAR_MIN 32768L

static inline const float *opt_weight(const fs_tensor *t) { return t ? fs_cpu_weight_f32(t) : NULL; }

/* The calling thread's share [*c0, *c1) of dim columns, in whole 64-byte blocks,
 * so that column-parallel reductions over rows never share cache lines. */
static void thread_columns(int dim, int *c0, int *c1)
{
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const int nblk = (dim + 15) / 16;
    *c0 = (int)((long)nblk * t / nt) * 16;
    *c1 = (int)((long)nblk * (t + 1) / nt) * 16;
    if (*c0 > dim) *c0 = dim;
    if (*c1 > dim) *c1 = dim;
}

/* ---- LayerNorm ---- */

void fs_cpu_layernorm_fwd_ref(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w,
                              const fs_tensor *b, int n, int dim, float eps)
{
    const float *wv = opt_weight(w), *bv = opt_weight(b);
    for (int r = 0; r < n; r++) {
        const float *xr = x + (long)r * dim;
        double mu = 0, var = 0;
        for (int j = 0; j < dim; j++) mu += xr[j];
        mu /= dim;
        for (int j = 0; j < dim; j++) var += (xr[j] - mu) * (xr[j] - mu);
        var /= dim; /* biased, as PyTorch's LayerNorm */
        double rs = 1.0 / sqrt(var + eps);
        for (int j = 0; j < dim; j++) {
            double v = (xr[j] - mu) * rs;
            if (wv) v *= wv[j];
            if (bv) v += bv[j];
            y[(long)r * dim + j] = (float)v;
        }
        if (mean) mean[r] = (float)mu;
        if (rstd) rstd[r] = (float)rs;
    }
}

void fs_cpu_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w,
                          const fs_tensor *b, int n, int dim, float eps)
{
    if (n <= 0 || dim <= 0) return;
    const float *wv = opt_weight(w), *bv = opt_weight(b);
#pragma omp parallel for schedule(static) if ((long)n * dim >= FS_NORM_PAR_MIN)
    for (int r = 0; r < n; r++) {
        const float *xr = x + (long)r * dim;
        float *yr = y + (long)r * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) s += xr[j];
        const float mu = (float)(s / dim);
        double ss = 0; /* two-pass variance: no cancellation when |mean| >> std */
        for (int j = 0; j < dim; j++) {
            float d = xr[j] - mu;
            ss += d * d;
        }
        const float rs = (float)(1.0 / sqrt(ss / dim + eps));
        if (wv && bv)
            for (int j = 0; j < dim; j++) yr[j] = (xr[j] - mu) * rs * wv[j] + bv[j];
        else
            for (int j = 0; j < dim; j++) {
                float v = (xr[j] - mu) * rs;
                if (wv) v *= wv[j];
                if (bv) v += bv[j];
                yr[j] = v;
            }
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

/* With xhat = (x - mean) rstd and g = dy * w:
 *   dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat))
 *   dw = sum_rows dy * xhat,  db = sum_rows dy */
void fs_cpu_layernorm_bwd_ref(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const fs_tensor *w, const float *mean, const float *rstd, int n,
                              int dim)
{
    const float *wv = opt_weight(w);
    if (dx)
        for (int r = 0; r < n; r++) {
            const float *xr = x + (long)r * dim, *dyr = dy + (long)r * dim;
            double mg = 0, mgx = 0;
            for (int j = 0; j < dim; j++) {
                double xhat = (xr[j] - (double)mean[r]) * rstd[r];
                double g = dyr[j] * (wv ? wv[j] : 1.0);
                mg += g;
                mgx += g * xhat;
            }
            mg /= dim;
            mgx /= dim;
            for (int j = 0; j < dim; j++) {
                double xhat = (xr[j] - (double)mean[r]) * rstd[r];
                double g = dyr[j] * (wv ? wv[j] : 1.0);
                dx[(long)r * dim + j] += (float)(rstd[r] * (g - mg - xhat * mgx));
            }
        }
    if (dw || db)
        for (int j = 0; j < dim; j++) {
            double sw = 0, sb = 0;
            for (int r = 0; r < n; r++) {
                double d = dy[(long)r * dim + j];
                sw += d * (x[(long)r * dim + j] - (double)mean[r]) * rstd[r];
                sb += d;
            }
            if (dw) dw[j] += (float)sw;
            if (db) db[j] += (float)sb;
        }
}

void fs_cpu_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const fs_tensor *w, const float *mean, const float *rstd, int n, int dim)
{
    if (n <= 0 || dim <= 0) return;
    const float *wv = opt_weight(w);
    const int par = (long)n * dim >= FS_NORM_PAR_MIN;
    if (dx) {
#pragma omp parallel for schedule(static) if (par)
        for (int r = 0; r < n; r++) {
            const float *xr = x + (long)r * dim, *dyr = dy + (long)r * dim;
            float *dxr = dx + (long)r * dim;
            const float mu = mean[r], rs = rstd[r];
            float mg = 0, mgx = 0;
            for (int j = 0; j < dim; j++) {
                float g = wv ? dyr[j] * wv[j] : dyr[j];
                mg += g;
                mgx += g * ((xr[j] - mu) * rs);
            }
            mg /= dim;
            mgx /= dim;
            for (int j = 0; j < dim; j++) {
                float g = wv ? dyr[j] * wv[j] : dyr[j];
                dxr[j] += rs * (g - mg - (xr[j] - mu) * rs * mgx);
            }
        }
    }
    if (dw || db) {
        /* Column-parallel so no two threads touch the same dw/db element. */
#pragma omp parallel if (par)
        {
            int c0, c1;
            thread_columns(dim, &c0, &c1);
            for (int r = 0; r < n && c0 < c1; r++) {
                const float *xr = x + (long)r * dim, *dyr = dy + (long)r * dim;
                const float mu = mean[r], rs = rstd[r];
                if (dw)
                    for (int j = c0; j < c1; j++) dw[j] += dyr[j] * ((xr[j] - mu) * rs);
                if (db)
                    for (int j = c0; j < c1; j++) db[j] += dyr[j];
            }
        }
    }
}

/* ---- RMSNorm ---- */

void fs_cpu_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const fs_tensor *w, int n,
                            int dim, float eps)
{
    const float *wv = opt_weight(w);
    for (int r = 0; r < n; r++) {
        const float *xr = x + (long)r * dim;
        double ms = 0;
        for (int j = 0; j < dim; j++) ms += (double)xr[j] * xr[j];
        ms /= dim;
        double rs = 1.0 / sqrt(ms + eps);
        for (int j = 0; j < dim; j++) y[(long)r * dim + j] = (float)(xr[j] * rs * (wv ? wv[j] : 1.0));
        if (rstd) rstd[r] = (float)rs;
    }
}

/* One row of RMSNorm forward; returns its rstd. The sum of squares stays in
 * double (as the reference), in vector lanes. */
static FS_CPU_VECTOR float rmsnorm_fwd_row(float *yr, const float *xr, const float *wv, int dim,
                                          float eps)
{
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int j = 0; j < dim; j++) ss += xr[j] * xr[j];
    const float rs = (float)(1.0 / sqrt(ss / dim + eps));
    if (wv)
#pragma omp simd
        for (int j = 0; j < dim; j++) yr[j] = xr[j] * rs * wv[j];
    else
#pragma omp simd
        for (int j = 0; j < dim; j++) yr[j] = xr[j] * rs;
    return rs;
}

void fs_cpu_rmsnorm_fwd(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim,
                        float eps)
{
    if (n <= 0 || dim <= 0) return;
    const float *wv = opt_weight(w);
#pragma omp parallel for schedule(static) if ((long)n * dim >= FS_NORM_PAR_MIN)
    for (int r = 0; r < n; r++) {
        float rs = rmsnorm_fwd_row(y + (long)r * dim, x + (long)r * dim, wv, dim, eps);
        if (rstd) rstd[r] = rs;
    }
}

/* With g = dy * w and c = mean_j(g * x):
 *   dx = rstd * (g - x * rstd^2 * c),  dw = sum_rows dy * x * rstd */
void fs_cpu_rmsnorm_bwd_ref(float *dx, float *dw, const float *dy, const float *x,
                            const fs_tensor *w, const float *rstd, int n, int dim)
{
    const float *wv = opt_weight(w);
    if (dx)
        for (int r = 0; r < n; r++) {
            const float *xr = x + (long)r * dim, *dyr = dy + (long)r * dim;
            double rs = rstd[r], c = 0;
            for (int j = 0; j < dim; j++) c += dyr[j] * (wv ? wv[j] : 1.0) * xr[j];
            c /= dim;
            for (int j = 0; j < dim; j++) {
                double g = dyr[j] * (wv ? wv[j] : 1.0);
                dx[(long)r * dim + j] += (float)(rs * (g - xr[j] * rs * rs * c));
            }
        }
    if (dw)
        for (int j = 0; j < dim; j++) {
            double s = 0;
            for (int r = 0; r < n; r++)
                s += (double)dy[(long)r * dim + j] * x[(long)r * dim + j] * rstd[r];
            dw[j] += (float)s;
        }
}

/* One row of the RMSNorm input gradient (c summed in vector lanes). */
static FS_CPU_VECTOR void rmsnorm_bwd_row(float *dxr, const float *dyr, const float *xr,
                                          const float *wv, float rs, int dim)
{
    float c = 0;
    if (wv)
#pragma omp simd reduction(+ : c)
        for (int j = 0; j < dim; j++) c += dyr[j] * wv[j] * xr[j];
    else
#pragma omp simd reduction(+ : c)
        for (int j = 0; j < dim; j++) c += dyr[j] * xr[j];
    const float k = rs * rs * (c / dim);
    if (wv)
#pragma omp simd
        for (int j = 0; j < dim; j++) dxr[j] += rs * (dyr[j] * wv[j] - xr[j] * k);
    else
#pragma omp simd
        for (int j = 0; j < dim; j++) dxr[j] += rs * (dyr[j] - xr[j] * k);
}

void fs_cpu_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w,
                        const float *rstd, int n, int dim)
{
    if (n <= 0 || dim <= 0) return;
    const float *wv = opt_weight(w);
    const int par = (long)n * dim >= FS_NORM_PAR_MIN;
    if (dx) {
#pragma omp parallel for schedule(static) if (par)
        for (int r = 0; r < n; r++)
            rmsnorm_bwd_row(dx + (long)r * dim, dy + (long)r * dim, x + (long)r * dim, wv, rstd[r],
                            dim);
    }
    if (dw) {
#pragma omp parallel if (par)
        {
            int c0, c1;
            thread_columns(dim, &c0, &c1);
            for (int r = 0; r < n && c0 < c1; r++) {
                const float *xr = x + (long)r * dim, *dyr = dy + (long)r * dim;
                const float rs = rstd[r];
                for (int j = c0; j < c1; j++) dw[j] += dyr[j] * xr[j] * rs;
            }
        }
    }
}
