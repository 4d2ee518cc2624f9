#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim/cli/commands.h"

const fs_ops *fs_cli_backend(const char *name, int threads)
{
    const char *why = NULL;
    const fs_ops *o = fs_backend_by_name(name, &why);
    if (!o) {
        fprintf(stderr, "fedsim: --backend %s: %s\n", name, why ? why : "not available");
        return NULL;
    }
    fs_set_threads(threads);
    return o;
}

int fs_cli_int(const char *flag, const char *value, int min)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || *end || end == value || v < min || v > INT_MAX) {
        fprintf(stderr, "fedsim: %s expects an integer of at least %d, got '%s'\n", flag, min, value);
        return -1;
    }
    return (int)v;
}
