/* AdamW (torch.optim.AdamW semantics: decoupled weight decay applied to the
 * parameter before the Adam step, bias-corrected moments, eps added to the
 * bias-corrected sqrt(v)) over ngroups independent blocks of per_group
 * parameters, each with its own step count. step <= 0 leaves a block (p, m and
 * v) untouched and its gradient unread. */
#include "kernels/backends/cpu/cpu_ops.h"

#include <math.h>

void fs_cpu_adamw_ref(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups,
                      long per_group, float lr, float beta1, float beta2, float eps,
                      float weight_decay)
{
    for (int grp = 0; grp < ngroups; grp++) {
        const int t = step[grp];
        if (t <= 0) continue;
        const double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
        for (long i = grp * per_group; i < (grp + 1) * per_group; i++) {
            double pi = p[i], gi = g[i];
            pi -= (double)lr * weight_decay * pi;
            double mi = beta1 * (double)m[i] + (1.0 - beta1) * gi;
            double vi = beta2 * (double)v[i] + (1.0 - beta2) * gi * gi;
            double mhat = mi / bc1, vhat = vi / bc2;
            pi -= lr * mhat / (sqrt(vhat) + eps);
            p[i] = (float)pi;
            m[i] = (float)mi;
            v[i] = (float)vi;
        }
    }
}

void fs_cpu_adamw(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups,
                  long per_group, float lr, float beta1, float beta2, float eps, float weight_decay)
{
    if (ngroups <= 0 || per_group <= 0) return;
    const float decay = 1.0f - lr * weight_decay;
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
#pragma omp parallel if ((long)ngroups * per_group >= 16384L)
    for (int grp = 0; grp < ngroups; grp++) {
        const int t = step[grp];
        if (t <= 0) continue;
        /* As PyTorch: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). */
        const float step_size = (float)(lr / (1.0 - pow(beta1, t)));
        const float inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(beta2, t)));
        float *pg = p + grp * per_group, *mg = m + grp * per_group, *vg = v + grp * per_group;
        const float *gg = g + grp * per_group;
        /* Groups are disjoint, so threads need not wait between them. */
#pragma omp for schedule(static) nowait
        for (long i = 0; i < per_group; i++) {
            float gi = gg[i];
            float mi = beta1 * mg[i] + a1 * gi;
            float vi = beta2 * vg[i] + a2 * gi * gi;
            mg[i] = mi;
            vg[i] = vi;
            pg[i] = pg[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        }
    }
}
