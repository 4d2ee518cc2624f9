/* Rotary position embedding, Hugging Face LLaMA "rotate_half" convention.
 *
 * For a head vector x of size D (half = D/2) at position p:
 *   inv_freq[j] = 1 / theta^(2j/D)             j < half
 *   a = p * inv_freq[j],  c = cos a,  s = sin a
 *   y[j]        = x[j] c - x[j+half] s
 *   y[j+half]   = x[j+half] c + x[j] s
 * The backward applies the transpose rotation (angle -a) and accumulates.
 *
 * Angles follow transformers' float32 arithmetic step by step so the results
 * match it to float rounding: inv_freq = 1.0 / (theta ** (arange(0, D, 2).float() / D))
 * in float32, freqs = inv_freq * float(pos) in float32 (a single rounded
 * product, as HF's K=1 matmul), cos/sin of that float32 angle, then
 * q*cos + rotate_half(q)*sin with separately rounded products (no FMA: this
 * file is built as ISO C without contraction on x86-64-v2). */
#include "kernels/backends/cpu/cpu_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* HF: exponent = float32(2j) / float32(D) (one rounded division), then
 * theta ** exponent in float32, then 1.0 / that in float32. The power is
 * computed in double and rounded once, i.e. the correctly rounded float32
 * power (what torch's float pow returns up to its <1 ulp error). */
static float rope_inv_freq(int j, int head_dim, float theta)
{
    float e = (float)(2 * j) / (float)head_dim;
    float p = (float)pow((double)theta, (double)e);
    return 1.0f / p;
}

static void rope_cos_sin(float *c, float *s, int32_t pos, float inv_freq)
{
    float a = (float)pos * inv_freq;
    *c = cosf(a);
    *s = sinf(a);
}

/* ---------------- reference ---------------- */

void fs_cpu_rope_fwd_ref(float *y, const float *x, const int32_t *pos, int ntok, int nheads,
                         int head_dim, float theta)
{
    int half = head_dim / 2;
    for (int t = 0; t < ntok; t++) {
        for (int h = 0; h < nheads; h++) {
            const float *xv = x + ((size_t)t * nheads + h) * head_dim;
            float *yv = y + ((size_t)t * nheads + h) * head_dim;
            for (int j = 0; j < half; j++) {
                float c, s;
                rope_cos_sin(&c, &s, pos[t], rope_inv_freq(j, head_dim, theta));
                float x0 = xv[j], x1 = xv[j + half]; /* read both before writing: y may alias x */
                yv[j] = x0 * c - x1 * s;
                yv[j + half] = x1 * c + x0 * s;
            }
        }
    }
}

void fs_cpu_rope_bwd_ref(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads,
                         int head_dim, float theta)
{
    if (!dx) return;
    int half = head_dim / 2;
    for (int t = 0; t < ntok; t++) {
        for (int h = 0; h < nheads; h++) {
            const float *g = dy + ((size_t)t * nheads + h) * head_dim;
            float *d = dx + ((size_t)t * nheads + h) * head_dim;
            for (int j = 0; j < half; j++) {
                float c, s;
                rope_cos_sin(&c, &s, pos[t], rope_inv_freq(j, head_dim, theta));
                float g0 = g[j], g1 = g[j + half];
                d[j] += g0 * c + g1 * s;
                d[j + half] += g1 * c - g0 * s;
            }
        }
    }
}

/* ---------------- fast ---------------- */

/* cos/sin of every position are computed once and kept: a table of rows
 * [cos(p * inv_freq[0..half)), sin(...)] for positions [0, npos), rebuilt
 * only when the head size or theta change or a larger position comes (it
 * was recomputed per token at each of the 4 RoPE calls of every layer).
 * The op table is driven from one host thread (OpenMP inside the ops), so
 * the table needs no lock. Bitwise identical to the reference. */
static struct {
    int head_dim, npos;
    float theta;
    float *cs;
} table;

static const float *rope_table(const int32_t *pos, int ntok, int head_dim, float theta)
{
    int half = head_dim / 2, need = 1;
    for (int t = 0; t < ntok; t++)
        if (pos[t] >= need) need = pos[t] + 1;
    if (table.cs && table.head_dim == head_dim && table.theta == theta && table.npos >= need)
        return table.cs;
    /* Grow geometrically: positions come in increasing maxima early in a run. */
    int npos = table.npos * 2 > need ? table.npos * 2 : need;
    float *cs = fs_cpu_scratch((size_t)npos * 2 * half * sizeof *cs, "the RoPE cos/sin table");
    float *inv = fs_cpu_scratch((size_t)half * sizeof *inv, "RoPE scratch");
    for (int j = 0; j < half; j++) inv[j] = rope_inv_freq(j, head_dim, theta);
    for (int p = 0; p < npos; p++)
        for (int j = 0; j < half; j++)
            rope_cos_sin(&cs[(size_t)p * 2 * half + j], &cs[(size_t)p * 2 * half + half + j], p,
                         inv[j]);
    free(inv);
    free(table.cs);
    table.cs = cs, table.npos = npos, table.head_dim = head_dim, table.theta = theta;
    return cs;
}

/* Tokens are split across threads; negative positions (none in fedsim's
 * batches, but the op allows them) take the table-free path. */
static void rope_apply(float *out, const float *in, const int32_t *pos, int ntok, int nheads,
                       int head_dim, float theta, bool backward)
{
    int half = head_dim / 2;
    if (ntok <= 0 || nheads <= 0 || half <= 0) return;
    bool nonneg = true;
    for (int t = 0; t < ntok; t++) nonneg = nonneg && pos[t] >= 0;
    const float *tab = nonneg ? rope_table(pos, ntok, head_dim, theta) : NULL;

#pragma omp parallel
    {
        float *own = tab ? NULL : fs_cpu_scratch((size_t)2 * half * sizeof *own, "RoPE scratch");
#pragma omp for schedule(static)
        for (int t = 0; t < ntok; t++) {
            const float *cv, *sv;
            if (tab) {
                cv = tab + (size_t)pos[t] * 2 * half, sv = cv + half;
            } else {
                for (int j = 0; j < half; j++)
                    rope_cos_sin(&own[j], &own[half + j], pos[t], rope_inv_freq(j, head_dim, theta));
                cv = own, sv = own + half;
            }
            for (int h = 0; h < nheads; h++) {
                const float *a = in + ((size_t)t * nheads + h) * head_dim;
                float *b = out + ((size_t)t * nheads + h) * head_dim;
                if (!backward) {
                    for (int j = 0; j < half; j++) {
                        float x0 = a[j], x1 = a[j + half];
                        b[j] = x0 * cv[j] - x1 * sv[j];
                        b[j + half] = x1 * cv[j] + x0 * sv[j];
                    }
                } else {
                    for (int j = 0; j < half; j++) {
                        float g0 = a[j], g1 = a[j + half];
                        b[j] += g0 * cv[j] + g1 * sv[j];
                        b[j + half] += g1 * cv[j] - g0 * sv[j];
                    }
                }
            }
        }
        free(own);
    }
}

void fs_cpu_rope_fwd(float *y, const float *x, const int32_t *pos, int ntok, int nheads,
                     int head_dim, float theta)
{
    rope_apply(y, x, pos, ntok, nheads, head_dim, theta, false);
}

void fs_cpu_rope_bwd(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads,
                     int head_dim, float theta)
{
    if (!dx) return;
    rope_apply(dx, dy, pos, ntok, nheads, head_dim, theta, true);
}
