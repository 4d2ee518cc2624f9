/* Out-of-memory messages: one wording for every layer (kernels/ops.h). */
#include "ops.h"

#include <stdio.h>

const char *fs_human_bytes(double b, char *buf, size_t cap)
{
    static const char *const unit[] = {"bytes", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (b >= 1000 && u < 5) b /= 1000, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

void fs_oom_text(char *buf, size_t cap, const fs_ops *ops, size_t bytes, const char *what)
{
    const fs_ops *o = ops ? ops : fs_backend_cpu();
    char need[32], avail[32], total[32], mem[160] = "";
    size_t free_bytes, total_bytes;
    if (o->mem_info && o->mem_info(&free_bytes, &total_bytes) == 0)
        snprintf(mem, sizeof mem, " (%s memory: %s free of %s)",
                 o == fs_backend_cpu() ? "host" : o->name,
                 fs_human_bytes((double)free_bytes, avail, sizeof avail),
                 fs_human_bytes((double)total_bytes, total, sizeof total));
    snprintf(buf, cap, "out of memory: cannot allocate %s for %s%s",
             fs_human_bytes((double)bytes, need, sizeof need), what, mem);
}

void fs_op_oom(const fs_ops *ops, size_t bytes, const char *what)
{
    char text[768];
    fs_oom_text(text, sizeof text, ops, bytes, what);
    fs_op_error(FS_OP_OUT_OF_MEMORY,
                "%s; leave room with fewer clients (data.partition.clients) or a smaller "
                "adapter.rank%s", text,
                ops && ops != fs_backend_cpu() ? ", or use runtime.backend: cpu" : "");
}
