/* The fused per-sample Fisher accumulation against brute force: each sample's
 * LoRA gradient computed on its own by lora_bwd, squared and summed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backends/cpu/cpu_ops.h"
#include "tests/helpers/testutil.h"

enum { N = 23, IN = 7, OUT = 6, R = 3, G = 3, S = 6 };

static void brute_force(float *FA, float *FB, const float *dy, const float *x, const float *u,
                        const float *A, const float *B, const int32_t *sample_of_row,
                        const int32_t *group_of_sample, const float *w, float scale)
{
    float dyj[N * OUT], dA[G * R * IN], dB[G * OUT * R];
    int32_t group[N];
    for (int j = 0; j < S; j++) {
        memset(dyj, 0, sizeof dyj);
        memset(dA, 0, sizeof dA);
        memset(dB, 0, sizeof dB);
        for (int i = 0; i < N; i++) {
            group[i] = sample_of_row[i] == j ? group_of_sample[j] : -1;
            if (sample_of_row[i] == j) memcpy(dyj + i * OUT, dy + i * OUT, sizeof(float) * OUT);
        }
        fs_cpu_lora_bwd_ref(NULL, dA, dB, dyj, x, u, A, B, group, N, IN, OUT, R, scale);
        for (int e = 0; e < G * R * IN; e++) FA[e] += w[j] * dA[e] * dA[e];
        for (int e = 0; e < G * OUT * R; e++) FB[e] += w[j] * dB[e] * dB[e];
    }
}

Test(cpu_fisher, per_sample_squared_gradients_match_brute_force)
{
    tu_rng rng = tu_rng_new(11);
    float *x = tu_rand_array(&rng, N * IN, -1, 1), *dy = tu_rand_array(&rng, N * OUT, -1, 1);
    float *A = tu_rand_array(&rng, G * R * IN, -1, 1), *B = tu_rand_array(&rng, G * OUT * R, -1, 1);
    float *w = tu_rand_array(&rng, S, 0.5f, 2);
    int32_t sample_of_row[N], group_of_sample[S] = {0, 2, 2, 1, 0, 2};
    for (int i = 0; i < N; i++) sample_of_row[i] = i % 5 == 4 ? -1 : (i * 7) % S;
    float u[N * R], y[N * OUT];
    int32_t group[N];
    for (int i = 0; i < N; i++) group[i] = sample_of_row[i] < 0 ? -1 : group_of_sample[sample_of_row[i]];
    memset(y, 0, sizeof y);
    fs_cpu_lora_fwd_ref(y, u, x, A, B, group, N, IN, OUT, R, 0.5f);

    float want_A[G * R * IN] = {0}, want_B[G * OUT * R] = {0};
    float ref_A[G * R * IN], ref_B[G * OUT * R], fast_A[G * R * IN], fast_B[G * OUT * R];
    brute_force(want_A, want_B, dy, x, u, A, B, sample_of_row, group_of_sample, w, 0.5f);
    for (int e = 0; e < G * R * IN; e++) ref_A[e] = fast_A[e] = 1.0f; /* accumulates */
    for (int e = 0; e < G * OUT * R; e++) ref_B[e] = fast_B[e] = 1.0f;
    for (int e = 0; e < G * R * IN; e++) want_A[e] += 1.0f;
    for (int e = 0; e < G * OUT * R; e++) want_B[e] += 1.0f;
    fs_cpu_lora_fisher_accum_ref(ref_A, ref_B, dy, x, u, B, sample_of_row, group_of_sample, w, N,
                                 S, IN, OUT, R, 0.5f);
    fs_cpu_lora_fisher_accum(fast_A, fast_B, dy, x, u, B, sample_of_row, group_of_sample, w, N, S,
                             IN, OUT, R, 0.5f);
    tu_assert_close(ref_A, want_A, G * R * IN, 1e-5f, 1e-5f, "reference Fisher of A");
    tu_assert_close(ref_B, want_B, G * OUT * R, 1e-5f, 1e-5f, "reference Fisher of B");
    tu_assert_close(fast_A, want_A, G * R * IN, 1e-5f, 1e-5f, "fast Fisher of A");
    tu_assert_close(fast_B, want_B, G * OUT * R, 1e-5f, 1e-5f, "fast Fisher of B");
    /* squared per-sample gradients are not the square of the summed gradient */
    float sum_A[G * R * IN] = {0}, sum_B[G * OUT * R] = {0};
    fs_cpu_lora_bwd_ref(NULL, sum_A, sum_B, dy, x, u, A, B, group, N, IN, OUT, R, 0.5f);
    int differs = 0;
    for (int e = 0; e < G * OUT * R; e++) differs += fabsf(sum_B[e] * sum_B[e] - (want_B[e] - 1)) > 1e-3f;
    cr_assert(differs > 0, "test data too degenerate to tell per-sample from summed gradients");
    free(x), free(dy), free(A), free(B), free(w);
}

Test(cpu_fisher, scale_rows)
{
    float x[6] = {1, 2, 3, 4, 5, 6}, s[3] = {2, 0, -1}, y[6], want[6] = {2, 4, 0, 0, -5, -6};
    fs_cpu_scale_rows(y, x, s, 3, 2);
    tu_assert_close(y, want, 6, 0, 0, "scale_rows");
    fs_cpu_scale_rows_ref(x, x, s, 3, 2);
    tu_assert_close(x, want, 6, 0, 0, "scale_rows_ref in place");
}
