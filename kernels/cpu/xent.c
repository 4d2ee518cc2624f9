/* Softmax cross-entropy over rows of logits [n, V].
 *
 *   lse_i = m_i + log sum_v exp(logits[i, v] - m_i),  m_i = max_v logits[i, v]
 *   loss[i] = lse_i - logits[i, targets[i]]              (0 when targets[i] < 0)
 *   dlogits[i, :] += dloss[i] * (exp(logits[i, :] - lse_i) - onehot(targets[i]))
 *
 * targets[i] must be < V. The fast version splits rows over threads and uses a
 * vectorisable exp with per-lane float accumulation. */
#include "cpu_ops.h"

#include <math.h>

/* ---------------- reference (double precision internally) ---------------- */

static double xent_row_lse_ref(const float *x, int V)
{
    double m = -INFINITY;
    for (int v = 0; v < V; v++)
        if (x[v] > m) m = x[v];
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)x[v] - m);
    return m + log(s); /* exact enough in double for any float logits */
}

void fs_cpu_xent_fwd_ref(float *loss, const float *logits, const int32_t *targets, int n, int V)
{
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * V;
        if (targets[i] < 0) {
            loss[i] = 0;
            continue;
        }
        loss[i] = (float)(xent_row_lse_ref(x, V) - x[targets[i]]);
    }
}

void fs_cpu_xent_bwd_ref(float *dlogits, const float *dloss, const float *logits,
                         const int32_t *targets, int n, int V)
{
    if (!dlogits) return;
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) continue;
        const float *x = logits + (size_t)i * V;
        float *d = dlogits + (size_t)i * V;
        double lse = xent_row_lse_ref(x, V);
        for (int v = 0; v < V; v++) {
            double g = exp((double)x[v] - lse) - (v == targets[i] ? 1.0 : 0.0);
            d[v] += (float)(dloss[i] * g);
        }
    }
}

/* ---------------- fast ---------------- */

/* exp(x) for x <= 88, branch-free so that loops over it vectorise (no float
 * comparisons or calls: with the default -ftrapping-math GCC will not
 * if-convert those): |x| is clamped to 100 with integer ops on the bits (NaN
 * passes through), x = n ln2 + r with |r| <= ln2/2, Cephes degree-6
 * polynomial for e^r, then 2^n through the exponent bits, 0 when n < -126.
 * Max error 1.4 ulp over [-87, 0] (checked exhaustively); exp(-inf) = 0. */
static inline float xent_exp(float x)
{
    union {
        float f;
        uint32_t u;
    } b = {.f = x};
    uint32_t mag = b.u & 0x7fffffffu;
    mag = (mag > 0x42c80000u && mag <= 0x7f800000u) ? 0x42c80000u : mag; /* 100.0f */
    b.u = (b.u & 0x80000000u) | mag;
    x = b.f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float fn = (x * 1.44269504088896341f + magic) - magic;
    int32_t n = (int32_t)fn;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        uint32_t u;
        float f;
    } two_n = {.u = n < -126 ? 0u : (uint32_t)(n + 127) << 23};
    return p * two_n.f;
}

/* Row max m and log sum exp(x - m). The loss is formed as (m - x_t) + log s
 * and the softmax as exp((x - m) - log s): no large lse is ever subtracted
 * from a nearby logit, so big offsets cost no precision. */
static float xent_row_logsum(const float *x, int V, float *max_out)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int v = 0; v < V; v++) m = x[v] > m ? x[v] : m;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int v = 0; v < V; v++) s += xent_exp(x[v] - m);
    *max_out = m;
    return logf(s);
}

void fs_cpu_xent_fwd(float *loss, const float *logits, const int32_t *targets, int n, int V)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * V;
        if (targets[i] < 0) {
            loss[i] = 0.0f;
            continue;
        }
        float m, ls = xent_row_logsum(x, V, &m);
        loss[i] = (m - x[targets[i]]) + ls;
    }
}

void fs_cpu_xent_bwd(float *dlogits, const float *dloss, const float *logits,
                     const int32_t *targets, int n, int V)
{
    if (!dlogits) return;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) continue;
        const float *x = logits + (size_t)i * V;
        float *d = dlogits + (size_t)i * V;
        float m, ls = xent_row_logsum(x, V, &m);
        float g = dloss[i];
#pragma omp simd
        for (int v = 0; v < V; v++) d[v] += g * xent_exp((x[v] - m) - ls);
        d[targets[i]] -= g;
    }
}
