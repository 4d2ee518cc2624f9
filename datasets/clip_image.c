/* CLIP image preprocessing (see clip_image.h for which library behaviour is
 * reproduced and why). */
#include "datasets/clip_image.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

#include "datasets/fsutil.h"
#include "sim/io/error.h"

/* Images (decoded, or resized) hold at most 2^26 pixels, 256 MiB as 8-bit
 * RGBA (8192 x 8192), so a header or option asking for a huge size cannot
 * exhaust memory. */
enum { MAX_PIXELS = 1 << 26 };

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void fs_clip_options_default(fs_clip_options *o, int image_size)
{
    *o = (fs_clip_options){.do_resize = true, .shortest_edge = image_size,
                           .do_center_crop = true, .crop_h = image_size, .crop_w = image_size,
                           .do_rescale = true, .rescale_factor = 1.0 / 255.0,
                           .do_normalize = true, .resampler = FS_CLIP_RESAMPLE_TORCHVISION};
    memcpy(o->mean, clip_mean, sizeof clip_mean);
    memcpy(o->std, clip_std, sizeof clip_std);
}

/* ------------------------------------------------------------ resampling */

/* Keys cubic convolution, a = -0.5, written as each library evaluates it (the
 * last bits of the weights, and so rare roundings, depend on the form). */
static double cubic_torch(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0;
}

static double cubic_pil(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* For the outputs [from, from + n) of one axis: the first input index, how
 * many taps, and ksize integer weights with `precision` fractional bits. */
typedef struct {
    int ksize, precision, from;
    int *first, *count;
    int32_t *w;
} axis_coeffs;

static void axis_free(axis_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->w);
}

/* The normalised taps of output i into ki; sets *lo and returns how many. */
static int axis_taps(int in, double scale, double support, double inv, int ksize,
                     double (*filter)(double), int i, double *ki, int *lo_out)
{
    double center = (i + 0.5) * scale, total = 0.0;
    int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    int n = hi - lo < 0 ? 0 : hi - lo > ksize ? ksize : hi - lo;
    for (int j = 0; j < n; j++) total += ki[j] = filter((j + lo - center + 0.5) * inv);
    for (int j = 0; j < n && total != 0.0; j++) ki[j] /= total;
    *lo_out = lo;
    return n;
}

/* Coefficients of the outputs [from, from + n) of an in -> out resize. The
 * fixed-point precision depends on the largest weight of the whole axis, so
 * a window gets exactly the weights the full resize uses. */
static int axis_make(int in, int out, fs_clip_resampler r, int from, int n, axis_coeffs *c)
{
    double scale = (double)in / out, filterscale = scale >= 1.0 ? scale : 1.0;
    double support = 2.0 * filterscale, inv = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)ksize * sizeof *k);
    *c = (axis_coeffs){.ksize = ksize, .from = from, .first = malloc((size_t)n * sizeof *c->first),
                       .count = malloc((size_t)n * sizeof *c->count),
                       .w = malloc((size_t)n * ksize * sizeof *c->w)};
    if (!k || !c->first || !c->count || !c->w) {
        free(k);
        axis_free(c);
        return -1;
    }
    double (*filter)(double) = r == FS_CLIP_RESAMPLE_PIL ? cubic_pil : cubic_torch;
    /* Pillow: fixed 22 bits (32 - 8 - 2) in int32. torch: int16 weights, as
     * many fractional bits as keep the largest weight below 2^15. */
    int p = 22, lo;
    if (r == FS_CLIP_RESAMPLE_TORCHVISION) {
        double wmax = 0.0;
        for (int i = 0; i < out; i++) {
            int taps = axis_taps(in, scale, support, inv, ksize, filter, i, k, &lo);
            for (int j = 0; j < taps; j++) wmax = k[j] > wmax ? k[j] : wmax;
        }
        for (p = 0; p < 22; p++)
            if ((int)(0.5 + wmax * (1 << (p + 1))) >= (1 << 15)) break;
    }
    c->precision = p < 1 ? 1 : p;
    for (int i = 0; i < n; i++) {
        c->count[i] = axis_taps(in, scale, support, inv, ksize, filter, from + i, k, &c->first[i]);
        for (int j = 0; j < c->count[i]; j++) {
            double v = k[j] * (1 << c->precision);
            c->w[(size_t)i * ksize + j] = (int32_t)(v < 0 ? -0.5 + v : 0.5 + v);
        }
    }
    free(k);
    return 0;
}

/* One pass along an axis: out[o] = sum_j in[first + j] * w[j], rounded and
 * clamped to 8 bits, for the c's outputs. `lines` independent lines of pixels
 * (3 channels) with pixel stride `step` and line stride `line` (in bytes); in
 * is indexed from input `in_from`, out from c->from. */
static void axis_apply(const axis_coeffs *c, int out_n, int lines, const uint8_t *in, int in_from,
                       size_t in_step, size_t in_line, uint8_t *out, size_t out_step,
                       size_t out_line)
{
    const int64_t half = (int64_t)1 << (c->precision - 1);
    for (int l = 0; l < lines; l++)
        for (int o = 0; o < out_n; o++) {
            const int32_t *w = c->w + (size_t)o * c->ksize;
            const uint8_t *src = in + l * in_line + (size_t)(c->first[o] - in_from) * in_step;
            uint8_t *dst = out + l * out_line + (size_t)o * out_step;
            for (int ch = 0; ch < 3; ch++) {
                int64_t acc = half;
                for (int j = 0; j < c->count[o]; j++) acc += (int64_t)src[j * in_step + ch] * w[j];
                acc = acc < 0 ? 0 : acc >> c->precision;
                dst[ch] = (uint8_t)(acc > 255 ? 255 : acc);
            }
        }
}

/* The window [x0, x0 + cw) x [y0, y0 + ch) of the [oh, ow] resize of in, into
 * out [ch, cw, 3]: the pixels the full resize has there, at the cost of the
 * window (a centre crop of a very long image stays cheap). 0, or -1 on out of
 * memory. */
static int resize_window(const uint8_t *in, int w, int h, int ow, int oh, int x0, int y0, int cw,
                         int ch, fs_clip_resampler r, uint8_t *out)
{
    /* Horizontal first, then vertical, as torch and Pillow do (the intermediate
     * is rounded to 8 bits, which the order makes visible). */
    axis_coeffs cx = {0}, cy = {0};
    uint8_t *tmp = NULL;
    int rc = -1;
    if ((ow != w && axis_make(w, ow, r, x0, cw, &cx)) || (oh != h && axis_make(h, oh, r, y0, ch, &cy)))
        goto done;
    /* the input rows the vertical pass reads */
    int r0 = y0, r1 = y0 + ch;
    if (oh != h) {
        r0 = h, r1 = 0;
        for (int i = 0; i < ch; i++) {
            r0 = cy.first[i] < r0 ? cy.first[i] : r0;
            r1 = cy.first[i] + cy.count[i] > r1 ? cy.first[i] + cy.count[i] : r1;
        }
        if (r1 < r0) r1 = r0;
    }
    const uint8_t *rows = in + (size_t)r0 * w * 3;
    int rw = cw; /* width of `rows` */
    if (ow != w) {
        uint8_t *dst = oh == h ? out : (tmp = malloc((size_t)cw * (r1 - r0) * 3 + 1));
        if (!dst) goto done;
        axis_apply(&cx, cw, r1 - r0, rows, 0, 3, (size_t)w * 3, dst, 3, (size_t)cw * 3);
        rows = dst;
    } else {
        rows += (size_t)x0 * 3;
        rw = w;
    }
    if (oh != h) axis_apply(&cy, ch, cw, rows, r0, (size_t)rw * 3, 3, out, (size_t)cw * 3, 3);
    else if (ow == w)
        for (int y = 0; y < ch; y++) memcpy(out + (size_t)y * cw * 3, rows + (size_t)y * rw * 3, (size_t)cw * 3);
    rc = 0;
done:
    axis_free(&cx);
    axis_free(&cy);
    free(tmp);
    return rc;
}

int fs_clip_resize_rgb(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh,
                       fs_clip_resampler r)
{
    return resize_window(in, w, h, ow, oh, 0, 0, ow, oh, r, out);
}

/* ------------------------------------------------------------ padded resize */

/* For each output of a padded axis (side -> s, the content in [lo, hi)): the
 * summed weight of the taps that fall in the padding, and the range of taps
 * [k0, k1) that fall in the content. */
typedef struct {
    int64_t *pad_w;
    int *k0, *k1;
} pad_split;

static int pad_split_make(const axis_coeffs *c, int n, int lo, int hi, pad_split *p)
{
    *p = (pad_split){malloc((size_t)n * sizeof *p->pad_w), malloc((size_t)n * sizeof *p->k0),
                     malloc((size_t)n * sizeof *p->k1)};
    if (!p->pad_w || !p->k0 || !p->k1) return -1;
    for (int o = 0; o < n; o++) {
        const int32_t *w = c->w + (size_t)o * c->ksize;
        int first = c->first[o], k0 = lo - first, k1 = hi - first;
        k0 = k0 < 0 ? 0 : k0 > c->count[o] ? c->count[o] : k0;
        k1 = k1 < k0 ? k0 : k1 > c->count[o] ? c->count[o] : k1;
        int64_t pad = 0;
        for (int k = 0; k < c->count[o]; k++) pad += k < k0 || k >= k1 ? w[k] : 0;
        p->pad_w[o] = pad, p->k0[o] = k0, p->k1[o] = k1;
    }
    return 0;
}

static void pad_split_free(pad_split *p) { free(p->pad_w), free(p->k0), free(p->k1); }

static uint8_t round_acc(int64_t acc, int precision)
{
    acc = acc < 0 ? 0 : acc >> precision;
    return (uint8_t)(acc > 255 ? 255 : acc);
}

/* The horizontal pass of one row of the padded square: `row` is the image
 * row (w pixels from square column ox) or NULL for a row of padding. The sum
 * is the one axis_apply forms over the materialised row, in integers, so the
 * result is identical. */
static void padded_row(const axis_coeffs *c, const pad_split *p, int s, const uint8_t *row, int ox,
                       const uint8_t bg[3], uint8_t *out)
{
    const int64_t half = (int64_t)1 << (c->precision - 1);
    for (int o = 0; o < s; o++) {
        const int32_t *w = c->w + (size_t)o * c->ksize;
        int64_t pad = row ? p->pad_w[o] : 0;
        if (!row)
            for (int k = 0; k < c->count[o]; k++) pad += w[k];
        for (int ch = 0; ch < 3; ch++) {
            int64_t acc = half + pad * bg[ch];
            if (row)
                for (int k = p->k0[o]; k < p->k1[o]; k++)
                    acc += (int64_t)row[(size_t)(c->first[o] + k - ox) * 3 + ch] * w[k];
            out[(size_t)o * 3 + ch] = round_acc(acc, c->precision);
        }
    }
}

int fs_clip_resize_padded_rgb(const uint8_t *in, int w, int h, const uint8_t bg[3], uint8_t *out,
                              int s, fs_clip_resampler r)
{
    int side = w > h ? w : h, ox = (side - w) / 2, oy = (side - h) / 2;
    if (side == s) {
        for (size_t i = 0; i < (size_t)s * s; i++) memcpy(out + 3 * i, bg, 3);
        for (int y = 0; y < h; y++)
            memcpy(out + ((size_t)(y + oy) * s + ox) * 3, in + (size_t)y * w * 3, (size_t)w * 3);
        return 0;
    }
    /* Both axes resize side -> s, so they share coefficients. Horizontal
     * first, then vertical, as resize_window: each content row's horizontal
     * result is added, times its vertical weights, into the output rows that
     * read it; the padding rows enter as one row times their summed weight. */
    axis_coeffs c = {0};
    pad_split px = {0}, py = {0};
    uint8_t *row = malloc((size_t)s * 3), *bg_row = malloc((size_t)s * 3);
    int64_t *acc = calloc((size_t)s * s * 3, sizeof *acc);
    int rc = -1;
    if (!row || !bg_row || !acc || axis_make(side, s, r, 0, s, &c) ||
        pad_split_make(&c, s, ox, ox + w, &px) || pad_split_make(&c, s, oy, oy + h, &py))
        goto done;
    padded_row(&c, &px, s, NULL, ox, bg, bg_row);
    for (int y = 0, o0 = 0; y < h; y++) {
        int sy = y + oy; /* the row of the square */
        padded_row(&c, &px, s, in + (size_t)y * w * 3, ox, bg, row);
        while (o0 < s && c.first[o0] + c.count[o0] <= sy) o0++; /* first[] never decreases */
        for (int o = o0; o < s && c.first[o] <= sy; o++) {
            if (sy - c.first[o] >= c.count[o]) continue;
            int64_t wt = c.w[(size_t)o * c.ksize + (sy - c.first[o])];
            int64_t *a = acc + (size_t)o * s * 3;
            for (int i = 0; i < s * 3; i++) a[i] += wt * row[i];
        }
    }
    const int64_t half = (int64_t)1 << (c.precision - 1);
    for (int o = 0; o < s; o++)
        for (int i = 0; i < s * 3; i++) {
            size_t at = (size_t)o * s * 3 + i;
            out[at] = round_acc(half + acc[at] + py.pad_w[o] * bg_row[i], c.precision);
        }
    rc = 0;
done:
    axis_free(&c);
    pad_split_free(&px), pad_split_free(&py);
    free(row), free(bg_row), free(acc);
    return rc;
}

/* ------------------------------------------------------------ pipeline */

/* Size after the resize step (transformers' get_resize_output_image_size for
 * shortest_edge: the longer side becomes int(size * long / short)). 0, or -1
 * when that exceeds MAX_PIXELS. */
static int resized_size(const fs_clip_options *o, int w, int h, int *rw, int *rh)
{
    *rw = w, *rh = h;
    if (!o->do_resize) return 0;
    if (o->shortest_edge <= 0) {
        *rw = o->resize_w, *rh = o->resize_h;
        return *rw < 1 || *rh < 1 || (double)*rw * *rh > MAX_PIXELS ? -1 : 0;
    }
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    double new_long = (double)o->shortest_edge * longer / shorter;
    if (new_long * o->shortest_edge > MAX_PIXELS) return -1;
    *rw = w <= h ? o->shortest_edge : (int)new_long;
    *rh = w <= h ? (int)new_long : o->shortest_edge;
    return 0;
}

/* Where output index 0 of a centre crop of `crop` out of `side` pixels reads;
 * negative = zero padding first. Both backends start at (side - crop) / 2 when
 * cropping; when padding, torchvision puts floor((crop - side) / 2) zeros
 * before the image, the PIL backend ceil(...). */
static int crop_start(int side, int crop, fs_clip_resampler r)
{
    int d = side - crop;
    if (d >= 0) return d / 2;
    return r == FS_CLIP_RESAMPLE_PIL ? -((1 - d) / 2) : -(-d / 2);
}

int fs_clip_preprocess(const uint8_t *rgb, int w, int h, const fs_clip_options *o, float *out)
{
    int rw, rh;
    if (w < 1 || h < 1 || resized_size(o, w, h, &rw, &rh))
        return fs_fail("cannot preprocess a %dx%d image: resizing it would exceed %d "
                       "megapixels", w, h, MAX_PIXELS >> 20);
    int ow = o->do_center_crop ? o->crop_w : rw, oh = o->do_center_crop ? o->crop_h : rh;
    int x0 = o->do_center_crop ? crop_start(rw, ow, o->resampler) : 0;
    int y0 = o->do_center_crop ? crop_start(rh, oh, o->resampler) : 0;
    /* Only the part of the resized image the crop keeps is resized: kx, ky is
     * its corner in the resized image, kw x kh its size. */
    int kx = x0 > 0 ? x0 : 0, ky = y0 > 0 ? y0 : 0;
    int kw = (x0 + ow < rw ? x0 + ow : rw) - kx, kh = (y0 + oh < rh ? y0 + oh : rh) - ky;
    /* An image already at its resized size is read in place (stride w). */
    uint8_t *resized = NULL;
    const uint8_t *px = rgb + ((size_t)ky * w + kx) * 3;
    int stride = w;
    if (rw != w || rh != h) {
        if (!(resized = malloc((size_t)kw * kh * 3)) ||
            resize_window(rgb, w, h, rw, rh, kx, ky, kw, kh, o->resampler, resized)) {
            free(resized);
            return fs_fail("out of memory resizing a %dx%d image to %dx%d", w, h, rw, rh);
        }
        px = resized, stride = kw;
    }
    /* (v / divisor - mean) / std: the divisor is 255.0f exactly for 1/255,
     * keeping the synthetic datasets' results what they were. */
    float divisor = o->do_rescale ? (float)(1.0 / o->rescale_factor) : 1.0f;
    size_t plane = (size_t)ow * oh;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx = x + x0 - kx, sy = y + y0 - ky;
            bool inside = sx >= 0 && sx < kw && sy >= 0 && sy < kh;
            const uint8_t *p = inside ? px + ((size_t)sy * stride + sx) * 3 : NULL;
            for (int c = 0; c < 3; c++) {
                float v = (p ? p[c] : 0) / divisor;
                if (o->do_normalize) v = (v - o->mean[c]) / o->std[c];
                out[c * plane + (size_t)y * ow + x] = v;
            }
        }
    free(resized);
    return 0;
}

/* ------------------------------------------------------------ decoding */

/* Pillow's alpha_composite of a pixel over opaque white, 7 extra bits of
 * precision and rounded divisions by 255 (transformers' convert_to_rgb). */
static uint8_t over_white(uint32_t c, uint32_t a)
{
    if (a == 0) return 255;
    uint32_t coef1 = a * 128, coef2 = 255 * 128 - coef1;
    uint32_t t = c * coef1 + 255 * coef2 + (0x80 << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

int fs_clip_load_image(const char *path, const fs_clip_options *o, float *out)
{
    int w = 0, h = 0, n = 0;
    if (stbi_info(path, &w, &h, &n) && (double)w * h > MAX_PIXELS)
        return fs_fail("%s: the image is %dx%d pixels, more than the %d megapixels fedsim "
                       "decodes; shrink it", path, w, h, MAX_PIXELS >> 20);
    uint8_t *px = stbi_load(path, &w, &h, &n, 4);
    if (!px)
        return fs_fail("%s: cannot decode the image (%s); expected a PNG or JPEG (or another "
                       "format stb_image reads)", path, stbi_failure_reason());
    /* RGBA -> RGB in place (the write index never passes the read index). */
    bool alpha = n == 2 || n == 4;
    size_t npx = (size_t)w * h;
    for (size_t i = 0; i < npx; i++) {
        uint8_t *s = px + 4 * i, *d = px + 3 * i;
        uint8_t a = s[3];
        for (int c = 0; c < 3; c++) d[c] = alpha ? over_white(s[c], a) : s[c];
    }
    int rc = fs_clip_preprocess(px, w, h, o, out);
    stbi_image_free(px);
    return rc ? fs_fail_context("%s", path) : 0;
}

/* ------------------------------------------------------------ preprocessor_config.json */

static int bad_value(const char *path, const char *key, const char *want)
{
    return fs_fail("%s: \"%s\" must be %s; fix the value or delete the key to use CLIP's "
                   "default", path, key, want);
}

static int read_bool(const cJSON *root, const char *path, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return bad_value(path, key, "true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A whole number in [1, 16384] (pixels). */
static int read_side(const cJSON *v, const char *path, const char *key, int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 16384 ||
        v->valuedouble != floor(v->valuedouble))
        return bad_value(path, key, "a whole number of pixels (1..16384)");
    *out = (int)v->valuedouble;
    return 0;
}

/* "size": N (the shortest edge, as CLIP reads an int), {"shortest_edge": N}
 * or {"height": H, "width": W}. "crop_size": N or {"height": H, "width": W}. */
static int read_size(const cJSON *root, const char *path, const char *key, bool is_crop,
                     int *shortest, int *h, int *w)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    const char *want = is_crop
                           ? "a number or {\"height\": H, \"width\": W}"
                           : "a number, {\"shortest_edge\": N} or {\"height\": H, \"width\": W}";
    if (cJSON_IsNumber(v)) {
        int n;
        if (read_side(v, path, key, &n)) return -1;
        if (is_crop) *h = *w = n;
        else *shortest = n;
        return 0;
    }
    if (!cJSON_IsObject(v)) return bad_value(path, key, want);
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(v, "shortest_edge");
    const cJSON *hv = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *wv = cJSON_GetObjectItemCaseSensitive(v, "width");
    if (!is_crop && se && !hv && !wv) {
        if (cJSON_GetObjectItemCaseSensitive(v, "longest_edge"))
            return fs_fail("%s: \"%s\": shortest_edge with longest_edge is not implemented "
                           "(CLIP resizes by the shortest edge only)", path, key);
        return read_side(se, path, "size.shortest_edge", shortest);
    }
    if (!se && hv && wv) {
        char kh[64], kw[64];
        snprintf(kh, sizeof kh, "%s.height", key);
        snprintf(kw, sizeof kw, "%s.width", key);
        if (read_side(hv, path, kh, h) || read_side(wv, path, kw, w)) return -1;
        if (!is_crop) *shortest = 0;
        return 0;
    }
    return bad_value(path, key, want);
}

/* "image_mean" / "image_std": one number for all channels or [R, G, B]. */
static int read_triple(const cJSON *root, const char *path, const char *key, bool positive,
                       float out[3])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    const char *want = positive ? "a positive number or a list of 3 positive numbers"
                                : "a number or a list of 3 numbers";
    float t[3];
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsNumber(v) ? 1 : 0;
    if (n != 1 && n != 3) return bad_value(path, key, want);
    for (int c = 0; c < 3; c++) {
        const cJSON *e = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, n == 3 ? c : 0) : v;
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (positive && e->valuedouble <= 0))
            return bad_value(path, key, want);
        t[c] = (float)e->valuedouble;
    }
    memcpy(out, t, sizeof t);
    return 0;
}

static int parse_options(const cJSON *root, const char *path, fs_clip_options *o)
{
    if (!cJSON_IsObject(root)) return fs_fail("%s: expected a JSON object", path);
    const char *const type_keys[] = {"image_processor_type", "feature_extractor_type"};
    for (int k = 0; k < 2; k++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, type_keys[k]);
        if (!t) continue;
        const char *s = cJSON_IsString(t) ? t->valuestring : "(not a string)";
        if (strcmp(s, "CLIPImageProcessor") && strcmp(s, "CLIPImageProcessorFast") &&
            strcmp(s, "CLIPImageProcessorPil") && strcmp(s, "CLIPFeatureExtractor"))
            return fs_fail("%s: \"%s\" is %s, but fedsim implements only CLIPImageProcessor "
                           "(resize the shortest edge, centre crop, rescale, normalise); this "
                           "model's images would be preprocessed differently", path,
                           type_keys[k], s);
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (rs && !(cJSON_IsNumber(rs) && rs->valuedouble == 3))
        return fs_fail("%s: \"resample\" must be 3 (bicubic, as CLIP uses); other filters "
                       "are not implemented", path);
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (rf && !(cJSON_IsNumber(rf) && isfinite(rf->valuedouble) && rf->valuedouble > 0))
        return bad_value(path, "rescale_factor", "a positive number (1/255 for CLIP)");
    if (rf) o->rescale_factor = rf->valuedouble;
    if (read_bool(root, path, "do_resize", &o->do_resize) ||
        read_bool(root, path, "do_center_crop", &o->do_center_crop) ||
        read_bool(root, path, "do_rescale", &o->do_rescale) ||
        read_bool(root, path, "do_normalize", &o->do_normalize) ||
        read_size(root, path, "size", false, &o->shortest_edge, &o->resize_h, &o->resize_w) ||
        read_size(root, path, "crop_size", true, NULL, &o->crop_h, &o->crop_w) ||
        read_triple(root, path, "image_mean", false, o->mean) ||
        read_triple(root, path, "image_std", true, o->std))
        return -1;
    return 0;
}

int fs_clip_options_check(const fs_clip_options *o, int image_size, const char *where)
{
    if (o->do_rescale && !(o->rescale_factor > 0))
        return fs_fail("%s: rescale_factor must be positive", where);
    for (int c = 0; c < 3; c++)
        if (o->do_normalize && !(o->std[c] > 0))
            return fs_fail("%s: image_std must be positive", where);
    int oh, ow;
    const char *key;
    if (o->do_center_crop) {
        oh = o->crop_h, ow = o->crop_w, key = "crop_size";
    } else if (o->do_resize && o->shortest_edge == 0) {
        oh = o->resize_h, ow = o->resize_w, key = "size";
    } else {
        return fs_fail("%s: without a centre crop (do_center_crop) or a resize to a fixed "
                       "{\"height\", \"width\"}, the output size follows each image, but the "
                       "model takes %dx%d images", where, image_size, image_size);
    }
    if (oh != image_size || ow != image_size)
        return fs_fail("%s: \"%s\" gives %dx%d images but the model takes %dx%d "
                       "(vision_config.image_size in config.json); use the "
                       "preprocessor_config.json that belongs to this model", where, key, ow, oh,
                       image_size, image_size);
    return 0;
}

int fs_clip_options_load(const char *model_dir, int image_size, fs_clip_options *o)
{
    fs_clip_options t;
    fs_clip_options_default(&t, image_size);
    char path[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", model_dir);
    struct stat st;
    if (stat(path, &st)) {
        if (errno != ENOENT) return fs_fail("%s: cannot read (%s)", path, strerror(errno));
        *o = t;
        return 0;
    }
    char *text = fs_ds_read_text(path, NULL);
    if (!text) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    int rc = root ? parse_options(root, path, &t)
                  : fs_fail("%s: not valid JSON (at byte %ld)", path,
                            end ? (long)(end - text) : 0L);
    cJSON_Delete(root);
    free(text);
    if (rc || fs_clip_options_check(&t, image_size, path)) return -1;
    *o = t;
    return 0;
}
