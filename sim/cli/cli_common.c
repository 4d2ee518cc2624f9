/* Option parsing and backend choice shared by the subcommands. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sim/cli/commands.h"

const fs_ops *fs_cli_backend(const char *name, int threads)
{
    const char *why = NULL;
    const fs_ops *o = fs_backend_by_name(name, &why);
    if (!o) {
        fprintf(stderr, "fedsim: --backend %s: %s\n", name, why ? why : "not available");
        return NULL;
    }
    fs_set_threads(threads);
    return o;
}

int fs_cli_int(const char *flag, const char *value, int min)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || *end || end == value || v < min || v > INT_MAX) {
        fprintf(stderr, "fedsim: %s expects an integer of at least %d, got '%s'\n", flag, min, value);
        return -1;
    }
    return (int)v;
}

int fs_cli_getopt(int argc, char **argv, const char *cmd, const char *shorts,
                  const struct option *opts)
{
    static char **scanning; /* a new argv starts a fresh scan */
    if (argv != scanning) {
        scanning = argv;
        optind = 0; /* glibc: re-initialise */
        opterr = 0; /* the messages below name the command */
    }
    char optstring[32];
    snprintf(optstring, sizeof optstring, ":%s", shorts); /* a missing value gives ':' */
    int c = getopt_long(argc, argv, optstring, opts, NULL);
    if (c != '?' && c != ':') return c;
    const char *arg = argv[optind - 1];
    char flag[3] = {'-', (char)optopt, 0};
    if (optopt && (arg[0] != '-' || arg[1] != '-')) arg = flag; /* a short option */
    if (c == ':')
        fprintf(stderr, "fedsim %s: option '%s' needs a value\n\n", cmd, arg);
    else
        fprintf(stderr, "fedsim %s: unknown option '%s'\n\n", cmd, arg);
    return '?';
}

int fs_cli_operand(int argc, char **argv, const char *cmd, const char **operand)
{
    int allowed = operand != NULL;
    if (operand) *operand = optind < argc ? argv[optind] : NULL;
    if (optind + allowed >= argc) return 0;
    fprintf(stderr, "fedsim %s: unexpected argument '%s'\n\n", cmd, argv[optind + allowed]);
    return -1;
}
