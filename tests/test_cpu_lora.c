/* Grouped LoRA: fast vs reference (interleaved groups, long contiguous runs
 * that span several fast-kernel chunks, group -1 rows), backward by finite
 * differences for x, A and B, accumulate / NULL semantics, and isolation
 * (a row depends only on its own group's adapter). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef void (*fwd_fn)(float *, float *, const float *, const float *, const float *,
                       const int32_t *, int, int, int, int, float);
typedef void (*bwd_fn)(float *, float *, float *, const float *, const float *, const float *,
                       const float *, const float *, const int32_t *, int, int, int, int, float);
static const fwd_fn fwds[2] = {fs_cpu_lora_fwd_ref, fs_cpu_lora_fwd};
static const bwd_fn bwds[2] = {fs_cpu_lora_bwd_ref, fs_cpu_lora_bwd};
static const char *names[2] = {"ref", "fast"};

typedef struct {
    int n, in, out, r, G;
    float scale;
    int32_t *group;
    float *x, *A, *B, *y0, *w;
} lp;

static lp make(int n, int in, int out, int r, int G, float scale, const int32_t *group,
               uint64_t seed)
{
    lp p = {n, in, out, r, G, scale, NULL, NULL, NULL, NULL, NULL, NULL};
    tu_rng rng = tu_rng_new(seed);
    p.group = malloc(n * sizeof *p.group);
    memcpy(p.group, group, n * sizeof *p.group);
    p.x = tu_rand_array(&rng, (long)n * in, -1, 1);
    p.A = tu_rand_array(&rng, (long)G * r * in, -0.5f, 0.5f);
    p.B = tu_rand_array(&rng, (long)G * out * r, -0.5f, 0.5f);
    p.y0 = tu_rand_array(&rng, (long)n * out, -1, 1);
    p.w = tu_rand_array(&rng, (long)n * out, -1, 1);
    return p;
}

static void unmake(lp *p)
{
    free(p->group);
    free(p->x);
    free(p->A);
    free(p->B);
    free(p->y0);
    free(p->w);
}

/* y = y0 + lora(x) with fns[f]; returns malloc'd y and u. */
static void run_fwd(const lp *p, int f, float **y, float **u)
{
    *y = malloc((size_t)p->n * p->out * sizeof **y);
    *u = malloc((size_t)p->n * p->r * sizeof **u);
    memcpy(*y, p->y0, (size_t)p->n * p->out * sizeof **y);
    for (long i = 0; i < (long)p->n * p->r; i++) (*u)[i] = 123.0f; /* must be overwritten */
    fwds[f](*y, *u, p->x, p->A, p->B, p->group, p->n, p->in, p->out, p->r, p->scale);
}

static void compare_fast_ref(const lp *p, const char *label)
{
    float *y[2], *u[2];
    for (int f = 0; f < 2; f++) run_fwd(p, f, &y[f], &u[f]);
    char what[160];
    snprintf(what, sizeof what, "%s: fwd y fast vs ref", label);
    tu_assert_close(y[1], y[0], (long)p->n * p->out, 1e-5f, 1e-5f, what);
    snprintf(what, sizeof what, "%s: fwd u fast vs ref", label);
    tu_assert_close(u[1], u[0], (long)p->n * p->r, 1e-5f, 1e-5f, what);

    long nx = (long)p->n * p->in, nA = (long)p->G * p->r * p->in, nB = (long)p->G * p->out * p->r;
    tu_rng rng = tu_rng_new(999);
    float *ix = tu_rand_array(&rng, nx, -1, 1), *iA = tu_rand_array(&rng, nA, -1, 1),
          *iB = tu_rand_array(&rng, nB, -1, 1);
    float *g[2][3];
    for (int f = 0; f < 2; f++) {
        g[f][0] = malloc(nx * sizeof(float));
        g[f][1] = malloc(nA * sizeof(float));
        g[f][2] = malloc(nB * sizeof(float));
        memcpy(g[f][0], ix, nx * sizeof(float));
        memcpy(g[f][1], iA, nA * sizeof(float));
        memcpy(g[f][2], iB, nB * sizeof(float));
        bwds[f](g[f][0], g[f][1], g[f][2], p->w, p->x, u[0], p->A, p->B, p->group, p->n, p->in,
                p->out, p->r, p->scale);
    }
    snprintf(what, sizeof what, "%s: bwd dx fast vs ref", label);
    tu_assert_close(g[1][0], g[0][0], nx, 1e-5f, 1e-4f, what);
    snprintf(what, sizeof what, "%s: bwd dA fast vs ref", label);
    tu_assert_close(g[1][1], g[0][1], nA, 1e-5f, 1e-4f, what);
    snprintf(what, sizeof what, "%s: bwd dB fast vs ref", label);
    tu_assert_close(g[1][2], g[0][2], nB, 1e-5f, 1e-4f, what);
    for (int f = 0; f < 2; f++) {
        free(y[f]);
        free(u[f]);
        for (int i = 0; i < 3; i++) free(g[f][i]);
    }
    free(ix);
    free(iA);
    free(iB);
}

Test(cpu_lora, fast_matches_ref)
{
    /* interleaved groups and -1 rows */
    int32_t g1[9] = {0, 0, 1, -1, 2, 2, 1, 0, -1};
    lp p = make(9, 6, 5, 3, 3, 0.5f, g1, 1);
    compare_fast_ref(&p, "interleaved");
    unmake(&p);

    /* long contiguous runs (several 128-row chunks), a -1 block, odd sizes */
    const int n = 700;
    int32_t *g2 = malloc(n * sizeof *g2);
    for (int i = 0; i < n; i++) g2[i] = i < 300 ? 1 : i < 350 ? -1 : i < 690 ? 0 : 3;
    lp q = make(n, 37, 29, 8, 4, 2.0f, g2, 2);
    compare_fast_ref(&q, "contiguous runs");
    unmake(&q);

    /* random groups, unused adapter 2 */
    tu_rng rng = tu_rng_new(3);
    int32_t *rg = tu_rand_ints(&rng, 200, 0, 4);
    for (int i = 0; i < 200; i++) g2[i] = rg[i] == 2 ? -1 : rg[i];
    free(rg);
    lp s = make(200, 16, 24, 4, 4, 1.0f, g2, 4);
    compare_fast_ref(&s, "random groups");
    unmake(&s);
    free(g2);
}

Test(cpu_lora, skipped_rows_and_known_values)
{
    /* in = 2, out = 2, r = 1: A_g = [a_g], B_g = [b_g]^T; y += scale * b (a . x) */
    float A[4] = {1, 2, /* g0 */ -1, 0.5f};     /* g1 */
    float B[4] = {3, -1, /* g0 */ 0.25f, 2};    /* g1 */
    float x[6] = {1, 1, 2, -4, 7, 7};
    int32_t grp[3] = {0, 1, -1};
    for (int f = 0; f < 2; f++) {
        float y[6] = {10, 20, 30, 40, 50, 60}, u[3] = {9, 9, 9};
        fwds[f](y, u, x, A, B, grp, 3, 2, 2, 1, 2.0f);
        /* row 0: u = 1+2 = 3, y += 2*3*(3, -1) = (18, -6); row 1: u = -2-2 = -4, y += 2*-4*(0.25, 2) */
        float wy[6] = {28, 14, 28, 24, 50, 60}, wu[3] = {3, -4, 0};
        tu_assert_close(y, wy, 6, 1e-6f, 0, names[f]);
        tu_assert_close(u, wu, 3, 0, 0, names[f]);

        /* backward: group -1 row gets no dx, and its dy reaches no adapter */
        float dy[6] = {1, 0, 0, 1, 100, 100}, dx[6] = {0}, dA[4] = {0}, dB[4] = {0};
        bwds[f](dx, dA, dB, dy, x, u, A, B, grp, 3, 2, 2, 1, 2.0f);
        /* row 0: du = 2*(3*1 + -1*0) = 6; dB0 += 2*(1,0)*3 = (6,0); dA0 += 6*(1,1); dx0 += 6*(1,2)
         * row 1: du = 2*(0.25*0 + 2*1) = 4; dB1 += 2*(0,1)*-4 = (0,-8); dA1 += 4*(2,-4); dx1 += 4*(-1,0.5) */
        float wdx[6] = {6, 12, -4, 2, 0, 0}, wdA[4] = {6, 6, 8, -16}, wdB[4] = {6, 0, 0, -8};
        tu_assert_close(dx, wdx, 6, 1e-6f, 0, "dx known");
        tu_assert_close(dA, wdA, 4, 1e-6f, 0, "dA known");
        tu_assert_close(dB, wdB, 4, 1e-6f, 0, "dB known");
    }
}

/* Changing adapter g changes exactly the rows of group g. */
Test(cpu_lora, rows_depend_only_on_own_adapter)
{
    int32_t grp[10] = {0, 1, 2, 0, -1, 1, 2, 2, 0, 1};
    for (int f = 0; f < 2; f++) {
        lp p = make(10, 8, 6, 2, 3, 1.0f, grp, 10);
        float *y1, *u1, *y2, *u2;
        run_fwd(&p, f, &y1, &u1);
        for (int k = 0; k < p.r * p.in; k++) p.A[1 * p.r * p.in + k] += 0.7f;
        for (int k = 0; k < p.out * p.r; k++) p.B[1 * p.out * p.r + k] -= 0.3f;
        run_fwd(&p, f, &y2, &u2);
        for (int i = 0; i < p.n; i++) {
            float d = tu_max_abs_diff(y1 + i * p.out, y2 + i * p.out, p.out);
            if (grp[i] == 1)
                cr_assert(d > 1e-3f, "%s: row %d (group 1) did not change", names[f], i);
            else
                cr_assert(d == 0.0f, "%s: row %d (group %d) changed with adapter 1", names[f], i,
                          grp[i]);
        }
        free(y1);
        free(u1);
        free(y2);
        free(u2);
        unmake(&p);
    }
}

typedef struct {
    lp *p;
    int f;
    float *y, *u;
} fctx;

static double lora_loss(void *vc)
{
    fctx *c = vc;
    lp *p = c->p;
    memcpy(c->y, p->y0, (size_t)p->n * p->out * sizeof *c->y);
    fwds[c->f](c->y, c->u, p->x, p->A, p->B, p->group, p->n, p->in, p->out, p->r, p->scale);
    return tu_dot(p->w, c->y, (long)p->n * p->out);
}

Test(cpu_lora, backward_finite_differences_accumulate_null)
{
    int32_t grp[7] = {1, 0, 0, -1, 1, 2, 0};
    for (int f = 0; f < 2; f++) {
        lp p = make(7, 5, 4, 3, 3, 0.75f, grp, 20 + f);
        float *y, *u;
        run_fwd(&p, f, &y, &u);
        long nx = (long)p.n * p.in, nA = (long)p.G * p.r * p.in, nB = (long)p.G * p.out * p.r;
        float *dx = calloc(nx, 4), *dA = calloc(nA, 4), *dB = calloc(nB, 4);
        bwds[f](dx, dA, dB, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        fctx c = {&p, f, y, u};
        /* the loss is bilinear in (A, B) and linear in x: central differences are exact up to
         * float rounding, so the tolerance can be tight */
        tu_check_grad(lora_loss, &c, p.x, nx, dx, 1e-2f, 1e-4f, 1e-3f, (int)nx, "lora dx");
        tu_check_grad(lora_loss, &c, p.A, nA, dA, 1e-2f, 1e-4f, 1e-3f, (int)nA, "lora dA");
        tu_check_grad(lora_loss, &c, p.B, nB, dB, 1e-2f, 1e-4f, 1e-3f, (int)nB, "lora dB");
        for (int i = 0; i < p.in; i++)
            cr_assert(dx[3 * p.in + i] == 0.0f, "%s: group -1 row got a dx", names[f]);
        lora_loss(&c); /* the FD loss left u from a perturbed parameter: recompute it */

        /* accumulate onto pre-filled buffers */
        tu_rng rng = tu_rng_new(77);
        float *ax = tu_rand_array(&rng, nx, -1, 1), *aA = tu_rand_array(&rng, nA, -1, 1),
              *aB = tu_rand_array(&rng, nB, -1, 1);
        float *wx = malloc(nx * 4), *wA = malloc(nA * 4), *wB = malloc(nB * 4);
        for (long i = 0; i < nx; i++) wx[i] = ax[i] + dx[i];
        for (long i = 0; i < nA; i++) wA[i] = aA[i] + dA[i];
        for (long i = 0; i < nB; i++) wB[i] = aB[i] + dB[i];
        bwds[f](ax, aA, aB, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        tu_assert_close(ax, wx, nx, 1e-6f, 1e-6f, "dx accumulates");
        tu_assert_close(aA, wA, nA, 1e-6f, 1e-6f, "dA accumulates");
        tu_assert_close(aB, wB, nB, 1e-6f, 1e-6f, "dB accumulates");

        /* NULL skips: each gradient alone equals the full computation */
        float *sx = calloc(nx, 4), *sA = calloc(nA, 4), *sB = calloc(nB, 4);
        bwds[f](sx, NULL, NULL, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        bwds[f](NULL, sA, NULL, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        bwds[f](NULL, NULL, sB, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        bwds[f](NULL, NULL, NULL, p.w, p.x, u, p.A, p.B, p.group, p.n, p.in, p.out, p.r, p.scale);
        tu_assert_close(sx, dx, nx, 1e-7f, 1e-6f, "dx alone");
        tu_assert_close(sA, dA, nA, 1e-7f, 1e-6f, "dA alone");
        tu_assert_close(sB, dB, nB, 1e-7f, 1e-6f, "dB alone");

        free(y);
        free(u);
        free(dx);
        free(dA);
        free(dB);
        free(ax);
        free(aA);
        free(aB);
        free(wx);
        free(wA);
        free(wB);
        free(sx);
        free(sA);
        free(sB);
        unmake(&p);
    }
}
