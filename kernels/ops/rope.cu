/* Rotary position embedding, Hugging Face LLaMA "rotate_half" convention.
 *
 * inv_freq is computed on the host with exactly the expression of the CPU
 * backend (rope.c beside it, which follows HF's float32 steps), so both
 * backends see bit-identical frequencies: angles reach thousands of
 * radians, where one ulp of inv_freq moves sin/cos visibly. The table is
 * cached on the device for the last (theta, head_dim). The angle is the fp32
 * product pos * inv_freq and sin/cos use the accurate libdevice versions. */
#include "common.cuh"

#include <math.h>

static const float *rope_inv_freq(float theta, int head_dim)
{
    static float cached_theta = 0.f;
    static int cached_dim = 0;
    static const float *cached_dev = NULL;
    int half = head_dim / 2;
    float *dev = (float *)fs_cuda_scratch(FS_SCRATCH_ROPE, sizeof(float) * (size_t)half);
    if (cached_dim != head_dim || cached_theta != theta || cached_dev != dev) {
        float *host = (float *)malloc(sizeof(float) * (size_t)half);
        if (!host) FS_CUDA_FATAL("rope: out of host memory");
        for (int j = 0; j < half; j++) {
            /* HF: exponent float32(2j) / float32(D); theta ** exponent as a
             * correctly rounded float32 power (double pow rounded once, as the
             * CPU backend does); then 1 / that in float32. */
            float e = (float)(2 * j) / (float)head_dim;
            host[j] = 1.0f / (float)pow((double)theta, (double)e);
        }
        /* Ordered after earlier kernels on the default stream, so none of them
         * sees the new table. */
        CUDA_CHECK(cudaMemcpy(dev, host, sizeof(float) * (size_t)half, cudaMemcpyHostToDevice));
        free(host);
        cached_theta = theta;
        cached_dim = head_dim;
        cached_dev = dev;
    }
    return dev;
}

/* One thread per (token, head, j < half); element j pairs with j + half. */
__global__ void rope_kernel(float *out, const float *in, const int32_t *pos,
                            const float *inv_freq, long total, int nheads, int head_dim,
                            bool backward)
{
    int half = head_dim / 2;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total;
         i += (long)gridDim.x * blockDim.x) {
        int j = (int)(i % half);
        long th = i / half; /* token * nheads + head */
        long tok = th / nheads;
        float ang = (float)pos[tok] * inv_freq[j];
        float s, c;
        sincosf(ang, &s, &c);
        long base = th * head_dim;
        float a = in[base + j], b = in[base + j + half];
        /* Separately rounded products (the _rn intrinsics are never
         * contracted into an FMA), as the CPU twin and Hugging Face. */
        float ac = __fmul_rn(a, c), bs = __fmul_rn(b, s), bc = __fmul_rn(b, c), as = __fmul_rn(a, s);
        if (!backward) {
            /* y = x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1).
             * Both inputs are read before writing, so out may alias in. */
            out[base + j] = __fsub_rn(ac, bs);
            out[base + j + half] = __fadd_rn(bc, as);
        } else {
            /* The transpose of the rotation, accumulated into dx. */
            out[base + j] += __fadd_rn(ac, bs);
            out[base + j + half] += __fsub_rn(bc, as);
        }
    }
}

static void rope_launch(float *out, const float *in, const int32_t *pos, int ntok, int nheads,
                        int head_dim, float theta, bool backward)
{
    if (ntok <= 0 || nheads <= 0 || head_dim < 2) return;
    const float *inv_freq = rope_inv_freq(theta, head_dim);
    long total = (long)ntok * nheads * (head_dim / 2);
    rope_kernel<<<fs_cuda_blocks(total, 256), 256>>>(out, in, pos, inv_freq, total, nheads,
                                                     head_dim, backward);
    CUDA_CHECK_LAUNCH();
}

void fs_cuda_rope_fwd(float *y, const float *x, const int32_t *pos, int ntok, int nheads,
                      int head_dim, float theta)
{
    FS_NVTX("rope_fwd");
    rope_launch(y, x, pos, ntok, nheads, head_dim, theta, false);
}

void fs_cuda_rope_bwd(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads,
                      int head_dim, float theta)
{
    FS_NVTX("rope_bwd");
    if (!dx) return;
    rope_launch(dx, dy, pos, ntok, nheads, head_dim, theta, true);
}
