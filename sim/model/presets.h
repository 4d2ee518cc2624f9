/* Built-in architecture presets. */
#ifndef FEDSIM_PRESETS_H
#define FEDSIM_PRESETS_H

#include "sim/model/llava_config.h"

/* A tiny LLaVA-architecture configuration (all features exercised: GQA,
 * projector biases, feature layer -2) for demos and tests. */
fs_llava_config fs_llava_config_tiny(void);

#endif
