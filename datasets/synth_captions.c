/* synth-captions: the pretraining source domain. The same visual world as
 * synth-iconqa (the shapes and colours) in another style — tinted gradient
 * backgrounds, free placement, larger and more varied sizes, outlines — paired
 * with free-form text in a format unlike the downstream tasks: captions
 * ("a photo of two red circles and a blue square .") and lower-case
 * "question: ... answer: ..." pairs with open answers, and lettered questions on
 * colour and number. fs_matching_make writes the text-only "pick" items of the
 * matching source on the same scenes. */
#include <stdlib.h>
#include <string.h>

#include "datasets/synth_internal.h"

typedef struct { int shape, colour; float x, y, r; } cobj;

static int place(fs_synth_item *it, cobj *o, int n)
{
    int placed = 0;
    for (int i = 0; i < n; i++) {
        for (int tries = 0; tries < 30; tries++) {
            cobj c = {fs_si_below(it, FS_N_SHAPES), fs_si_below(it, FS_N_COLOURS), 0, 0,
                      fs_si_unif(it, 0.09f, 0.2f)};
            c.x = fs_si_unif(it, c.r, 1 - c.r);
            c.y = fs_si_unif(it, c.r, 1 - c.r);
            int ok = 1;
            for (int j = 0; j < placed && ok; j++) {
                float dx = c.x - o[j].x, dy = c.y - o[j].y, d = c.r + o[j].r;
                ok = dx * dx + dy * dy > 0.8f * d * d;
            }
            if (ok) {
                o[placed++] = c;
                break;
            }
        }
    }
    return placed;
}

static void render(fs_synth_item *it, const cobj *o, int n)
{
    fs_rgb a = {(uint8_t)fs_si_range(it, 150, 235), (uint8_t)fs_si_range(it, 150, 235),
                (uint8_t)fs_si_range(it, 150, 235)};
    fs_rgb b = {(uint8_t)fs_si_range(it, 120, 220), (uint8_t)fs_si_range(it, 120, 220),
                (uint8_t)fs_si_range(it, 120, 220)};
    fs_canvas_gradient(&it->img, a, b);
    int outline = fs_si_below(it, 2);
    for (int i = 0; i < n; i++) {
        fs_rgb c = fs_colours[o[i].colour];
        if (outline) fs_draw_shape_outlined(&it->img, o[i].shape, o[i].x, o[i].y, o[i].r, c,
                                            (fs_rgb){30, 30, 30}, 0.03f);
        else fs_draw_shape(&it->img, o[i].shape, o[i].x, o[i].y, o[i].r, c);
    }
    fs_canvas_noise(&it->img, it->rng, 8);
}

static int count(const cobj *o, int n, int shape, int colour)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += (shape < 0 || o[i].shape == shape) && (colour < 0 || o[i].colour == colour);
    return k;
}

static void caption(fs_synth_item *it, const cobj *o, int n, char *out, size_t len)
{
    static const char *const prefix[] = {"a photo of", "a picture of", "an image of",
                                         "a drawing of"};
    int seen[FS_N_SHAPES][FS_N_COLOURS] = {{0}}, groups = 0;
    char items[8][64];
    for (int i = 0; i < n; i++) {
        int s = o[i].shape, c = o[i].colour;
        if (seen[s][c]++) continue;
        int k = count(o, n, s, c);
        const char *art = k > 1 ? fs_si_number_word(k) : c == FS_COL_ORANGE ? "an" : "a";
        snprintf(items[groups++], 64, "%s %s %s", art, fs_colour_names[c],
                 k > 1 ? fs_shape_plurals[s] : fs_shape_names[s]);
    }
    int l = snprintf(out, len, "%s ", prefix[fs_si_below(it, 4)]);
    for (int g = 0; g < groups && l > 0 && (size_t)l < len; g++)
        l += snprintf(out + l, len - (size_t)l, "%s%s", g == 0 ? "" : g == groups - 1 ? " and " : ", ",
                      items[g]);
    if (l > 0 && (size_t)l < len) snprintf(out + l, len - (size_t)l, ".");
}

/* Lettered multiple choice in the source domain's own format
 * ("( A ) red ( B ) blue answer: B"), on the source skills only (colour and
 * number words), so the model knows that letters name options; the downstream
 * tasks use another template and other skills. */
static int lettered(fs_synth_item *it, const cobj *o, int n, const cobj *t, char *out, size_t len)
{
    int nopt = fs_si_range(it, 2, 4), answer = fs_si_below(it, nopt), colour_q = fs_si_below(it, 2);
    int truth = colour_q ? t->colour : count(o, n, t->shape, -1), used[16] = {0}, opt[4];
    used[truth] = 1;
    for (int i = 0; i < nopt; i++) {
        if (i == answer) {
            opt[i] = truth;
            continue;
        }
        int v;
        do v = colour_q ? fs_si_below(it, FS_N_COLOURS) : fs_si_range(it, 1, 4);
        while (used[v]);
        used[v] = 1;
        opt[i] = v;
    }
    int l = colour_q ? snprintf(out, len, "question: what colour is the %s?", fs_shape_names[t->shape])
                     : snprintf(out, len, "question: how many %s are there?", fs_shape_plurals[t->shape]);
    for (int i = 0; i < nopt && l > 0 && (size_t)l < len; i++)
        l += snprintf(out + l, len - (size_t)l, " ( %c ) %s", 'A' + i,
                      colour_q ? fs_colour_names[opt[i]] : fs_si_number_word(opt[i]));
    if (l > 0 && (size_t)l < len) snprintf(out + l, len - (size_t)l, " answer: %c", 'A' + answer);
    return l + 9;
}

/* Returns the offset of the answer letter of a lettered question, else -1. */
static int make_text(fs_synth_item *it, const cobj *o, int n, char *out, size_t len)
{
    int kind = fs_si_below(it, 8);
    const cobj *t = &o[fs_si_below(it, n)];
    if (kind >= 6 && (kind == 7 || count(o, n, t->shape, -1) == 1)) {
        return lettered(it, o, n, t, out, len);
    } else if (kind == 1 && count(o, n, t->shape, -1) == 1) {
        snprintf(out, len, "question: what colour is the %s? answer: %s", fs_shape_names[t->shape],
                 fs_colour_names[t->colour]);
    } else if (kind == 2) {
        int k = count(o, n, t->shape, -1);
        snprintf(out, len, "question: how many %s are there? answer: %s", fs_shape_plurals[t->shape],
                 fs_si_number_word(k));
    } else if (kind == 3) {
        int s = fs_si_below(it, FS_N_SHAPES), c = fs_si_below(it, FS_N_COLOURS);
        if (fs_si_below(it, 2)) s = t->shape, c = t->colour; /* half the time: one that is there */
        snprintf(out, len, "question: is there a %s %s? answer: %s", fs_colour_names[c],
                 fs_shape_names[s], count(o, n, s, c) ? "yes" : "no");
    } else if (kind == 4 && count(o, n, t->shape, t->colour) == 1 && (t->x < 0.4f || t->x > 0.6f)) {
        snprintf(out, len, "question: where is the %s %s? answer: on the %s",
                 fs_colour_names[t->colour], fs_shape_names[t->shape], t->x < 0.4f ? "left" : "right");
    } else {
        caption(it, o, n, out, len);
    }
    return -1;
}

int fs_caption_make(fs_synth_item *it, char *text, size_t len, int *answer_at)
{
    cobj o[4];
    int k = place(it, o, fs_si_range(it, 1, 4));
    render(it, o, k);
    *answer_at = make_text(it, o, k, text, len);
    return 0;
}

int fs_matching_make(fs_synth_item *it, char *text, size_t len, int *answer_at)
{
    cobj o[4];
    render(it, o, place(it, o, fs_si_range(it, 1, 4)));
    /* option words of one kind (colours, shapes or numbers), as the lettered questions use */
    int kind = fs_si_below(it, 3), n = kind == 0 ? FS_N_COLOURS : kind == 1 ? FS_N_SHAPES : 9;
    int nopt = fs_si_range(it, 2, 5), answer = fs_si_below(it, nopt), pick[5];
    fs_si_pick(it, n, NULL, 0, 5, pick); /* every kind has at least 5 words */
    const char *word[5];
    for (int i = 0; i < 5; i++)
        word[i] = kind == 0 ? fs_colour_names[pick[i]] : kind == 1 ? fs_shape_names[pick[i]]
                                                                   : fs_si_number_word(pick[i] + 1);
    int l = snprintf(text, len, "question: pick %s .", word[answer]);
    for (int i = 0; i < nopt && l > 0 && (size_t)l < len; i++)
        l += snprintf(text + l, len - (size_t)l, " ( %c ) %s", 'A' + i, word[i]);
    if (l > 0 && (size_t)l < len) l += snprintf(text + l, len - (size_t)l, " answer: ");
    if (l < 0 || (size_t)l + 2 > len) return fs_fail("synth-captions: internal error: a pick item does not fit");
    snprintf(text + l, len - (size_t)l, "%c", 'A' + answer);
    *answer_at = l;
    return 0;
}
