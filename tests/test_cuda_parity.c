/* CUDA backend parity: every entry of the CUDA op table against the CPU
 * reference (fs_cpu_<op>_ref) on random inputs. Without a usable GPU every
 * test skips with the reason from tu_cuda_or_skip().
 *
 * Tolerances (|got - want| <= atol + rtol |want|):
 *  - fp32 ops: atol ~1e-5..1e-4, rtol 1e-4 (cuBLAS / reordered fp32 sums
 *    against double-accumulated references; inputs O(1)).
 *  - BF16 weights: the CUDA path rounds the activation operand to bf16. Two
 *    checks: against a reference fed the same bf16-rounded operands (fp32
 *    tolerance, since bf16 x bf16 products are exact in fp32), and against the
 *    unrounded reference (atol 5e-2, rtol 2e-2).
 *  - Norm weights / embedding tables in BF16 are only loaded, never rounded
 *    further, so they are compared at fp32 tolerance against the reference
 *    given the same (bf16-representable) values.
 *  - Backward ops accumulate: every gradient buffer starts from random values
 *    on both sides, so += (not =) is checked too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers/cli_helpers.h"
#include "helpers/testutil.h"
#include "kernels/backends/cpu/cpu_ops.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "sim/model/mllm.h"

/* ---- helpers ---- */
/* Which of up to three gradient outputs a backward call requests (bit set)
 * or passes as NULL: all of them, then each alone, then two. */
static const int k_masks[] = {7, 1, 2, 4, 6};
#define NMASKS 5

static float *copy_of(const float *x, long n)
{
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    cr_assert(y, "out of memory");
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}
static float *up(const fs_ops *o, const float *h, long n)
{
    return tu_dev_copy(o, h, (size_t)(n > 0 ? n : 1) * sizeof(float));
}
static int32_t *up_i(const fs_ops *o, const int32_t *h, long n)
{
    return tu_dev_copy(o, h, (size_t)(n > 0 ? n : 1) * sizeof(int32_t));
}
static float *down(const fs_ops *o, const float *d, long n)
{
    float *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    cr_assert(h, "out of memory");
    tu_host_copy(o, h, d, (size_t)n * sizeof(float));
    return h;
}
/* Rounds x to bf16: returns the bf16 bits, and the rounded values in `rounded` when given. */
static uint16_t *bf16_of(const float *x, long n, float *rounded)
{
    uint16_t *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    cr_assert(h, "out of memory");
    for (long i = 0; i < n; i++) {
        h[i] = fs_f32_to_bf16(x[i]);
        if (rounded) rounded[i] = fs_bf16_to_f32(h[i]);
    }
    return h;
}
static fs_tensor tens(void *data, fs_dtype dt, int64_t d0, int64_t d1)
{
    fs_tensor t = {.data = data, .dtype = dt, .ndim = d1 > 0 ? 2 : 1, .shape = {d0, d1 > 0 ? d1 : 0}};
    return t;
}
static void check(const fs_ops *o, const float *dev, const float *want, long n, float atol,
                  float rtol, const char *what)
{
    float *got = down(o, dev, n);
    tu_assert_close(got, want, n, atol, rtol, what);
    free(got);
}

/* ---- table and memory ---- */
Test(cuda_parity, table_complete)
{
    const fs_ops *o = tu_cuda_or_skip();
    cr_assert_str_eq(o->name, "cuda");
    const void *fns[] = {
        (const void *)o->alloc, (const void *)o->free, (const void *)o->zero,
        (const void *)o->to_device, (const void *)o->to_host, (const void *)o->copy,
        (const void *)o->synchronize, (const void *)o->matmul, (const void *)o->linear_fwd,
        (const void *)o->linear_bwd, (const void *)o->add, (const void *)o->axpy,
        (const void *)o->sum, (const void *)o->embedding_fwd, (const void *)o->embedding_bwd,
        (const void *)o->layernorm_fwd, (const void *)o->layernorm_bwd,
        (const void *)o->rmsnorm_fwd, (const void *)o->rmsnorm_bwd, (const void *)o->rope_fwd,
        (const void *)o->rope_bwd, (const void *)o->attention_fwd,
        (const void *)o->attention_bwd, (const void *)o->gelu_fwd, (const void *)o->gelu_bwd,
        (const void *)o->quick_gelu_fwd, (const void *)o->quick_gelu_bwd,
        (const void *)o->swiglu_fwd, (const void *)o->swiglu_bwd, (const void *)o->xent_fwd,
        (const void *)o->xent_bwd, (const void *)o->lora_fwd, (const void *)o->lora_bwd,
        (const void *)o->lora_fisher_accum, (const void *)o->scale_rows, (const void *)o->adamw,
        (const void *)o->cross_attention_fwd,
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        cr_assert(fns[i] != NULL, "op table entry %zu is NULL", i);
}

Test(cuda_parity, memory)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(100);
    const long n = 1000;
    float *h = tu_rand_array(&r, n, -1, 1);
    float *d = o->alloc(n * sizeof(float));
    cr_assert(d);
    float *z = down(o, d, n);
    for (long i = 0; i < n; i++) cr_assert(z[i] == 0.0f, "alloc not zero-filled at %ld", i);
    o->to_device(d, h, n * sizeof(float));
    float *d2 = o->alloc(n * sizeof(float));
    o->copy(d2, d, n * sizeof(float));
    check(o, d2, h, n, 0, 0, "to_device + copy + to_host");
    o->zero(d2 + 10, 20 * sizeof(float));
    float *g = down(o, d2, n);
    for (long i = 0; i < n; i++)
        cr_assert(g[i] == (i >= 10 && i < 30 ? 0.0f : h[i]), "zero range wrong at %ld", i);
    /* Overlapping copies behave as memmove, both directions. */
    for (int shift = -7; shift <= 7; shift += 14) {
        float *want = copy_of(h, n);
        memmove(want + 100 + shift, want + 100, 500 * sizeof(float));
        o->to_device(d, h, n * sizeof(float));
        o->copy(d + 100 + shift, d + 100, 500 * sizeof(float));
        check(o, d, want, n, 0, 0, shift < 0 ? "overlapping copy down" : "overlapping copy up");
        free(want);
    }
    /* Out of memory is reported as NULL, not a crash. */
    void *huge = o->alloc((size_t)1 << 52);
    cr_assert_null(huge, "a 4 PiB allocation should fail with NULL");
    void *again = o->alloc(16);
    cr_assert(again, "allocation after a failed one must still work");
    o->free(again);
    o->free(d);
    o->free(d2);
    free(h), free(z), free(g);
}

/* ---- matmul ---- */
Test(cuda_parity, matmul_all_transposes_batched)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(1);
    const int batch = 3, M = 37, N = 29, K = 97;
    const long sA = (long)M * K + 11, sB = (long)K * N + 5, sC = (long)M * N + 7;
    float *A = tu_rand_array(&r, sA * batch, -1, 1), *B = tu_rand_array(&r, sB * batch, -1, 1);
    float *C0 = tu_rand_array(&r, sC * batch, -1, 1);
    float *dA = up(o, A, sA * batch), *dB = up(o, B, sB * batch);
    const float alphas[] = {1.0f, -1.3f}, betas[] = {0.0f, 0.3f};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int ab = 0; ab < 2; ab++) {
                float *want = copy_of(C0, sC * batch);
                fs_cpu_matmul_ref(want, A, B, batch, M, N, K, ta, tb, alphas[ab], betas[ab], sA,
                                  sB, sC);
                float *dC = up(o, C0, sC * batch);
                o->matmul(dC, dA, dB, batch, M, N, K, ta, tb, alphas[ab], betas[ab], sA, sB, sC);
                char what[96];
                snprintf(what, sizeof what, "matmul transA=%d transB=%d alpha=%g beta=%g", ta, tb,
                         alphas[ab], betas[ab]);
                /* also checks the padding between batch items is untouched */
                check(o, dC, want, sC * batch, 1e-4f, 1e-4f, what);
                o->free(dC);
                free(want);
            }
    o->free(dA), o->free(dB);
    free(A), free(B), free(C0);
}

/* ---- linear ---- */
Test(cuda_parity, linear_f32)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(2);
    const int n = 45, in = 70, out = 53;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1), *W = tu_rand_array(&r, (long)out * in, -1, 1);
    float *bias = tu_rand_array(&r, out, -1, 1), *dy = tu_rand_array(&r, (long)n * out, -1, 1);
    float *dx0 = tu_rand_array(&r, (long)n * in, -1, 1), *dW0 = tu_rand_array(&r, (long)out * in, -1, 1);
    float *db0 = tu_rand_array(&r, out, -1, 1);
    fs_tensor hW = tens(W, FS_F32, out, in), hb = tens(bias, FS_F32, out, 0);
    float *d_x = up(o, x, (long)n * in), *d_W = up(o, W, (long)out * in), *d_b = up(o, bias, out);
    float *d_dy = up(o, dy, (long)n * out);
    fs_tensor dW = tens(d_W, FS_F32, out, in), db = tens(d_b, FS_F32, out, 0);

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        float *want = malloc(sizeof(float) * n * out);
        fs_cpu_linear_fwd_ref(want, x, &hW, with_bias ? &hb : NULL, n, in, out);
        float *d_y = up(o, NULL, (long)n * out);
        o->linear_fwd(d_y, d_x, &dW, with_bias ? &db : NULL, n, in, out);
        check(o, d_y, want, (long)n * out, 1e-4f, 1e-4f, with_bias ? "linear_fwd bias" : "linear_fwd");
        o->free(d_y);
        free(want);
    }
    for (int mi = 0; mi < NMASKS; mi++) {
        const int mask = k_masks[mi];
        float *wdx = copy_of(dx0, (long)n * in), *wdW = copy_of(dW0, (long)out * in), *wdb = copy_of(db0, out);
        fs_cpu_linear_bwd_ref(mask & 1 ? wdx : NULL, mask & 2 ? wdW : NULL, mask & 4 ? wdb : NULL,
                              dy, x, &hW, n, in, out);
        float *g_dx = up(o, dx0, (long)n * in), *g_dW = up(o, dW0, (long)out * in), *g_db = up(o, db0, out);
        o->linear_bwd(mask & 1 ? g_dx : NULL, mask & 2 ? g_dW : NULL, mask & 4 ? g_db : NULL, d_dy,
                      d_x, &dW, n, in, out);
        check(o, g_dx, wdx, (long)n * in, 1e-4f, 1e-4f, "linear_bwd dx");
        check(o, g_dW, wdW, (long)out * in, 1e-4f, 1e-4f, "linear_bwd dW");
        check(o, g_db, wdb, out, 1e-4f, 1e-4f, "linear_bwd dbias");
        o->free(g_dx), o->free(g_dW), o->free(g_db);
        free(wdx), free(wdW), free(wdb);
    }
    o->free(d_x), o->free(d_W), o->free(d_b), o->free(d_dy);
    free(x), free(W), free(bias), free(dy), free(dx0), free(dW0), free(db0);
}

Test(cuda_parity, linear_bf16_weights)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(3);
    const int n = 40, in = 96, out = 72;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1), *W = tu_rand_array(&r, (long)out * in, -1, 1);
    float *bias = tu_rand_array(&r, out, -1, 1), *dy = tu_rand_array(&r, (long)n * out, -1, 1);
    float *dx0 = tu_rand_array(&r, (long)n * in, -1, 1), *dW0 = tu_rand_array(&r, (long)out * in, -1, 1);
    /* W and bias as bf16 on the device; the CPU gets the same values in f32. */
    float *Wr = malloc(sizeof(float) * out * in), *br = malloc(sizeof(float) * out);
    uint16_t *Wb = bf16_of(W, (long)out * in, Wr), *bb = bf16_of(bias, out, br);
    /* The activation operands as the CUDA path sees them. */
    float *xr = malloc(sizeof(float) * n * in), *dyr = malloc(sizeof(float) * n * out);
    free(bf16_of(x, (long)n * in, xr));
    free(bf16_of(dy, (long)n * out, dyr));
    fs_tensor hW = tens(Wr, FS_F32, out, in), hb = tens(br, FS_F32, out, 0);
    void *d_Wb = tu_dev_copy(o, Wb, sizeof(uint16_t) * out * in);
    void *d_bb = tu_dev_copy(o, bb, sizeof(uint16_t) * out);
    fs_tensor dW = tens(d_Wb, FS_BF16, out, in), db = tens(d_bb, FS_BF16, out, 0);
    float *d_x = up(o, x, (long)n * in), *d_dy = up(o, dy, (long)n * out);

    float *want_exact = malloc(sizeof(float) * n * out), *want = malloc(sizeof(float) * n * out);
    fs_cpu_linear_fwd_ref(want_exact, xr, &hW, &hb, n, in, out);
    fs_cpu_linear_fwd_ref(want, x, &hW, &hb, n, in, out);
    float *d_y = up(o, NULL, (long)n * out);
    o->linear_fwd(d_y, d_x, &dW, &db, n, in, out);
    check(o, d_y, want_exact, (long)n * out, 1e-4f, 1e-4f, "linear_fwd bf16 (same rounding)");
    check(o, d_y, want, (long)n * out, 5e-2f, 2e-2f, "linear_fwd bf16 (vs fp32 x)");

    /* dx goes through the bf16 GEMM (dy rounded); dW is fp32 whatever W's dtype. */
    float *wdx_exact = copy_of(dx0, (long)n * in), *wdx = copy_of(dx0, (long)n * in);
    float *wdW = copy_of(dW0, (long)out * in);
    fs_cpu_linear_bwd_ref(wdx_exact, NULL, NULL, dyr, x, &hW, n, in, out);
    fs_cpu_linear_bwd_ref(wdx, wdW, NULL, dy, x, &hW, n, in, out);
    float *g_dx = up(o, dx0, (long)n * in), *g_dW = up(o, dW0, (long)out * in);
    o->linear_bwd(g_dx, g_dW, NULL, d_dy, d_x, &dW, n, in, out);
    check(o, g_dx, wdx_exact, (long)n * in, 1e-4f, 1e-4f, "linear_bwd bf16 dx (same rounding)");
    check(o, g_dx, wdx, (long)n * in, 5e-2f, 2e-2f, "linear_bwd bf16 dx (vs fp32 dy)");
    check(o, g_dW, wdW, (long)out * in, 1e-4f, 1e-4f, "linear_bwd bf16 dW");

    o->free(d_Wb), o->free(d_bb), o->free(d_x), o->free(d_dy), o->free(d_y), o->free(g_dx), o->free(g_dW);
    free(x), free(W), free(bias), free(dy), free(dx0), free(dW0), free(Wr), free(br), free(Wb), free(bb);
    free(xr), free(dyr), free(want_exact), free(want), free(wdx_exact), free(wdx), free(wdW);
}

/* The activation operand of a BF16-weight GEMM is rounded on the device
 * (__float2bfloat16_rn); through an identity weight, y is that rounding
 * itself, which must match fs_f32_to_bf16 bit for bit: ties to even either
 * way, subnormals, the largest finite values. (NaN and inf are left out: 0 x
 * inf in the other columns would make NaN; they differ anyway, the device
 * canonicalising NaN to 0x7fff.) */
Test(cuda_parity, linear_bf16_rounding_bit_exact)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(31);
    const int dim = 64, n = 8;
    static const uint32_t special[] = {
        0x3f808000u, /* tie, even below: stays 0x3f80 */
        0x3f818000u, /* tie, odd below: up to 0x3f82 */
        0xbf818000u, /* negative tie, odd: away from zero to 0xbf82 */
        0x3f808001u, 0x3f807fffu, /* just above / below a tie */
        0x00018000u, 0x00008000u, 0x80018000u, 0x00000001u, /* subnormal ties and the smallest */
        0x7f7f7fffu, 0x7f7e8000u, 0xff7f7fffu, /* largest finite that round down; a tie near the top */
        0x4b7fffffu, 0x3effffffu, 0x33800001u,
    };
    const int nspecial = (int)(sizeof special / sizeof special[0]);
    float *x = tu_rand_array(&r, (long)n * dim, -3, 3);
    for (int i = 0; i < nspecial; i++) memcpy(&x[i * 5 % (n * dim)], &special[i], sizeof(float));
    uint16_t *eye = calloc((size_t)dim * dim, sizeof *eye);
    cr_assert(eye);
    for (int i = 0; i < dim; i++) eye[(long)i * dim + i] = fs_f32_to_bf16(1.0f);
    void *d_eye = tu_dev_copy(o, eye, sizeof(uint16_t) * dim * dim);
    fs_tensor W = tens(d_eye, FS_BF16, dim, dim);
    float *d_x = up(o, x, (long)n * dim), *d_y = up(o, NULL, (long)n * dim);
    o->linear_fwd(d_y, d_x, &W, NULL, n, dim, dim);
    float *y = down(o, d_y, (long)n * dim);
    for (long i = 0; i < (long)n * dim; i++) {
        uint32_t got, want_bits, in;
        float want = fs_bf16_to_f32(fs_f32_to_bf16(x[i]));
        memcpy(&got, &y[i], 4), memcpy(&want_bits, &want, 4), memcpy(&in, &x[i], 4);
        cr_assert_eq(got, want_bits, "bf16 rounding of %#010x: device %#010x, fs_f32_to_bf16 %#010x", in,
                     got, want_bits);
    }
    o->free(d_eye), o->free(d_x), o->free(d_y);
    free(x), free(eye), free(y);
}

/* ---- add, axpy, sum, scale_rows ---- */
Test(cuda_parity, add_axpy_sum_scale_rows)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(4);
    const long n = 100003;
    float *a = tu_rand_array(&r, n, -1, 1), *b = tu_rand_array(&r, n, -1, 1);
    float *da = up(o, a, n), *db = up(o, b, n), *dy = up(o, NULL, n);

    float *want = malloc(sizeof(float) * n);
    fs_cpu_add_ref(want, a, b, n);
    o->add(dy, da, db, n);
    check(o, dy, want, n, 0, 0, "add");
    o->add(da, da, db, n); /* y aliases a */
    check(o, da, want, n, 0, 0, "add in place");

    float *wy = copy_of(a, n);
    fs_cpu_axpy_ref(wy, -0.37f, b, n);
    o->to_device(da, a, n * sizeof(float));
    o->axpy(da, -0.37f, db, n);
    check(o, da, wy, n, 1e-6f, 1e-6f, "axpy");

    float *d_a = up(o, a, n);
    double s_want = fs_cpu_sum_ref(a, n), s_got = o->sum(d_a, n);
    cr_assert(fabs(s_got - s_want) <= 1e-6 * (1.0 + fabs(s_want)), "sum: got %.10g, want %.10g",
              s_got, s_want);
    cr_assert(o->sum(d_a, 0) == 0.0, "sum of nothing");
    o->free(d_a);

    const int rows = 37, dim = 301;
    float *x = tu_rand_array(&r, (long)rows * dim, -1, 1), *sc = tu_rand_array(&r, rows, -2, 2);
    float *wsr = malloc(sizeof(float) * rows * dim);
    fs_cpu_scale_rows_ref(wsr, x, sc, rows, dim);
    float *dx = up(o, x, (long)rows * dim), *dsc = up(o, sc, rows), *dout = up(o, NULL, (long)rows * dim);
    o->scale_rows(dout, dx, dsc, rows, dim);
    check(o, dout, wsr, (long)rows * dim, 0, 0, "scale_rows");
    o->scale_rows(dx, dx, dsc, rows, dim);
    check(o, dx, wsr, (long)rows * dim, 0, 0, "scale_rows in place");

    o->free(da), o->free(db), o->free(dy), o->free(dx), o->free(dsc), o->free(dout);
    free(a), free(b), free(want), free(wy), free(x), free(sc), free(wsr);
}

/* ---- embedding ---- */
Test(cuda_parity, embedding)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(5);
    const int vocab = 50, dim = 77, n = 200; /* n >> vocab: many repeated ids */
    float *table = tu_rand_array(&r, (long)vocab * dim, -1, 1);
    int32_t *ids = tu_rand_ints(&r, n, 0, vocab);
    float *dy = tu_rand_array(&r, (long)n * dim, -1, 1), *dt0 = tu_rand_array(&r, (long)vocab * dim, -1, 1);
    float *tr = malloc(sizeof(float) * vocab * dim);
    uint16_t *tb = bf16_of(table, (long)vocab * dim, tr);
    int32_t *d_ids = up_i(o, ids, n);
    for (int bf = 0; bf < 2; bf++) {
        fs_tensor ht = tens(bf ? tr : table, FS_F32, vocab, dim);
        void *d_t = bf ? tu_dev_copy(o, tb, sizeof(uint16_t) * vocab * dim) : up(o, table, (long)vocab * dim);
        fs_tensor dt = tens(d_t, bf ? FS_BF16 : FS_F32, vocab, dim);
        float *want = malloc(sizeof(float) * n * dim);
        fs_cpu_embedding_fwd_ref(want, ids, &ht, n, dim);
        float *d_y = up(o, NULL, (long)n * dim);
        o->embedding_fwd(d_y, d_ids, &dt, n, dim);
        check(o, d_y, want, (long)n * dim, 0, 0, bf ? "embedding_fwd bf16" : "embedding_fwd");
        o->free(d_t), o->free(d_y);
        free(want);
    }
    float *wdt = copy_of(dt0, (long)vocab * dim);
    fs_cpu_embedding_bwd_ref(wdt, dy, ids, n, dim, vocab);
    float *g_dt = up(o, dt0, (long)vocab * dim), *d_dy = up(o, dy, (long)n * dim);
    o->embedding_bwd(g_dt, d_dy, d_ids, n, dim, vocab);
    check(o, g_dt, wdt, (long)vocab * dim, 1e-5f, 1e-5f, "embedding_bwd");
    o->free(d_ids), o->free(g_dt), o->free(d_dy);
    free(table), free(ids), free(dy), free(dt0), free(tr), free(tb), free(wdt);
}

/* What an embedding call with ids[3] = vocab prints before it ends the
 * process with status 1, on backend o (in a child process); "" when it does not. */
static const char *embedding_bad_id_message(const fs_ops *o, bool backward)
{
    enum { vocab = 50, dim = 40, n = 6 };
    static char msg[512];
    char log[600];
    snprintf(log, sizeof log, "%s/embedding_%s.txt", tu_tmpdir(), o->name);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) {
        FILE *f = fopen(log, "w");
        if (!f || dup2(fileno(f), STDERR_FILENO) < 0) _exit(2);
        int32_t ids[n] = {0, 1, 2, vocab, -1, 7};
        float *table = calloc((size_t)vocab * dim, sizeof(float)), *y = calloc((size_t)n * dim, sizeof(float));
        if (!table || !y) _exit(2);
        void *d_table = o->alloc(sizeof(float) * vocab * dim), *d_y = o->alloc(sizeof(float) * n * dim);
        void *d_ids = o->alloc(sizeof ids);
        o->to_device(d_ids, ids, sizeof ids);
        fs_tensor t = tens(d_table, FS_F32, vocab, dim);
        if (backward)
            o->embedding_bwd(d_table, d_y, d_ids, n, dim, vocab);
        else
            o->embedding_fwd(d_y, d_ids, &t, n, dim);
        o->synchronize();
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) continue;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) return ""; /* fs_op_error's default */
    FILE *f = fopen(log, "r");
    cr_assert(f, "no log at %s", log);
    size_t got = fread(msg, 1, sizeof msg - 1, f);
    msg[got] = 0;
    fclose(f);
    return msg;
}

/* A bad id is refused as on the CPU: the same message (the first bad row),
 * then exit status 1 (fs_op_error); nothing is read or written out of bounds. */
Test(cuda_parity, embedding_refuses_bad_ids_as_cpu)
{
    const fs_ops *o = tu_cuda_or_skip();
    for (int backward = 0; backward < 2; backward++) {
        char want[512];
        snprintf(want, sizeof want, "%s", embedding_bad_id_message(fs_backend_cpu(), backward));
        cr_assert(strstr(want, "token id 50 at row 3 is outside [0, 50)"), "cpu %s: %s",
                  backward ? "backward" : "forward", want);
        const char *got = embedding_bad_id_message(o, backward);
        cr_assert_str_eq(got, want, "%s: cuda says \"%s\", cpu \"%s\"", backward ? "backward" : "forward",
                         got, want);
    }
}

/* ---- norms ---- */
/* wmode: 0 F32 weights, 1 BF16 weights, 2 no weights (NULL). */
static void norm_case(const fs_ops *o, bool layer, int n, int dim, int wmode, uint64_t seed)
{
    tu_rng r = tu_rng_new(seed);
    float *x = tu_rand_array(&r, (long)n * dim, -2, 3), *dy = tu_rand_array(&r, (long)n * dim, -1, 1);
    float *w = tu_rand_array(&r, dim, 0.5f, 1.5f), *b = tu_rand_array(&r, dim, -1, 1);
    float *dx0 = tu_rand_array(&r, (long)n * dim, -1, 1), *dw0 = tu_rand_array(&r, dim, -1, 1);
    float *db0 = tu_rand_array(&r, dim, -1, 1);
    uint16_t *wb = bf16_of(w, dim, wmode == 1 ? w : NULL), *bb = bf16_of(b, dim, wmode == 1 ? b : NULL);
    fs_tensor hw = tens(w, FS_F32, dim, 0), hb = tens(b, FS_F32, dim, 0);
    void *d_w = wmode == 1 ? tu_dev_copy(o, wb, sizeof(uint16_t) * dim) : (void *)up(o, w, dim);
    void *d_b = wmode == 1 ? tu_dev_copy(o, bb, sizeof(uint16_t) * dim) : (void *)up(o, b, dim);
    fs_dtype dt = wmode == 1 ? FS_BF16 : FS_F32;
    fs_tensor dw = tens(d_w, dt, dim, 0), dbt = tens(d_b, dt, dim, 0);
    const fs_tensor *hwp = wmode == 2 ? NULL : &hw, *hbp = wmode == 2 ? NULL : &hb;
    const fs_tensor *dwp = wmode == 2 ? NULL : &dw, *dbp = wmode == 2 ? NULL : &dbt;
    long nd = (long)n * dim;
    char what[128];

    float *y = malloc(sizeof(float) * nd), *mean = malloc(sizeof(float) * n), *rstd = malloc(sizeof(float) * n);
    float *d_x = up(o, x, nd), *d_y = up(o, NULL, nd), *d_mean = up(o, NULL, n), *d_rstd = up(o, NULL, n);
    if (layer) {
        fs_cpu_layernorm_fwd_ref(y, mean, rstd, x, hwp, hbp, n, dim, 1e-5f);
        o->layernorm_fwd(d_y, d_mean, d_rstd, d_x, dwp, dbp, n, dim, 1e-5f);
        snprintf(what, sizeof what, "layernorm_fwd n=%d dim=%d wmode=%d mean", n, dim, wmode);
        check(o, d_mean, mean, n, 1e-5f, 1e-5f, what);
    } else {
        fs_cpu_rmsnorm_fwd_ref(y, rstd, x, hwp, n, dim, 1e-6f);
        o->rmsnorm_fwd(d_y, d_rstd, d_x, dwp, n, dim, 1e-6f);
    }
    snprintf(what, sizeof what, "%s_fwd n=%d dim=%d wmode=%d y", layer ? "layernorm" : "rmsnorm", n, dim, wmode);
    check(o, d_y, y, nd, 1e-4f, 1e-4f, what);
    snprintf(what, sizeof what, "%s_fwd n=%d dim=%d wmode=%d rstd", layer ? "layernorm" : "rmsnorm", n, dim, wmode);
    check(o, d_rstd, rstd, n, 1e-5f, 1e-4f, what);

    /* Backward from the reference's saved statistics on both sides. */
    o->to_device(d_mean, mean, sizeof(float) * n);
    o->to_device(d_rstd, rstd, sizeof(float) * n);
    float *d_dy = up(o, dy, nd);
    for (int mi = 0; mi < NMASKS; mi++) {
        const int mask = k_masks[mi];
        float *wdx = copy_of(dx0, nd), *wdw = copy_of(dw0, dim), *wdb = copy_of(db0, dim);
        float *g_dx = up(o, dx0, nd), *g_dw = up(o, dw0, dim), *g_db = up(o, db0, dim);
        float *hdx = mask & 1 ? wdx : NULL, *hdw = mask & 2 ? wdw : NULL, *hdb = mask & 4 ? wdb : NULL;
        float *gdx = mask & 1 ? g_dx : NULL, *gdw = mask & 2 ? g_dw : NULL, *gdb = mask & 4 ? g_db : NULL;
        if (layer) {
            fs_cpu_layernorm_bwd_ref(hdx, hdw, hdb, dy, x, hwp, mean, rstd, n, dim);
            o->layernorm_bwd(gdx, gdw, gdb, d_dy, d_x, dwp, d_mean, d_rstd, n, dim);
        } else {
            fs_cpu_rmsnorm_bwd_ref(hdx, hdw, dy, x, hwp, rstd, n, dim);
            o->rmsnorm_bwd(gdx, gdw, d_dy, d_x, dwp, d_rstd, n, dim);
        }
        snprintf(what, sizeof what, "%s_bwd n=%d dim=%d wmode=%d mask=%d dx", layer ? "layernorm" : "rmsnorm", n, dim, wmode, mask);
        check(o, g_dx, wdx, nd, 1e-4f, 1e-4f, what);
        snprintf(what, sizeof what, "%s_bwd n=%d dim=%d wmode=%d mask=%d dw", layer ? "layernorm" : "rmsnorm", n, dim, wmode, mask);
        check(o, g_dw, wdw, dim, 1e-4f, 1e-4f, what);
        snprintf(what, sizeof what, "%s_bwd n=%d dim=%d wmode=%d mask=%d db", layer ? "layernorm" : "rmsnorm", n, dim, wmode, mask);
        check(o, g_db, wdb, dim, 1e-4f, 1e-4f, what);
        o->free(g_dx), o->free(g_dw), o->free(g_db);
        free(wdx), free(wdw), free(wdb);
    }
    o->free(d_w), o->free(d_b), o->free(d_x), o->free(d_y), o->free(d_mean), o->free(d_rstd), o->free(d_dy);
    free(x), free(dy), free(w), free(b), free(dx0), free(dw0), free(db0), free(wb), free(bb);
    free(y), free(mean), free(rstd);
}

Test(cuda_parity, layernorm)
{
    const fs_ops *o = tu_cuda_or_skip();
    for (int wmode = 0; wmode < 3; wmode++) {
        norm_case(o, true, 37, 300, wmode, 10 + wmode);
        norm_case(o, true, 5, 4100, wmode, 20 + wmode);
        norm_case(o, true, 300, 7, wmode, 30 + wmode);
    }
}

Test(cuda_parity, rmsnorm)
{
    const fs_ops *o = tu_cuda_or_skip();
    for (int wmode = 0; wmode < 3; wmode++) {
        norm_case(o, false, 37, 300, wmode, 40 + wmode);
        norm_case(o, false, 5, 4100, wmode, 50 + wmode);
        norm_case(o, false, 300, 7, wmode, 60 + wmode);
    }
}

/* ---- rope ---- */
Test(cuda_parity, rope)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(6);
    const int ntok = 50, nh = 3;
    const int dims[] = {64, 128, 6};
    const float thetas[] = {10000.0f, 500000.0f, 10000.0f};
    for (int c = 0; c < 3; c++) {
        const int hd = dims[c];
        const long ne = (long)ntok * nh * hd;
        float *x = tu_rand_array(&r, ne, -1, 1), *dy = tu_rand_array(&r, ne, -1, 1);
        float *dx0 = tu_rand_array(&r, ne, -1, 1);
        int32_t *pos = tu_rand_ints(&r, ntok, 0, 4096);
        pos[0] = 0;
        float *want = malloc(sizeof(float) * ne), *wdx = copy_of(dx0, ne);
        fs_cpu_rope_fwd_ref(want, x, pos, ntok, nh, hd, thetas[c]);
        fs_cpu_rope_bwd_ref(wdx, dy, pos, ntok, nh, hd, thetas[c]);
        int32_t *d_pos = up_i(o, pos, ntok);
        float *d_x = up(o, x, ne), *d_y = up(o, NULL, ne), *d_dy = up(o, dy, ne), *g_dx = up(o, dx0, ne);
        char what[64];
        o->rope_fwd(d_y, d_x, d_pos, ntok, nh, hd, thetas[c]);
        snprintf(what, sizeof what, "rope_fwd hd=%d", hd);
        check(o, d_y, want, ne, 1e-5f, 1e-4f, what);
        o->rope_fwd(d_x, d_x, d_pos, ntok, nh, hd, thetas[c]); /* in place */
        snprintf(what, sizeof what, "rope_fwd in place hd=%d", hd);
        check(o, d_x, want, ne, 1e-5f, 1e-4f, what);
        o->rope_bwd(g_dx, d_dy, d_pos, ntok, nh, hd, thetas[c]);
        snprintf(what, sizeof what, "rope_bwd hd=%d", hd);
        check(o, g_dx, wdx, ne, 1e-5f, 1e-4f, what);
        o->free(d_pos), o->free(d_x), o->free(d_y), o->free(d_dy), o->free(g_dx);
        free(x), free(dy), free(dx0), free(pos), free(want), free(wdx);
    }
}

/* ---- attention ---- */
static void attention_case(const fs_ops *o, int B, int T, int Hq, int Hkv, int D, bool causal,
                           uint64_t seed)
{
    tu_rng r = tu_rng_new(seed);
    const long nq = (long)B * T * Hq * D, nk = (long)B * T * Hkv * D, nl = (long)B * Hq * T;
    /* q spans [-3, 3] so that softmax rows are far from uniform. */
    float *q = tu_rand_array(&r, nq, -3, 3), *k = tu_rand_array(&r, nk, -1, 1);
    float *v = tu_rand_array(&r, nk, -1, 1), *dout = tu_rand_array(&r, nq, -1, 1);
    float *dq0 = tu_rand_array(&r, nq, -1, 1), *dk0 = tu_rand_array(&r, nk, -1, 1);
    float *dv0 = tu_rand_array(&r, nk, -1, 1);
    float *out = malloc(sizeof(float) * nq), *lse = malloc(sizeof(float) * nl);
    fs_cpu_attention_fwd_ref(out, lse, q, k, v, B, T, Hq, Hkv, D, causal);
    float *d_q = up(o, q, nq), *d_k = up(o, k, nk), *d_v = up(o, v, nk);
    float *d_out = up(o, NULL, nq), *d_lse = up(o, NULL, nl);
    o->attention_fwd(d_out, d_lse, d_q, d_k, d_v, B, T, Hq, Hkv, D, causal);
    char what[160];
    snprintf(what, sizeof what, "attention_fwd B=%d T=%d Hq=%d Hkv=%d D=%d causal=%d out", B, T, Hq, Hkv, D, causal);
    check(o, d_out, out, nq, 2e-5f, 1e-4f, what);
    snprintf(what, sizeof what, "attention_fwd B=%d T=%d Hq=%d Hkv=%d D=%d causal=%d lse", B, T, Hq, Hkv, D, causal);
    check(o, d_lse, lse, nl, 2e-5f, 1e-5f, what);

    /* Backward from the reference's out/lse on both sides. */
    o->to_device(d_out, out, sizeof(float) * nq);
    o->to_device(d_lse, lse, sizeof(float) * nl);
    float *d_dout = up(o, dout, nq);
    for (int mi = 0; mi < NMASKS; mi++) {
        const int mask = k_masks[mi];
        float *wdq = copy_of(dq0, nq), *wdk = copy_of(dk0, nk), *wdv = copy_of(dv0, nk);
        fs_cpu_attention_bwd_ref(mask & 1 ? wdq : NULL, mask & 2 ? wdk : NULL, mask & 4 ? wdv : NULL,
                                 dout, q, k, v, out, lse, B, T, Hq, Hkv, D, causal);
        float *g_dq = up(o, dq0, nq), *g_dk = up(o, dk0, nk), *g_dv = up(o, dv0, nk);
        o->attention_bwd(mask & 1 ? g_dq : NULL, mask & 2 ? g_dk : NULL, mask & 4 ? g_dv : NULL,
                         d_dout, d_q, d_k, d_v, d_out, d_lse, B, T, Hq, Hkv, D, causal);
        const char *names[] = {"dq", "dk", "dv"};
        float *gots[] = {g_dq, g_dk, g_dv}, *wants[] = {wdq, wdk, wdv};
        long sizes[] = {nq, nk, nk};
        for (int t = 0; t < 3; t++) {
            snprintf(what, sizeof what, "attention_bwd B=%d T=%d Hq=%d Hkv=%d D=%d causal=%d mask=%d %s",
                     B, T, Hq, Hkv, D, causal, mask, names[t]);
            check(o, gots[t], wants[t], sizes[t], 1e-4f, 1e-4f, what);
        }
        o->free(g_dq), o->free(g_dk), o->free(g_dv);
        free(wdq), free(wdk), free(wdv);
    }
    o->free(d_q), o->free(d_k), o->free(d_v), o->free(d_out), o->free(d_lse), o->free(d_dout);
    free(q), free(k), free(v), free(dout), free(dq0), free(dk0), free(dv0), free(out), free(lse);
}

Test(cuda_parity, attention_causal_gqa)
{
    const fs_ops *o = tu_cuda_or_skip();
    attention_case(o, 2, 70, 4, 2, 64, true, 70);
    attention_case(o, 1, 33, 6, 2, 128, true, 71);
    attention_case(o, 1, 1, 2, 1, 64, true, 72);
}

Test(cuda_parity, attention_bidirectional)
{
    const fs_ops *o = tu_cuda_or_skip();
    attention_case(o, 2, 50, 3, 3, 64, false, 80);
    attention_case(o, 1, 97, 2, 1, 128, false, 81);
}

Test(cuda_parity, attention_odd_head_dims)
{
    const fs_ops *o = tu_cuda_or_skip();
    attention_case(o, 1, 45, 2, 1, 40, true, 90);  /* not a multiple of 32 */
    attention_case(o, 1, 40, 2, 2, 6, false, 91);  /* not a multiple of 4 */
    attention_case(o, 1, 35, 4, 1, 80, true, 92);
    attention_case(o, 1, 40, 2, 1, 256, true, 93); /* the largest supported */
}

/* ---- cross-attention (Q-Former) ---- */
static void cross_attention_case(const fs_ops *o, int B, int Tq, int Tk, int H, int D, uint64_t seed)
{
    tu_rng r = tu_rng_new(seed);
    const long nq = (long)B * Tq * H * D, nk = (long)B * Tk * H * D;
    float *q = tu_rand_array(&r, nq, -3, 3), *k = tu_rand_array(&r, nk, -1, 1);
    float *v = tu_rand_array(&r, nk, -1, 1), *out = malloc(sizeof(float) * nq);
    fs_cpu_cross_attention_fwd(out, q, k, v, B, Tq, Tk, H, D);
    float *d_q = up(o, q, nq), *d_k = up(o, k, nk), *d_v = up(o, v, nk), *d_out = up(o, NULL, nq);
    o->cross_attention_fwd(d_out, d_q, d_k, d_v, B, Tq, Tk, H, D);
    char what[128];
    snprintf(what, sizeof what, "cross_attention_fwd B=%d Tq=%d Tk=%d H=%d D=%d", B, Tq, Tk, H, D);
    check(o, d_out, out, nq, 2e-5f, 1e-4f, what);
    o->free(d_q), o->free(d_k), o->free(d_v), o->free(d_out);
    free(q), free(k), free(v), free(out);
}

Test(cuda_parity, cross_attention)
{
    const fs_ops *o = tu_cuda_or_skip();
    cross_attention_case(o, 2, 32, 257, 4, 16, 100); /* BLIP-2: 32 queries over 257 tokens */
    cross_attention_case(o, 2, 8, 8, 3, 64, 101);    /* the Q-Former's self-attention */
    cross_attention_case(o, 1, 5, 300, 2, 6, 102);   /* odd head dim, more keys than threads */
}

/* ---- activations ---- */
Test(cuda_parity, activations)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(7);
    const long n = 10007;
    float *x = tu_rand_array(&r, n, -6, 6), *up_ = tu_rand_array(&r, n, -2, 2);
    float *dy = tu_rand_array(&r, n, -1, 1), *d0 = tu_rand_array(&r, n, -1, 1);
    float *d1 = tu_rand_array(&r, n, -1, 1);
    float *d_x = up(o, x, n), *d_up = up(o, up_, n), *d_dy = up(o, dy, n), *d_y = up(o, NULL, n);
    float *want = malloc(sizeof(float) * n);

    fs_cpu_gelu_fwd_ref(want, x, n);
    o->gelu_fwd(d_y, d_x, n);
    check(o, d_y, want, n, 1e-5f, 1e-5f, "gelu_fwd");
    fs_cpu_quick_gelu_fwd_ref(want, x, n);
    o->quick_gelu_fwd(d_y, d_x, n);
    check(o, d_y, want, n, 1e-5f, 1e-5f, "quick_gelu_fwd");
    fs_cpu_swiglu_fwd_ref(want, x, up_, n);
    o->swiglu_fwd(d_y, d_x, d_up, n);
    check(o, d_y, want, n, 1e-5f, 1e-5f, "swiglu_fwd");

    float *w0 = copy_of(d0, n), *w1 = copy_of(d1, n);
    float *g0 = up(o, d0, n), *g1 = up(o, d1, n);
    fs_cpu_gelu_bwd_ref(w0, dy, x, n);
    o->gelu_bwd(g0, d_dy, d_x, n);
    check(o, g0, w0, n, 1e-5f, 1e-4f, "gelu_bwd");
    fs_cpu_quick_gelu_bwd_ref(w1, dy, x, n);
    o->quick_gelu_bwd(g1, d_dy, d_x, n);
    check(o, g1, w1, n, 1e-5f, 1e-4f, "quick_gelu_bwd");

    for (int mask = 3; mask >= 1; mask--) {
        memcpy(w0, d0, sizeof(float) * n);
        memcpy(w1, d1, sizeof(float) * n);
        o->to_device(g0, d0, sizeof(float) * n);
        o->to_device(g1, d1, sizeof(float) * n);
        fs_cpu_swiglu_bwd_ref(mask & 1 ? w0 : NULL, mask & 2 ? w1 : NULL, dy, x, up_, n);
        o->swiglu_bwd(mask & 1 ? g0 : NULL, mask & 2 ? g1 : NULL, d_dy, d_x, d_up, n);
        check(o, g0, w0, n, 1e-5f, 1e-4f, "swiglu_bwd dgate");
        check(o, g1, w1, n, 1e-5f, 1e-4f, "swiglu_bwd dup");
    }
    o->free(d_x), o->free(d_up), o->free(d_dy), o->free(d_y), o->free(g0), o->free(g1);
    free(x), free(up_), free(dy), free(d0), free(d1), free(want), free(w0), free(w1);
}

/* GELU's far negative tail, relative to its tiny values: 1 + erf(x/sqrt2)
 * cancels there (1e-3 relative error at -4, exactly 0 below -5.6), so
 * both backends must use erfc. The backward accumulates into zeros so that
 * nothing hides the tail. */
Test(cuda_parity, gelu_negative_tail)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(17);
    const long n = 4096;
    float *x = tu_rand_array(&r, n, -9, -3), *dy = tu_rand_array(&r, n, 0.5f, 1);
    float *want = malloc(sizeof(float) * n), *wdx = calloc((size_t)n, sizeof(float));
    cr_assert(want && wdx);
    fs_cpu_gelu_fwd_ref(want, x, n);
    fs_cpu_gelu_bwd_ref(wdx, dy, x, n);
    float *d_x = up(o, x, n), *d_dy = up(o, dy, n), *d_y = up(o, NULL, n), *d_dx = up(o, NULL, n);
    o->gelu_fwd(d_y, d_x, n);
    check(o, d_y, want, n, 0, 1e-4f, "gelu_fwd for x in [-9, -3]");
    o->gelu_bwd(d_dx, d_dy, d_x, n);
    check(o, d_dx, wdx, n, 0, 1e-4f, "gelu_bwd for x in [-9, -3]");
    o->free(d_x), o->free(d_dy), o->free(d_y), o->free(d_dx);
    free(x), free(dy), free(want), free(wdx);
}

/* ---- cross-entropy ---- */
Test(cuda_parity, xent)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(8);
    const int n = 13, V = 5003;
    float *logits = tu_rand_array(&r, (long)n * V, -8, 8), *dloss = tu_rand_array(&r, n, 0, 1);
    float *dl0 = tu_rand_array(&r, (long)n * V, -1e-3f, 1e-3f);
    int32_t *t = tu_rand_ints(&r, n, 0, V);
    t[2] = -1, t[7] = -100; /* ignored rows */
    t[3] = V - 1;
    float *want = malloc(sizeof(float) * n), *wdl = copy_of(dl0, (long)n * V);
    fs_cpu_xent_fwd_ref(want, logits, t, n, V);
    fs_cpu_xent_bwd_ref(wdl, dloss, logits, t, n, V);
    float *d_l = up(o, logits, (long)n * V), *d_dloss = up(o, dloss, n), *d_loss = up(o, NULL, n);
    float *g_dl = up(o, dl0, (long)n * V);
    int32_t *d_t = up_i(o, t, n);
    o->xent_fwd(d_loss, d_l, d_t, n, V);
    check(o, d_loss, want, n, 1e-4f, 1e-5f, "xent_fwd");
    o->xent_bwd(g_dl, d_dloss, d_l, d_t, n, V);
    check(o, g_dl, wdl, (long)n * V, 1e-6f, 1e-4f, "xent_bwd");
    o->free(d_l), o->free(d_dloss), o->free(d_loss), o->free(g_dl), o->free(d_t);
    free(logits), free(dloss), free(dl0), free(t), free(want), free(wdl);
}

/* ---- LoRA ---- */
/* Groups: contiguous runs (the usual layout), ungrouped rows, and a
 * scattered stretch so the per-run caching in the kernels is exercised. */
static int32_t *lora_groups(tu_rng *r, int n, int G)
{
    int32_t *g = malloc(sizeof(int32_t) * n);
    cr_assert(g);
    for (int i = 0; i < n; i++) g[i] = (int32_t)((long)i * G / n);
    for (int i = 0; i < n; i += 11) g[i] = -1;
    for (int i = n / 2; i < n / 2 + 9 && i < n; i++) g[i] = (int32_t)(tu_uniform(r, 0, (float)G - 0.01f));
    return g;
}

static void lora_case(const fs_ops *o, int n, int in, int out, int rank, int G, uint64_t seed)
{
    tu_rng r = tu_rng_new(seed);
    const float scale = 1.7f;
    float *x = tu_rand_array(&r, (long)n * in, -1, 1), *A = tu_rand_array(&r, (long)G * rank * in, -1, 1);
    float *B = tu_rand_array(&r, (long)G * out * rank, -1, 1), *y0 = tu_rand_array(&r, (long)n * out, -1, 1);
    float *dy = tu_rand_array(&r, (long)n * out, -1, 1), *dx0 = tu_rand_array(&r, (long)n * in, -1, 1);
    float *dA0 = tu_rand_array(&r, (long)G * rank * in, -1, 1), *dB0 = tu_rand_array(&r, (long)G * out * rank, -1, 1);
    int32_t *grp = lora_groups(&r, n, G);
    float *wy = copy_of(y0, (long)n * out), *wu = malloc(sizeof(float) * n * rank);
    fs_cpu_lora_fwd_ref(wy, wu, x, A, B, grp, n, in, out, rank, scale);
    float *d_x = up(o, x, (long)n * in), *d_A = up(o, A, (long)G * rank * in), *d_B = up(o, B, (long)G * out * rank);
    float *d_y = up(o, y0, (long)n * out), *d_u = up(o, NULL, (long)n * rank), *d_dy = up(o, dy, (long)n * out);
    int32_t *d_g = up_i(o, grp, n);
    char what[128];
    o->lora_fwd(d_y, d_u, d_x, d_A, d_B, d_g, n, in, out, rank, scale);
    snprintf(what, sizeof what, "lora_fwd n=%d in=%d out=%d r=%d y", n, in, out, rank);
    check(o, d_y, wy, (long)n * out, 1e-4f, 1e-4f, what);
    snprintf(what, sizeof what, "lora_fwd n=%d in=%d out=%d r=%d u", n, in, out, rank);
    check(o, d_u, wu, (long)n * rank, 1e-4f, 1e-4f, what);

    o->to_device(d_u, wu, sizeof(float) * n * rank);
    for (int mi = 0; mi < NMASKS; mi++) {
        const int mask = k_masks[mi];
        float *wdx = copy_of(dx0, (long)n * in), *wdA = copy_of(dA0, (long)G * rank * in);
        float *wdB = copy_of(dB0, (long)G * out * rank);
        fs_cpu_lora_bwd_ref(mask & 1 ? wdx : NULL, mask & 2 ? wdA : NULL, mask & 4 ? wdB : NULL, dy,
                            x, wu, A, B, grp, n, in, out, rank, scale);
        float *g_dx = up(o, dx0, (long)n * in), *g_dA = up(o, dA0, (long)G * rank * in);
        float *g_dB = up(o, dB0, (long)G * out * rank);
        o->lora_bwd(mask & 1 ? g_dx : NULL, mask & 2 ? g_dA : NULL, mask & 4 ? g_dB : NULL, d_dy,
                    d_x, d_u, d_A, d_B, d_g, n, in, out, rank, scale);
        snprintf(what, sizeof what, "lora_bwd n=%d r=%d mask=%d dx", n, rank, mask);
        check(o, g_dx, wdx, (long)n * in, 1e-4f, 1e-4f, what);
        snprintf(what, sizeof what, "lora_bwd n=%d r=%d mask=%d dA", n, rank, mask);
        check(o, g_dA, wdA, (long)G * rank * in, 1e-4f, 1e-4f, what);
        snprintf(what, sizeof what, "lora_bwd n=%d r=%d mask=%d dB", n, rank, mask);
        check(o, g_dB, wdB, (long)G * out * rank, 1e-4f, 1e-4f, what);
        o->free(g_dx), o->free(g_dA), o->free(g_dB);
        free(wdx), free(wdA), free(wdB);
    }
    o->free(d_x), o->free(d_A), o->free(d_B), o->free(d_y), o->free(d_u), o->free(d_dy), o->free(d_g);
    free(x), free(A), free(B), free(y0), free(dy), free(dx0), free(dA0), free(dB0), free(grp);
    free(wy), free(wu);
}

Test(cuda_parity, lora)
{
    const fs_ops *o = tu_cuda_or_skip();
    lora_case(o, 45, 70, 90, 12, 3, 11);  /* rank not a multiple of 8 */
    lora_case(o, 300, 64, 48, 16, 4, 12); /* several row chunks */
    lora_case(o, 9, 300, 260, 4, 1, 13);  /* more than 256 columns */
}

Test(cuda_parity, lora_fisher_accum)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(14);
    const int n = 60, S = 7, G = 3, in = 70, out = 50, rank = 10;
    const float scale = 0.8f;
    float *dy = tu_rand_array(&r, (long)n * out, -1, 1), *x = tu_rand_array(&r, (long)n * in, -1, 1);
    float *u = tu_rand_array(&r, (long)n * rank, -1, 1), *B = tu_rand_array(&r, (long)G * out * rank, -1, 1);
    float *w = tu_rand_array(&r, S, 0.1f, 2.0f);
    float *FA0 = tu_rand_array(&r, (long)G * rank * in, 0, 1), *FB0 = tu_rand_array(&r, (long)G * out * rank, 0, 1);
    /* Rows of a sample are scattered, some rows belong to no sample, one
     * sample has no group and one has no rows. */
    int32_t *sor = tu_rand_ints(&r, n, -1, S - 1); /* sample S-1 gets no rows */
    int32_t gos[] = {0, 2, 1, 0, -1, 2, 1};
    float *wFA = copy_of(FA0, (long)G * rank * in), *wFB = copy_of(FB0, (long)G * out * rank);
    fs_cpu_lora_fisher_accum_ref(wFA, wFB, dy, x, u, B, sor, gos, w, n, S, in, out, rank, scale);
    float *d_dy = up(o, dy, (long)n * out), *d_x = up(o, x, (long)n * in), *d_u = up(o, u, (long)n * rank);
    float *d_B = up(o, B, (long)G * out * rank), *d_w = up(o, w, S);
    float *g_FA = up(o, FA0, (long)G * rank * in), *g_FB = up(o, FB0, (long)G * out * rank);
    int32_t *d_sor = up_i(o, sor, n), *d_gos = up_i(o, gos, S);
    o->lora_fisher_accum(g_FA, g_FB, d_dy, d_x, d_u, d_B, d_sor, d_gos, d_w, n, S, in, out, rank, scale);
    check(o, g_FA, wFA, (long)G * rank * in, 1e-5f, 1e-4f, "lora_fisher_accum FA");
    check(o, g_FB, wFB, (long)G * out * rank, 1e-5f, 1e-4f, "lora_fisher_accum FB");
    o->free(d_dy), o->free(d_x), o->free(d_u), o->free(d_B), o->free(d_w), o->free(g_FA), o->free(g_FB);
    o->free(d_sor), o->free(d_gos);
    free(dy), free(x), free(u), free(B), free(w), free(FA0), free(FB0), free(sor), free(wFA), free(wFB);
}

/* ---- AdamW ---- */
Test(cuda_parity, adamw)
{
    const fs_ops *o = tu_cuda_or_skip();
    tu_rng r = tu_rng_new(15);
    const int G = 4;
    const long per = 1001, n = G * per;
    const int32_t step[] = {1, 0, 7, 1000}; /* host array; group 1 must stay untouched */
    float *p = tu_rand_array(&r, n, -1, 1), *g = tu_rand_array(&r, n, -1, 1);
    float *m = tu_rand_array(&r, n, -0.1f, 0.1f), *v = tu_rand_array(&r, n, 0, 0.01f);
    float *wp = copy_of(p, n), *wm = copy_of(m, n), *wv = copy_of(v, n);
    fs_cpu_adamw_ref(wp, g, wm, wv, step, G, per, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f);
    float *d_p = up(o, p, n), *d_g = up(o, g, n), *d_m = up(o, m, n), *d_v = up(o, v, n);
    o->adamw(d_p, d_g, d_m, d_v, step, G, per, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f);
    check(o, d_p, wp, n, 1e-6f, 1e-5f, "adamw p");
    check(o, d_m, wm, n, 1e-7f, 1e-5f, "adamw m");
    check(o, d_v, wv, n, 1e-8f, 1e-5f, "adamw v");
    float *gp = down(o, d_p, n);
    for (long i = per; i < 2 * per; i++) cr_assert(gp[i] == p[i], "adamw: step-0 group changed at %ld", i);
    o->free(d_p), o->free(d_g), o->free(d_m), o->free(d_v);
    free(p), free(g), free(m), free(v), free(wp), free(wm), free(wv), free(gp);
}

/* ---- MiniGPT-4's image path (EVA ViT + Q-Former + projection) ---- */
/* A tiny random Blip2-architecture model saved in fp32 and loaded frozen on
 * both backends: the projected query tokens of the same images agree. */
Test(cuda_parity, blip2_image_features)
{
    const fs_ops *o = tu_cuda_or_skip(), *cpu = fs_backend_cpu();
    fs_llava_config c = {
        .blip2 = true, .v_hidden = 32, .v_intermediate = 64, .v_layers = 2, .v_heads = 4,
        .v_image_size = 16, .v_patch_size = 4, .v_channels = 3, .v_layer_norm_eps = 1e-6f,
        .v_qkv_bias = true, .q_hidden = 24, .q_intermediate = 40, .q_layers = 3, .q_heads = 4,
        .q_cross_freq = 2, .q_layer_norm_eps = 1e-12f, .n_query_tokens = 8, .t_vocab = 64,
        .t_hidden = 16, .t_intermediate = 32, .t_layers = 1, .t_heads = 2, .t_kv_heads = 2,
        .t_head_dim = 8, .t_max_pos = 64, .t_rms_eps = 1e-6f, .t_rope_theta = 10000.0f,
        .image_token_index = 63, .pad_token_id = 0, .vision_feature_layer = -1,
    };
    fs_mllm *m = fs_mllm_new_random(&c, cpu, 5);
    cr_assert(m, "%s", fs_last_error());
    const char *dir = tu_path_in(tu_tmpdir(), "blip2");
    cr_assert_eq(fs_mllm_save(m, dir), 0, "%s", fs_last_error());
    fs_mllm_free(m);
    const int nimg = 3;
    const long npx = (long)nimg * 3 * 16 * 16, nf = (long)nimg * 8 * 16;
    tu_rng r = tu_rng_new(11);
    float *pixels = tu_rand_array(&r, npx, -2, 2), *want = malloc(sizeof(float) * nf);
    fs_mllm *mc = fs_mllm_load_frozen(dir, cpu), *mg = fs_mllm_load_frozen(dir, o);
    cr_assert(mc && mg, "%s", fs_last_error());
    fs_vision_acts *ac = fs_vision_acts_new(mc, nimg), *ag = fs_vision_acts_new(mg, nimg);
    cr_assert(ac && ag, "%s", fs_last_error());
    float *d_feat = up(o, NULL, nf);
    cr_assert_eq(fs_mllm_encode_images(mc, ac, pixels, nimg, want), 0, "%s", fs_last_error());
    cr_assert_eq(fs_mllm_encode_images(mg, ag, pixels, nimg, d_feat), 0, "%s", fs_last_error());
    check(o, d_feat, want, nf, 1e-4f, 1e-4f, "BLIP-2 projected query tokens");
    o->free(d_feat);
    fs_vision_acts_free(mc, ac);
    fs_vision_acts_free(mg, ag);
    fs_mllm_free(mc);
    fs_mllm_free(mg);
    free(pixels), free(want);
}

/* ---- end to end ---- */
/* A short `fedsim run` (2 clients, 1 round, FedAvg and FedNano-EF, whose
 * Fisher takes the fused lora_fisher_accum path) on the shipped fp32 tiny
 * model, once with --backend cuda and once with --backend cpu: the same
 * accuracies. Every GEMM is fp32 here (bf16 weights would round activations
 * on the device only), so the backends differ only in summation order
 * (~1e-6 relative): an answer flips only when two choices' log-likelihoods
 * are that close, so each accuracy may differ by at most one test item, and
 * the training losses by 1e-3 relative. */
/* The fixture (a pretrained model, generated data) only where the test runs. */
static void cuda_run_setup(void)
{
    if (fs_backend_cuda(NULL)) cli_setup();
}
TestSuite(cuda_run, .init = cuda_run_setup, .timeout = 900);

#define RUN_TEST_ITEMS 12 /* generated test items: every client's split, and the global test set */

Test(cuda_run, run_matches_cpu)
{
    tu_cuda_or_skip();
    cr_assert_eq(cli_sh("'%s' data synth synth-iconqa --out '%s/small' --train 24 --test %d > /dev/null",
                        cli_fedsim, cli_dir, RUN_TEST_ITEMS),
                 0, "fedsim data synth failed");
    const char *backends[] = {"cpu", "cuda"};
    char h5[2][600];
    for (int b = 0; b < 2; b++) {
        char name[32], out[32], log[600];
        snprintf(name, sizeof name, "run_%s", backends[b]);
        snprintf(out, sizeof out, "out_%s", backends[b]);
        const char *yaml = cli_write_config(name, name, " [fedavg, fednano_ef]", out, "");
        snprintf(log, sizeof log, "%s/%s.txt", cli_dir, name);
        cr_assert_eq(cli_sh("'%s' run %s --quiet --backend %s --set model.path=%s --set data.root=%s/small "
                            "--set data.partition.clients=2 --set federation.rounds=1 > %s 2>&1",
                            cli_fedsim, yaml, backends[b], tu_source_path("models/tiny-llava"), cli_dir, log),
                     0, "fedsim run --backend %s failed:\n%s", backends[b], cli_slurp(log));
        snprintf(h5[b], sizeof h5[b], "%s/%s/%s.h5", cli_dir, out, name);
    }
    const char *methods[] = {"fedavg", "fednano_ef"};
    for (int m = 0; m < 2; m++) {
        fs_final_row *f[2];
        int nf[2];
        fs_round_row *rows[2];
        int nr[2];
        for (int b = 0; b < 2; b++) {
            char cell[32];
            snprintf(cell, sizeof cell, "run_%s", backends[b]);
            cr_assert_eq(fs_results_read_final(h5[b], cell, methods[m], &f[b], &nf[b]), 0);
            cr_assert_eq(fs_results_read_rounds(h5[b], cell, methods[m], &rows[b], &nr[b]), 0);
        }
        cr_assert_eq(nf[0], nf[1]);
        cr_assert_eq(nr[0], nr[1]);
        for (int c = 0; c < nf[0]; c++) {
            double item = 1.0 / (f[0][c].n_test > 0 ? f[0][c].n_test : 1) + 1e-9;
            cr_assert(fabs(f[1][c].test_acc - f[0][c].test_acc) <= item,
                      "%s client %d: test accuracy %.4f on cuda, %.4f on cpu", methods[m], c,
                      f[1][c].test_acc, f[0][c].test_acc);
            cr_assert(fabs(f[1][c].global_acc - f[0][c].global_acc) <= 1.0 / RUN_TEST_ITEMS + 1e-9,
                      "%s client %d: global accuracy %.4f on cuda, %.4f on cpu", methods[m], c,
                      f[1][c].global_acc, f[0][c].global_acc);
        }
        for (int i = 0; i < nr[0]; i++) {
            double want = rows[0][i].train_loss, got = rows[1][i].train_loss;
            /* Rows without training (round 0's evaluation) hold NaN on both. */
            cr_assert(isnan(want) ? isnan(got) : fabs(got - want) <= 1e-3 * fabs(want) + 1e-6,
                      "%s round %d client %d: train loss %.6f on cuda, %.6f on cpu", methods[m],
                      rows[0][i].round, rows[0][i].client, got, want);
        }
        for (int b = 0; b < 2; b++) free(f[b]), free(rows[b]);
    }
}
