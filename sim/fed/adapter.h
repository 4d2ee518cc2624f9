/* NanoAdapters: low-rank adapters on the image tokens (after the projector)
 * and on the text token embeddings, h' = h + (alpha/r) B (A h), A: r x d
 * (random init), B: d x r (zero init), d = the LLM hidden size.
 *
 * A bank holds the adapters of many clients in one backend allocation laid
 * out [part][client][r*d], parts = (A, B) per target in the order image, text.
 * Each part is therefore a contiguous [clients x r x d] array — the layout the
 * grouped LoRA op takes — and every per-client operation (optimizer step,
 * aggregation, Fisher) runs part by part over contiguous client blocks. */
#ifndef FEDSIM_ADAPTER_H
#define FEDSIM_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

typedef enum { FS_TARGET_IMAGE = 0, FS_TARGET_TEXT = 1, FS_TARGET_COUNT = 2 } fs_adapter_target;

typedef struct {
    int rank, dim;
    float scale;                   /* alpha / rank */
    bool targets[FS_TARGET_COUNT]; /* which adapters exist */
} fs_adapter_shape;

typedef struct fs_adapter_bank {
    fs_adapter_shape shape;
    const fs_ops *ops;
    int clients;
    int nparts;        /* 2 per present target */
    size_t part_numel; /* r * d: one client's A or B */
    float *data;       /* backend memory, nparts * clients * part_numel floats */
} fs_adapter_bank;

/* Trainable parameters of one client's adapters. */
size_t fs_adapter_params(const fs_adapter_shape *s);

int fs_bank_init(fs_adapter_bank *b, const fs_ops *ops, const fs_adapter_shape *s, int clients);
void fs_bank_free(fs_adapter_bank *b);
size_t fs_bank_numel(const fs_adapter_bank *b);
void fs_bank_zero(fs_adapter_bank *b);
/* Part p of client k. */
float *fs_bank_part(const fs_adapter_bank *b, int part, int client);
/* A (p = 2t) and B (p = 2t+1) arrays of target t over all clients, NULL when absent. */
float *fs_bank_A(const fs_adapter_bank *b, fs_adapter_target t);
float *fs_bank_B(const fs_adapter_bank *b, fs_adapter_target t);

/* LoRA initialisation: A ~ U(-1/sqrt(d), 1/sqrt(d)) (Kaiming-uniform with a = sqrt(5), as PEFT), B = 0;
 * every client of the bank gets the same values. */
void fs_bank_init_lora(fs_adapter_bank *b, uint64_t seed);
/* dst client kd <- src client ks (banks of the same shape). */
void fs_bank_copy_client(fs_adapter_bank *dst, int kd, const fs_adapter_bank *src, int ks);
/* Host copy of one client's parameters in part order (fs_adapter_params floats). */
void fs_bank_get_client(const fs_adapter_bank *b, int k, float *host);
void fs_bank_set_client(fs_adapter_bank *b, int k, const float *host);

#endif
