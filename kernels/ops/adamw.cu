/* AdamW over ngroups contiguous parameter blocks (one per client), each with
 * its own step count. PyTorch semantics (torch.optim.AdamW, single-tensor
 * path):
 *   p *= 1 - lr * wd
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The bias corrections depend only on the group's step, so the host computes
 * them (in double, as PyTorch does with Python floats) and passes one small
 * coefficient array; the kernel runs over all groups at once. */
#include "common.cuh"

#include <math.h>

/* Per group: x = step size lr / bc1, y = sqrt(bc2), z = 1 if the group steps
 * (step >= 1), else 0 and the block is left untouched. */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, const float4 *coef,
                             int ngroups, long per_group, float beta1, float beta2, float eps,
                             float decay)
{
    for (int grp = blockIdx.y; grp < ngroups; grp += gridDim.y) {
        float4 c = coef[grp];
        if (c.z == 0.f) continue; /* uniform per block */
        long base = (long)grp * per_group;
        for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < per_group;
             e += (long)gridDim.x * blockDim.x) {
            long i = base + e;
            float gi = g[i];
            float mi = beta1 * m[i] + (1.0f - beta1) * gi;
            float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            float denom = sqrtf(vi) / c.y + eps;
            p[i] = p[i] * decay - c.x * (mi / denom);
        }
    }
}

void fs_cuda_adamw(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups,
                   long per_group, float lr, float beta1, float beta2, float eps,
                   float weight_decay)
{
    FS_NVTX("adamw");
    if (ngroups <= 0 || per_group <= 0) return;
    float4 *host = (float4 *)malloc(sizeof(float4) * (size_t)ngroups);
    if (!host) FS_CUDA_FATAL("adamw: out of host memory");
    bool any = false;
    for (int i = 0; i < ngroups; i++) {
        if (step[i] <= 0) {
            host[i] = make_float4(0.f, 0.f, 0.f, 0.f);
            continue;
        }
        double bc1 = 1.0 - pow((double)beta1, (double)step[i]);
        double bc2 = 1.0 - pow((double)beta2, (double)step[i]);
        host[i] = make_float4((float)((double)lr / bc1), (float)sqrt(bc2), 1.f, 0.f);
        any = true;
    }
    if (any) {
        float4 *dev =
            (float4 *)fs_cuda_scratch(FS_SCRATCH_PARAMS, sizeof(float4) * (size_t)ngroups);
        /* cudaMemcpy on the default stream waits for earlier kernels, so a
         * previous adamw still reading the array is not overwritten. */
        CUDA_CHECK(cudaMemcpy(dev, host, sizeof(float4) * (size_t)ngroups, cudaMemcpyHostToDevice));
        long xblocks = (per_group + 255) / 256;
        long cap = (8L * fs_cuda_num_sms() + ngroups - 1) / ngroups; /* a few blocks per SM overall */
        if (cap < 1) cap = 1;
        if (xblocks > cap) xblocks = cap;
        dim3 grid((unsigned)xblocks, ngroups < 65535 ? ngroups : 65535);
        adamw_kernel<<<grid, 256>>>(p, g, m, v, dev, ngroups, per_group, beta1, beta2, eps,
                                    (float)(1.0 - (double)lr * weight_decay));
        CUDA_CHECK_LAUNCH();
    }
    free(host);
}
