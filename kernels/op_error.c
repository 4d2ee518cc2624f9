/* Errors inside ops go to a settable handler (kernels/ops.h). */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static fs_op_error_handler handler;
static void *handler_ctx;

fs_op_error_handler fs_set_op_error_handler(fs_op_error_handler h, void *ctx)
{
    fs_op_error_handler previous = handler;
    handler = h;
    handler_ctx = ctx;
    return previous;
}

void fs_op_error(fs_op_error_kind kind, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (handler) handler(kind, message, handler_ctx);
    fflush(stdout);
    fprintf(stderr, "fedsim: %s\n", message);
    _Exit(1);
}
