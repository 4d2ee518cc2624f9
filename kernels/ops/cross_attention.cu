/* Attention of Tq queries over Tk tokens, non-causal, forward only (the
 * Q-Former's self- and cross-attention; cross_attention.c beside it is the
 * reference). One block per (b, head, query row): the Tk scores live in
 * shared memory (Tk is 257 image tokens for EVA ViT-g at 224 px), softmax by
 * block reductions, then threads own output columns. Small next to the
 * vision tower's GEMMs, so nothing here is tiled. */
#include "common.cuh"

#define XATT_THREADS 128
#define XATT_MAX_TK 12288 /* 48 KB of scores */

__global__ void cross_attention_fwd_kernel(float *out, const float *q, const float *k,
                                           const float *v, int Tq, int Tk, int H, int D,
                                           float scale)
{
    extern __shared__ float xatt_scores[];
    __shared__ float sh[32];
    long r = blockIdx.x;
    int i = (int)(r % Tq), h = (int)(r / Tq % H), b = (int)(r / Tq / H);
    const float *qi = q + (((long)b * Tq + i) * H + h) * D;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        const float *kj = k + (((long)b * Tk + j) * H + h) * D;
        float d = 0.f;
        for (int c = 0; c < D; c++) d += qi[c] * kj[c];
        xatt_scores[j] = d * scale;
        m = fmaxf(m, xatt_scores[j]);
    }
    m = fs_block_max(m, sh);
    float s = 0.f;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        float p = expf(xatt_scores[j] - m);
        xatt_scores[j] = p;
        s += p;
    }
    float inv = 1.0f / fs_block_sum(s, sh); /* its barriers also publish the scores */
    float *oi = out + (((long)b * Tq + i) * H + h) * D;
    for (int c = threadIdx.x; c < D; c += blockDim.x) {
        float o = 0.f;
        for (int j = 0; j < Tk; j++) o += xatt_scores[j] * v[(((long)b * Tk + j) * H + h) * D + c];
        oi[c] = o * inv;
    }
}

void fs_cuda_cross_attention_fwd(float *out, const float *q, const float *k, const float *v,
                                 int B, int Tq, int Tk, int H, int D)
{
    FS_NVTX("cross_attention_fwd");
    if (B <= 0 || Tq <= 0 || H <= 0 || D <= 0) return;
    if (Tk <= 0 || Tk > XATT_MAX_TK)
        FS_CUDA_FATAL("cross_attention_fwd: %d keys; 1 to %d are supported", Tk, XATT_MAX_TK);
    long blocks = (long)B * H * Tq;
    if (blocks > INT_MAX) FS_CUDA_FATAL("cross_attention_fwd: %ld query rows are too many", blocks);
    cross_attention_fwd_kernel<<<(unsigned)blocks, XATT_THREADS, (size_t)Tk * sizeof(float)>>>(
        out, q, k, v, Tq, Tk, H, D, 1.0f / sqrtf((float)D));
    CUDA_CHECK_LAUNCH();
}
