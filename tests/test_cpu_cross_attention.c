/* cross_attention_fwd (Tq queries over Tk tokens, non-causal): checked against
 * the independent self-attention reference, which computes the same rows when
 * the queries are the first Tq rows of a Tk-row query block, and against the
 * closed form of a zero query (the mean of the values). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

static void against_self_attention(int B, int Tq, int Tk, int H, int D, uint64_t seed)
{
    tu_rng r = tu_rng_new(seed);
    long nk = (long)B * Tk * H * D, nq = (long)B * Tq * H * D;
    /* q spans [-3, 3] so softmax rows are far from uniform. */
    float *qpad = tu_rand_array(&r, nk, -3, 3), *k = tu_rand_array(&r, nk, -1, 1);
    float *v = tu_rand_array(&r, nk, -1, 1);
    float *q = malloc(sizeof(float) * nq), *got = malloc(sizeof(float) * nq);
    float *want = malloc(sizeof(float) * nk), *lse = malloc(sizeof(float) * B * H * Tk);
    size_t qrows = (size_t)Tq * H * D, krows = (size_t)Tk * H * D;
    for (int b = 0; b < B; b++) memcpy(q + b * qrows, qpad + b * krows, qrows * sizeof(float));
    fs_cpu_attention_fwd_ref(want, lse, qpad, k, v, B, Tk, H, H, D, false);
    fs_cpu_cross_attention_fwd(got, q, k, v, B, Tq, Tk, H, D);
    for (int b = 0; b < B; b++)
        tu_assert_close(got + b * qrows, want + b * krows, (long)qrows, 1e-6f, 1e-5f,
                        "cross-attention rows of item b vs self-attention");
    free(qpad), free(k), free(v), free(q), free(got), free(want), free(lse);
}

Test(cpu_cross_attention, matches_self_attention_reference)
{
    against_self_attention(2, 7, 7, 3, 8, 1);   /* Tq = Tk: the Q-Former's self-attention */
    against_self_attention(2, 5, 17, 4, 6, 2);  /* fewer queries than tokens */
    against_self_attention(1, 32, 257, 2, 16, 3); /* BLIP-2's 32 queries over 257 tokens */
}

Test(cpu_cross_attention, zero_query_averages_the_values)
{
    int B = 2, Tq = 3, Tk = 5, H = 2, D = 4;
    tu_rng r = tu_rng_new(9);
    long nk = (long)B * Tk * H * D, nq = (long)B * Tq * H * D;
    float *q = calloc(nq, sizeof(float)), *k = tu_rand_array(&r, nk, -1, 1);
    float *v = tu_rand_array(&r, nk, -1, 1), *out = malloc(sizeof(float) * nq);
    fs_cpu_cross_attention_fwd(out, q, k, v, B, Tq, Tk, H, D);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Tq; i++)
            for (int h = 0; h < H; h++)
                for (int c = 0; c < D; c++) {
                    double mean = 0;
                    for (int j = 0; j < Tk; j++) mean += v[(((size_t)b * Tk + j) * H + h) * D + c];
                    mean /= Tk;
                    float got = out[(((size_t)b * Tq + i) * H + h) * D + c];
                    cr_assert(fabs(got - mean) < 1e-6, "b=%d i=%d h=%d c=%d: %g vs mean %g", b,
                              i, h, c, got, mean);
                }
    free(q), free(k), free(v), free(out);
}
