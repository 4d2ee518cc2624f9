/* Shared by the libFuzzer targets: a per-process scratch file that each
 * input is written to (the parsers under test read paths, not memory). */
#ifndef FEDSIM_FUZZ_COMMON_H
#define FEDSIM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/error.h"

/* A fresh private directory (mkdtemp under $TMPDIR or /tmp), made once. */
static inline const char *fz_dir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/fedsim-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
    }
    return dir;
}

/* out = <fz_dir()>/name */
static inline void fz_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", fz_dir(), name);
}

/* Writes bytes to path (replacing it); aborts on I/O failure (not a finding). */
static inline void fz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}

/* After a failed call: the parser must have said why (fs_fail). */
static inline void fz_require_message(void)
{
    if (!strcmp(fs_last_error(), "unknown error")) {
        fprintf(stderr, "fuzz: a parser failed without an error message\n");
        abort();
    }
}

#endif
