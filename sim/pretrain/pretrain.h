/* Pretraining a small LLaVA-architecture model from scratch (pretrain.c,
 * with the vision stage of vision.c): what `fedsim pretrain` runs. */
#ifndef FEDSIM_PRETRAIN_H
#define FEDSIM_PRETRAIN_H

#include <stdbool.h>

#include "sim/io/pretrain_config.h"

/* Trains every weight on the synthetic source corpus as pc says (after its
 * optional vision stage), reporting held-out accuracy on stderr unless quiet,
 * and writes pc->out as a Hugging Face LLaVA directory with its vocabulary.
 * 0 or -1 + fs_last_error(). */
int fs_pretrain_run(const fs_pretrain_config *pc, bool quiet);

#endif
