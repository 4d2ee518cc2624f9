/* Dataset directory -> fs_task: validation against the model (vocabulary,
 * context length), LLaVA-1.5 prompts, images of any size decoded and
 * preprocessed as the Hugging Face CLIP image processor does
 * (datasets/clip_image.h), dense categories; plus task concatenation for
 * cross-task mixes. */
#include "datasets/task_builder.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/clip_image.h"
#include "datasets/mcqa_format.h"
#include "sim/io/error.h"

void fs_task_free(fs_task *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->samples[i].ids);
    free(t->samples);
    for (int c = 0; c < t->n_categories; c++) free(t->category_names[c]);
    free(t->category_names);
    free(t->pixels);
    memset(t, 0, sizeof *t);
}

fs_prompt_style fs_prompt_style_of(const fs_mllm *m)
{
    return m->cfg.blip2 ? FS_PROMPT_MINIGPT4 : FS_PROMPT_LLAVA;
}

size_t fs_prompt_format(char *buf, size_t len, fs_prompt_style style, const char *context,
                        const char *question, const char *const *choices, int n_choices,
                        int with_image)
{
    bool mgpt = style == FS_PROMPT_MINIGPT4;
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(buf && n < len ? buf + n : NULL, buf && n < len ? len - n : 0,          \
                          __VA_ARGS__);                                                            \
        if (k_ > 0) n += (size_t)k_;                                                               \
    } while (0)
    if (mgpt)
        PUT("%s %s", FS_PROMPT_MINIGPT4_HUMAN, with_image ? FS_PROMPT_MINIGPT4_IMAGE " " : "");
    else
        PUT("%s %s", FS_PROMPT_USER, with_image ? "<image>\n" : "");
    if (context && *context) PUT("%s ", context);
    PUT("%s %s", question, FS_PROMPT_OPTIONS);
    for (int c = 0; c < n_choices; c++) PUT(" (%c) %s", 'A' + c, choices[c]);
    PUT(" %s", mgpt ? FS_PROMPT_MINIGPT4_ASSISTANT : FS_PROMPT_ASSISTANT);
#undef PUT
    return n;
}

/* The model and the tokenizer must agree before any data is read. */
static int check_vocab(const fs_tokenizer *tok, const fs_mllm *m, fs_task *t)
{
    const fs_llava_config *c = &m->cfg;
    const char *file = fs_tokenizer_path(tok);
    int nv = fs_tokenizer_vocab_size(tok);
    if (nv > c->t_vocab)
        return fs_fail("%s: the tokenizer has %d tokens but the model's embedding table has only "
                       "%d (text_config.vocab_size); use the tokenizer shipped with the model",
                       file, nv, c->t_vocab);
    int32_t img = fs_tokenizer_id(tok, FS_TOK_IMAGE), pad = fs_tokenizer_id(tok, FS_TOK_PAD);
    if (img != c->image_token_index)
        return fs_fail("%s: the tokenizer puts <image> at id %d but the model's "
                       "image_token_index is %d (config.json); the tokenizer does not belong to "
                       "this model", file, img, c->image_token_index);
    if (pad < 0)
        return fs_fail("%s: the tokenizer has no <pad> token, needed to pad batches (LLaVA-1.5 "
                       "checkpoints add it in tokenizer_config.json)", file);
    if (c->pad_token_id >= 0 && pad != c->pad_token_id)
        return fs_fail("%s: the tokenizer puts <pad> at id %d but the model's pad_token_id is %d "
                       "(config.json)", file, pad, c->pad_token_id);
    for (int k = 0; k < FS_MAX_CHOICES; k++)
        if ((t->letter_ids[k] = fs_tokenizer_answer_id(tok, (char)('A' + k))) < 0) return -1;
    t->pad_id = pad;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Dense category ids: sorted distinct values of the key. cat[i] per example. */
static int build_categories(const fs_mcqa_dataset *d, const char *dir, const char *key,
                            fs_task *t, int *cat)
{
    const char **vals = malloc((size_t)(d->n ? d->n : 1) * sizeof *vals);
    if (!vals) return fs_fail("%s: out of memory", dir);
    for (int i = 0; i < d->n; i++) {
        if (!(vals[i] = fs_mcqa_key(&d->ex[i], key))) {
            free(vals);
            return fs_fail("%s/examples.jsonl:%d: no \"%s\" field to partition by; choose "
                           "another partition key (category, skill or subject)", dir,
                           d->ex[i].line, key);
        }
    }
    qsort(vals, (size_t)d->n, sizeof *vals, cmp_str);
    int nu = 0;
    for (int i = 0; i < d->n; i++)
        if (i == 0 || strcmp(vals[i], vals[i - 1])) vals[nu++] = vals[i];
    t->category_names = calloc((size_t)(nu ? nu : 1), sizeof *t->category_names);
    if (!t->category_names) {
        free(vals);
        return fs_fail("%s: out of memory", dir);
    }
    for (int c = 0; c < nu; c++) {
        if (!(t->category_names[c] = strdup(vals[c]))) {
            free(vals);
            return fs_fail("%s: out of memory", dir);
        }
        t->n_categories = c + 1;
    }
    for (int i = 0; i < d->n; i++) {
        const char *v = fs_mcqa_key(&d->ex[i], key);
        const char **hit = bsearch(&v, vals, (size_t)nu, sizeof *vals, cmp_str);
        cat[i] = (int)(hit - vals);
    }
    free(vals);
    return 0;
}

/* Image index per example (-1 = text-only), shared between examples naming the
 * same file; paths[] lists the distinct files in order of first use. */
static int assign_images(const fs_mcqa_dataset *d, const char *dir, int *img, int *first_use,
                         int *n_images)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)d->n) cap *= 2;
    int *table = malloc(cap * sizeof *table); /* example index of the first use */
    if (!table) return fs_fail("%s: out of memory", dir);
    memset(table, 0xff, cap * sizeof *table);
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        const char *p = d->ex[i].image;
        img[i] = -1;
        if (!p) continue;
        uint32_t h = 2166136261u;
        for (const char *s = p; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
        for (h &= cap - 1; table[h] >= 0; h = (h + 1) & (cap - 1))
            if (!strcmp(d->ex[table[h]].image, p)) break;
        if (table[h] >= 0) {
            img[i] = img[table[h]];
        } else {
            table[h] = i;
            first_use[n] = i;
            img[i] = n++;
        }
    }
    free(table);
    *n_images = n;
    return 0;
}

static int decode_image(const char *dir, const fs_mcqa_example *e, const fs_clip_options *clip,
                        float *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->image);
    struct stat st;
    if (stat(path, &st))
        return fs_fail("%s (examples.jsonl:%d): image file is missing (%s)", path, e->line,
                       strerror(errno));
    if (fs_clip_load_image(path, clip, out))
        return fs_fail_context("%s/examples.jsonl:%d", dir, e->line);
    return 0;
}

static int build_sample(const fs_mcqa_example *e, const char *dir, const fs_tokenizer *tok,
                        const fs_mllm *m, int32_t *buf, int bufmax, fs_sample *s)
{
    int with_image = e->image != NULL;
    const char *const *ch = (const char *const *)e->choices;
    fs_prompt_style style = fs_prompt_style_of(m);
    size_t need = fs_prompt_format(NULL, 0, style, e->context, e->question, ch, e->n_choices,
                                   with_image);
    char *text = malloc(need + 1);
    if (!text) return fs_fail("%s: out of memory", dir);
    fs_prompt_format(text, need + 1, style, e->context, e->question, ch, e->n_choices, with_image);
    int n = fs_tokenizer_encode(tok, text, buf, bufmax);
    free(text);
    int max_pos = m->cfg.t_max_pos, nimg = m->n_image_tokens;
    if (n < 0)
        return fs_fail("%s/examples.jsonl:%d: the prompt is longer than the model's %d "
                       "positions (text_config.max_position_embeddings); shorten the question "
                       "or context", dir, e->line, max_pos);
    int32_t image_id = m->cfg.image_token_index;
    int n_img_tok = 0, at = -1;
    for (int i = 0; i < n; i++)
        if (buf[i] == image_id) n_img_tok++, at = at < 0 ? i : at;
    if (n_img_tok != with_image)
        return fs_fail("%s/examples.jsonl:%d: the text contains the reserved token <image>; remove "
                       "it from the question, context and choices", dir, e->line);
    int len = 1 + n + (with_image ? nimg - 1 : 0);
    if (len + 1 > max_pos)
        return fs_fail("%s/examples.jsonl:%d: the prompt needs %d tokens (%s) plus the answer, "
                       "but the model has %d positions (text_config.max_position_embeddings); "
                       "shorten the question or context", dir, e->line, len,
                       with_image ? "image tokens included" : "text only", max_pos);
    int32_t *ids = malloc((size_t)len * sizeof *ids);
    if (!ids) return fs_fail("%s: out of memory", dir);
    int k = 0;
    ids[k++] = fs_tokenizer_id(tok, FS_TOK_BOS);
    for (int i = 0; i < n; i++) {
        if (i == at) {
            for (int j = 0; j < nimg; j++) ids[k++] = image_id;
        } else {
            ids[k++] = buf[i];
        }
    }
    s->ids = ids;
    s->len = len;
    s->image_pos = with_image ? 1 + at : -1;
    s->n_choices = e->n_choices;
    s->answer = e->answer;
    s->split = e->split;
    s->source = 0;
    return 0;
}

int fs_task_load(const char *dataset_dir, const fs_tokenizer *tok, const fs_mllm *m,
                 const char *partition_key, fs_task *out)
{
    return fs_task_load_clip(dataset_dir, tok, m, NULL, partition_key, out);
}

int fs_task_load_clip(const char *dataset_dir, const fs_tokenizer *tok, const fs_mllm *m,
                      const fs_clip_options *clip, const char *partition_key, fs_task *out)
{
    memset(out, 0, sizeof *out);
    if (!dataset_dir || !tok || !m) return fs_fail("fs_task_load: NULL argument");
    fs_clip_options clip_default;
    if (!clip) {
        fs_clip_options_default(&clip_default, m->cfg.v_image_size);
        clip = &clip_default;
    }
    if (fs_clip_options_check(clip, m->cfg.v_image_size, "image preprocessing options"))
        return -1;
    const char *key = partition_key ? partition_key : "category";
    if (!fs_mcqa_key_valid(key))
        return fs_fail("%s: unknown partition key '%s'; use category, skill or subject",
                       dataset_dir, key);
    fs_task t = {0};
    if (check_vocab(tok, m, &t)) return fs_fail_context("%s", dataset_dir);
    fs_mcqa_dataset d;
    if (fs_mcqa_read(dataset_dir, &d)) return -1;
    int S = m->cfg.v_image_size, rc = -1;
    int *cat = malloc((size_t)(d.n + 1) * sizeof *cat), *img = malloc((size_t)(d.n + 1) * sizeof *img);
    int *first = malloc((size_t)(d.n + 1) * sizeof *first);
    int bufmax = m->cfg.t_max_pos + 1;
    int32_t *buf = malloc((size_t)bufmax * sizeof *buf);
    if (!cat || !img || !first || !buf) {
        fs_fail("%s: out of memory", dataset_dir);
        goto out;
    }
    if (build_categories(&d, dataset_dir, key, &t, cat)) goto out;
    if (assign_images(&d, dataset_dir, img, first, &t.n_images)) goto out;
    t.image_size = S;
    size_t per = (size_t)3 * S * S;
    if (t.n_images > 0 &&
        !(t.pixels = fs_alloc_or_fail(NULL, (size_t)t.n_images * per * sizeof *t.pixels,
                                      "use a dataset with fewer images",
                                      "the pixels of %d images of %s", t.n_images, dataset_dir)))
        goto out;
    for (int k = 0; k < t.n_images; k++)
        if (decode_image(dataset_dir, &d.ex[first[k]], clip, t.pixels + (size_t)k * per)) goto out;
    if (!(t.samples = calloc((size_t)(d.n ? d.n : 1), sizeof *t.samples))) {
        fs_fail("%s: out of memory", dataset_dir);
        goto out;
    }
    for (int i = 0; i < d.n; i++) {
        fs_sample *s = &t.samples[i];
        if (build_sample(&d.ex[i], dataset_dir, tok, m, buf, bufmax, s)) goto out;
        t.n = i + 1;
        s->image = img[i];
        s->category = cat[i];
    }
    rc = 0;
out:
    free(cat);
    free(img);
    free(first);
    free(buf);
    fs_mcqa_free(&d);
    if (rc) fs_task_free(&t);
    else *out = t;
    return rc;
}

int fs_task_concat(fs_task *dst, fs_task *src, int source_id)
{
    if (!dst || !src) return fs_fail("fs_task_concat: NULL argument");
    if (dst->n == 0 && dst->n_categories == 0 && dst->n_images == 0) {
        for (int i = 0; i < src->n; i++) src->samples[i].source = source_id;
        fs_task_free(dst);
        *dst = *src;
        memset(src, 0, sizeof *src);
        return 0;
    }
    if (memcmp(dst->letter_ids, src->letter_ids, sizeof dst->letter_ids) ||
        dst->pad_id != src->pad_id)
        return fs_fail("cannot mix tasks tokenised with different vocabularies (choice letter "
                       "or <pad> ids differ); load both with the same model");
    if (dst->n_images && src->n_images && dst->image_size != src->image_size)
        return fs_fail("cannot mix tasks with %dx%d and %dx%d images", dst->image_size,
                       dst->image_size, src->image_size, src->image_size);
    if ((dst->n_images && !dst->pixels) || (src->n_images && !src->pixels))
        return fs_fail("cannot mix tasks whose pixels were already released to the feature "
                       "cache; concatenate before caching");
    /* Merged, sorted category names and the remapping of both sides. */
    int nc = dst->n_categories + src->n_categories;
    char **names = malloc((size_t)(nc ? nc : 1) * sizeof *names);
    int *map_d = malloc((size_t)(dst->n_categories + 1) * sizeof *map_d);
    int *map_s = malloc((size_t)(src->n_categories + 1) * sizeof *map_s);
    fs_sample *samples = realloc(dst->samples, (size_t)(dst->n + src->n + 1) * sizeof *samples);
    if (samples) dst->samples = samples;
    int S = dst->n_images ? dst->image_size : src->image_size;
    size_t per = (size_t)3 * S * S;
    float *pixels = dst->pixels;
    if (src->n_images) {
        pixels = realloc(dst->pixels, (size_t)(dst->n_images + src->n_images) * per * sizeof *pixels);
        if (pixels) dst->pixels = pixels;
    }
    if (!names || !map_d || !map_s || !samples || (dst->n_images + src->n_images > 0 && !pixels)) {
        free(names);
        free(map_d);
        free(map_s);
        return fs_fail("fs_task_concat: out of memory");
    }
    int n = 0;
    for (int c = 0; c < dst->n_categories; c++) names[n++] = dst->category_names[c];
    for (int c = 0; c < src->n_categories; c++) names[n++] = src->category_names[c];
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int nu = 0;
    for (int i = 0; i < n; i++)
        if (nu == 0 || strcmp(names[i], names[nu - 1])) names[nu++] = names[i];
    for (int c = 0; c < dst->n_categories; c++)
        map_d[c] = (int)((char **)bsearch(&dst->category_names[c], names, (size_t)nu,
                                          sizeof *names, cmp_str) - names);
    for (int c = 0; c < src->n_categories; c++)
        map_s[c] = (int)((char **)bsearch(&src->category_names[c], names, (size_t)nu,
                                          sizeof *names, cmp_str) - names);
    /* names[] points into both tasks' strings: free the duplicates not kept. */
    for (int c = 0; c < dst->n_categories; c++)
        if (names[map_d[c]] != dst->category_names[c]) free(dst->category_names[c]);
    for (int c = 0; c < src->n_categories; c++)
        if (names[map_s[c]] != src->category_names[c]) free(src->category_names[c]);
    for (int i = 0; i < dst->n; i++) dst->samples[i].category = map_d[dst->samples[i].category];
    for (int i = 0; i < src->n; i++) {
        fs_sample s = src->samples[i];
        s.category = map_s[s.category];
        s.source = source_id;
        if (s.image >= 0) s.image += dst->n_images;
        dst->samples[dst->n + i] = s;
    }
    if (src->n_images)
        memcpy(dst->pixels + (size_t)dst->n_images * per, src->pixels,
               (size_t)src->n_images * per * sizeof *src->pixels);
    dst->n += src->n;
    dst->n_images += src->n_images;
    dst->image_size = S;
    free(dst->category_names);
    dst->category_names = names;
    dst->n_categories = nu;
    free(src->category_names);
    free(src->samples);
    free(src->pixels);
    memset(src, 0, sizeof *src);
    free(map_d);
    free(map_s);
    return 0;
}
