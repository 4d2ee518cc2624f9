/* Stand-in for NVTX in the emulated CUDA build: ranges mark nothing on the CPU. */
#ifndef FEDSIM_CUDA_EMU_NVTOOLSEXT_H
#define FEDSIM_CUDA_EMU_NVTOOLSEXT_H
static inline int nvtxRangePushA(const char *name) { (void)name; return 0; }
static inline int nvtxRangePop(void) { return 0; }
#endif
