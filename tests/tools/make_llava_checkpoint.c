/* make_llava_checkpoint PRESET DIR [--dtype bf16|f16|f32] [--random] [--shard-mb N] [--seed N]
 *
 * Writes a Hugging Face LLaVA directory with the hub's layout for a preset
 * (tests/helpers/llava_checkpoint.h): by default sparse (a 13.5 GB
 * LLaVA-1.5-7B in a few MB of disk), for trying `fedsim info DIR` or the
 * loader without downloading real weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/model/presets.h"
#include "tests/helpers/llava_checkpoint.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: make_llava_checkpoint PRESET DIR [--dtype bf16|f16|f32] [--random] "
               "[--shard-mb N] [--seed N]\n"
               "  PRESET      tiny | llava-1.5-7b | llava-1.5-13b | minigpt4-style-7b\n"
               "  --dtype     tensor dtype (default bf16)\n"
               "  --random    write every value (default: sparse, random bytes only at the ends\n"
               "              of each tensor)\n"
               "  --shard-mb  largest shard in MB (default 5000, as on the hub)\n");
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    tu_ckpt_opts o = {.dtype = FS_BF16, .max_shard_bytes = 5000000000ull, .sparse = true};
    const char *preset = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--random")) o.sparse = false;
        else if (!strcmp(a, "--dtype") && i + 1 < argc) {
            const char *d = argv[++i];
            if (!strcmp(d, "bf16")) o.dtype = FS_BF16;
            else if (!strcmp(d, "f16")) o.dtype = FS_F16;
            else if (!strcmp(d, "f32")) o.dtype = FS_F32;
            else return usage(stderr);
        } else if (!strcmp(a, "--shard-mb") && i + 1 < argc) {
            o.max_shard_bytes = strtoull(argv[++i], NULL, 10) * 1000000ull;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            o.seed = strtoull(argv[++i], NULL, 10);
        } else if (a[0] != '-' && !preset) {
            preset = a;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            return usage(stderr);
        }
    }
    fs_llava_config cfg;
    if (!preset || !dir || !o.max_shard_bytes) return usage(stderr);
    if (fs_llava_config_preset(preset, &cfg) || tu_write_llava_checkpoint(dir, &cfg, &o)) {
        fprintf(stderr, "make_llava_checkpoint: %s\n", fs_last_error());
        return 1;
    }
    return 0;
}
