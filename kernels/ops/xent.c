/* Softmax cross-entropy over rows of logits [n, V].
 *
 *   lse_i = m_i + log sum_v exp(logits[i, v] - m_i),  m_i = max_v logits[i, v]
 *   loss[i] = lse_i - logits[i, targets[i]]              (0 when targets[i] < 0)
 *   dlogits[i, :] += dloss[i] * (exp(logits[i, :] - lse_i) - onehot(targets[i]))
 *
 * targets[i] must be < V. The fast version splits rows over threads and uses a
 * vectorisable exp with per-lane float accumulation. */
#include "kernels/backends/cpu/cpu_ops.h"
#include "kernels/backends/cpu/fast_exp.h"

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
    for (int v = 0; v < V; v++) s += fs_fast_exp(x[v] - m);
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
        for (int v = 0; v < V; v++) d[v] += g * fs_fast_exp((x[v] - m) - ls);
        d[targets[i]] -= g;
    }
}
