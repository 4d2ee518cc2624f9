/* Anti-aliased drawing by 4x4 supersampling of an inside-test over each
 * primitive's bounding box: tiny images (32 px) stay legible, and output is a
 * pure function of the inputs (no floating-point state), so PNGs are
 * byte-reproducible. */
#include "datasets/draw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "sim/io/error.h"

const char *const fs_shape_names[FS_N_SHAPES] = {"circle", "square", "triangle", "diamond", "cross"};
const char *const fs_shape_plurals[FS_N_SHAPES] = {"circles", "squares", "triangles", "diamonds",
                                                   "crosses"};
const char *const fs_colour_names[FS_N_COLOURS] = {"red", "green", "blue", "yellow", "purple",
                                                   "orange"};
const fs_rgb fs_colours[FS_N_COLOURS] = {
    {220, 40, 40}, {40, 165, 60}, {40, 80, 220}, {235, 200, 20}, {140, 60, 180}, {245, 135, 30},
};

int fs_canvas_init(fs_canvas *c, int size)
{
    c->size = size;
    c->px = malloc((size_t)size * size * 3);
    return c->px ? 0 : fs_fail("out of memory for a %dx%d image", size, size);
}

void fs_canvas_free(fs_canvas *c)
{
    free(c->px);
    c->px = NULL;
}

void fs_canvas_fill(fs_canvas *c, fs_rgb col)
{
    for (int i = 0; i < c->size * c->size; i++) {
        c->px[3 * i] = col.r;
        c->px[3 * i + 1] = col.g;
        c->px[3 * i + 2] = col.b;
    }
}

void fs_canvas_gradient(fs_canvas *c, fs_rgb top, fs_rgb bottom)
{
    int S = c->size;
    for (int y = 0; y < S; y++) {
        int t = S > 1 ? (y * 256) / (S - 1) : 0; /* integer blend: reproducible */
        uint8_t r = (uint8_t)((top.r * (256 - t) + bottom.r * t) >> 8);
        uint8_t g = (uint8_t)((top.g * (256 - t) + bottom.g * t) >> 8);
        uint8_t b = (uint8_t)((top.b * (256 - t) + bottom.b * t) >> 8);
        for (int x = 0; x < S; x++) {
            uint8_t *p = c->px + 3 * (y * S + x);
            p[0] = r, p[1] = g, p[2] = b;
        }
    }
}

void fs_canvas_noise(fs_canvas *c, fs_rng *r, int amp)
{
    for (int i = 0; i < c->size * c->size * 3; i++) {
        int v = c->px[i] + (int)fs_rng_below(r, (uint64_t)(2 * amp + 1)) - amp;
        c->px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

void fs_canvas_restyle(fs_canvas *c, fs_rgb top, fs_rgb bottom)
{
    int S = c->size;
    for (int y = 0; y < S; y++) {
        float t = S > 1 ? (float)y / (float)(S - 1) : 0;
        uint8_t bg[3] = {(uint8_t)(top.r + t * (bottom.r - top.r)), (uint8_t)(top.g + t * (bottom.g - top.g)),
                         (uint8_t)(top.b + t * (bottom.b - top.b))};
        for (int x = 0; x < S; x++) {
            uint8_t *p = c->px + ((size_t)y * S + x) * 3;
            int lo = p[0] < p[1] ? p[0] : p[1];
            lo = lo < p[2] ? lo : p[2];
            if (lo >= 224) p[0] = bg[0], p[1] = bg[1], p[2] = bg[2];
        }
    }
}

void fs_canvas_camera(fs_canvas *c, const fs_camera *cam)
{
    size_t n = (size_t)c->size * c->size;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = c->px + 3 * i;
        float grey = 0.30f * p[0] + 0.59f * p[1] + 0.11f * p[2], d = cam->desaturation;
        for (int ch = 0; ch < 3; ch++)
            p[ch] = (uint8_t)(cam->gain[ch] * ((1 - d) * p[ch] + d * grey) + 0.5f);
    }
}

/* ---- primitives as inside-tests in normalised coordinates ---- */
typedef struct {
    int kind; /* 0..FS_N_SHAPES-1 = shapes, 100 = rect, 101 = segment */
    float cx, cy, rad;
    float x0, y0, x1, y1, w;
} prim;

static int inside(const prim *p, float x, float y)
{
    float dx = x - p->cx, dy = y - p->cy, r = p->rad;
    switch (p->kind) {
    case FS_SHAPE_CIRCLE: return dx * dx + dy * dy <= r * r;
    case FS_SHAPE_SQUARE: return fabsf(dx) <= 0.82f * r && fabsf(dy) <= 0.82f * r;
    case FS_SHAPE_TRIANGLE: /* apex up; base at +0.8r, half-width r at the base */
        return dy >= -r && dy <= 0.8f * r && fabsf(dx) <= (dy + r) / 1.8f;
    case FS_SHAPE_DIAMOND: return fabsf(dx) + fabsf(dy) <= r;
    case FS_SHAPE_CROSS:
        return (fabsf(dx) <= 0.34f * r && fabsf(dy) <= r) ||
               (fabsf(dy) <= 0.34f * r && fabsf(dx) <= r);
    case 100: return x >= p->x0 && x <= p->x1 && y >= p->y0 && y <= p->y1;
    case 101: {
        float vx = p->x1 - p->x0, vy = p->y1 - p->y0, l2 = vx * vx + vy * vy;
        float t = l2 > 0 ? ((x - p->x0) * vx + (y - p->y0) * vy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        float ex = p->x0 + t * vx - x, ey = p->y0 + t * vy - y;
        return ex * ex + ey * ey <= 0.25f * p->w * p->w;
    }
    }
    return 0;
}

static void raster(fs_canvas *c, const prim *p, float bx0, float by0, float bx1, float by1,
                   fs_rgb col)
{
    int S = c->size;
    int x0 = (int)floorf(bx0 * S) - 1, x1 = (int)ceilf(bx1 * S) + 1;
    int y0 = (int)floorf(by0 * S) - 1, y1 = (int)ceilf(by1 * S) + 1;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > S) x1 = S;
    if (y1 > S) y1 = S;
    for (int py = y0; py < y1; py++) {
        for (int px = x0; px < x1; px++) {
            int cov = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++)
                    cov += inside(p, (px + (sx + 0.5f) / 4) / S, (py + (sy + 0.5f) / 4) / S);
            if (!cov) continue;
            uint8_t *q = c->px + 3 * (py * S + px);
            q[0] = (uint8_t)((q[0] * (16 - cov) + col.r * cov) / 16);
            q[1] = (uint8_t)((q[1] * (16 - cov) + col.g * cov) / 16);
            q[2] = (uint8_t)((q[2] * (16 - cov) + col.b * cov) / 16);
        }
    }
}

void fs_draw_shape(fs_canvas *c, int shape, float cx, float cy, float rad, fs_rgb col)
{
    prim p = {.kind = shape, .cx = cx, .cy = cy, .rad = rad};
    raster(c, &p, cx - rad, cy - rad, cx + rad, cy + rad, col);
}

void fs_draw_shape_outlined(fs_canvas *c, int shape, float cx, float cy, float rad, fs_rgb col,
                            fs_rgb edge, float w)
{
    fs_draw_shape(c, shape, cx, cy, rad, edge);
    if (rad > w) fs_draw_shape(c, shape, cx, cy, rad - w, col);
}

void fs_draw_rect(fs_canvas *c, float x0, float y0, float x1, float y1, fs_rgb col)
{
    prim p = {.kind = 100, .x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1};
    raster(c, &p, x0, y0, x1, y1, col);
}

void fs_draw_line(fs_canvas *c, float x0, float y0, float x1, float y1, float w, fs_rgb col)
{
    prim p = {.kind = 101, .x0 = x0, .y0 = y0, .x1 = x1, .y1 = y1, .w = w};
    raster(c, &p, fminf(x0, x1) - w, fminf(y0, y1) - w, fmaxf(x0, x1) + w, fmaxf(y0, y1) + w,
           col);
}

void fs_draw_arrow(fs_canvas *c, float x0, float y0, float x1, float y1, float w, fs_rgb col)
{
    fs_draw_line(c, x0, y0, x1, y1, w, col);
    float dx = x1 - x0, dy = y1 - y0, l = sqrtf(dx * dx + dy * dy);
    if (l <= 0) return;
    dx /= l, dy /= l;
    float h = 3.0f * w; /* head length */
    fs_draw_line(c, x1, y1, x1 - h * (dx - 0.7f * dy), y1 - h * (dy + 0.7f * dx), w, col);
    fs_draw_line(c, x1, y1, x1 - h * (dx + 0.7f * dy), y1 - h * (dy - 0.7f * dx), w, col);
}

int fs_canvas_save_png(const fs_canvas *c, const char *path)
{
    if (!stbi_write_png(path, c->size, c->size, 3, c->px, c->size * 3))
        return fs_fail("%s: cannot write the PNG (%s)", path, errno ? strerror(errno) : "stb");
    return 0;
}

