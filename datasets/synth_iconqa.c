/* synth-iconqa: abstract scenes of coloured shapes on a 4x4 grid of cells,
 * with questions in six skills. Every item is generated answer-first (the
 * answer value is drawn uniformly, then a scene is built that makes it true),
 * so answer values are balanced; the question names what to look at and
 * only the image holds the answer; distractors are the near misses present in
 * the scene (the colours of the other objects, neighbouring counts, ...). */
#include <string.h>

#include "datasets/clip_image.h"
#include "datasets/synth_internal.h"

static const char *const categories[] = {"counting", "colour", "shape", "spatial", "comparison",
                                         "arithmetic"};
enum { CAT_COUNT, CAT_COLOUR, CAT_SHAPE, CAT_SPATIAL, CAT_COMPARE, CAT_ARITH };

/* 4x4 cells: with any patch grid divisible by 4 (the tiny model's 4x4 patches
 * of 8 px, LLaVA-1.5's 24x24 of 14 px) every object lies within one cell of
 * whole patches, so a patch never mixes two objects' colours and shapes. */
enum { GRID = FS_SYNTH_GRID, CELLS = GRID * GRID };

typedef struct { int shape, colour, cell; } obj;
typedef struct {
    obj o[CELLS];
    int n;
    int used[CELLS];
} scene;

static int free_cell(fs_synth_item *it, scene *s)
{
    int cand[CELLS], m = 0;
    for (int c = 0; c < CELLS; c++)
        if (!s->used[c]) cand[m++] = c;
    return m ? cand[fs_si_below(it, m)] : -1;
}

static void add_at(scene *s, int shape, int colour, int cell)
{
    if (cell < 0 || s->n >= CELLS || s->used[cell]) return;
    s->used[cell] = 1;
    s->o[s->n++] = (obj){shape, colour, cell};
}

static void add(fs_synth_item *it, scene *s, int shape, int colour)
{
    add_at(s, shape, colour, free_cell(it, s));
}

static int other_than(fs_synth_item *it, int n, int a)
{
    int v = fs_si_below(it, n - 1);
    return v >= a ? v + 1 : v;
}

static int count_where(const scene *s, int shape, int colour)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += (shape < 0 || s->o[i].shape == shape) && (colour < 0 || s->o[i].colour == colour);
    return k;
}

static void render(fs_synth_item *it, const scene *s)
{
    int g = fs_si_range(it, 236, 252);
    fs_canvas_fill(&it->img, (fs_rgb){(uint8_t)g, (uint8_t)g, (uint8_t)(g - fs_si_below(it, 6))});
    for (int i = 0; i < s->n; i++) {
        const obj *o = &s->o[i];
        float cx = ((float)(o->cell % GRID) + 0.5f) / GRID + fs_si_unif(it, -0.015f, 0.015f);
        float cy = ((float)(o->cell / GRID) + 0.5f) / GRID + fs_si_unif(it, -0.015f, 0.015f);
        fs_draw_shape(&it->img, o->shape, cx, cy, fs_si_unif(it, 0.09f, 0.105f),
                      fs_colours[o->colour]);
    }
    fs_canvas_noise(&it->img, it->rng, 3);
}

/* Choices from a list of names: the answer, then the given candidates (plausible
 * near misses from the scene), then random others, until k. */
static void name_choices(fs_synth_item *it, const char *const *names, int n, int answer,
                         const int *cand, int ncand, int k)
{
    fs_si_choice(it, "%s", names[answer]);
    for (int i = 0; i < ncand && it->n_choices < k; i++)
        if (cand[i] != answer) fs_si_choice(it, "%s", names[cand[i]]);
    int perm[16];
    for (int i = 0; i < n; i++) perm[i] = i;
    fs_si_shuffle(it, perm, n);
    for (int i = 0; i < n && it->n_choices < k; i++) fs_si_choice(it, "%s", names[perm[i]]);
}

static void make_counting(fs_synth_item *it, scene *s)
{
    int ft = fs_si_below(it, 4), S = fs_si_below(it, FS_N_SHAPES), C = fs_si_below(it, FS_N_COLOURS);
    int k = fs_si_range(it, 3, 5), t;
    it->subject = "math";
    if (ft == 3) {
        t = fs_si_range(it, 1, 7);
        for (int i = 0; i < t; i++) add(it, s, fs_si_below(it, FS_N_SHAPES), fs_si_below(it, FS_N_COLOURS));
        fs_si_question(it, "How many shapes are there?");
        it->skill = "count-all";
        fs_si_numbers(it, t, 1, 9, 1, k, -1, "%d");
        return;
    }
    t = fs_si_range(it, 0, 5);
    int nd = fs_si_range(it, t == 0 ? 2 : 1, 3);
    for (int i = 0; i < t; i++)
        add(it, s, ft == 1 ? fs_si_below(it, FS_N_SHAPES) : S, ft == 0 ? fs_si_below(it, FS_N_COLOURS) : C);
    for (int i = 0; i < nd; i++) {
        /* Near misses: share one attribute with the target, never both. */
        int mode = ft == 2 ? fs_si_below(it, 3) : ft;
        int sh = mode == 1 ? fs_si_below(it, FS_N_SHAPES) : other_than(it, FS_N_SHAPES, S);
        int co = mode == 0 ? fs_si_below(it, FS_N_COLOURS) : other_than(it, FS_N_COLOURS, C);
        if (mode == 0 && ft == 2) co = C;
        if (mode == 1 && ft == 2) sh = S;
        add(it, s, sh, co);
    }
    if (ft == 0) {
        fs_si_question(it, "How many %s are there?", fs_shape_plurals[S]);
        it->skill = "count-shape";
    } else if (ft == 1) {
        fs_si_question(it, "How many %s shapes are there?", fs_colour_names[C]);
        it->skill = "count-colour";
    } else {
        fs_si_question(it, "How many %s %s are there?", fs_colour_names[C], fs_shape_plurals[S]);
        it->skill = "count-colour-shape";
    }
    fs_si_numbers(it, count_where(s, ft == 1 ? -1 : S, ft == 0 ? -1 : C), 0, 9, 1, k,
                  s->n - t > 0 ? s->n : -1, "%d");
}

static void make_colour(fs_synth_item *it, scene *s)
{
    int S = fs_si_below(it, FS_N_SHAPES), C = fs_si_below(it, FS_N_COLOURS);
    add(it, s, S, C);
    int no = fs_si_range(it, 1, 4), cand[8], nc = 0;
    for (int i = 0; i < no; i++) {
        int co = fs_si_below(it, FS_N_COLOURS);
        add(it, s, other_than(it, FS_N_SHAPES, S), co);
        cand[nc++] = co;
    }
    fs_si_question(it, "What colour is the %s?", fs_shape_names[S]);
    it->skill = "colour-of-shape";
    it->subject = "perception";
    name_choices(it, fs_colour_names, FS_N_COLOURS, C, cand, nc, fs_si_range(it, 2, 4));
}

static void make_shape(fs_synth_item *it, scene *s)
{
    int S = fs_si_below(it, FS_N_SHAPES), C = fs_si_below(it, FS_N_COLOURS);
    add(it, s, S, C);
    int no = fs_si_range(it, 1, 4), cand[8], nc = 0;
    for (int i = 0; i < no; i++) {
        int sh = fs_si_below(it, FS_N_SHAPES);
        add(it, s, sh, other_than(it, FS_N_COLOURS, C));
        cand[nc++] = sh;
    }
    fs_si_question(it, "What shape is the %s object?", fs_colour_names[C]);
    it->skill = "shape-of-colour";
    it->subject = "perception";
    name_choices(it, fs_shape_names, FS_N_SHAPES, S, cand, nc, fs_si_range(it, 2, 4));
}

static void make_spatial(fs_synth_item *it, scene *s)
{
    static const char *const rel[4] = {"to the left", "to the right", "above", "below"};
    int r = fs_si_below(it, 4);
    int SA = fs_si_below(it, FS_N_SHAPES), CA = fs_si_below(it, FS_N_COLOURS);
    int SB = fs_si_below(it, FS_N_SHAPES), CB = other_than(it, FS_N_COLOURS, CA);
    /* A and B on one row (left/right) or one column (above/below), A first when r is even. */
    int line = fs_si_below(it, GRID), p[GRID];
    for (int i = 0; i < GRID; i++) p[i] = i;
    fs_si_shuffle(it, p, GRID);
    int a = p[0] < p[1] ? p[0] : p[1], b = p[0] < p[1] ? p[1] : p[0];
    if (r % 2) { int t = a; a = b; b = t; }
    int cellA = r < 2 ? GRID * line + a : GRID * a + line;
    int cellB = r < 2 ? GRID * line + b : GRID * b + line;
    add_at(s, SA, CA, cellA);
    add_at(s, SB, CB, cellB);
    int no = fs_si_below(it, 4);
    for (int i = 0; i < no; i++) {
        int sh = fs_si_below(it, FS_N_SHAPES), co = fs_si_below(it, FS_N_COLOURS);
        if ((sh == SA && co == CA) || (sh == SB && co == CB)) continue; /* keep A, B unique */
        add(it, s, sh, co);
    }
    fs_si_question(it, "Where is the %s %s relative to the %s %s?", fs_colour_names[CA],
                   fs_shape_names[SA], fs_colour_names[CB], fs_shape_names[SB]);
    it->skill = r < 2 ? "left-right" : "above-below";
    it->subject = "perception";
    fs_si_choice(it, "%s", rel[r]);
    fs_si_choice(it, "%s", rel[r ^ 1]);
    if (fs_si_below(it, 2)) {
        fs_si_choice(it, "%s", rel[r ^ 2]);
        fs_si_choice(it, "%s", rel[r ^ 3]);
    }
}

static void make_comparison(fs_synth_item *it, scene *s)
{
    int by_colour = fs_si_below(it, 2), more = fs_si_below(it, 2), k = fs_si_range(it, 2, 3);
    int X = by_colour ? fs_si_below(it, FS_N_COLOURS) : fs_si_below(it, FS_N_SHAPES);
    int Y = other_than(it, by_colour ? FS_N_COLOURS : FS_N_SHAPES, X);
    int outcome = fs_si_below(it, k); /* 0: X wins, 1: Y wins, 2: the same */
    int lo = fs_si_range(it, 1, 3), hi = outcome == 2 ? lo : fs_si_range(it, lo + 1, 5);
    int nx = outcome == 2 ? lo : (outcome == 0) == (more == 1) ? hi : lo;
    int ny = outcome == 2 ? lo : nx == hi ? lo : hi;
    for (int i = 0; i < nx + ny; i++) {
        int mine = i < nx ? X : Y;
        if (by_colour) add(it, s, fs_si_below(it, FS_N_SHAPES), mine);
        else add(it, s, mine, fs_si_below(it, FS_N_COLOURS));
    }
    int extras = fs_si_below(it, 3);
    for (int i = 0; i < extras; i++) {
        if (by_colour) {
            int co = fs_si_below(it, FS_N_COLOURS);
            if (co != X && co != Y) add(it, s, fs_si_below(it, FS_N_SHAPES), co);
        } else {
            int sh = fs_si_below(it, FS_N_SHAPES);
            if (sh != X && sh != Y) add(it, s, sh, fs_si_below(it, FS_N_COLOURS));
        }
    }
    const char *w = more ? "more" : "fewer";
    char gx[32], gy[32];
    if (by_colour) {
        snprintf(gx, sizeof gx, "%s shapes", fs_colour_names[X]);
        snprintf(gy, sizeof gy, "%s shapes", fs_colour_names[Y]);
    } else {
        snprintf(gx, sizeof gx, "%s", fs_shape_plurals[X]);
        snprintf(gy, sizeof gy, "%s", fs_shape_plurals[Y]);
    }
    fs_si_question(it, "Are there %s %s or %s %s?", w, gx, w, gy);
    it->skill = by_colour ? "compare-colours" : "compare-shapes";
    it->subject = "math";
    const char *ch[3] = {gx, gy, "the same number"};
    fs_si_choice(it, "%s", ch[outcome]);
    for (int c = 0; c < k; c++) fs_si_choice(it, "%s", ch[c]);
}

static void make_arithmetic(fs_synth_item *it, scene *s)
{
    int tmpl = fs_si_below(it, 4), k = fs_si_range(it, 3, 5), answer = 0;
    int S = fs_si_below(it, FS_N_SHAPES), T = other_than(it, FS_N_SHAPES, S);
    it->subject = "math";
    if (tmpl == 0) { /* add n more */
        int a = fs_si_range(it, 0, 4), add_n = fs_si_range(it, 1, 3), rest = fs_si_range(it, 1, 3);
        for (int i = 0; i < a; i++) add(it, s, S, fs_si_below(it, FS_N_COLOURS));
        for (int i = 0; i < rest; i++) add(it, s, other_than(it, FS_N_SHAPES, S), fs_si_below(it, FS_N_COLOURS));
        answer = a + add_n;
        fs_si_question(it, "If you add %s more %s, how many %s will there be?",
                       fs_si_number_word(add_n), add_n == 1 ? fs_shape_names[S] : fs_shape_plurals[S],
                       fs_shape_plurals[S]);
        it->skill = "add-more";
        fs_si_numbers(it, answer, 0, 9, 1, k, a, "%d");
        return;
    }
    if (tmpl == 1) { /* take away a colour */
        int C = fs_si_below(it, FS_N_COLOURS), c = fs_si_range(it, 1, 4), r = fs_si_range(it, 0, 4);
        for (int i = 0; i < c; i++) add(it, s, fs_si_below(it, FS_N_SHAPES), C);
        for (int i = 0; i < r; i++) add(it, s, fs_si_below(it, FS_N_SHAPES), other_than(it, FS_N_COLOURS, C));
        answer = r;
        fs_si_question(it, "If you take away all the %s shapes, how many shapes will be left?",
                       fs_colour_names[C]);
        it->skill = "take-away";
        fs_si_numbers(it, answer, 0, 9, 1, k, c + r, "%d");
        return;
    }
    int a, b;
    if (tmpl == 2) {
        a = fs_si_range(it, 0, 4), b = fs_si_range(it, a == 0 ? 1 : 0, 4);
        answer = a + b;
        fs_si_question(it, "How many %s and %s are there in total?", fs_shape_plurals[S],
                       fs_shape_plurals[T]);
        it->skill = "add-groups";
    } else {
        b = fs_si_range(it, 0, 3), a = fs_si_range(it, b + 1, b + 4 > 6 ? 6 : b + 4);
        answer = a - b;
        fs_si_question(it, "How many more %s than %s are there?", fs_shape_plurals[S],
                       fs_shape_plurals[T]);
        it->skill = "difference";
    }
    for (int i = 0; i < a; i++) add(it, s, S, fs_si_below(it, FS_N_COLOURS));
    for (int i = 0; i < b; i++) add(it, s, T, fs_si_below(it, FS_N_COLOURS));
    int extras = fs_si_below(it, 3);
    for (int i = 0; i < extras; i++) {
        int sh = fs_si_below(it, FS_N_SHAPES);
        if (sh != S && sh != T) add(it, s, sh, fs_si_below(it, FS_N_COLOURS));
    }
    fs_si_numbers(it, answer, 0, 9, 1, k, tmpl == 2 ? a : a + b, "%d");
}

static int make(fs_synth_item *it, int category)
{
    scene s;
    memset(&s, 0, sizeof s);
    switch (category) {
    case CAT_COUNT: make_counting(it, &s); break;
    case CAT_COLOUR: make_colour(it, &s); break;
    case CAT_SHAPE: make_shape(it, &s); break;
    case CAT_SPATIAL: make_spatial(it, &s); break;
    case CAT_COMPARE: make_comparison(it, &s); break;
    default: make_arithmetic(it, &s); break;
    }
    render(it, &s);
    return 0;
}

const fs_synth_spec fs_synth_iconqa_spec = {
    .name = "synth-iconqa", .categories = categories,
    .n_categories = (int)(sizeof categories / sizeof *categories), .make = make,
    /* the downstream light, with half of each colour washed out */
    .camera = {.gain = FS_SYNTH_DOWNSTREAM_LIGHT, .desaturation = 0.5f},
};

int fs_synth_cell_scenes(fs_rng *rng, int n, int image_size, float *pixels, int32_t *cell_colour,
                         int32_t *cell_shape)
{
    fs_synth_item it = {.rng = rng};
    if (fs_canvas_init(&it.img, image_size)) return -1;
    fs_clip_options clip;
    fs_clip_options_default(&clip, image_size);
    size_t per = (size_t)3 * image_size * image_size;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        scene s;
        memset(&s, 0, sizeof s);
        int k = fs_si_range(&it, 1, 8);
        for (int j = 0; j < k; j++) add(&it, &s, fs_si_below(&it, FS_N_SHAPES), fs_si_below(&it, FS_N_COLOURS));
        render(&it, &s);
        if (fs_si_below(&it, 2)) fs_si_source_look(&it);
        int32_t *col = cell_colour + (size_t)i * CELLS, *shp = cell_shape + (size_t)i * CELLS;
        memset(col, 0, CELLS * sizeof *col);
        memset(shp, 0, CELLS * sizeof *shp);
        for (int j = 0; j < s.n; j++) {
            col[s.o[j].cell] = 1 + s.o[j].colour;
            shp[s.o[j].cell] = 1 + s.o[j].shape;
        }
        rc = fs_clip_preprocess(it.img.px, image_size, image_size, &clip, pixels + (size_t)i * per);
    }
    fs_canvas_free(&it.img);
    return rc;
}
