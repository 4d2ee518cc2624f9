/* Errors inside ops reach a settable handler (kernels/ops.h, fs_op_error):
 * an installed one gets the kind and message and can longjmp back to the
 * caller (what a program embedding libfedsim does); the default one prints
 * and ends the process with status 1, as fedsim always did. */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "kernels/ops.h"

static jmp_buf back;
static fs_op_error_kind got_kind;
static char got[1024];
static int calls;

static void record_and_jump(fs_op_error_kind kind, const char *message, void *ctx)
{
    got_kind = kind;
    snprintf(got, sizeof got, "%s", message);
    calls += ctx == &calls;
    longjmp(back, 1);
}

Test(op_errors, a_bad_token_id_reaches_the_installed_handler)
{
    fs_set_threads(1); /* the handler longjmps: ops must run on this thread */
    const fs_ops *cpu = fs_backend_cpu();
    float table_data[3 * 2] = {0}, y[2 * 2];
    fs_tensor table = {table_data, FS_F32, 2, {3, 2}};
    int32_t ids[2] = {1, 7};
    cr_assert_null(fs_set_op_error_handler(record_and_jump, &calls));
    if (!setjmp(back)) {
        cpu->embedding_fwd(y, ids, &table, 2, 2);
        cr_assert_fail("the op returned after a bad token id");
    }
    cr_assert_eq(got_kind, FS_OP_BAD_INPUT);
    cr_assert_str_eq(got, "embedding: token id 7 at row 1 is outside [0, 3)");
    cr_assert_eq(calls, 1, "the handler's context was not passed");

    /* out of memory in an op: the same route, with the usual wording */
    if (!setjmp(back)) fs_op_oom(NULL, 3000000, "a test buffer");
    cr_assert_eq(got_kind, FS_OP_OUT_OF_MEMORY);
    cr_assert(strstr(got, "out of memory: cannot allocate 3.0 MB for a test buffer") == got, "%s",
              got);
    cr_assert_eq(fs_set_op_error_handler(NULL, NULL), record_and_jump);
}

Test(op_errors, the_default_handler_prints_and_exits_1, .exit_code = 1)
{
    fs_op_error(FS_OP_INTERNAL, "a test error %d", 42);
}

static void returns(fs_op_error_kind kind, const char *message, void *ctx)
{
    (void)kind, (void)message, (void)ctx;
}

Test(op_errors, a_handler_that_returns_still_ends_the_process, .exit_code = 1)
{
    fs_set_op_error_handler(returns, NULL);
    fs_op_error(FS_OP_DEVICE, "a test error");
}
