/* libFuzzer target: the input is both an image file for fs_clip_load_image
 * (stb_image decoding, transparency, resize and crop, with either resampler)
 * and a preprocessor_config.json for fs_clip_options_load. Must never crash
 * or leak; every failure must say why, and loaded options must pass
 * fs_clip_options_check. */
#include <stdint.h>
#include <stdlib.h>

#include "datasets/clip_image.h"
#include "sim/io/error.h"
#include "tests/fuzz/fuzz_common.h"

enum { SIZE = 24 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char image[600], config[600];
    if (!image[0]) {
        fz_path(image, sizeof image, "image");
        fz_path(config, sizeof config, "preprocessor_config.json");
    }
    static float out[3 * SIZE * SIZE];
    fs_clip_options o;
    fs_clip_options_default(&o, SIZE);
    fz_write(image, data, size);
    for (int r = 0; r < 2; r++) {
        o.resampler = r ? FS_CLIP_RESAMPLE_PIL : FS_CLIP_RESAMPLE_TORCHVISION;
        fs_clear_error();
        if (fs_clip_load_image(image, &o, out)) {
            fz_require_message();
            break;
        }
    }
    fz_write(config, data, size);
    fs_clear_error();
    if (fs_clip_options_load(fz_dir(), SIZE, &o) == 0) {
        if (fs_clip_options_check(&o, SIZE, "fuzz")) abort();
        if (fs_clip_load_image(image, &o, out)) fz_require_message();
    } else {
        fz_require_message();
    }
    return 0;
}
