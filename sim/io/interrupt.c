/* SIGINT / SIGTERM -> a flag polled between rounds; see interrupt.h. */
#include "sim/io/interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/error.h"

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
    int saved = errno;
    if (!caught_signal) caught_signal = sig;
    /* A second SIGINT/SIGTERM takes the default action: the process ends now. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    static const char msg[] = "\nfedsim: interrupted; stopping after the current round "
                              "(send the signal again to quit at once)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    errno = saved;
}

int fs_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART; /* file I/O in progress (HDF5, fsync) is not cut short */
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
        return fs_fail("cannot install the SIGINT/SIGTERM handlers: %s", strerror(errno));
    return 0;
}

bool fs_interrupted(void) { return caught_signal != 0; }

int fs_interrupt_signal(void) { return (int)caught_signal; }

int fs_interrupt_exit_code(void) { return caught_signal ? 128 + (int)caught_signal : 1; }
