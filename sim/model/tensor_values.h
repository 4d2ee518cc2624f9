/* Checks on the values of stored tensors (as opposed to their names, shapes
 * and dtypes, which loading checks). */
#ifndef FEDSIM_TENSOR_VALUES_H
#define FEDSIM_TENSOR_VALUES_H

#include <stddef.h>

#include "sim/model/safetensors.h"

/* How many of t's values are NaN or infinite (0 for integer dtypes). */
size_t fs_tensor_count_nonfinite(const fs_st_tensor *t);

#endif
