/* Emulated device memory as seen by the emulated cuBLAS (runtime.cpp). */
#ifndef FEDSIM_CUDA_EMU_DEVICE_MEMORY_H
#define FEDSIM_CUDA_EMU_DEVICE_MEMORY_H

#include <cstddef>

/* True when [p, p + bytes) lies inside one live cudaMalloc allocation. */
bool fs_emu_device_range(const void *p, size_t bytes);
/* Fills fresh device or shared memory with signalling NaNs. */
void fs_emu_poison(void *p, size_t bytes);

#endif
