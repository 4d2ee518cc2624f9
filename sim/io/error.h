/* One error message per thread: a failing function records what went wrong
 * (which file, what, what to do) with fs_fail and returns -1 or NULL; the
 * caller that reports to the user prints fs_last_error(). */
#ifndef FEDSIM_ERROR_H
#define FEDSIM_ERROR_H

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

#endif
