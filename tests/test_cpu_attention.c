/* Attention (GQA, causal / bidirectional): lse against a direct computation,
 * causality, fast vs reference forward and backward (including shapes that
 * cross the fast kernel's query blocks: 64 rows causal, 128 bidirectional),
 * backward by finite differences, accumulate and NULL semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef struct {
    int B, T, Hq, Hkv, D;
    bool causal;
} shape;

typedef struct {
    shape s;
    long nq, nk, nl;
    float *q, *k, *v, *out, *lse, *w;
} problem;

static problem make_problem(shape s, uint64_t seed)
{
    problem p = {.s = s};
    p.nq = (long)s.B * s.T * s.Hq * s.D;
    p.nk = (long)s.B * s.T * s.Hkv * s.D;
    p.nl = (long)s.B * s.Hq * s.T;
    tu_rng r = tu_rng_new(seed);
    p.q = tu_rand_array(&r, p.nq, -1.5f, 1.5f);
    p.k = tu_rand_array(&r, p.nk, -1.5f, 1.5f);
    p.v = tu_rand_array(&r, p.nk, -1, 1);
    p.w = tu_rand_array(&r, p.nq, -1, 1); /* loss weights = dout */
    p.out = calloc(p.nq, sizeof(float));
    p.lse = calloc(p.nl, sizeof(float));
    return p;
}

static void free_problem(problem *p)
{
    free(p->q);
    free(p->k);
    free(p->v);
    free(p->w);
    free(p->out);
    free(p->lse);
}

static void fwd_ref(problem *p)
{
    shape s = p->s;
    fs_cpu_attention_fwd_ref(p->out, p->lse, p->q, p->k, p->v, s.B, s.T, s.Hq, s.Hkv, s.D, s.causal);
}

static const shape small_shapes[] = {
    {2, 7, 4, 2, 8, true},  /* GQA causal */
    {2, 7, 4, 2, 8, false}, /* GQA bidirectional */
    {2, 7, 2, 2, 8, true},  /* MHA causal */
    {2, 7, 2, 2, 8, false}, /* MHA bidirectional */
    {1, 5, 3, 1, 6, true},  /* MQA */
};
#define NSMALL (int)(sizeof small_shapes / sizeof small_shapes[0])

/* lse and out recomputed here from the definition, in double. */
Test(cpu_attention, lse_and_output_from_definition)
{
    for (int c = 0; c < NSMALL; c++) {
        shape s = small_shapes[c];
        problem p = make_problem(s, 10 + c);
        float *lf = malloc(p.nl * sizeof *lf), *of = malloc(p.nq * sizeof *of);
        float *lw = malloc(p.nl * sizeof *lw), *ow = malloc(p.nq * sizeof *ow);
        int grp = s.Hq / s.Hkv;
        for (int b = 0; b < s.B; b++)
            for (int h = 0; h < s.Hq; h++)
                for (int i = 0; i < s.T; i++) {
                    const float *qi = p.q + (((size_t)b * s.T + i) * s.Hq + h) * s.D;
                    double sc[64], mx = -1e300, sum = 0;
                    int nk = s.causal ? i + 1 : s.T;
                    for (int j = 0; j < nk; j++) {
                        const float *kj = p.k + (((size_t)b * s.T + j) * s.Hkv + h / grp) * s.D;
                        double d = 0;
                        for (int e = 0; e < s.D; e++) d += (double)qi[e] * kj[e];
                        sc[j] = d / sqrt((double)s.D);
                        mx = fmax(mx, sc[j]);
                    }
                    for (int j = 0; j < nk; j++) sum += exp(sc[j] - mx);
                    double l = mx + log(sum);
                    lw[((size_t)b * s.Hq + h) * s.T + i] = (float)l;
                    for (int e = 0; e < s.D; e++) {
                        double o = 0;
                        for (int j = 0; j < nk; j++)
                            o += exp(sc[j] - l) *
                                 p.v[(((size_t)b * s.T + j) * s.Hkv + h / grp) * s.D + e];
                        ow[(((size_t)b * s.T + i) * s.Hq + h) * s.D + e] = (float)o;
                    }
                }
        fwd_ref(&p);
        tu_assert_close(p.lse, lw, p.nl, 1e-5f, 1e-5f, "ref lse");
        tu_assert_close(p.out, ow, p.nq, 1e-6f, 1e-5f, "ref out");
        fs_cpu_attention_fwd(of, lf, p.q, p.k, p.v, s.B, s.T, s.Hq, s.Hkv, s.D, s.causal);
        tu_assert_close(lf, lw, p.nl, 2e-6f, 2e-6f, "fast lse");
        tu_assert_close(of, ow, p.nq, 2e-6f, 1e-5f, "fast out");
        if (s.causal) {
            /* first query row sees only key 0: lse = scale q0.k0, out = v0 */
            for (int h = 0; h < s.Hq; h++)
                for (int e = 0; e < s.D; e++)
                    cr_assert_float_eq(of[(size_t)h * s.D + e], p.v[(size_t)(h / grp) * s.D + e],
                                       1e-6, "causal row 0 must copy v_0");
        }
        free(lf);
        free(of);
        free(lw);
        free(ow);
        free_problem(&p);
    }
}

Test(cpu_attention, causal_future_keys_do_not_leak)
{
    shape s = {2, 7, 4, 2, 8, true};
    problem p = make_problem(s, 20);
    typedef void (*fwd_fn)(float *, float *, const float *, const float *, const float *, int, int,
                           int, int, int, bool);
    fwd_fn fns[2] = {fs_cpu_attention_fwd_ref, fs_cpu_attention_fwd};
    const int t0 = 4; /* perturb key/value at position t0 */
    for (int f = 0; f < 2; f++) {
        float *o1 = malloc(p.nq * sizeof *o1), *o2 = malloc(p.nq * sizeof *o2);
        float *l1 = malloc(p.nl * sizeof *l1), *l2 = malloc(p.nl * sizeof *l2);
        float *k2 = malloc(p.nk * sizeof *k2), *v2 = malloc(p.nk * sizeof *v2);
        memcpy(k2, p.k, p.nk * sizeof *k2);
        memcpy(v2, p.v, p.nk * sizeof *v2);
        for (int b = 0; b < s.B; b++)
            for (int e = 0; e < s.Hkv * s.D; e++) {
                k2[((size_t)b * s.T + t0) * s.Hkv * s.D + e] += 3.0f;
                v2[((size_t)b * s.T + t0) * s.Hkv * s.D + e] -= 2.0f;
            }
        fns[f](o1, l1, p.q, p.k, p.v, s.B, s.T, s.Hq, s.Hkv, s.D, true);
        fns[f](o2, l2, p.q, k2, v2, s.B, s.T, s.Hq, s.Hkv, s.D, true);
        for (int b = 0; b < s.B; b++)
            for (int t = 0; t < s.T; t++) {
                size_t off = ((size_t)b * s.T + t) * s.Hq * s.D;
                float d = tu_max_abs_diff(o1 + off, o2 + off, (long)s.Hq * s.D);
                if (t < t0)
                    cr_assert(d == 0.0f, "%s: output at t=%d changed (%g) when key %d changed",
                              f ? "fast" : "ref", t, d, t0);
                else
                    cr_assert(d > 1e-3f, "%s: output at t=%d did not change when key %d changed",
                              f ? "fast" : "ref", t, t0);
            }
        /* bidirectional: every position sees the change */
        fns[f](o1, l1, p.q, p.k, p.v, s.B, s.T, s.Hq, s.Hkv, s.D, false);
        fns[f](o2, l2, p.q, k2, v2, s.B, s.T, s.Hq, s.Hkv, s.D, false);
        cr_assert(tu_max_abs_diff(o1, o2, (long)s.Hq * s.D) > 1e-3f,
                  "bidirectional row 0 must see a later key");
        free(o1);
        free(o2);
        free(l1);
        free(l2);
        free(k2);
        free(v2);
    }
    free_problem(&p);
}

/* fast vs ref, forward and backward (pre-filled accumulators), including
 * shapes with T spanning several 64-row blocks and not a multiple of them. */
static void check_fast_vs_ref(shape s, uint64_t seed)
{
    problem p = make_problem(s, seed);
    float *of = malloc(p.nq * sizeof *of), *lf = malloc(p.nl * sizeof *lf);
    fwd_ref(&p);
    fs_cpu_attention_fwd(of, lf, p.q, p.k, p.v, s.B, s.T, s.Hq, s.Hkv, s.D, s.causal);
    char what[128];
    snprintf(what, sizeof what, "fwd out B%d T%d Hq%d Hkv%d D%d %s", s.B, s.T, s.Hq, s.Hkv, s.D,
             s.causal ? "causal" : "bidir");
    tu_assert_close(of, p.out, p.nq, 2e-6f, 1e-5f, what);
    tu_assert_close(lf, p.lse, p.nl, 2e-6f, 2e-6f, "fwd lse");

    tu_rng r = tu_rng_new(seed + 1000);
    float *init_q = tu_rand_array(&r, p.nq, -1, 1), *init_k = tu_rand_array(&r, p.nk, -1, 1),
          *init_v = tu_rand_array(&r, p.nk, -1, 1);
    float *g[2][3];
    for (int f = 0; f < 2; f++) {
        g[f][0] = malloc(p.nq * sizeof(float));
        g[f][1] = malloc(p.nk * sizeof(float));
        g[f][2] = malloc(p.nk * sizeof(float));
        memcpy(g[f][0], init_q, p.nq * sizeof(float));
        memcpy(g[f][1], init_k, p.nk * sizeof(float));
        memcpy(g[f][2], init_v, p.nk * sizeof(float));
    }
    fs_cpu_attention_bwd_ref(g[0][0], g[0][1], g[0][2], p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T,
                             s.Hq, s.Hkv, s.D, s.causal);
    fs_cpu_attention_bwd(g[1][0], g[1][1], g[1][2], p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T,
                         s.Hq, s.Hkv, s.D, s.causal);
    tu_assert_close(g[1][0], g[0][0], p.nq, 2e-5f, 1e-4f, "bwd dq fast vs ref");
    tu_assert_close(g[1][1], g[0][1], p.nk, 2e-5f, 1e-4f, "bwd dk fast vs ref");
    tu_assert_close(g[1][2], g[0][2], p.nk, 2e-5f, 1e-4f, "bwd dv fast vs ref");
    /* accumulate: pre-filled result == init + result from zeroed buffers */
    {
        float *z[3] = {calloc(p.nq, 4), calloc(p.nk, 4), calloc(p.nk, 4)};
        fs_cpu_attention_bwd(z[0], z[1], z[2], p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T, s.Hq,
                             s.Hkv, s.D, s.causal);
        const float *init[3] = {init_q, init_k, init_v};
        long n[3] = {p.nq, p.nk, p.nk};
        for (int i = 0; i < 3; i++) {
            for (long j = 0; j < n[i]; j++) z[i][j] += init[i][j];
            tu_assert_close(g[1][i], z[i], n[i], 1e-6f, 1e-6f, "fast bwd accumulates onto init");
            free(z[i]);
        }
    }
    cr_assert(tu_max_abs_diff(g[0][0], init_q, p.nq) > 1e-3f, "dq unchanged");
    cr_assert(tu_max_abs_diff(g[0][1], init_k, p.nk) > 1e-3f, "dk unchanged");
    cr_assert(tu_max_abs_diff(g[0][2], init_v, p.nk) > 1e-3f, "dv unchanged");
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 3; i++) free(g[f][i]);
    free(init_q);
    free(init_k);
    free(init_v);
    free(of);
    free(lf);
    free_problem(&p);
}

Test(cpu_attention, fast_matches_ref_small)
{
    for (int c = 0; c < NSMALL; c++) check_fast_vs_ref(small_shapes[c], 30 + c);
}

Test(cpu_attention, fast_matches_ref_multi_block)
{
    const shape big[] = {
        {1, 150, 4, 2, 16, true},  /* 3 query blocks, last partial; GQA */
        {1, 150, 4, 2, 16, false}, /* 2 blocks of 128, last partial */
        {2, 65, 2, 2, 12, true},   /* one row past a block */
        {1, 64, 2, 1, 8, false},   /* exactly one block */
        {1, 300, 2, 1, 8, false},  /* bidirectional blocks are 128 rows: 128 + 128 + 44 */
    };
    for (int c = 0; c < (int)(sizeof big / sizeof big[0]); c++) check_fast_vs_ref(big[c], 40 + c);
}

typedef struct {
    problem *p;
    bool fast;
} fd_ctx;

static double attn_loss(void *vc)
{
    fd_ctx *c = vc;
    problem *p = c->p;
    shape s = p->s;
    if (c->fast)
        fs_cpu_attention_fwd(p->out, p->lse, p->q, p->k, p->v, s.B, s.T, s.Hq, s.Hkv, s.D,
                             s.causal);
    else
        fwd_ref(p);
    return tu_dot(p->w, p->out, p->nq);
}

Test(cpu_attention, backward_finite_differences)
{
    for (int c = 0; c < NSMALL; c++) {
        shape s = small_shapes[c];
        for (int fast = 0; fast < 2; fast++) {
            problem p = make_problem(s, 50 + c);
            fd_ctx ctx = {&p, fast};
            attn_loss(&ctx);
            float *dq = calloc(p.nq, sizeof *dq), *dk = calloc(p.nk, sizeof *dk),
                  *dv = calloc(p.nk, sizeof *dv);
            (fast ? fs_cpu_attention_bwd : fs_cpu_attention_bwd_ref)(
                dq, dk, dv, p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T, s.Hq, s.Hkv, s.D, s.causal);
            const char *nm = fast ? "fast" : "ref";
            char what[64];
            snprintf(what, sizeof what, "%s dq (shape %d)", nm, c);
            tu_check_grad(attn_loss, &ctx, p.q, p.nq, dq, 1e-2f, 1e-3f, 1e-2f, 150, what);
            snprintf(what, sizeof what, "%s dk (shape %d)", nm, c);
            tu_check_grad(attn_loss, &ctx, p.k, p.nk, dk, 1e-2f, 1e-3f, 1e-2f, 150, what);
            snprintf(what, sizeof what, "%s dv (shape %d)", nm, c);
            tu_check_grad(attn_loss, &ctx, p.v, p.nk, dv, 1e-2f, 1e-3f, 1e-2f, 150, what);
            free(dq);
            free(dk);
            free(dv);
            free_problem(&p);
        }
    }
}

/* Each gradient can be skipped with NULL; the others are unaffected. */
Test(cpu_attention, null_gradients_skip)
{
    shape s = {2, 70, 4, 2, 8, true};
    problem p = make_problem(s, 60);
    fwd_ref(&p);
    typedef void (*bwd_fn)(float *, float *, float *, const float *, const float *, const float *,
                           const float *, const float *, const float *, int, int, int, int, int,
                           bool);
    bwd_fn fns[2] = {fs_cpu_attention_bwd_ref, fs_cpu_attention_bwd};
    for (int f = 0; f < 2; f++) {
        float *full[3] = {calloc(p.nq, 4), calloc(p.nk, 4), calloc(p.nk, 4)};
        fns[f](full[0], full[1], full[2], p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T, s.Hq, s.Hkv,
               s.D, s.causal);
        long n[3] = {p.nq, p.nk, p.nk};
        for (int keep = 0; keep < 3; keep++) {
            float *only = calloc(n[keep], 4);
            float *args[3] = {NULL, NULL, NULL};
            args[keep] = only;
            fns[f](args[0], args[1], args[2], p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T, s.Hq,
                   s.Hkv, s.D, s.causal);
            tu_assert_close(only, full[keep], n[keep], 1e-7f, 1e-6f, "single gradient vs all three");
            free(only);
        }
        fns[f](NULL, NULL, NULL, p.w, p.q, p.k, p.v, p.out, p.lse, s.B, s.T, s.Hq, s.Hkv, s.D,
               s.causal);
        for (int i = 0; i < 3; i++) free(full[i]);
    }
    free_problem(&p);
}
