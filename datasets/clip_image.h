/* CLIP image preprocessing as Hugging Face transformers 5.24 does it for a
 * LLaVA-1.5 checkpoint: 8-bit RGB of any size -> resize (shortest side to
 * size.shortest_edge, bicubic) -> centre crop to crop_size -> rescale
 * (rescale_factor, 1/255) -> normalise (image_mean / image_std) -> float
 * [3, H, W]. Options come from the model directory's preprocessor_config.json.
 *
 * Which resampler. AutoImageProcessor.from_pretrained(dir) (and plain
 * CLIPImageProcessor) in transformers 5.x is the torchvision backend whenever
 * torchvision is installed (the PIL class CLIPImageProcessorPil is only the
 * fallback, or asked for with backend="pil"). It resizes the uint8 tensor
 * with torch's native uint8 antialiased bicubic kernel on the CPU: Keys cubic
 * with a = -0.5, support 2 scaled by the downscale factor, weights computed in
 * double, normalised, then quantised to int16 with a per-axis precision (the
 * largest that keeps the biggest weight below 2^15); two passes, horizontal
 * then vertical, each rounded (+half, shift) and clamped to 0..255, a pass
 * skipped when its side does not change. That is FS_CLIP_RESAMPLE_TORCHVISION,
 * the default. FS_CLIP_RESAMPLE_PIL is Pillow's Image.resize(BICUBIC) as used
 * by the PIL backend and by the "slow" processor older transformers (4.x)
 * loaded by default, as in the original LLaVA-1.5 training: the same filter
 * and passes with fixed 22-bit int32 weights. The two differ by one or two
 * levels on well under 1% of the values. Centre crop: torchvision pads a
 * too-small side with zeros placed at floor((crop - side) / 2), the PIL
 * backend at ceil(...). Rescale and normalise are done in float as
 * (v / (1/rescale_factor) - mean) / std, which for the defaults is
 * bit-identical to what the synthetic datasets were normalised with before
 * this module existed.
 *
 * Decoding (fs_clip_load_image): stb_image (PNG, JPEG, BMP, GIF, ...);
 * transparency is composited onto white with Pillow's integer alpha_composite
 * (what transformers' convert_to_rgb does), grey is replicated. PNGs therefore
 * decode exactly as PIL does; JPEGs differ from libjpeg by a few levels on
 * some pixels (stb's IDCT and chroma upsampling), 16-bit greyscale PNGs by
 * more (PIL clips I;16 to 255, stb keeps the high byte). */
#ifndef FEDSIM_CLIP_IMAGE_H
#define FEDSIM_CLIP_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FS_CLIP_RESAMPLE_TORCHVISION = 0, /* transformers 5.x default processor */
    FS_CLIP_RESAMPLE_PIL,             /* Pillow bicubic: backend="pil", transformers 4.x */
} fs_clip_resampler;

typedef struct {
    bool do_resize;
    int shortest_edge;  /* > 0: the shorter side becomes this, aspect kept (int() of the longer) */
    int resize_h, resize_w; /* shortest_edge == 0: resize to exactly this */
    bool do_center_crop;
    int crop_h, crop_w;
    bool do_rescale;
    double rescale_factor;
    bool do_normalize;
    float mean[3], std[3];
    fs_clip_resampler resampler;
} fs_clip_options;

/* CLIP's defaults with size.shortest_edge = crop = image_size, torchvision resampler. */
void fs_clip_options_default(fs_clip_options *o, int image_size);

/* The defaults, overridden by <model_dir>/preprocessor_config.json when that
 * file exists (size, crop_size, resample, do_resize, do_center_crop,
 * do_rescale, rescale_factor, do_normalize, image_mean, image_std; other keys
 * are ignored). Rejects malformed values, processors other than
 * CLIPImageProcessor, resampling other than bicubic (3), and options whose
 * output is not image_size x image_size. 0, or -1 + fs_last_error() naming
 * the file and key; o is written only on success. */
int fs_clip_options_load(const char *model_dir, int image_size, fs_clip_options *o);

/* 0 when o turns every image into image_size x image_size (a centre crop or
 * a resize to a fixed height and width of that size), else -1 + a message
 * starting with where. */
int fs_clip_options_check(const fs_clip_options *o, int image_size, const char *where);

/* Resizes 8-bit RGB [h, w, 3] to [oh, ow, 3] with the antialiased bicubic of
 * the given resampler (a copy when the size is unchanged). 0, or -1 on out of
 * memory. */
int fs_clip_resize_rgb(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh,
                       fs_clip_resampler r);

/* The resize to [s, s, 3] of 8-bit RGB [h, w, 3] centred on a square of
 * side max(w, h) filled with bg (LLaVA-1.5's expand2square), without
 * building the square: memory O(s * s + max(w, h)), and the same bytes as
 * fs_clip_resize_rgb of the square. 0, or -1 on out of memory. */
int fs_clip_resize_padded_rgb(const uint8_t *in, int w, int h, const uint8_t bg[3], uint8_t *out,
                              int s, fs_clip_resampler r);

/* 8-bit RGB [h, w, 3] -> float [3, H, W], H x W = crop_h x crop_w (or
 * resize_h x resize_w without centre crop; the options must give a fixed
 * output size, as fs_clip_options_check ensures). 0, or -1 + fs_last_error()
 * when out of memory or when the resized image would exceed 64 megapixels. */
int fs_clip_preprocess(const uint8_t *rgb, int w, int h, const fs_clip_options *o, float *out);

/* Decodes the image file at path (flattening transparency onto white) and
 * preprocesses it into out. 0, or -1 + fs_last_error() naming the file and
 * what is wrong (stb_image's reason; more than 64 megapixels). */
int fs_clip_load_image(const char *path, const fs_clip_options *o, float *out);

#endif
