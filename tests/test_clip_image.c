/* CLIP image preprocessing (datasets/clip_image.h): hand-checkable cases that
 * always run, and parity with the transformers image processor on test images
 * made by tests/reference/clip_preprocess_ref.py (skipped without the
 * reference virtualenv). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "datasets/clip_image.h"
#include "datasets/draw.h"
#include "sim/io/error.h"
#include "tests/helpers/testutil.h"

/* What the processor gives for channel value v in channel c with CLIP's defaults. */
static float clip_value(int v, int c)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    return (v / 255.0f - mean[c]) / std[c];
}

static const fs_clip_resampler both[2] = {FS_CLIP_RESAMPLE_TORCHVISION, FS_CLIP_RESAMPLE_PIL};

/* ------------------------------------------------------------ CPU-only checks */

Test(clip_image, bicubic_matches_hand_computation)
{
    /* Keys cubic a = -0.5. 4 -> 2 (scale 2, support 4): output 0 is centred at
     * 1.0 with weights f(0.25 / 2 steps) = [0.8671875, 0.8671875, 0.2265625,
     * -0.0703125] / 1.890625 over inputs 0..3, giving 60.35; output 1 mirrors
     * it: 220.68. 2 -> 4 (upscale, support 2): centres 0.25, 0.75, 1.25, 1.75
     * give -8.8 (clamped to 0), 20.7, 79.3 and 108.8. */
    const uint8_t down_in[4] = {0, 100, 200, 255}, down_want[2] = {60, 221};
    const uint8_t up_in[2] = {0, 100}, up_want[4] = {0, 21, 79, 109};
    for (int r = 0; r < 2; r++) {
        uint8_t in[12], out[12];
        for (int i = 0; i < 4; i++) in[3 * i] = in[3 * i + 1] = in[3 * i + 2] = down_in[i];
        cr_assert_eq(fs_clip_resize_rgb(in, 4, 1, out, 2, 1, both[r]), 0);
        for (int i = 0; i < 6; i++)
            cr_assert_eq(out[i], down_want[i / 3], "resampler %d: 4->2 pixel %d is %d, want %d",
                         r, i / 3, out[i], down_want[i / 3]);
        /* The same along the vertical axis. */
        cr_assert_eq(fs_clip_resize_rgb(in, 1, 4, out, 1, 2, both[r]), 0);
        for (int i = 0; i < 6; i++) cr_assert_eq(out[i], down_want[i / 3]);
        for (int i = 0; i < 2; i++) in[3 * i] = in[3 * i + 1] = in[3 * i + 2] = up_in[i];
        cr_assert_eq(fs_clip_resize_rgb(in, 2, 1, out, 4, 1, both[r]), 0);
        for (int i = 0; i < 12; i++)
            cr_assert_eq(out[i], up_want[i / 3], "resampler %d: 2->4 pixel %d is %d, want %d",
                         r, i / 3, out[i], up_want[i / 3]);
    }
}

Test(clip_image, constant_image_stays_constant)
{
    /* The integer weights of every output pixel sum to 1 within rounding, so a
     * flat image survives any downscale or upscale exactly. */
    const int sizes[][2] = {{53, 29}, {7, 5}, {32, 100}, {1, 1}};
    fs_clip_options o;
    fs_clip_options_default(&o, 32);
    float *out = malloc(3 * 32 * 32 * sizeof *out);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        uint8_t *img = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h; i++) img[3 * i] = 200, img[3 * i + 1] = 3, img[3 * i + 2] = 255;
        for (int r = 0; r < 2; r++) {
            o.resampler = both[r];
            cr_assert_eq(fs_clip_preprocess(img, w, h, &o, out), 0);
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < 32 * 32; i++)
                    cr_assert_eq(out[c * 32 * 32 + i], clip_value(img[c], c),
                                 "%dx%d, resampler %d: channel %d pixel %d is %g", w, h, r, c, i,
                                 out[c * 32 * 32 + i]);
        }
        free(img);
    }
    free(out);
}

/* An image whose red channel is 5 * column and green is 3 * row (mod 256). */
static uint8_t *coordinate_image(int w, int h)
{
    uint8_t *img = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(5 * x), p[1] = (uint8_t)(3 * y), p[2] = 7;
        }
    return img;
}

Test(clip_image, centre_crop_geometry)
{
    /* Shorter side already 32: no resize, a centre crop of 32 starting at
     * (side - 32) / 2 (rounded down) along the longer side. */
    const int sizes[][2] = {{41, 32}, {40, 32}, {32, 45}};
    fs_clip_options o;
    fs_clip_options_default(&o, 32);
    float out[3 * 32 * 32];
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1], x0 = (w - 32) / 2, y0 = (h - 32) / 2;
        uint8_t *img = coordinate_image(w, h);
        cr_assert_eq(fs_clip_preprocess(img, w, h, &o, out), 0);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                cr_assert_eq(out[y * 32 + x], clip_value((uint8_t)(5 * (x + x0)), 0),
                             "%dx%d: column %d does not come from column %d", w, h, x, x + x0);
                cr_assert_eq(out[1024 + y * 32 + x], clip_value((uint8_t)(3 * (y + y0)), 1),
                             "%dx%d: row %d does not come from row %d", w, h, y, y + y0);
            }
        free(img);
    }
    /* Cropping 8 out of 5 pads with zeros: torchvision puts floor(3/2) = 1
     * column before the image, the PIL backend ceil(3/2) = 2. */
    o.do_resize = false;
    o.crop_h = o.crop_w = 8;
    uint8_t *img = coordinate_image(5, 5);
    for (int r = 0; r < 2; r++) {
        o.resampler = both[r];
        int pad = r == 0 ? 1 : 2;
        cr_assert_eq(fs_clip_preprocess(img, 5, 5, &o, out), 0);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int sx = x - pad, sy = y - pad;
                bool in = sx >= 0 && sx < 5 && sy >= 0 && sy < 5;
                cr_assert_eq(out[y * 8 + x], clip_value(in ? (uint8_t)(5 * sx) : 0, 0),
                             "resampler %d: red at (%d, %d)", r, x, y);
                cr_assert_eq(out[64 + y * 8 + x], clip_value(in ? (uint8_t)(3 * sy) : 0, 1),
                             "resampler %d: green at (%d, %d)", r, x, y);
            }
    }
    free(img);
}

Test(clip_image, crop_of_a_long_image_equals_the_crop_of_its_full_resize)
{
    /* The centre crop resizes only the window it keeps; that must be the
     * pixels of the full resize (whose fixed-point precision depends on the
     * whole axis), in both orientations and with both resamplers. */
    const int sizes[][2] = {{5, 403}, {403, 5}, {37, 90}, {90, 37}};
    fs_clip_options o;
    fs_clip_options_default(&o, 24);
    float out[3 * 24 * 24];
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int r = 0; r < 2; r++) {
            int w = sizes[s][0], h = sizes[s][1];
            int rw = w < h ? 24 : (int)(24.0 * w / h), rh = w < h ? (int)(24.0 * h / w) : 24;
            uint8_t *img = malloc((size_t)w * h * 3), *full = malloc((size_t)rw * rh * 3);
            cr_assert(img && full);
            for (int i = 0; i < w * h * 3; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
            o.resampler = both[r];
            cr_assert_eq(fs_clip_resize_rgb(img, w, h, full, rw, rh, both[r]), 0);
            cr_assert_eq(fs_clip_preprocess(img, w, h, &o, out), 0, "%s", fs_last_error());
            int x0 = (rw - 24) / 2, y0 = (rh - 24) / 2;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 24; y++)
                    for (int x = 0; x < 24; x++)
                        cr_assert_eq(out[c * 576 + y * 24 + x],
                                     clip_value(full[((size_t)(y + y0) * rw + x + x0) * 3 + c], c),
                                     "%dx%d, resampler %d: channel %d at (%d, %d)", w, h, r, c, x, y);
            free(img), free(full);
        }
}

Test(clip_image, exact_size_images_are_only_normalised_bitwise)
{
    /* The synthetic datasets' path: no resize, and the same float arithmetic
     * as before this module existed, so the shipped results cannot move. */
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    tu_rng rng = tu_rng_new(3);
    uint8_t img[24 * 24 * 3];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)tu_uniform(&rng, 0, 256);
    float want[3 * 24 * 24], got[3 * 24 * 24];
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 24 * 24; i++) want[ch * 24 * 24 + i] = (img[3 * i + ch] / 255.0f - mean[ch]) / std[ch];
    fs_clip_options o;
    fs_clip_options_default(&o, 24);
    cr_assert_eq(fs_clip_preprocess(img, 24, 24, &o, got), 0);
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "not bit-identical to (v / 255 - mean) / std");
}

Test(clip_image, transparency_is_flattened_onto_white, .fini = tu_remove_tmpdirs)
{
    /* Transparent -> white, opaque -> unchanged, half-transparent black ->
     * Pillow's rounded 255 * (1 - 128/255) = 127. */
    const uint8_t rgba[2 * 2 * 4] = {10, 20, 30, 0,   10,  20,  30, 255,
                                     0,  0,  0,  128, 200, 100, 50, 255};
    const int want[4][3] = {{255, 255, 255}, {10, 20, 30}, {127, 127, 127}, {200, 100, 50}};
    const char *path = tu_path_in(tu_tmpdir_tracked(), "alpha.png");
    cr_assert(stbi_write_png(path, 2, 2, 4, rgba, 2 * 4));
    fs_clip_options o;
    fs_clip_options_default(&o, 2);
    float out[3 * 4];
    cr_assert_eq(fs_clip_load_image(path, &o, out), 0, "%s", fs_last_error());
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(out[c * 4 + i], clip_value(want[i][c], c), "pixel %d channel %d", i, c);

    const char *bad = tu_path_in(tu_tmpdir_tracked(), "bad.png");
    FILE *f = fopen(bad, "wb");
    cr_assert(f && fputs("not an image", f) >= 0 && fclose(f) == 0);
    cr_assert_eq(fs_clip_load_image(bad, &o, out), -1);
    cr_assert(strstr(fs_last_error(), bad) && strstr(fs_last_error(), "cannot decode"), "%s",
              fs_last_error());
}

static bool same_options(const fs_clip_options *a, const fs_clip_options *b)
{
    return a->do_resize == b->do_resize && a->shortest_edge == b->shortest_edge &&
           a->resize_h == b->resize_h && a->resize_w == b->resize_w &&
           a->do_center_crop == b->do_center_crop && a->crop_h == b->crop_h &&
           a->crop_w == b->crop_w && a->do_rescale == b->do_rescale &&
           a->rescale_factor == b->rescale_factor && a->do_normalize == b->do_normalize &&
           !memcmp(a->mean, b->mean, sizeof a->mean) && !memcmp(a->std, b->std, sizeof a->std) &&
           a->resampler == b->resampler;
}

/* Writes <dir>/preprocessor_config.json and loads it for a model of `size`. */
static int load_config(const char *dir, const char *json, int size, fs_clip_options *o)
{
    FILE *f = fopen(tu_path_in(dir, "preprocessor_config.json"), "wb");
    cr_assert(f && fputs(json, f) >= 0 && fclose(f) == 0);
    fs_clear_error();
    return fs_clip_options_load(dir, size, o);
}

Test(clip_image, preprocessor_config_is_read_and_checked, .fini = tu_remove_tmpdirs)
{
    const char *dir = tu_tmpdir_tracked();
    fs_clip_options o, def;
    fs_clip_options_default(&def, 32);
    /* No file: CLIP's defaults at the model's size. */
    cr_assert_eq(fs_clip_options_load(dir, 32, &o), 0, "%s", fs_last_error());
    cr_assert(same_options(&o, &def));
    /* LLaVA-1.5's file (sizes changed to 32). */
    cr_assert_eq(load_config(dir, "{\"crop_size\": {\"height\": 32, \"width\": 32}, "
                             "\"do_center_crop\": true, \"do_convert_rgb\": true, "
                             "\"do_normalize\": true, \"do_rescale\": true, \"do_resize\": true, "
                             "\"image_mean\": [0.48145466, 0.4578275, 0.40821073], "
                             "\"image_processor_type\": \"CLIPImageProcessor\", "
                             "\"image_std\": [0.26862954, 0.26130258, 0.27577711], "
                             "\"processor_class\": \"LlavaProcessor\", \"resample\": 3, "
                             "\"rescale_factor\": 0.00392156862745098, "
                             "\"size\": {\"shortest_edge\": 32}}", 32, &o), 0, "%s",
                 fs_last_error());
    cr_assert(same_options(&o, &def), "LLaVA's file must give CLIP's defaults");
    /* Older CLIP files: plain numbers; a fixed-size resize without crop; one mean for all. */
    cr_assert_eq(load_config(dir, "{\"size\": 40, \"crop_size\": 32, \"image_mean\": 0.5}", 32,
                             &o), 0, "%s", fs_last_error());
    cr_assert(o.shortest_edge == 40 && o.crop_h == 32 && o.crop_w == 32 && o.mean[2] == 0.5f);
    cr_assert_eq(load_config(dir, "{\"size\": {\"height\": 32, \"width\": 32}, "
                             "\"do_center_crop\": false}", 32, &o), 0, "%s", fs_last_error());
    cr_assert(o.shortest_edge == 0 && o.resize_h == 32 && o.resize_w == 32 && !o.do_center_crop);

    static const struct { const char *json, *frag; } bad[] = {
        {"{\"size\": ", "not valid JSON"},
        {"[1, 2]", "JSON object"},
        {"{\"size\": \"big\"}", "\"size\" must be"},
        {"{\"size\": {\"shortest_edge\": 32.5}}", "size.shortest_edge"},
        {"{\"size\": {\"shortest_edge\": 32, \"longest_edge\": 64}}", "longest_edge"},
        {"{\"crop_size\": {\"height\": 32}}", "\"crop_size\" must be"},
        {"{\"crop_size\": 224}", "224x224"},
        {"{\"do_resize\": \"yes\"}", "true or false"},
        {"{\"resample\": 2}", "bicubic"},
        {"{\"rescale_factor\": 0}", "rescale_factor"},
        {"{\"image_std\": [0.2, 0, 0.2]}", "image_std"},
        {"{\"image_mean\": [0.5, 0.5]}", "image_mean"},
        {"{\"image_processor_type\": \"SiglipImageProcessor\"}", "SiglipImageProcessor"},
        {"{\"do_center_crop\": false}", "follows each image"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = def;
        cr_assert_eq(load_config(dir, bad[i].json, 32, &o), -1, "%s loaded", bad[i].json);
        const char *msg = fs_last_error();
        cr_assert(strstr(msg, "preprocessor_config.json") && strstr(msg, bad[i].frag),
                  "%s -> \"%s\" lacks \"%s\"", bad[i].json, msg, bad[i].frag);
        cr_assert(same_options(&o, &def), "%s: options changed on failure", bad[i].json);
    }
}

/* ------------------------------------------------------------ parity with transformers */

static void *read_file(const char *path, size_t want_bytes)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    char *buf = malloc(want_bytes + 1);
    size_t n = fread(buf, 1, want_bytes + 1, f);
    fclose(f);
    cr_assert_eq(n, want_bytes, "%s has %zu bytes, expected %zu", path, n, want_bytes);
    return buf;
}

static double max_abs_diff(const float *a, const float *b, long n, double *mean)
{
    double m = 0, sum = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        m = d > m ? d : m;
        sum += d;
    }
    if (mean) *mean = sum / n;
    return m;
}

/* Same 8-bit RGB into the resize: only float rounding in the normalisation
 * differs (observed 2.4e-7). */
#define RESAMPLE_TOL 1e-5
/* stb_image vs libjpeg-turbo JPEG decoding: up to 3 levels on some pixels
 * before the resize (observed max 3 levels = 0.044, mean 0.001); allow 4
 * levels in the channel with the smallest std, and a mean of 0.2 level. */
#define JPEG_MAX_TOL (4.0 / 255.0 / 0.26130258)
#define JPEG_MEAN_TOL 0.003

Test(clip_image, matches_transformers_image_processor, .fini = tu_remove_tmpdirs)
{
    const char *py = tu_venv_python_or_skip();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL, torchvision' >/dev/null 2>&1", py);
    if (system(cmd))
        cr_skip_test("CLIP preprocessing parity skipped: %s lacks pillow or torchvision (run "
                     "scripts/setup-reference-venv.sh)", py);
    const char *dir = tu_tmpdir_tracked();
    char args[600], path[1200];
    snprintf(args, sizeof args, "'%s'", dir);
    tu_run_reference(py, "clip_preprocess_ref.py", args, dir);

    FILE *f = fopen(tu_path_in(dir, "manifest.json"), "rb");
    cr_assert(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *man = cJSON_Parse(text);
    cr_assert(man, "manifest.json is not JSON");
    int S = cJSON_GetObjectItem(man, "size")->valueint;
    cr_log_info("reference: transformers %s (%s, %s backend), torch %s, torchvision %s, Pillow %s",
                cJSON_GetObjectItem(man, "transformers")->valuestring,
                cJSON_GetObjectItem(man, "default_processor")->valuestring,
                cJSON_GetObjectItem(man, "default_backend")->valuestring,
                cJSON_GetObjectItem(man, "torch")->valuestring,
                cJSON_GetObjectItem(man, "torchvision")->valuestring,
                cJSON_GetObjectItem(man, "pillow")->valuestring);

    fs_clip_options opt[2];
    cr_assert_eq(fs_clip_options_load(tu_path_in(dir, "model"), S, &opt[0]), 0, "%s",
                 fs_last_error());
    opt[1] = opt[0];
    opt[1].resampler = FS_CLIP_RESAMPLE_PIL;
    static const char *const tag[2] = {"tv", "pil"};
    long per = 3L * S * S;
    float *got = malloc((size_t)per * sizeof *got);
    double worst_png = 0, worst_jpeg = 0;
    int count = 0;
    const cJSON *im;
    cJSON_ArrayForEach(im, cJSON_GetObjectItem(man, "images"))
    {
        const char *file = cJSON_GetObjectItem(im, "file")->valuestring;
        const char *base = strrchr(file, '/') + 1;
        int w = cJSON_GetObjectItem(im, "width")->valueint;
        int h = cJSON_GetObjectItem(im, "height")->valueint;
        bool jpeg = !strcmp(cJSON_GetObjectItem(im, "format")->valuestring, "JPEG");
        snprintf(path, sizeof path, "%s/%s.rgb", dir, base);
        uint8_t *rgb = read_file(path, (size_t)w * h * 3);
        for (int r = 0; r < 2; r++) {
            snprintf(path, sizeof path, "%s/%s.%s.f32", dir, base, tag[r]);
            float *want = read_file(path, (size_t)per * sizeof(float));
            /* The resampler alone, from the RGB PIL decoded. */
            cr_assert_eq(fs_clip_preprocess(rgb, w, h, &opt[r], got), 0);
            double e_resample = max_abs_diff(got, want, per, NULL);
            cr_assert(e_resample <= RESAMPLE_TOL, "%s (%dx%d), %s: max |diff| %.3g from the same "
                      "RGB (limit %g)", file, w, h, tag[r], e_resample, RESAMPLE_TOL);
            /* End to end: fedsim's own decoding. */
            cr_assert_eq(fs_clip_load_image(tu_path_in(dir, file), &opt[r], got), 0, "%s",
                         fs_last_error());
            double mean, e = max_abs_diff(got, want, per, &mean);
            cr_log_info("%-24s %4dx%-4d %-3s: resample %.2g, end to end max %.3g mean %.2g", file,
                        w, h, tag[r], e_resample, e, mean);
            if (jpeg) {
                cr_assert(e <= JPEG_MAX_TOL && mean <= JPEG_MEAN_TOL, "%s, %s: max |diff| %.3g "
                          "(limit %.3g), mean %.3g (limit %g)", file, tag[r], e, JPEG_MAX_TOL,
                          mean, JPEG_MEAN_TOL);
                worst_jpeg = fmax(worst_jpeg, e);
            } else {
                cr_assert(e <= RESAMPLE_TOL, "%s, %s: max |diff| %.3g (limit %g)", file, tag[r],
                          e, RESAMPLE_TOL);
                worst_png = fmax(worst_png, e);
            }
            free(want);
        }
        free(rgb);
        count++;
    }
    cr_assert_geq(count, 10, "the reference wrote only %d images", count);
    cr_log_info("%d images: worst max |diff| %.3g (PNG), %.3g (JPEG)", count, worst_png,
                worst_jpeg);
    free(got);
    cJSON_Delete(man);
}
