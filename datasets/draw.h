/* Tiny anti-aliased rasteriser for the synthetic datasets: an RGB canvas of
 * S x S pixels, shapes and lines placed in normalised [0,1] coordinates (so a
 * scene looks the same at any image size) and PNG output. */
#ifndef FEDSIM_DRAW_H
#define FEDSIM_DRAW_H

#include <stdint.h>

#include "sim/io/rng.h"

typedef struct { uint8_t r, g, b; } fs_rgb;

typedef struct {
    int size;
    uint8_t *px; /* [size, size, 3] row-major RGB */
} fs_canvas;

/* The shapes of the synthetic visual world, in drawing order of the names. */
enum { FS_SHAPE_CIRCLE, FS_SHAPE_SQUARE, FS_SHAPE_TRIANGLE, FS_SHAPE_DIAMOND, FS_SHAPE_CROSS,
       FS_N_SHAPES };
extern const char *const fs_shape_names[FS_N_SHAPES];  /* "circle", ... */
extern const char *const fs_shape_plurals[FS_N_SHAPES]; /* "circles", ... */

/* The named colours. */
enum { FS_COL_RED, FS_COL_GREEN, FS_COL_BLUE, FS_COL_YELLOW, FS_COL_PURPLE, FS_COL_ORANGE,
       FS_N_COLOURS };
extern const char *const fs_colour_names[FS_N_COLOURS];
extern const fs_rgb fs_colours[FS_N_COLOURS];

int fs_canvas_init(fs_canvas *c, int size); /* 0 or -1 */
void fs_canvas_free(fs_canvas *c);
void fs_canvas_fill(fs_canvas *c, fs_rgb col);
/* A vertical gradient from top to bottom colour. */
void fs_canvas_gradient(fs_canvas *c, fs_rgb top, fs_rgb bottom);
/* Adds uniform noise in [-amp, amp] to every channel. */
void fs_canvas_noise(fs_canvas *c, fs_rng *r, int amp);

/* Repaints the light background (every pixel whose channels are all >= 224)
 * with a vertical gradient: the source domain's look for scenes drawn by the
 * downstream generators. */
void fs_canvas_restyle(fs_canvas *c, fs_rgb top, fs_rgb bottom);
/* How a downstream camera sees a scene: each pixel loses the fraction
 * desaturation (in [0, 1]) of its colour towards its grey level (luma), then
 * channel ch is scaled by gain[ch] (in [0, 1]), the lighting. */
typedef struct {
    float gain[3];
    float desaturation;
} fs_camera;
void fs_canvas_camera(fs_canvas *c, const fs_camera *cam);

/* A shape centred at (cx, cy) with "radius" rad (fractions of the image side). */
void fs_draw_shape(fs_canvas *c, int shape, float cx, float cy, float rad, fs_rgb col);
/* Same shape with an outline of width w (fraction of the side) in colour edge. */
void fs_draw_shape_outlined(fs_canvas *c, int shape, float cx, float cy, float rad, fs_rgb col,
                            fs_rgb edge, float w);
void fs_draw_rect(fs_canvas *c, float x0, float y0, float x1, float y1, fs_rgb col);
/* A line segment of width w. */
void fs_draw_line(fs_canvas *c, float x0, float y0, float x1, float y1, float w, fs_rgb col);
/* A line with an arrowhead at (x1, y1). */
void fs_draw_arrow(fs_canvas *c, float x0, float y0, float x1, float y1, float w, fs_rgb col);

/* Writes the canvas as an RGB PNG. 0 or -1 + fs_last_error(). */
int fs_canvas_save_png(const fs_canvas *c, const char *path);

#endif
