/* One function per fedsim subcommand; each returns the process exit code. */
#ifndef FEDSIM_COMMANDS_H
#define FEDSIM_COMMANDS_H

#include <getopt.h>

#include "kernels/ops.h"

int fs_cmd_demo(int argc, char **argv);
int fs_cmd_info(int argc, char **argv);
int fs_cmd_run(int argc, char **argv);
int fs_cmd_sweep(int argc, char **argv);
int fs_cmd_report(int argc, char **argv);
int fs_cmd_export(int argc, char **argv);
int fs_cmd_data(int argc, char **argv);
int fs_cmd_pretrain(int argc, char **argv);

/* Shared option handling: --backend NAME and --threads N. Returns the op
 * table or NULL after printing why. */
const fs_ops *fs_cli_backend(const char *name, int threads);
/* Parses an integer option value of at least min (0 for a count that may be
 * zero, 1 for a size); anything else prints one message naming the flag, the
 * value and what it accepts, and returns -1. */
int fs_cli_int(const char *flag, const char *value, int min);

/* getopt_long over a command's arguments (argv[0]: the command's name;
 * shorts: the short options in getopt's form, e.g. "hq"): the next option's
 * val, -1 after the last. An unknown option or one without its
 * value prints "fedsim CMD: unknown option '--x'" (or "option '--x' needs a
 * value") and returns '?': the caller then prints its usage and exits 2. */
int fs_cli_getopt(int argc, char **argv, const char *cmd, const char *shorts,
                  const struct option *opts);
/* After the options: *operand = the command's one operand (NULL if none);
 * a second one (any one, when operand is NULL) prints a message naming it
 * and returns -1. */
int fs_cli_operand(int argc, char **argv, const char *cmd, const char **operand);

#endif
