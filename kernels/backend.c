/* Backend selection by name, and which GPU the CUDA backend opens. */
#include "ops.h"

#include <string.h>

const fs_ops *fs_backend_by_name(const char *name, const char **why)
{
    if (why) *why = NULL;
    if (!name || !strcmp(name, "cpu")) return fs_backend_cpu();
    if (!strcmp(name, "cuda")) return fs_backend_cuda(why);
    if (!strcmp(name, "auto")) {
#ifdef FEDSIM_CUDA_EMU
        /* The emulated CUDA backend is for tests, ~100x slower than the CPU
         * backend: "auto" means a real GPU, so it is never chosen here. */
        return fs_backend_cpu();
#else
        const fs_ops *cuda = fs_backend_cuda(NULL);
        return cuda ? cuda : fs_backend_cpu();
#endif
    }
    if (why) *why = "unknown backend (expected cpu, cuda or auto)";
    return NULL;
}

static int device_ordinal;

void fs_backend_set_device(int ordinal) { device_ordinal = ordinal < 0 ? 0 : ordinal; }
int fs_backend_device(void) { return device_ordinal; }
