/* synth-scienceqa: ScienceQA-like items — an image plus a text context, and a
 * question whose answer needs both: the context maps colours to names, the
 * image holds positions, heights or lengths. Categories: bar charts, maps,
 * food chains, rulers, thermometers, magnets, and text-only word-order items
 * (like ScienceQA's language-science questions, which have no image). */
#include <string.h>

#include "datasets/synth_internal.h"

static const char *const categories[] = {"bar-chart", "map", "food-chain", "ruler",
                                         "thermometer", "magnets", "word-order"};
enum { CAT_BAR, CAT_MAP, CAT_FOOD, CAT_RULER, CAT_THERMO, CAT_MAGNET, CAT_WORDS };

static const char *const cities[] = {"lima", "oslo", "cairo", "delhi", "paris", "tokyo", "quito",
                                     "rome"};
#define N_CITIES 8

static const fs_rgb white = {250, 250, 250}, ink = {60, 60, 60};

static void make_bar(fs_synth_item *it)
{
    static const char *const measure[] = {"parks", "schools", "bridges", "museums"};
    int nb = fs_si_range(it, 2, 3), most = fs_si_below(it, 2), m = fs_si_below(it, 4);
    /* Heights two units apart (6 px at 32 px), so that the image is read at a glance. */
    int col[3], level[3], lv[4] = {2, 4, 6, 8};
    fs_si_pick(it, FS_N_COLOURS, NULL, 0, nb, col);
    fs_si_shuffle(it, lv, 4);
    int asked = 0;
    for (int i = 0; i < nb; i++) {
        level[i] = lv[i];
        if (most ? level[i] > level[asked] : level[i] < level[asked]) asked = i;
    }
    fs_canvas_fill(&it->img, white);
    float w = 0.72f / nb;
    for (int i = 0; i < nb; i++) {
        float x0 = 0.17f + i * w + 0.12f * w, y1 = 0.88f;
        fs_draw_rect(&it->img, x0, y1 - 0.095f * level[i], x0 + 0.76f * w, y1, fs_colours[col[i]]);
    }
    fs_draw_line(&it->img, 0.12f, 0.06f, 0.12f, 0.89f, 0.03f, ink);
    fs_draw_line(&it->img, 0.12f, 0.89f, 0.94f, 0.89f, 0.03f, ink);
    /* The context names one bar, the tallest or the shortest: the question is
     * one lookup (its colour) and one comparison (its height). */
    const char *city = cities[fs_si_below(it, N_CITIES)];
    fs_si_context(it, "The bar graph shows the number of %s in %s cities. The %s bar is %s.",
                  measure[m], fs_si_number_word(nb), fs_colour_names[col[asked]], city);
    fs_si_question(it, "Is the number of %s in %s the most or the fewest?", measure[m], city);
    it->skill = most ? "bar-chart-most" : "bar-chart-fewest";
    it->subject = "social science";
    fs_si_choice(it, "the %s", most ? "most" : "fewest");
    fs_si_choice(it, "the %s", most ? "fewest" : "most");
}

static void make_map(fs_synth_item *it)
{
    static const char *const feature[] = {"lake", "forest", "town", "farm", "castle", "mountain"};
    static const char *const region[] = {"north", "south", "east", "west"};
    static const float rx[] = {0.5f, 0.5f, 0.8f, 0.2f}, ry[] = {0.2f, 0.8f, 0.5f, 0.5f};
    int nf = fs_si_range(it, 2, 3), reg[3], col[3];
    fs_si_pick(it, 4, NULL, 0, nf, reg); /* reg[0] is the answer's region */
    fs_si_pick(it, FS_N_COLOURS, NULL, 0, nf, col);
    fs_canvas_fill(&it->img, (fs_rgb){90, 90, 90});
    fs_draw_rect(&it->img, 0.04f, 0.04f, 0.96f, 0.96f, (fs_rgb){222, 214, 176});
    for (int i = 0; i < nf; i++) {
        int shape = fs_si_below(it, 3) == 0 ? FS_SHAPE_SQUARE : FS_SHAPE_CIRCLE;
        fs_draw_shape(&it->img, shape, rx[reg[i]] + fs_si_unif(it, -0.05f, 0.05f),
                      ry[reg[i]] + fs_si_unif(it, -0.05f, 0.05f), fs_si_unif(it, 0.09f, 0.12f),
                      fs_colours[col[i]]);
    }
    /* The context names the asked landmark's colour only; the others are distractors. */
    const char *feat = feature[fs_si_below(it, 6)];
    fs_si_context(it, "North is at the top of the map. On the map, the %s is %s.", feat,
                  fs_colour_names[col[0]]);
    fs_si_question(it, "Which part of the map is the %s in?", feat);
    it->skill = "map-directions";
    it->subject = "social science";
    int k = fs_si_range(it, 2, 4), other[4];
    fs_si_choice(it, "the %s", region[reg[0]]);
    for (int i = 1; i < nf && it->n_choices < k; i++) fs_si_choice(it, "the %s", region[reg[i]]);
    fs_si_pick(it, 4, NULL, 0, 4, other);
    for (int i = 0; i < 4 && it->n_choices < k; i++) fs_si_choice(it, "the %s", region[other[i]]);
}

static void make_food(fs_synth_item *it)
{
    static const char *const animals[] = {"insect", "mouse", "frog", "rabbit", "snake", "bird",
                                          "fox", "owl", "hawk", "lizard", "spider", "beetle"};
    enum { N = 3 }; /* a plant and two animals: a fourth link was too long to follow at 32 px */
    int col[N], shp[N];
    fs_si_pick(it, FS_N_COLOURS, NULL, 0, N, col);
    for (int i = 0; i < N; i++) shp[i] = fs_si_below(it, FS_N_SHAPES);
    /* Food at the bottom, eaters above it; arrows point from food to eater. */
    fs_canvas_fill(&it->img, (fs_rgb){238, 246, 236});
    float x[N], y[N], step = 0.76f / (N - 1);
    for (int i = 0; i < N; i++) {
        x[i] = 0.5f + (i % 2 ? 1 : -1) * fs_si_unif(it, 0.08f, 0.2f);
        y[i] = 0.88f - i * step;
    }
    for (int i = 0; i + 1 < N; i++) {
        float dx = x[i + 1] - x[i], dy = y[i + 1] - y[i], sh = 0.36f;
        fs_draw_arrow(&it->img, x[i] + sh * dx, y[i] + sh * dy, x[i + 1] - sh * dx,
                      y[i + 1] - sh * dy, 0.03f, ink);
    }
    for (int i = 0; i < N; i++) fs_draw_shape(&it->img, shp[i], x[i], y[i], 0.1f, fs_colours[col[i]]);
    /* The context names one animal's shape; half the time it is the top of the
     * chain (eaten by nothing), so that yes and no are equally likely. */
    int top = fs_si_below(it, 2), asked = top ? N - 1 : fs_si_range(it, 1, N - 2);
    const char *name = animals[fs_si_below(it, 12)];
    fs_si_context(it, "In this food chain, the %s shape is the %s. Each arrow points from a food "
                  "to the living thing that eats it.", fs_colour_names[col[asked]], name);
    fs_si_question(it, "Is the %s at the top of the food chain?", name);
    it->skill = top ? "food-chain-top" : "food-chain-eaten";
    it->subject = "natural science";
    fs_si_choice(it, "%s", top ? "yes" : "no");
    fs_si_choice(it, "%s", top ? "no" : "yes");
}

static void make_ruler(fs_synth_item *it)
{
    int L = fs_si_range(it, 1, 8), other = fs_si_range(it, 1, 7), col[2], top = fs_si_below(it, 2);
    if (other >= L) other++;
    fs_si_pick(it, FS_N_COLOURS, NULL, 0, 2, col);
    fs_canvas_fill(&it->img, white);
    float x0 = 0.08f, unit = 0.105f;
    fs_draw_rect(&it->img, x0 - 0.04f, 0.7f, x0 + 8 * unit + 0.04f, 0.93f, (fs_rgb){232, 204, 140});
    for (int t = 0; t <= 8; t++)
        fs_draw_line(&it->img, x0 + t * unit, 0.7f, x0 + t * unit, t % 2 ? 0.78f : 0.83f, 0.028f, ink);
    int len[2] = {L, other};
    for (int b = 0; b < 2; b++) {
        float y = (b == top ? 0.14f : 0.4f);
        fs_draw_rect(&it->img, x0, y, x0 + len[b] * unit, y + 0.16f, fs_colours[col[b]]);
    }
    fs_si_context(it, "Each mark on the ruler is one centimetre. Both bars start at zero.");
    fs_si_question(it, "How long is the %s bar?", fs_colour_names[col[0]]);
    it->skill = "measure-length";
    it->subject = "natural science";
    fs_si_numbers(it, L, 1, 8, 1, fs_si_range(it, 3, 4), other, "%d cm");
}

static void draw_thermometer(fs_canvas *c, float cx, int temp)
{
    static const fs_rgb red = {215, 35, 35};
    float top = 0.1f, bottom = 0.78f, hw = 0.055f;
    fs_draw_rect(c, cx - hw - 0.02f, top - 0.02f, cx + hw + 0.02f, bottom, ink);
    fs_draw_rect(c, cx - hw, top, cx + hw, bottom, white);
    fs_draw_shape(c, FS_SHAPE_CIRCLE, cx, 0.86f, 0.085f, red);
    float h = (bottom - top) * (float)temp / 40.0f;
    fs_draw_rect(c, cx - hw * 0.6f, bottom - h, cx + hw * 0.6f, bottom + 0.02f, red);
    for (int t = 0; t <= 40; t += 10) {
        float y = bottom - (bottom - top) * (float)t / 40.0f;
        fs_draw_line(c, cx - hw - 0.09f, y, cx - hw - 0.02f, y, 0.022f, ink);
    }
}

static void make_thermo(fs_synth_item *it)
{
    int t[2], city;
    /* 10-degree steps: 5 px of mercury each at 32 px (5-degree steps were 2 px, unread). */
    t[0] = 10 * fs_si_range(it, 0, 4);
    t[1] = 10 * fs_si_range(it, 0, 3);
    if (t[1] >= t[0]) t[1] += 10;
    fs_si_pick(it, N_CITIES, NULL, 0, 1, &city);
    int left = fs_si_below(it, 2); /* which thermometer (0 or 1) is drawn on the left */
    fs_canvas_fill(&it->img, (fs_rgb){236, 242, 250});
    draw_thermometer(&it->img, 0.3f, t[left]);
    draw_thermometer(&it->img, 0.72f, t[1 - left]);
    /* The context names the city of thermometer 0 only, by its side. */
    fs_si_context(it, "The thermometers show the temperature in two cities, in degrees Celsius. "
                  "The %s one is in %s.", left == 0 ? "left" : "right", cities[city]);
    it->subject = "natural science";
    if (fs_si_below(it, 2)) {
        fs_si_question(it, "What is the temperature in %s?", cities[city]);
        it->skill = "read-thermometer";
        fs_si_numbers(it, t[0], 0, 40, 10, fs_si_range(it, 3, 4), t[1], "%d degrees");
    } else {
        int warmer = t[0] > t[1];
        fs_si_question(it, "Is %s warmer or colder than the other city?", cities[city]);
        it->skill = "compare-temperatures";
        fs_si_choice(it, "%s", warmer ? "warmer" : "colder");
        fs_si_choice(it, "%s", warmer ? "colder" : "warmer");
    }
}

static void draw_magnet(fs_canvas *c, float x0, float y0, float x1, float y1, fs_rgb first,
                        fs_rgb second, int vertical)
{
    if (vertical) {
        float ym = 0.5f * (y0 + y1);
        fs_draw_rect(c, x0, y0, x1, ym, first);
        fs_draw_rect(c, x0, ym, x1, y1, second);
    } else {
        float xm = 0.5f * (x0 + x1);
        fs_draw_rect(c, x0, y0, xm, y1, first);
        fs_draw_rect(c, xm, y0, x1, y1, second);
    }
}

static void make_magnet(fs_synth_item *it)
{
    int attract = fs_si_below(it, 2), col[2], vertical = fs_si_below(it, 2);
    fs_si_pick(it, FS_N_COLOURS, NULL, 0, 2, col); /* north, south */
    fs_rgb N = fs_colours[col[0]], S = fs_colours[col[1]];
    /* Magnet 1 ends with pole p1 facing magnet 2, which starts with p2. */
    int p1 = fs_si_below(it, 2), p2 = attract ? 1 - p1 : p1;
    fs_rgb a0 = p1 ? N : S, a1 = p1 ? S : N, b0 = p2 ? S : N, b1 = p2 ? N : S;
    fs_canvas_fill(&it->img, white);
    float gap = fs_si_unif(it, 0.06f, 0.14f), h = 0.1f;
    if (vertical) {
        draw_magnet(&it->img, 0.5f - h, 0.04f, 0.5f + h, 0.5f - gap / 2, a0, a1, 1);
        draw_magnet(&it->img, 0.5f - h, 0.5f + gap / 2, 0.5f + h, 0.96f, b0, b1, 1);
    } else {
        draw_magnet(&it->img, 0.04f, 0.5f - h, 0.5f - gap / 2, 0.5f + h, a0, a1, 0);
        draw_magnet(&it->img, 0.5f + gap / 2, 0.5f - h, 0.96f, 0.5f + h, b0, b1, 0);
    }
    fs_si_context(it, "The north pole of each magnet is %s and the south pole is %s.",
                  fs_colour_names[col[0]], fs_colour_names[col[1]]);
    fs_si_question(it, "Will these magnets attract or repel each other?");
    it->skill = "magnets-attract-repel";
    it->subject = "natural science";
    fs_si_choice(it, "%s", attract ? "attract" : "repel");
    fs_si_choice(it, "%s", attract ? "repel" : "attract");
}

static void make_words(fs_synth_item *it)
{
    static const char *const pool[] = {
        "apple", "bread", "cloud", "desk", "egg", "flower", "garden", "hill", "island", "jacket",
        "kite", "lemon", "moon", "nest", "ocean", "pencil", "queen", "river", "sand", "tree",
        "umbrella", "violin", "window", "yard", "zebra", "basket", "candle", "dolphin", "feather",
        "honey", "ladder", "mirror", "paper", "rocket", "shell", "tiger", "wagon"};
    int np = (int)(sizeof pool / sizeof *pool), k = fs_si_range(it, 2, 4), w[4], first = fs_si_below(it, 2);
    /* Words with distinct first letters, so the order is decided by one letter. */
    for (;;) {
        fs_si_pick(it, np, NULL, 0, k, w);
        int ok = 1;
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++) ok &= pool[w[i]][0] != pool[w[j]][0];
        if (ok) break;
    }
    int best = 0;
    for (int i = 1; i < k; i++) {
        int c = strcmp(pool[w[i]], pool[w[best]]);
        if (first ? c < 0 : c > 0) best = i;
    }
    it->has_image = false;
    fs_si_question(it, "Which word would come %s in alphabetical order?", first ? "first" : "last");
    it->skill = first ? "alphabetical-first" : "alphabetical-last";
    it->subject = "language science";
    fs_si_choice(it, "%s", pool[w[best]]);
    for (int i = 0; i < k; i++) fs_si_choice(it, "%s", pool[w[i]]);
}

static int make(fs_synth_item *it, int category)
{
    switch (category) {
    case CAT_BAR: make_bar(it); break;
    case CAT_MAP: make_map(it); break;
    case CAT_FOOD: make_food(it); break;
    case CAT_RULER: make_ruler(it); break;
    case CAT_THERMO: make_thermo(it); break;
    case CAT_MAGNET: make_magnet(it); break;
    default: make_words(it); break;
    }
    return 0;
}

const fs_synth_spec fs_synth_scienceqa_spec = {
    .name = "synth-scienceqa", .categories = categories,
    .n_categories = (int)(sizeof categories / sizeof *categories), .make = make,
    .text_only = 1u << CAT_WORDS,
    .camera = {.gain = FS_SYNTH_DOWNSTREAM_LIGHT},
};
