/* Scaled dot-product attention with grouped-query heads, forward and backward.
 *
 * q: [B, T, Hq, D]; k, v: [B, T, Hkv, D]; query head h uses kv head
 * h / (Hq / Hkv); out: [B, T, Hq, D]; lse: [B, Hq, T]. Scale 1/sqrt(D).
 *
 *   S_ij = scale * q_i . k_j        (j <= i when causal)
 *   lse_i = log sum_j exp(S_ij),  P_ij = exp(S_ij - lse_i),  out_i = sum_j P_ij v_j
 *
 * Backward (flash-attention style: P is recomputed from q, k and lse):
 *   dv_j += sum_i P_ij dout_i
 *   dP_ij = dout_i . v_j,  D_i = dout_i . out_i,  dS_ij = P_ij (dP_ij - D_i)
 *   dq_i += scale * sum_j dS_ij k_j,   dk_j += scale * sum_i dS_ij q_i
 *
 * Fast version: work is cut into (b, head, block of QB query rows); each block
 * does its score and value products with single-threaded fs_cpu_sgemm
 * (blas.c) on strided views of q/k/v (no transposes or copies), with O(QB * T) per-thread
 * scratch. Causal blocks only touch keys [0, end of block). The backward is
 * parallel over (b, kv head) so that the query heads sharing a kv head (GQA),
 * which all add into the same dk/dv rows, run in one thread: race-free and
 * deterministic. */
#include "kernels/backends/cpu/cpu_ops.h"
#include "kernels/backends/cpu/fast_exp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------- reference ---------------- */

void fs_cpu_attention_fwd_ref(float *out, float *lse, const float *q, const float *k,
                              const float *v, int B, int T, int Hq, int Hkv, int D, bool causal)
{
    const double scale = 1.0 / sqrt((double)D);
    const int grp = Hq / Hkv;
    double *s = fs_cpu_scratch((size_t)(T > 0 ? T : 1) * sizeof *s, "attention scratch");
    double *o = fs_cpu_scratch((size_t)(D > 0 ? D : 1) * sizeof *o, "attention scratch");
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++) {
            int hk = h / grp;
            for (int i = 0; i < T; i++) {
                const float *qi = q + (((size_t)b * T + i) * Hq + h) * D;
                int nk = causal ? i + 1 : T;
                double m = -INFINITY;
                for (int j = 0; j < nk; j++) {
                    const float *kj = k + (((size_t)b * T + j) * Hkv + hk) * D;
                    double d = 0;
                    for (int c = 0; c < D; c++) d += (double)qi[c] * kj[c];
                    s[j] = d * scale;
                    if (s[j] > m) m = s[j];
                }
                double sum = 0;
                for (int j = 0; j < nk; j++) sum += exp(s[j] - m);
                double l = m + log(sum);
                for (int c = 0; c < D; c++) o[c] = 0;
                for (int j = 0; j < nk; j++) {
                    double p = exp(s[j] - l);
                    const float *vj = v + (((size_t)b * T + j) * Hkv + hk) * D;
                    for (int c = 0; c < D; c++) o[c] += p * vj[c];
                }
                float *oi = out + (((size_t)b * T + i) * Hq + h) * D;
                for (int c = 0; c < D; c++) oi[c] = (float)o[c];
                lse[((size_t)b * Hq + h) * T + i] = (float)l;
            }
        }
    free(s);
    free(o);
}

void fs_cpu_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const float *out, const float *lse,
                              int B, int T, int Hq, int Hkv, int D, bool causal)
{
    if (!dq && !dk && !dv) return;
    const double scale = 1.0 / sqrt((double)D);
    const int grp = Hq / Hkv;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++) {
            int hk = h / grp;
            for (int i = 0; i < T; i++) {
                const size_t qo = (((size_t)b * T + i) * Hq + h) * D;
                const float *qi = q + qo, *gi = dout + qo, *oi = out + qo;
                double l = lse[((size_t)b * Hq + h) * T + i];
                double Di = 0;
                for (int c = 0; c < D; c++) Di += (double)gi[c] * oi[c];
                int nk = causal ? i + 1 : T;
                for (int j = 0; j < nk; j++) {
                    const size_t ko = (((size_t)b * T + j) * Hkv + hk) * D;
                    const float *kj = k + ko, *vj = v + ko;
                    double sij = 0, dp = 0;
                    for (int c = 0; c < D; c++) {
                        sij += (double)qi[c] * kj[c];
                        dp += (double)gi[c] * vj[c];
                    }
                    double p = exp(sij * scale - l);
                    double ds = p * (dp - Di);
                    for (int c = 0; c < D; c++) {
                        if (dv) dv[ko + c] += (float)(p * gi[c]);
                        if (dk) dk[ko + c] += (float)(scale * ds * qi[c]);
                        if (dq) dq[qo + c] += (float)(scale * ds * kj[c]);
                    }
                }
            }
        }
}

/* ---------------- fast ---------------- */

/* Query rows per block. Causal: 64 (finer blocks skip more of the masked
 * upper triangle); bidirectional: 128 (fewer re-packings of K and V by BLAS).
 * Tuned single-threaded on the bench shapes (T = 256..577, D = 64): about
 * 10% either way against a fixed 64. */
#define QB_CAUSAL 64
#define QB_BIDIR 128
#define QB_MAX 128

void fs_cpu_attention_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                          int B, int T, int Hq, int Hkv, int D, bool causal)
{
    if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
    const float scale = (float)(1.0 / sqrt((double)D));
    const int grp = Hq / Hkv;
    const int QB = causal ? QB_CAUSAL : QB_BIDIR;
    const int nqb = (T + QB - 1) / QB;
    const long nbh = (long)B * Hq;
    const long nitems = nbh * nqb;
    const int ldq = Hq * D, ldk = Hkv * D;

#pragma omp parallel
    {
        float *S = fs_cpu_scratch((size_t)QB * T * sizeof *S, "attention scratch");
        /* Items ordered by query block, last (largest when causal) first. */
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < nitems; it++) {
            int qb = nqb - 1 - (int)(it / nbh);
            long bh = it % nbh;
            int b = (int)(bh / Hq), h = (int)(bh % Hq), hk = h / grp;
            int i0 = qb * QB, m = T - i0 < QB ? T - i0 : QB;
            int nk = causal ? i0 + m : T;
            const float *qp = q + ((size_t)b * T + i0) * ldq + (size_t)h * D;
            const float *kp = k + (size_t)b * T * ldk + (size_t)hk * D;
            const float *vp = v + (size_t)b * T * ldk + (size_t)hk * D;
            float *op = out + ((size_t)b * T + i0) * ldq + (size_t)h * D;
            float *lp = lse + ((size_t)b * Hq + h) * T + i0;

            /* S = scale * Q_blk K^T  (m x nk) */
            fs_cpu_sgemm(false, true, m, nk, D, scale, qp, ldq, kp, ldk, 0.0f, S, nk);
            float rinv[QB_MAX];
            for (int r = 0; r < m; r++) {
                float *sr = S + (size_t)r * nk;
                int nv = causal ? i0 + r + 1 : nk; /* valid keys of this row */
                float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
                for (int j = 0; j < nv; j++) mx = sr[j] > mx ? sr[j] : mx;
                float sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < nv; j++) {
                    float e = fs_fast_exp(sr[j] - mx);
                    sr[j] = e;
                    sum += e;
                }
                for (int j = nv; j < nk; j++) sr[j] = 0;
                lp[r] = mx + logf(sum);
                rinv[r] = 1.0f / sum;
            }
            /* out_blk = diag(1/sum) * E V */
            fs_cpu_sgemm(false, false, m, D, nk, 1.0f, S, nk, vp, ldk, 0.0f, op, ldq);
            for (int r = 0; r < m; r++) {
                float *orow = op + (size_t)r * ldq;
                for (int c = 0; c < D; c++) orow[c] *= rinv[r];
            }
        }
        free(S);
    }
}

void fs_cpu_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *out, const float *lse,
                          int B, int T, int Hq, int Hkv, int D, bool causal)
{
    if (!dq && !dk && !dv) return;
    if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
    const float scale = (float)(1.0 / sqrt((double)D));
    const int grp = Hq / Hkv;
    const int QB = causal ? QB_CAUSAL : QB_BIDIR;
    const int nqb = (T + QB - 1) / QB;
    const long nitems = (long)B * Hkv;
    const int ldq = Hq * D, ldk = Hkv * D;
    const bool need_ds = dq || dk;

#pragma omp parallel
    {
        size_t block = (size_t)QB * T * sizeof(float);
        float *P = fs_cpu_scratch(block, "attention backward scratch");
        float *dS = need_ds ? fs_cpu_scratch(block, "attention backward scratch") : NULL;
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < nitems; it++) {
            int b = (int)(it / Hkv), hk = (int)(it % Hkv);
            const float *kp = k + (size_t)b * T * ldk + (size_t)hk * D;
            const float *vp = v + (size_t)b * T * ldk + (size_t)hk * D;
            float *dkp = dk ? dk + (size_t)b * T * ldk + (size_t)hk * D : NULL;
            float *dvp = dv ? dv + (size_t)b * T * ldk + (size_t)hk * D : NULL;
            for (int h = hk * grp; h < (hk + 1) * grp; h++) {
                for (int qb = 0; qb < nqb; qb++) {
                    int i0 = qb * QB, m = T - i0 < QB ? T - i0 : QB;
                    int nk = causal ? i0 + m : T;
                    const size_t qoff = ((size_t)b * T + i0) * ldq + (size_t)h * D;
                    const float *qp = q + qoff, *gp = dout + qoff, *op = out + qoff;
                    const float *lp = lse + ((size_t)b * Hq + h) * T + i0;

                    /* P = exp(scale * Q_blk K^T - lse), zero above the diagonal */
                    fs_cpu_sgemm(false, true, m, nk, D, scale, qp, ldq, kp, ldk, 0.0f, P, nk);
                    for (int r = 0; r < m; r++) {
                        float *pr = P + (size_t)r * nk;
                        int nv = causal ? i0 + r + 1 : nk;
                        float l = lp[r];
#pragma omp simd
                        for (int j = 0; j < nv; j++) pr[j] = fs_fast_exp(pr[j] - l);
                        for (int j = nv; j < nk; j++) pr[j] = 0;
                    }
                    /* dV[0:nk] += P^T dO_blk */
                    if (dvp)
                        fs_cpu_sgemm(true, false, nk, D, m, 1.0f, P, nk, gp, ldq, 1.0f, dvp, ldk);
                    if (!need_ds) continue;
                    /* dP = dO_blk V^T, then dS = P * (dP - D_i) */
                    fs_cpu_sgemm(false, true, m, nk, D, 1.0f, gp, ldq, vp, ldk, 0.0f, dS, nk);
                    for (int r = 0; r < m; r++) {
                        const float *gr = gp + (size_t)r * ldq, *orow = op + (size_t)r * ldq;
                        float Di = 0;
#pragma omp simd reduction(+ : Di)
                        for (int c = 0; c < D; c++) Di += gr[c] * orow[c];
                        float *dsr = dS + (size_t)r * nk;
                        const float *pr = P + (size_t)r * nk;
#pragma omp simd
                        for (int j = 0; j < nk; j++) dsr[j] = pr[j] * (dsr[j] - Di);
                    }
                    /* dQ_blk += scale * dS K[0:nk];  dK[0:nk] += scale * dS^T Q_blk */
                    if (dq)
                        fs_cpu_sgemm(false, false, m, D, nk, scale, dS, nk, kp, ldk, 1.0f, dq +
                                     qoff, ldq);
                    if (dkp)
                        fs_cpu_sgemm(true, false, nk, D, m, scale, dS, nk, qp, ldq, 1.0f, dkp, ldk);
                }
            }
        }
        free(P);
        free(dS);
    }
}
