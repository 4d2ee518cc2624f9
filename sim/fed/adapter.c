#include "sim/fed/adapter.h"

#include <math.h>
#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/io/rng.h"

static int present_targets(const fs_adapter_shape *s)
{
    return (int)s->targets[FS_TARGET_IMAGE] + (int)s->targets[FS_TARGET_TEXT];
}

size_t fs_adapter_params(const fs_adapter_shape *s)
{
    return (size_t)present_targets(s) * 2 * s->rank * s->dim;
}

int fs_bank_init(fs_adapter_bank *b, const fs_ops *ops, const fs_adapter_shape *s, int clients)
{
    *b = (fs_adapter_bank){.shape = *s, .ops = ops, .clients = clients,
                           .nparts = 2 * present_targets(s),
                           .part_numel = (size_t)s->rank * s->dim};
    b->data = fs_alloc_or_fail(ops, fs_bank_numel(b) * sizeof(float),
                               "use fewer clients (data.partition.clients) or a smaller "
                               "adapter.rank",
                               "adapter state (%d x %zu floats)", clients,
                               fs_adapter_params(s));
    return b->data ? 0 : -1;
}

void fs_bank_free(fs_adapter_bank *b)
{
    if (b->data) b->ops->free(b->data);
    b->data = NULL;
}

size_t fs_bank_numel(const fs_adapter_bank *b)
{
    return (size_t)b->nparts * b->clients * b->part_numel;
}

void fs_bank_zero(fs_adapter_bank *b) { b->ops->zero(b->data, fs_bank_numel(b) * sizeof(float)); }

float *fs_bank_part(const fs_adapter_bank *b, int part, int client)
{
    return b->data + ((size_t)part * b->clients + client) * b->part_numel;
}

/* Index of target t among the present targets, or -1. */
static int target_slot(const fs_adapter_bank *b, fs_adapter_target t)
{
    if (!b->shape.targets[t]) return -1;
    return t == FS_TARGET_TEXT && b->shape.targets[FS_TARGET_IMAGE] ? 1 : 0;
}

float *fs_bank_A(const fs_adapter_bank *b, fs_adapter_target t)
{
    int s = target_slot(b, t);
    return s < 0 ? NULL : fs_bank_part(b, 2 * s, 0);
}

float *fs_bank_B(const fs_adapter_bank *b, fs_adapter_target t)
{
    int s = target_slot(b, t);
    return s < 0 ? NULL : fs_bank_part(b, 2 * s + 1, 0);
}

void fs_bank_init_lora(fs_adapter_bank *b, uint64_t seed)
{
    size_t per = fs_adapter_params(&b->shape), pn = b->part_numel;
    float *host = calloc(per, sizeof *host);
    if (!host) fs_op_oom(NULL, per * sizeof *host, "the initial adapter weights");
    fs_rng rng = fs_rng_seed(seed);
    float bound = 1.0f / sqrtf((float)b->shape.dim);
    for (int p = 0; p < b->nparts; p += 2) /* A parts; B parts stay zero */
        for (size_t i = 0; i < pn; i++)
            host[p * pn + i] = (float)((2 * fs_rng_uniform(&rng) - 1) * bound);
    for (int k = 0; k < b->clients; k++) fs_bank_set_client(b, k, host);
    free(host);
}

void fs_bank_copy_client(fs_adapter_bank *dst, int kd, const fs_adapter_bank *src, int ks)
{
    for (int p = 0; p < dst->nparts; p++)
        dst->ops->copy(fs_bank_part(dst, p, kd), fs_bank_part(src, p, ks),
                       dst->part_numel * sizeof(float));
}

void fs_bank_get_client(const fs_adapter_bank *b, int k, float *host)
{
    for (int p = 0; p < b->nparts; p++)
        b->ops->to_host(host + p * b->part_numel, fs_bank_part(b, p, k),
                        b->part_numel * sizeof(float));
    b->ops->synchronize();
}

void fs_bank_set_client(fs_adapter_bank *b, int k, const float *host)
{
    for (int p = 0; p < b->nparts; p++)
        b->ops->to_device(fs_bank_part(b, p, k), host + p * b->part_numel,
                          b->part_numel * sizeof(float));
}
