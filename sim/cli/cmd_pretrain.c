/* fedsim pretrain: the command's arguments; the trainer is sim/pretrain. */
#include <stdio.h>
#include <stdlib.h>

#include "sim/cli/commands.h"
#include "sim/io/error.h"
#include "sim/pretrain/pretrain.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: fedsim pretrain [CONFIG] [--out DIR] [--init DIR] [--steps N] [--batch B]\n"
               "                       [--lr LR] [--corpus N] [--seed S] [--threads N] [--quiet]\n"
               "\n"
               "Trains a small LLaVA-architecture model from scratch on the synthetic source\n"
               "corpus (captioned scenes and source-format lettered questions), after an\n"
               "optional vision stage (vision.steps), and writes DIR/config.json,\n"
               "model.safetensors and vocab.txt. CONFIG is a YAML file (see\n"
               "configs/pretrain-tiny.yaml for every key and its default); the flags override it.\n");
}

int fs_cmd_pretrain(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},       {"quiet", no_argument, NULL, 'q'},
        {"out", required_argument, NULL, 'o'},  {"init", required_argument, NULL, 'i'},
        {"steps", required_argument, NULL, 's'}, {"batch", required_argument, NULL, 'b'},
        {"corpus", required_argument, NULL, 'c'}, {"threads", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 'S'}, {"lr", required_argument, NULL, 'l'},
        {0}};
    /* the flags override CONFIG, which may come after them: applied once it is loaded */
    int n_set = 0, *set_opt = malloc((size_t)argc * sizeof *set_opt);
    char **set_val = malloc((size_t)argc * sizeof *set_val);
    bool quiet = false;
    int rc = !set_opt || !set_val ? 1 : -1;
    if (rc == 1) fprintf(stderr, "fedsim pretrain: out of memory\n");
    for (int c; rc < 0 && (c = fs_cli_getopt(argc, argv, "pretrain", "h", opts)) != -1;) {
        if (c == 'h' || c == '?') {
            usage(c == 'h' ? stdout : stderr);
            rc = c == 'h' ? 0 : 2;
        } else if (c == 'q') {
            quiet = true;
        } else {
            set_opt[n_set] = c, set_val[n_set++] = optarg;
        }
    }
    const char *config = NULL;
    fs_pretrain_config pc;
    fs_pretrain_config_defaults(&pc);
    if (rc < 0 && fs_cli_operand(argc, argv, "pretrain", &config)) {
        usage(stderr);
        rc = 2;
    } else if (rc < 0 && config && fs_pretrain_config_load(config, &pc)) {
        fprintf(stderr, "fedsim pretrain: %s\n", fs_last_error());
        rc = 2;
    }
    for (int i = 0; rc < 0 && i < n_set; i++) {
        const char *v = set_val[i];
        char flag[32];
        for (const struct option *o = opts; o->name; o++)
            if (o->val == set_opt[i]) snprintf(flag, sizeof flag, "--%s", o->name);
        switch (set_opt[i]) {
        case 'o': pc.out = v; break;
        case 'i': pc.init = v; break;
        case 's': pc.steps = fs_cli_int(flag, v, 0); break;
        case 'b': pc.batch = fs_cli_int(flag, v, 0); break;
        case 'c': pc.corpus = fs_cli_int(flag, v, 0); break;
        case 't': pc.threads = fs_cli_int(flag, v, 0); break;
        case 'S': pc.seed = (uint64_t)fs_cli_int(flag, v, 0); break;
        case 'l': pc.lr = atof(v); break;
        }
    }
    free(set_opt), free(set_val);
    if (rc >= 0) return rc;
    if (fs_pretrain_config_check(&pc)) {
        fprintf(stderr, "fedsim pretrain: %s\n", fs_last_error());
        usage(stderr);
        return 2;
    }
    if (fs_pretrain_run(&pc, quiet)) {
        fprintf(stderr, "fedsim pretrain: %s\n", fs_last_error());
        return 1;
    }
    return 0;
}
