/* The pretraining source corpus: a mixture of captioned scenes (synth_captions.c),
 * text-only "pick" items that teach the letter lookup alone (matching), and
 * multiple-choice items from the downstream generators written in the
 * source domain's own look and format. The source format is lower-case
 * "question: {context} {question} ( A ) x ( B ) y answer: B" on scenes whose
 * light background is repainted as a tinted gradient; the downstream tasks use
 * the LLaVA conversation template ("USER: ... Options: ... ASSISTANT: Answer:",
 * words the source never shows) on plain light backgrounds, and the held-out
 * categories are skills the source never teaches. So the pretrained model
 * knows the visual world and what lettered options mean, and NanoAdapter
 * tuning has to carry that over to a new template, a new look and new skills. */
#include <stdlib.h>
#include <string.h>

#include "datasets/clip_image.h"
#include "datasets/synth_internal.h"

fs_source_mix fs_source_mix_default(void)
{
    static const char *const held_out[] = {"arithmetic", "word-order"};
    return (fs_source_mix){.weight = {[FS_SOURCE_CAPTIONS] = 1}, .held_out = held_out, .n_held_out = 2};
}

static bool held_out(const fs_source_mix *mix, const char *category)
{
    for (int i = 0; i < mix->n_held_out; i++)
        if (!strcmp(mix->held_out[i], category)) return true;
    return false;
}

/* Categories of spec the mixture may draw (not held out, and with a scene:
 * the source corpus pairs every text with one); their count. */
static int allowed(const fs_source_mix *mix, const fs_synth_spec *spec, int *cats)
{
    int n = 0;
    for (int c = 0; c < spec->n_categories; c++)
        if (!held_out(mix, spec->categories[c]) && !(spec->text_only >> c & 1u)) cats[n++] = c;
    return n;
}

/* A lettered item of spec in the source format; *target_from = offset of the
 * answer: its letter, or with words the option's text. */
static int task_item(fs_synth_item *it, const fs_synth_spec *spec, const int *cats, int ncats,
                     int answers, char *out, size_t len, int *target_from, int *right,
                     const char **category)
{
    int cat = cats[fs_si_below(it, ncats)];
    if (fs_si_make(spec, it, cat)) return -1;
    *category = spec->categories[cat];
    fs_si_source_look(it);
    bool words = answers == FS_ANSWER_WORDS || (answers == FS_ANSWER_BOTH && fs_si_below(it, 2));
    int k = it->n_choices, pos = fs_si_below(it, k), order[FS_MAX_CHOICES];
    for (int d = 0; d < k - 1; d++) order[d] = d + 1;
    fs_si_shuffle(it, order, k - 1);
    int l = snprintf(out, len, "question: %s%s%s", it->context, it->context[0] ? " " : "",
                     it->question);
    for (int c = 0, d = 0; c < k && l > 0 && (size_t)l < len; c++)
        l += snprintf(out + l, len - (size_t)l, " ( %c ) %s", 'A' + c,
                      it->choices[c == pos ? 0 : order[d++]]);
    if (l > 0 && (size_t)l < len) l += snprintf(out + l, len - (size_t)l, " answer: ");
    int answer = -1;
    if (l > 0 && (size_t)l < len)
        answer = words ? snprintf(out + l, len - (size_t)l, "%s", it->choices[0])
                       : snprintf(out + l, len - (size_t)l, "%c", 'A' + pos);
    if (answer < 0 || (size_t)(l + answer) >= len)
        return fs_fail("%s: internal error: a source item does not fit %zu bytes", spec->name, len);
    *target_from = l;
    *right = pos;
    return 0;
}

int fs_source_option_marks(const char *text, int len, int at[FS_MAX_CHOICES + 1])
{
    static const char tail[] = " answer: ";
    int tl = (int)sizeof tail - 1, k = 0;
    if (len < tl || strncmp(text + len - tl, tail, (size_t)tl)) return 0;
    char mark[] = " ( A ) ";
    for (const char *p = strstr(text, mark); p && p < text + len - tl && k < FS_MAX_CHOICES;
         mark[3]++, p = strstr(p + 3, mark))
        at[k++] = (int)(p - text);
    at[k] = len - tl;
    return k;
}

void fs_source_corpus_free(fs_source_corpus *c)
{
    for (int i = 0; c->texts && i < c->n; i++) free(c->texts[i]);
    free(c->texts);
    free(c->pixels);
    free(c->target_from);
    free(c->answer_at);
    free(c->right_option);
    free(c->category);
    memset(c, 0, sizeof *c);
}

static bool is_category(const fs_synth_spec *spec, const char *name)
{
    for (int c = 0; c < spec->n_categories; c++)
        if (!strcmp(spec->categories[c], name)) return true;
    return false;
}

int fs_synth_source_corpus(const fs_source_mix *mix, uint64_t seed, int n, int image_size,
                           fs_source_corpus *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < mix->n_held_out; i++)
        if (!is_category(&fs_synth_iconqa_spec, mix->held_out[i]) &&
            !is_category(&fs_synth_scienceqa_spec, mix->held_out[i]))
            return fs_fail("corpus.held_out: '%s' is not a category of synth-iconqa or synth-scienceqa "
                           "(fedsim data stats DIR lists them)", mix->held_out[i]);
    int icats[16], scats[16];
    int ni = allowed(mix, &fs_synth_iconqa_spec, icats), ns = allowed(mix, &fs_synth_scienceqa_spec, scats);
    /* a task source whose every category is held out or text-only draws nothing */
    double w[FS_SOURCE_COUNT], total = 0;
    int sources = 0, only = 0;
    bool negative = false;
    for (int src = 0; src < FS_SOURCE_COUNT; src++) {
        w[src] = (src == FS_SOURCE_ICONQA && !ni) || (src == FS_SOURCE_SCIENCEQA && !ns) ? 0 : mix->weight[src];
        negative |= w[src] < 0;
        total += w[src];
        if (w[src] > 0) sources++, only = src;
    }
    if (!negative && !(total > 0))
        return fs_fail("corpus.mix: nothing to draw: no weight is positive, or every category of the "
                       "weighted task sources is held out (corpus.held_out) or text-only (word-order; "
                       "the corpus pairs each text with a scene); weight another source or hold out less");
    if (n < 1 || image_size < 8 || image_size > 1024 || negative)
        return fs_fail("source corpus: bad arguments (n=%d, image_size=%d, weights %g/%g/%g/%g after "
                       "held-out categories)", n, image_size, w[0], w[1], w[2], w[3]);
    size_t per = (size_t)3 * image_size * image_size;
    out->n = n;
    out->image_size = image_size;
    out->pixels = malloc((size_t)n * per * sizeof *out->pixels);
    out->texts = calloc((size_t)n, sizeof *out->texts);
    out->target_from = calloc((size_t)n, sizeof *out->target_from);
    out->answer_at = calloc((size_t)n, sizeof *out->answer_at);
    out->right_option = calloc((size_t)n, sizeof *out->right_option);
    out->category = calloc((size_t)n, sizeof *out->category);
    fs_rng rng = fs_rng_seed(seed ^ 0x63617074696f6e73ull); /* "captions" */
    fs_synth_item it = {.rng = &rng};
    if (!out->pixels || !out->texts || !out->target_from || !out->answer_at || !out->right_option || !out->category ||
        fs_canvas_init(&it.img, image_size)) {
        fs_source_corpus_free(out);
        return fs_fail("source corpus: out of memory for %d images of %dx%d", n, image_size, image_size);
    }
    fs_clip_options clip;
    fs_clip_options_default(&clip, image_size);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char buf[2048];
        /* a single source draws nothing here, so a captions-only corpus is the
         * exact stream earlier fedsim versions pretrained the shipped model on */
        int src = only;
        if (sources > 1) {
            double u = fs_rng_uniform(&rng) * total, upto = 0;
            for (src = 0; src < FS_SOURCE_COUNT - 1 && u >= (upto += w[src]); src++) {}
        }
        int *answer_at = &out->answer_at[i], right = -1;
        switch (src) {
        case FS_SOURCE_CAPTIONS: rc = fs_caption_make(&it, buf, sizeof buf, answer_at); break;
        case FS_SOURCE_ICONQA:
            rc = task_item(&it, &fs_synth_iconqa_spec, icats, ni, mix->answers, buf, sizeof buf, answer_at, &right,
                           &out->category[i]);
            break;
        case FS_SOURCE_SCIENCEQA:
            rc = task_item(&it, &fs_synth_scienceqa_spec, scats, ns, mix->answers, buf, sizeof buf, answer_at, &right,
                           &out->category[i]);
            break;
        default: rc = fs_matching_make(&it, buf, sizeof buf, answer_at); break;
        }
        /* captions are supervised whole, lettered task items on their answer only */
        out->target_from[i] = src == FS_SOURCE_CAPTIONS ? 0 : *answer_at;
        out->right_option[i] = mix->verdicts ? right : -1;
        if (!rc && !(out->texts[i] = strdup(buf))) rc = fs_fail("source corpus: out of memory");
        if (!rc) rc = fs_clip_preprocess(it.img.px, image_size, image_size, &clip, out->pixels + (size_t)i * per);
    }
    fs_canvas_free(&it.img);
    if (rc) fs_source_corpus_free(out);
    return rc;
}
