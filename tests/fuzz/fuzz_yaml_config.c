/* libFuzzer target: the input is YAML text for fs_config_load_string (the run
 * configuration); when it loads, the sweep cells and the YAML round trip are
 * exercised too. Must never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config.h"
#include "sim/io/error.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    static fs_config c, cell, back; /* large: keep them off the stack */
    fs_clear_error();
    if (fs_config_load_string(text, "fuzz.yaml", NULL, 0, &c) == 0) {
        long cells = fs_config_sweep_cells(&c);
        char label[256];
        for (long i = 0; i < cells && i < 4; i++) fs_config_sweep_cell(&c, i, &cell, label, sizeof label);
        char *yaml = fs_config_to_yaml(&c);
        if (yaml) {
            /* The emitted YAML must load back (the documented round trip). */
            if (c.n_sweep == 0 && fs_config_load_string(yaml, "emitted.yaml", NULL, 0, &back) != 0) {
                fprintf(stderr, "round trip failed: %s\n--- input\n%s\n--- emitted\n%s\n",
                        fs_last_error(), text, yaml);
                abort();
            }
            free(yaml);
        }
    } else {
        fz_require_message();
    }
    free(text);
    return 0;
}
