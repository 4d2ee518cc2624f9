/* Graceful stop on SIGINT / SIGTERM for long commands (fedsim run, sweep).
 *
 * fs_interrupt_install() makes the first SIGINT or SIGTERM only set a flag
 * (and print one line saying so); the round loop polls fs_interrupted() and
 * stops after the round it is in, leaving the method in progress incomplete
 * in the results store (a resumed sweep re-runs it, or, with
 * output.checkpoint_every, continues it from the checkpoint written at the
 * stop; sim/fed/checkpoint.h). The handler restores the
 * default action of both signals, so a second signal while stopping ends the
 * process at once. */
#ifndef FEDSIM_INTERRUPT_H
#define FEDSIM_INTERRUPT_H

#include <stdbool.h>

/* Installs the handlers (idempotent). 0, or -1 + fs_last_error(). */
int fs_interrupt_install(void);
/* True once SIGINT or SIGTERM arrived after fs_interrupt_install. */
bool fs_interrupted(void);
/* The signal that arrived (SIGINT, SIGTERM), 0 if none. */
int fs_interrupt_signal(void);
/* The conventional exit status for it: 128 + signal (130 SIGINT, 143 SIGTERM); 1 if none. */
int fs_interrupt_exit_code(void);

#endif
