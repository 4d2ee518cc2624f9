/* Rotary embedding (HF LLaMA rotate_half): known values, HF float32 angle
 * arithmetic, fast vs reference, aliasing, backward by finite differences,
 * accumulate / NULL semantics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef void (*rope_fn)(float *, const float *, const int32_t *, int, int, int, float);

Test(cpu_rope, known_values)
{
    /* D = 2: inv_freq = {1}; pos 1 rotates (1, 0) by one radian. */
    float x[2] = {1, 0}, y[2];
    int32_t p1 = 1;
    fs_cpu_rope_fwd_ref(y, x, &p1, 1, 1, 2, 10000.0f);
    float want[2] = {0.54030231f, 0.84147098f};
    tu_assert_close(y, want, 2, 1e-6f, 0, "D=2 pos=1");

    /* D = 4, theta = 1e4: inv_freq = {1, 0.01}; pos 100 gives angles {100, 1}. */
    float x4[4] = {1, 2, 3, 4}, y4[4];
    int32_t p100 = 100;
    fs_cpu_rope_fwd_ref(y4, x4, &p100, 1, 1, 4, 10000.0f);
    float w4[4] = {(float)(1 * cos(100.0) - 3 * sin(100.0)), (float)(2 * cos(1.0) - 4 * sin(1.0)),
                   (float)(3 * cos(100.0) + 1 * sin(100.0)), (float)(4 * cos(1.0) + 2 * sin(1.0))};
    tu_assert_close(y4, w4, 4, 1e-5f, 0, "D=4 pos=100");
    fs_cpu_rope_fwd(y4, x4, &p100, 1, 1, 4, 10000.0f);
    tu_assert_close(y4, w4, 4, 1e-5f, 0, "D=4 pos=100 (fast)");

    /* pos 0 is the identity, exactly. */
    tu_rng rng = tu_rng_new(1);
    float *a = tu_rand_array(&rng, 3 * 16, -2, 2), *b = malloc(3 * 16 * sizeof *b);
    int32_t zeros[1] = {0};
    fs_cpu_rope_fwd(b, a, zeros, 1, 3, 16, 10000.0f);
    tu_assert_close(b, a, 3 * 16, 0, 0, "pos 0 identity");
    free(a);
    free(b);
}

/* Rotation with angles in double: matches to float rounding of the angle, i.e.
 * to 1e-5 for positions below ~100. */
Test(cpu_rope, matches_exact_rotation_small_positions)
{
    const int ntok = 40, H = 3, D = 64;
    const float theta = 10000.0f;
    tu_rng rng = tu_rng_new(2);
    float *x = tu_rand_array(&rng, (long)ntok * H * D, -1, 1);
    float *y = malloc(sizeof(float) * ntok * H * D), *w = malloc(sizeof(float) * ntok * H * D);
    int32_t *pos = tu_rand_ints(&rng, ntok, 0, 100);
    for (int t = 0; t < ntok; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < D / 2; j++) {
                const float *xv = x + ((size_t)t * H + h) * D;
                float *wv = w + ((size_t)t * H + h) * D;
                double a = pos[t] * pow(theta, -2.0 * j / D);
                wv[j] = (float)(xv[j] * cos(a) - xv[j + D / 2] * sin(a));
                wv[j + D / 2] = (float)(xv[j + D / 2] * cos(a) + xv[j] * sin(a));
            }
    fs_cpu_rope_fwd_ref(y, x, pos, ntok, H, D, theta);
    tu_assert_close(y, w, (long)ntok * H * D, 1e-5f, 0, "ref vs double rotation");
    fs_cpu_rope_fwd(y, x, pos, ntok, H, D, theta);
    tu_assert_close(y, w, (long)ntok * H * D, 1e-5f, 0, "fast vs double rotation");
    free(x);
    free(y);
    free(w);
    free(pos);
}

/* At long positions the float32 angle rounding dominates; HF computes
 * inv_freq = 1.0 / (theta ** (arange(0, D, 2).float() / D)), freqs = inv_freq * pos,
 * cos/sin, all in float32. Emulated here step by step (LLaMA-3 theta). */
Test(cpu_rope, hf_float32_angles_long_positions)
{
    const int ntok = 16, H = 2, D = 128;
    const float theta = 500000.0f;
    tu_rng rng = tu_rng_new(3);
    float *x = tu_rand_array(&rng, (long)ntok * H * D, -1, 1);
    float *y = malloc(sizeof(float) * ntok * H * D), *w = malloc(sizeof(float) * ntok * H * D);
    int32_t *pos = tu_rand_ints(&rng, ntok, 1000, 8192);
    for (int t = 0; t < ntok; t++)
        for (int j = 0; j < D / 2; j++) {
            float e = (float)(2 * j) / (float)D;
            float inv = 1.0f / (float)pow(theta, e);
            float ang = inv * (float)pos[t];
            float c = cosf(ang), s = sinf(ang);
            for (int h = 0; h < H; h++) {
                const float *xv = x + ((size_t)t * H + h) * D;
                float *wv = w + ((size_t)t * H + h) * D;
                float a1 = xv[j] * c, a2 = xv[j + D / 2] * s;
                float b1 = xv[j + D / 2] * c, b2 = xv[j] * s;
                wv[j] = a1 - a2;
                wv[j + D / 2] = b1 + b2;
            }
        }
    fs_cpu_rope_fwd(y, x, pos, ntok, H, D, theta);
    tu_assert_close(y, w, (long)ntok * H * D, 1e-6f, 0, "fast vs HF float32 emulation");
    free(x);
    free(y);
    free(w);
    free(pos);
}

Test(cpu_rope, fast_matches_ref_and_aliasing)
{
    const int ntok = 13, H = 5, D = 48;
    const long N = (long)ntok * H * D;
    tu_rng rng = tu_rng_new(4);
    float *x = tu_rand_array(&rng, N, -3, 3);
    int32_t *pos = tu_rand_ints(&rng, ntok, 0, 4096);
    float *yr = malloc(N * sizeof *yr), *yf = malloc(N * sizeof *yf), *al = malloc(N * sizeof *al);
    fs_cpu_rope_fwd_ref(yr, x, pos, ntok, H, D, 10000.0f);
    fs_cpu_rope_fwd(yf, x, pos, ntok, H, D, 10000.0f);
    tu_assert_close(yf, yr, N, 1e-6f, 1e-6f, "fwd fast vs ref");
    cr_assert(tu_max_abs_diff(yr, x, N) > 0.1f, "rope did nothing");

    rope_fn fns[2] = {fs_cpu_rope_fwd_ref, fs_cpu_rope_fwd};
    for (int f = 0; f < 2; f++) {
        memcpy(al, x, N * sizeof *al);
        fns[f](al, al, pos, ntok, H, D, 10000.0f);
        tu_assert_close(al, yr, N, 1e-6f, 1e-6f, f ? "fast in place" : "ref in place");
    }

    /* backward: fast vs ref with pre-filled (accumulating) buffers */
    float *dy = tu_rand_array(&rng, N, -1, 1);
    float *init = tu_rand_array(&rng, N, -1, 1);
    float *dr = malloc(N * sizeof *dr), *df = malloc(N * sizeof *df);
    memcpy(dr, init, N * sizeof *dr);
    memcpy(df, init, N * sizeof *df);
    fs_cpu_rope_bwd_ref(dr, dy, pos, ntok, H, D, 10000.0f);
    fs_cpu_rope_bwd(df, dy, pos, ntok, H, D, 10000.0f);
    tu_assert_close(df, dr, N, 1e-6f, 1e-6f, "bwd fast vs ref");
    fs_cpu_rope_bwd(NULL, dy, pos, ntok, H, D, 10000.0f); /* NULL: no-op, no crash */
    fs_cpu_rope_bwd_ref(NULL, dy, pos, ntok, H, D, 10000.0f);

    free(x);
    free(pos);
    free(yr);
    free(yf);
    free(al);
    free(dy);
    free(init);
    free(dr);
    free(df);
}

typedef struct {
    const float *w, *x;
    float *y;
    const int32_t *pos;
    int ntok, H, D;
    float theta;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    fs_cpu_rope_fwd_ref(c->y, c->x, c->pos, c->ntok, c->H, c->D, c->theta);
    return tu_dot(c->w, c->y, (long)c->ntok * c->H * c->D);
}

Test(cpu_rope, backward_finite_differences_and_accumulate)
{
    const int ntok = 5, H = 2, D = 8;
    const long N = (long)ntok * H * D;
    tu_rng rng = tu_rng_new(5);
    float *x = tu_rand_array(&rng, N, -1, 1), *w = tu_rand_array(&rng, N, -1, 1);
    float *y = malloc(N * sizeof *y), *dx = calloc(N, sizeof *dx);
    int32_t pos[5] = {0, 1, 7, 30, 1000};
    rope_ctx c = {w, x, y, pos, ntok, H, D, 10000.0f};
    fs_cpu_rope_bwd_ref(dx, w, pos, ntok, H, D, 10000.0f);
    tu_check_grad(rope_loss, &c, x, N, dx, 1e-2f, 1e-4f, 1e-3f, (int)N, "rope dx (ref)");

    /* accumulate: pre-filled buffer gets init + grad */
    float *acc = tu_rand_array(&rng, N, -1, 1), *want = malloc(N * sizeof *want);
    for (long i = 0; i < N; i++) want[i] = acc[i] + dx[i];
    fs_cpu_rope_bwd(acc, w, pos, ntok, H, D, 10000.0f);
    tu_assert_close(acc, want, N, 1e-6f, 1e-6f, "fast bwd accumulates");

    /* R^T R = I: bwd of fwd output gives back x */
    float *back = calloc(N, sizeof *back);
    fs_cpu_rope_fwd(y, x, pos, ntok, H, D, 10000.0f);
    fs_cpu_rope_bwd(back, y, pos, ntok, H, D, 10000.0f);
    tu_assert_close(back, x, N, 1e-6f, 1e-5f, "R^T R x = x");

    free(x);
    free(w);
    free(y);
    free(dx);
    free(acc);
    free(want);
    free(back);
}
