#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

static _Thread_local char last_error[2048];

int fs_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int fs_fail_context(const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error - sizeof prefix - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t n = strnlen(last_error, sizeof old - 1);
    memcpy(old, last_error, n);
    old[n] = 0;
    snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
    return -1;
}

const char *fs_last_error(void) { return last_error[0] ? last_error : "unknown error"; }
void fs_clear_error(void) { last_error[0] = 0; }

void *fs_alloc_or_fail(const fs_ops *ops, size_t bytes, const char *hint, const char *what, ...)
{
    void *p = ops ? ops->alloc(bytes) : calloc(bytes ? bytes : 1, 1);
    if (!p) {
        char thing[512], text[1024];
        va_list ap;
        va_start(ap, what);
        vsnprintf(thing, sizeof thing, what, ap);
        va_end(ap);
        fs_oom_text(text, sizeof text, ops, bytes, thing);
        fs_fail("%s%s%s", text, hint ? "; " : "", hint ? hint : "");
    }
    return p;
}
