/* fedsim report: the statistics table and figures of a results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/commands.h"
#include "sim/cli/report.h"
#include "sim/io/error.h"

static void report_usage(FILE *f)
{
    fprintf(f,
            "usage: fedsim report FILE.h5 [--plots PREFIX | --no-plot] [--plot OUT.png]\n"
            "                     [--auto-range]\n"
            "\n"
            "Prints one row per cell group (the cell label without seed=) and method: the\n"
            "mean over seeds of the mean-client, worst-client and global accuracy with its\n"
            "95 %% confidence interval (Student t), the paired difference of mean accuracy\n"
            "to %s on the same seeds (* = its interval excludes 0), upload and time;\n"
            "a legend under the table explains each column.\n"
            "\n"
            "Draws, per cell group, PREFIX.<group>.acc-vs-round.png,\n"
            "PREFIX.<group>.loss-vs-round.png and PREFIX.<group>.acc-vs-upload.png\n"
            "(<group>: the cell group with '=' as '-' and ',' as '_').\n"
            "\n"
            "  --plots PREFIX  where the figures go (default: FILE without .h5)\n"
            "  --plot OUT.png  also draw the first cell group's accuracy-vs-round figure there\n"
            "  --no-plot       the table only\n"
            "  --auto-range    accuracy axes fit the data (default: 0-100 %%)\n",
            FS_REPORT_REFERENCE_METHOD);
}

int fs_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"plot", required_argument, NULL, 'p'},
                                         {"plots", required_argument, NULL, 'P'},
                                         {"no-plot", no_argument, NULL, 'n'},
                                         {"auto-range", no_argument, NULL, 'a'},
                                         {0}};
    const char *file, *prefix = NULL;
    fs_report_options o = {0};
    bool no_plot = false;
    for (int c; (c = fs_cli_getopt(argc, argv, "report", "h", opts)) != -1;) {
        switch (c) {
        case 'h': report_usage(stdout); return 0;
        case 'p': o.first_acc_png = optarg; break;
        case 'P': prefix = optarg; break;
        case 'n': no_plot = true; break;
        case 'a': o.auto_range = true; break;
        default: report_usage(stderr); return 2;
        }
    }
    if (fs_cli_operand(argc, argv, "report", &file)) {
        report_usage(stderr);
        return 2;
    }
    if (!file) {
        report_usage(stderr);
        return 2;
    }
    if (no_plot && (prefix || o.first_acc_png)) {
        fprintf(stderr, "fedsim report: --no-plot contradicts --plots/--plot\n");
        return 2;
    }
    char *def = fs_report_default_prefix(file);
    o.plot_prefix = no_plot ? NULL : prefix ? prefix : def;
    int rc = def ? fs_report_file(file, &o) : -1;
    free(def);
    if (rc) {
        fprintf(stderr, "fedsim report: %s\n", fs_last_error());
        return 1;
    }
    return 0;
}
