/* Shared fixture of the end-to-end suites that drive the fedsim binary
 * (test_cli, test_interrupt, test_checkpoint): a temporary directory holding
 * a tiny pretrained model and a small synth-iconqa dataset, shell commands,
 * child processes, whole-file reads and the run config they all start from. */
#ifndef FEDSIM_CLI_HELPERS_H
#define FEDSIM_CLI_HELPERS_H

#include <criterion/criterion.h>
#include <sys/types.h>

/* Set by cli_setup: the suite's temporary directory, the tiny model in
 * <cli_dir>/model and the fedsim binary under test. */
extern char cli_dir[256], cli_model[512], cli_fedsim[1024];

/* Suite .init part: a fresh cli_dir, the binary at $FEDSIM_BUILD_DIR/fedsim
 * (asserted executable), FEDSIM_DATA_CACHE pointed at cli_dir, then `fedsim
 * pretrain` (2 steps) into cli_model and `fedsim data synth synth-iconqa` (60
 * train, 40 test) into <cli_dir>/data; either failing fails the suite. */
void cli_setup(void);

/* system() of the formatted command line; its wait status. */
int cli_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The file's text (static buffer, at most 64 KiB); cli_slurp asserts that it
 * opens, cli_slurp_log gives "(no log)" when it does not. */
const char *cli_slurp(const char *path);
const char *cli_slurp_log(const char *path);

/* Writes <cli_dir>/<file>.yaml and returns its path (static buffer): run
 * `name`, seed 3, cli_model, <cli_dir>/data over 3 clients (Dirichlet 0.5 by
 * category), 2 rounds of 1 local epoch, rank-4 adapters, cpu with 2 threads,
 * output in <cli_dir>/<out>; methods is the YAML after "methods:" (a flow
 * list " [a, b]" or a block "\n  - a\n  - b"), extra is appended verbatim. */
const char *cli_write_config(const char *file, const char *name, const char *methods,
                             const char *out, const char *extra);

/* Starts cli_fedsim with argv (argv[0] "fedsim", NULL-terminated), its
 * output appended to log; asserts that fork works. */
pid_t cli_spawn(const char *log, const char *const argv[]);
/* The child's wait status (waitpid, retried when interrupted). */
int cli_wait(pid_t pid);
void cli_sleep(double seconds);
double cli_now(void); /* monotonic clock, seconds */

#endif
