/* The configuration of `fedsim pretrain`: the architecture, the source corpus
 * mixture and the optimisation, from a YAML file (configs/pretrain-tiny.yaml
 * documents every key) over built-in defaults. */
#ifndef FEDSIM_PRETRAIN_CONFIG_H
#define FEDSIM_PRETRAIN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/synth.h"
#include "sim/model/llava_config.h"

#define FS_PRETRAIN_MAX_BATCH 256
#define FS_PRETRAIN_MAX_HELD_OUT 16

typedef struct {
    const char *out;  /* output model directory */
    const char *init; /* model directory to continue from (NULL: random weights) */
    uint64_t seed;
    int threads;     /* 0 = auto */
    fs_llava_config model;
    int corpus;      /* corpus items */
    fs_source_mix mix;
    int steps, batch, eval_every;
    double lr, weight_decay;
    /* The vision stage before the LLaVA stage: vision_steps of per-patch
     * colour and shape classification (0: none); then the tower is frozen
     * unless vision_trained_after. */
    int vision_steps;
    double vision_lr;
    bool vision_trained_after;
    /* storage behind out, init and mix.held_out when loaded from a file */
    char out_buf[4096], init_buf[4096];
    char held_out_buf[FS_PRETRAIN_MAX_HELD_OUT][64];
    const char *held_out_ptr[FS_PRETRAIN_MAX_HELD_OUT];
} fs_pretrain_config;

/* The tiny preset (2-layer LLM), captions only, 1500 steps of batch 32 at lr
 * 3e-3 (configs/pretrain-tiny.yaml; the shipped models/tiny-llava is the chain
 * of configs/pretrain-default/). */
void fs_pretrain_config_defaults(fs_pretrain_config *pc);
/* Reads path over the current values; errors name path:line:key. 0 or -1. */
int fs_pretrain_config_load(const char *path, fs_pretrain_config *pc);
/* Checks ranges and consistency (heads divide hidden, out given) and derives
 * the LLM head size. 0 or -1. */
int fs_pretrain_config_check(fs_pretrain_config *pc);

#endif
