/* libFuzzer target: the input is a Hugging Face LLaVA config.json for
 * fs_llava_config_load. Must never crash or leak; a loaded config must pass
 * validation. */
#include <stdint.h>
#include <stdlib.h>

#include "sim/io/error.h"
#include "sim/model/llava_config.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0]) fz_path(path, sizeof path, "config.json");
    fz_write(path, data, size);
    fs_llava_config c;
    fs_clear_error();
    if (fs_llava_config_load(path, &c) == 0) {
        if (fs_llava_config_validate(&c, "fuzz") != 0) {
            fprintf(stderr, "loaded but invalid: %s\n", fs_last_error());
            abort();
        }
    } else {
        fz_require_message();
    }
    return 0;
}
