/* Running out of memory is an error message with the sizes involved and what
 * to change, and exit status 1, never a crash: `fedsim run` in a child under
 * an address-space limit (setrlimit RLIMIT_AS) on a config whose adapters
 * cannot fit under it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"


/* Room for fedsim itself (about 0.7 GB mapped with one BLAS thread), far
 * below the 6 GB of adapter rank 4,000,000 needs. */
#define LIMIT_BYTES (3ull << 30)

TestSuite(oom, .init = cli_setup, .timeout = 300);

Test(oom, adapters_beyond_the_memory_limit_give_a_message_not_a_crash)
{
#ifdef TU_UNDER_ASAN
    cr_skip_test("AddressSanitizer reserves terabytes of address space: no RLIMIT_AS under it");
#endif
    const char *cfg = cli_write_config("oom", "oom", " [fedavg]", "oom", "");
    char log[600];
    snprintf(log, sizeof log, "%s/oom.log", cli_dir);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed");
    if (pid == 0) {
        struct rlimit lim = {LIMIT_BYTES, LIMIT_BYTES};
        FILE *f = fopen(log, "w");
        if (!f || setrlimit(RLIMIT_AS, &lim)) _exit(126);
        dup2(fileno(f), STDOUT_FILENO), dup2(fileno(f), STDERR_FILENO);
        /* OpenBLAS retries a failed buffer allocation forever: one thread's
         * buffers stay far inside the limit. */
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        /* past the memory plan (test_memory_plan), to the allocation itself */
        setenv("FEDSIM_MEMORY_LIMIT", "off", 1);
        execl(cli_fedsim, "fedsim", "run", cfg, "--quiet", "--set", "adapter.rank=4000000",
              (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) continue;
    const char *text = cli_slurp_log(log);
    cr_assert(WIFEXITED(st), "fedsim died of signal %d:\n%s", WIFSIGNALED(st) ? WTERMSIG(st) : 0,
              text);
    cr_assert_eq(WEXITSTATUS(st), 1, "%s", text);
    cr_assert(strstr(text, "out of memory: cannot allocate 6.1 GB for adapter state"), "%s", text);
    cr_assert(strstr(text, "free of"), "no memory figures: %s", text);
    cr_assert(strstr(text, "adapter.rank") && strstr(text, "data.partition.clients"),
              "no config key to change: %s", text);
}
