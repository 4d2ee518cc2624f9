/* One error message per thread: a failing function records what went wrong
 * (which file, what, what to do) with fs_fail and returns -1 or NULL; the
 * caller that reports to the user prints fs_last_error(). */
#ifndef FEDSIM_ERROR_H
#define FEDSIM_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define FS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FS_PRINTF(a, b)
#endif

/* Records the message and returns -1. */
int fs_fail(const char *fmt, ...) FS_PRINTF(1, 2);
/* Prefixes the current message with more context ("while loading X: ..."); returns -1. */
int fs_fail_context(const char *fmt, ...) FS_PRINTF(1, 2);
const char *fs_last_error(void);
void fs_clear_error(void);

/* ops->alloc(bytes) (zeroed backend memory), or zeroed host memory when ops
 * is NULL. Out of memory: NULL, with the message fs_oom_text (kernels/ops.h:
 * "out of memory: cannot allocate <size> for <what> (<memory>: <free> free
 * of <total>)") + "; <hint>" (hint may be NULL: the config keys that shrink
 * the need). For every allocation whose size grows with the config (model,
 * clients, data, rank). */
struct fs_ops;
void *fs_alloc_or_fail(const struct fs_ops *ops, size_t bytes, const char *hint,
                       const char *what, ...) FS_PRINTF(4, 5);

#endif
