/* libFuzzer target: the input is a `fedsim pretrain` YAML config for
 * fs_pretrain_config_load + fs_pretrain_config_check. Must never crash or
 * leak, and every refusal must carry a message. */
#include <stdint.h>
#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/io/pretrain_config.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0]) fz_path(path, sizeof path, "pretrain.yaml");
    fz_write(path, data, size);
    fs_pretrain_config pc;
    fs_pretrain_config_defaults(&pc);
    fs_clear_error();
    if (fs_pretrain_config_load(path, &pc) != 0 || fs_pretrain_config_check(&pc) != 0)
        fz_require_message();
    return 0;
}
