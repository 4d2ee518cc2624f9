/* The vision stage of `fedsim pretrain` (vision.c) and the learning
 * rate schedule both stages share. */
#ifndef FEDSIM_PRETRAIN_VISION_H
#define FEDSIM_PRETRAIN_VISION_H

#include <stdbool.h>

#include "sim/io/pretrain_config.h"
#include "sim/model/mllm.h"

/* base at step (1-based) of steps: linear warm-up over the first 100 steps
 * (a tenth of runs under 1000 steps), then cosine decay to 10%. */
double fs_pretrain_lr(double base, int step, int steps);

/* Trains the vision tower and the projector of m for pc->vision_steps steps of
 * pc->batch synthetic scenes to name, from each image token, the colour and
 * the shape of the object in its scene cell (or "empty"), through a linear
 * head that is then dropped. LLaVA starts from a pretrained CLIP tower; this
 * stage is the tiny model's stand-in for it. m must have grads enabled.
 * 0 or -1 + fs_last_error(). */
int fs_pretrain_vision_stage(fs_mllm *m, const fs_pretrain_config *pc, bool quiet);

#endif
