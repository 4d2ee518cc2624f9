/* Attention of Tq queries over Tk tokens, non-causal, forward only: the
 * Q-Former's self-attention (Tq = Tk = 32 queries) and cross-attention (32
 * queries over 257 image tokens). Stated directly, in double: with 32
 * queries the op is a small part of encoding an image, so the reference is
 * also what the op table uses, threaded over (b, head, query). */
#include "kernels/backends/cpu/cpu_ops.h"

#include <math.h>
#include <stdlib.h>

void fs_cpu_cross_attention_fwd(float *out, const float *q, const float *k, const float *v, int B,
                                int Tq, int Tk, int H, int D)
{
    if (B <= 0 || Tq <= 0 || H <= 0 || D <= 0) return;
    const double scale = 1.0 / sqrt((double)D);
    long rows = (long)B * H * Tq;
#pragma omp parallel
    {
        double *s = fs_cpu_scratch((size_t)(Tk > 0 ? Tk : 1) * sizeof *s, "cross-attention scratch");
        double *o = fs_cpu_scratch((size_t)D * sizeof *o, "cross-attention scratch");
#pragma omp for schedule(static)
        for (long r = 0; r < rows; r++) {
            int i = (int)(r % Tq), h = (int)(r / Tq % H), b = (int)(r / Tq / H);
            const float *qi = q + (((size_t)b * Tq + i) * H + h) * D;
            double m = -INFINITY;
            for (int j = 0; j < Tk; j++) {
                const float *kj = k + (((size_t)b * Tk + j) * H + h) * D;
                double d = 0;
                for (int c = 0; c < D; c++) d += (double)qi[c] * kj[c];
                s[j] = d * scale;
                if (s[j] > m) m = s[j];
            }
            double sum = 0;
            for (int j = 0; j < Tk; j++) sum += (s[j] = exp(s[j] - m));
            for (int c = 0; c < D; c++) o[c] = 0;
            for (int j = 0; j < Tk; j++) {
                const float *vj = v + (((size_t)b * Tk + j) * H + h) * D;
                double p = s[j] / sum;
                for (int c = 0; c < D; c++) o[c] += p * vj[c];
            }
            float *oi = out + (((size_t)b * Tq + i) * H + h) * D;
            for (int c = 0; c < D; c++) oi[c] = Tk > 0 ? (float)o[c] : 0.0f;
        }
        free(s);
        free(o);
    }
}
