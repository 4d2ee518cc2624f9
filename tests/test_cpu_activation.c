/* CPU activations: exact GELU, QuickGELU, SwiGLU.
 * Hand values were computed in double precision (Python math.erf / math.exp)
 * from the defining formulas; they must match to atol 1e-6 + rtol 1e-6.
 * Fast (float) vs reference (double): atol 1e-6 + rtol 1e-5.
 * Backward references: central finite differences, eps 1e-2, atol 1e-3, rtol 1e-2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"

typedef void (*act_fwd_fn)(float *, const float *, long);
typedef void (*act_bwd_fn)(float *, const float *, const float *, long);

static float *copy_of(const float *x, long n)
{
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    cr_assert(y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* Hand values: f(x) and f'(x) at x = 1, -1, 0.5, -3, 0. */
static const float hx[5] = {1, -1, 0.5f, -3, 0};
static const float gelu_y[5] = {0.8413447460685429f, -0.15865525393145707f, 0.34573123063700656f,
                                -0.00404969409489031f, 0};
static const float gelu_d[5] = {1.0833154705876864f, -0.08331547058768629f, 0.8674951246561629f,
                                -0.011945647204183918f, 0.5f};
static const float qg_y[5] = {0.8457957659328212f, -0.1542042340671787f, 0.35038843660638014f,
                              -0.01807130970778597f, 0};
static const float qg_d[5] = {1.067779606556334f, -0.06777960655633405f, 0.8792219119654143f,
                              -0.024548323905652352f, 0.5f};

static void check_hand(act_fwd_fn fwd, act_bwd_fn bwd, const float *want_y, const float *want_d,
                       const char *name)
{
    float y[5], d[5], dy[5], want_acc[5];
    fwd(y, hx, 5);
    tu_assert_close(y, want_y, 5, 1e-6f, 1e-6f, name);
    /* Backward with dy = 2 onto dx pre-filled with 0.5: dx = 0.5 + 2 f'(x). */
    for (int i = 0; i < 5; i++) d[i] = 0.5f, dy[i] = 2.0f, want_acc[i] = 0.5f + 2.0f * want_d[i];
    bwd(d, dy, hx, 5);
    tu_assert_close(d, want_acc, 5, 1e-6f, 1e-6f, name);
}

Test(cpu_activation, hand_computed)
{
    check_hand(fs_cpu_gelu_fwd_ref, fs_cpu_gelu_bwd_ref, gelu_y, gelu_d, "gelu_ref hand");
    check_hand(fs_cpu_gelu_fwd, fs_cpu_gelu_bwd, gelu_y, gelu_d, "gelu hand");
    check_hand(fs_cpu_quick_gelu_fwd_ref, fs_cpu_quick_gelu_bwd_ref, qg_y, qg_d, "quick_gelu_ref hand");
    check_hand(fs_cpu_quick_gelu_fwd, fs_cpu_quick_gelu_bwd, qg_y, qg_d, "quick_gelu hand");

    /* SwiGLU at (gate, up) = (1, 2), (-0.5, 3), (2, -1). */
    const float g[3] = {1, -0.5f, 2}, u[3] = {2, 3, -1};
    const float sy[3] = {1.4621171572600098f, -0.566311003197218f, -1.7615941559557646f};
    const float sdg[3] = {1.8553410237429735f, 0.7801164380920446f, -1.0907842487848955f};
    const float sdu[3] = {0.7310585786300049f, -0.1887703343990727f, 1.7615941559557646f};
    for (int fast = 0; fast < 2; fast++) {
        float y[3], dg[3] = {1, 1, 1}, du[3] = {-1, -1, -1}, dy[3] = {1, 1, 1};
        float wg[3], wu[3];
        (fast ? fs_cpu_swiglu_fwd : fs_cpu_swiglu_fwd_ref)(y, g, u, 3);
        tu_assert_close(y, sy, 3, 1e-6f, 1e-6f, "swiglu hand y");
        (fast ? fs_cpu_swiglu_bwd : fs_cpu_swiglu_bwd_ref)(dg, du, dy, g, u, 3);
        for (int i = 0; i < 3; i++) wg[i] = 1 + sdg[i], wu[i] = -1 + sdu[i];
        tu_assert_close(dg, wg, 3, 1e-6f, 1e-6f, "swiglu hand dgate +=");
        tu_assert_close(du, wu, 3, 1e-6f, 1e-6f, "swiglu hand dup +=");
    }
}

/* Inputs spanning the interesting range plus extremes that must stay finite. */
static float *act_inputs(tu_rng *r, long n)
{
    float *x = tu_rand_array(r, n, -8, 8);
    const float special[] = {0.0f, -0.0f, 30.0f, -30.0f, 100.0f, -100.0f, 1e-30f, -1e-30f, 88.0f, -88.0f};
    for (int i = 0; i < 10; i++) x[i * 7] = special[i];
    return x;
}

static void check_fast_vs_ref(act_fwd_fn fr, act_fwd_fn ff, act_bwd_fn br, act_bwd_fn bf,
                              const char *name)
{
    tu_rng r = tu_rng_new(21);
    const long n = 100003; /* above the OpenMP threshold */
    float *x = act_inputs(&r, n), *dy = tu_rand_array(&r, n, -1, 1);
    float *yr = malloc(n * sizeof *yr), *yf = malloc(n * sizeof *yf);
    fr(yr, x, n);
    ff(yf, x, n);
    for (long i = 0; i < n; i++) cr_assert(isfinite(yf[i]), "%s: y[%ld] = %g for x = %g", name, i, yf[i], x[i]);
    tu_assert_close(yf, yr, n, 1e-6f, 1e-5f, name);
    float *pre = tu_rand_array(&r, n, -1, 1);
    float *dr = copy_of(pre, n), *df = copy_of(pre, n);
    br(dr, dy, x, n);
    bf(df, dy, x, n);
    for (long i = 0; i < n; i++) cr_assert(isfinite(df[i]), "%s: dx[%ld] not finite", name, i);
    tu_assert_close(df, dr, n, 1e-6f, 1e-5f, name);
    free(x), free(dy), free(yr), free(yf), free(pre), free(dr), free(df);
}

Test(cpu_activation, fast_matches_ref)
{
    check_fast_vs_ref(fs_cpu_gelu_fwd_ref, fs_cpu_gelu_fwd, fs_cpu_gelu_bwd_ref, fs_cpu_gelu_bwd,
                      "gelu fast vs ref");
    check_fast_vs_ref(fs_cpu_quick_gelu_fwd_ref, fs_cpu_quick_gelu_fwd, fs_cpu_quick_gelu_bwd_ref,
                      fs_cpu_quick_gelu_bwd, "quick_gelu fast vs ref");
}

Test(cpu_activation, swiglu_fast_matches_ref_accumulates_and_skips_null)
{
    tu_rng r = tu_rng_new(22);
    const long n = 100003;
    float *g = act_inputs(&r, n), *u = tu_rand_array(&r, n, -3, 3), *dy = tu_rand_array(&r, n, -1, 1);
    float *yr = malloc(n * sizeof *yr), *yf = malloc(n * sizeof *yf);
    fs_cpu_swiglu_fwd_ref(yr, g, u, n);
    fs_cpu_swiglu_fwd(yf, g, u, n);
    tu_assert_close(yf, yr, n, 1e-6f, 1e-5f, "swiglu y");
    float *pg = tu_rand_array(&r, n, -1, 1), *pu = tu_rand_array(&r, n, -1, 1);
    float *g0 = calloc(n, sizeof *g0), *u0 = calloc(n, sizeof *u0);
    fs_cpu_swiglu_bwd_ref(g0, u0, dy, g, u, n);
    float *eg = copy_of(pg, n), *eu = copy_of(pu, n);
    for (long i = 0; i < n; i++) eg[i] += g0[i], eu[i] += u0[i];
    for (int fast = 0; fast < 2; fast++) {
        void (*bwd)(float *, float *, const float *, const float *, const float *, long) =
            fast ? fs_cpu_swiglu_bwd : fs_cpu_swiglu_bwd_ref;
        float *ag = copy_of(pg, n), *au = copy_of(pu, n);
        bwd(ag, au, dy, g, u, n);
        tu_assert_close(ag, eg, n, 1e-6f, 1e-5f, "swiglu dgate +=");
        tu_assert_close(au, eu, n, 1e-6f, 1e-5f, "swiglu dup +=");
        float *bg = copy_of(pg, n), *bu = copy_of(pu, n);
        bwd(bg, NULL, dy, g, u, n);
        bwd(NULL, bu, dy, g, u, n);
        bwd(NULL, NULL, dy, g, u, n);
        tu_assert_close(bg, eg, n, 1e-6f, 1e-5f, "swiglu dgate alone");
        tu_assert_close(bu, eu, n, 1e-6f, 1e-5f, "swiglu dup alone");
        free(ag), free(au), free(bg), free(bu);
    }
    free(g), free(u), free(dy), free(yr), free(yf), free(pg), free(pu), free(g0), free(u0);
    free(eg), free(eu);
}

/* ---- finite differences of the references ---- */

typedef struct {
    act_fwd_fn fwd;
    float *x, *y, *up;
    const float *R;
    long n;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    if (c->fwd)
        c->fwd(c->y, c->x, c->n);
    else
        fs_cpu_swiglu_fwd_ref(c->y, c->x, c->up, c->n);
    return tu_dot(c->R, c->y, c->n);
}

static void fd_check(act_fwd_fn fwd, act_bwd_fn bwd, const char *name)
{
    tu_rng r = tu_rng_new(23);
    const long n = 40;
    float *x = tu_rand_array(&r, n, -4, 4), *R = tu_rand_array(&r, n, -1, 1);
    float *y = malloc(n * sizeof *y), *dx = calloc(n, sizeof *dx);
    bwd(dx, R, x, n);
    act_ctx c = {fwd, x, y, NULL, R, n};
    tu_check_grad(act_loss, &c, x, n, dx, 1e-2f, 1e-3f, 1e-2f, 1000, name);
    free(x), free(R), free(y), free(dx);
}

Test(cpu_activation, bwd_ref_finite_differences)
{
    fd_check(fs_cpu_gelu_fwd_ref, fs_cpu_gelu_bwd_ref, "gelu dx");
    fd_check(fs_cpu_quick_gelu_fwd_ref, fs_cpu_quick_gelu_bwd_ref, "quick_gelu dx");

    tu_rng r = tu_rng_new(24);
    const long n = 40;
    float *g = tu_rand_array(&r, n, -4, 4), *u = tu_rand_array(&r, n, -2, 2);
    float *R = tu_rand_array(&r, n, -1, 1), *y = malloc(n * sizeof *y);
    float *dg = calloc(n, sizeof *dg), *du = calloc(n, sizeof *du);
    fs_cpu_swiglu_bwd_ref(dg, du, R, g, u, n);
    act_ctx c = {NULL, g, y, u, R, n};
    tu_check_grad(act_loss, &c, g, n, dg, 1e-2f, 1e-3f, 1e-2f, 1000, "swiglu dgate");
    tu_check_grad(act_loss, &c, u, n, du, 1e-2f, 1e-3f, 1e-2f, 1000, "swiglu dup");
    free(g), free(u), free(R), free(y), free(dg), free(du);
}
