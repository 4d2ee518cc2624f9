/* CPU AdamW (torch.optim.AdamW semantics) over per-client parameter groups.
 * Expected values for two steps were computed by hand in double precision
 * (Python, cross-checked against torch's own update order: p *= 1 - lr*wd;
 * m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps));
 * both versions must match them to atol 1e-6 + rtol 1e-6. Fast vs reference on
 * random data: atol 1e-6 + rtol 1e-5. Groups with step 0 must stay bit-identical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef void (*adamw_fn)(float *, const float *, float *, float *, const int32_t *, int, long,
                         float, float, float, float, float);

static void check_two_hand_steps(adamw_fn adamw, const char *name)
{
    const float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
    /* 3 groups of 3. Group 0: steps 1, 2 from zero moments. Group 1: step 0
     * both times, with NaN gradients that must never be read. Group 2: skipped,
     * then its step 1 from non-zero moments (so a wrong beta shows up). */
    float p[9] = {1.0f, -2.0f, 0.5f, 3, 3, 3, -1.0f, 0.25f, 2.0f};
    float m[9] = {0, 0, 0, 0, 0, 0, 0.1f, -0.2f, 0.0f};
    float v[9] = {0, 0, 0, 0, 0, 0, 0.01f, 0.04f, 0.0f};
    const float g1[9] = {0.5f, -1.0f, 0.0f, NAN, NAN, NAN, 0.3f, -0.7f, 2.0f};
    const float g2[9] = {-0.25f, 0.5f, 1.5f, NAN, NAN, NAN, 1.0f, 0.1f, -0.5f};
    const int32_t s1[3] = {1, 0, 0}, s2[3] = {2, 0, 1};

    adamw(p, g1, m, v, s1, 3, 3, lr, b1, b2, eps, wd);
    const float p1[9] = {0.890000002f, -1.880000001f, 0.495f, 3, 3, 3, -1.0f, 0.25f, 2.0f};
    const float m1[9] = {0.05f, -0.1f, 0.0f, 0, 0, 0, 0.1f, -0.2f, 0.0f};
    const float v1[9] = {0.00025f, 0.001f, 0.0f, 0, 0, 0, 0.01f, 0.04f, 0.0f};
    tu_assert_close(p, p1, 9, 1e-6f, 1e-6f, name);
    tu_assert_close(m, m1, 9, 1e-6f, 1e-6f, name);
    tu_assert_close(v, v1, 9, 1e-6f, 1e-6f, name);

    adamw(p, g2, m, v, s2, 3, 3, lr, b1, b2, eps, wd);
    const float p2[9] = {0.8544662986878463f, -1.8345662973609032f, 0.41563631834470527f, 3, 3, 3,
                         -1.0473132126807578f, 0.2743894455023521f, 2.079999998f};
    const float m2[9] = {0.02f, -0.04f, 0.15f, 0, 0, 0, 0.19f, -0.17f, -0.05f};
    const float v2[9] = {0.00031225f, 0.001249f, 0.00225f, 0, 0, 0, 0.01099f, 0.03997f, 0.00025f};
    tu_assert_close(p, p2, 9, 1e-6f, 1e-6f, name);
    tu_assert_close(m, m2, 9, 1e-6f, 1e-6f, name);
    tu_assert_close(v, v2, 9, 1e-6f, 1e-6f, name);
    /* The skipped group is bit-identical (not merely close). */
    for (int i = 3; i < 6; i++)
        cr_assert(p[i] == 3.0f && m[i] == 0.0f && v[i] == 0.0f, "%s: step-0 group changed", name);
}

Test(cpu_adamw, ref_two_hand_computed_steps)
{
    check_two_hand_steps(fs_cpu_adamw_ref, "adamw_ref hand");
}

Test(cpu_adamw, fast_two_hand_computed_steps)
{
    check_two_hand_steps(fs_cpu_adamw, "adamw hand");
}

Test(cpu_adamw, fast_matches_ref_over_steps_and_groups)
{
    tu_rng r = tu_rng_new(31);
    const int G = 5;
    const long per = 20001, N = G * per; /* above the OpenMP threshold */
    float *p = tu_rand_array(&r, N, -1, 1);
    float *m = tu_rand_array(&r, N, -0.1f, 0.1f), *v = tu_rand_array(&r, N, 0, 0.01f);
    float *pr = malloc(N * sizeof *pr), *mr = malloc(N * sizeof *mr), *vr = malloc(N * sizeof *vr);
    memcpy(pr, p, N * sizeof *p), memcpy(mr, m, N * sizeof *m), memcpy(vr, v, N * sizeof *v);
    float *p0 = malloc(N * sizeof *p0);
    memcpy(p0, p, N * sizeof *p);
    int32_t step[5] = {3, 0, 1, 7, 0};
    for (int it = 0; it < 3; it++) {
        float *g = tu_rand_array(&r, N, -1, 1);
        fs_cpu_adamw_ref(pr, g, mr, vr, step, G, per, 1e-3f, 0.9f, 0.95f, 1e-6f, 0.05f);
        fs_cpu_adamw(p, g, m, v, step, G, per, 1e-3f, 0.9f, 0.95f, 1e-6f, 0.05f);
        tu_assert_close(p, pr, N, 1e-6f, 1e-5f, "adamw p");
        tu_assert_close(m, mr, N, 1e-6f, 1e-5f, "adamw m");
        tu_assert_close(v, vr, N, 1e-7f, 1e-5f, "adamw v");
        for (int k = 0; k < G; k++)
            if (step[k]) step[k]++;
        free(g);
    }
    /* Groups 1 and 4 never stepped: untouched. The others moved. */
    cr_assert(!memcmp(p + per, p0 + per, per * sizeof *p), "step-0 group 1 changed");
    cr_assert(!memcmp(p + 4 * per, p0 + 4 * per, per * sizeof *p), "step-0 group 4 changed");
    cr_assert(memcmp(p, p0, per * sizeof *p), "group 0 did not move");
    free(p), free(m), free(v), free(pr), free(mr), free(vr), free(p0);
}
