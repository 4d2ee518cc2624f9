/* Shared part of the dataset importers: the output writer (temporary
 * directory renamed into place, validation of every example against the
 * fedsim-mcqa-1 rules, image fitting and resizing, the skip tally) and small
 * file-system helpers. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include "datasets/clip_image.h"
#include "datasets/draw.h"
#include "datasets/fsutil.h"
#include "datasets/importers.h"
#include "sim/io/error.h"

fs_import_opts fs_import_defaults(void)
{
    return (fs_import_opts){.image_size = FS_IMPORT_DEFAULT_IMAGE_SIZE, .val = FS_IMPORT_VAL_DROP,
                            .fit = FS_IMPORT_FIT_PAD, .strict = 0, .name = NULL};
}

const char *fs_import_skip_name(fs_import_skip r)
{
    static const char *const names[FS_SKIP_N] = {
        "malformed record", "missing image", "unreadable image", "val split (--val-as drop)",
        "other split", "choose_img (image choices)", "fill_in_blank (no choices)",
        "unknown subtask"};
    return (unsigned)r < FS_SKIP_N ? names[r] : "?";
}

static const char *const skip_help[FS_SKIP_N] = {
    "fix the record or drop it from the source",
    "the record names an image file that is not there; re-download the images",
    "the image exists but stb_image cannot decode it, or it is beyond the size limits",
    "use --val-as train|test to keep them",
    "only train, val and test are imported",
    "fedsim scores lettered text choices; image choices have no faithful text form",
    "free-form answer without choices; fedsim scores multiple choice only",
    "IconQA subtasks are choose_txt, choose_img and fill_in_blank",
};

void fs_import_print_summary(FILE *f, const char *what, const fs_import_stats *st)
{
    int skipped = 0;
    for (int r = 0; r < FS_SKIP_N; r++) skipped += st->skipped[r];
    fprintf(f, "%s: %d records read\n", what, st->read);
    fprintf(f, "  %-34s %7d\n", "written train", st->written[0]);
    fprintf(f, "  %-34s %7d\n", "written test", st->written[1]);
    fprintf(f, "  %-34s %7d\n", "  of which text-only", st->text_only);
    if (st->from_val) fprintf(f, "  %-34s %7d\n", "  of which from val", st->from_val);
    fprintf(f, "  %-34s %7d\n", "categories", st->n_categories);
    fprintf(f, "  %-34s %7d\n", "skipped", skipped);
    for (int r = 0; r < FS_SKIP_N; r++) {
        if (!st->skipped[r]) continue;
        fprintf(f, "    %-32s %7d   %s\n", fs_import_skip_name(r), st->skipped[r], skip_help[r]);
        int k = st->skipped[r] < FS_IMPORT_N_EXAMPLES ? st->skipped[r] : FS_IMPORT_N_EXAMPLES;
        for (int i = 0; i < k; i++) fprintf(f, "      %s\n", st->first[r][i]);
        if (st->skipped[r] > k) fprintf(f, "      ... and %d more\n", st->skipped[r] - k);
    }
}

/* ---------------------------------------------------------------- file system */
int fs_imp_is_dir(const char *path)
{
    struct stat s;
    return !stat(path, &s) && S_ISDIR(s.st_mode);
}

int fs_imp_is_file(const char *path)
{
    struct stat s;
    return !stat(path, &s) && S_ISREG(s.st_mode);
}

char *fs_imp_read_text(const char *path, const char *hint)
{
    return fs_ds_read_text(path, hint);
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int dx = all_digits(x), dy = all_digits(y);
    if (dx != dy) return dy - dx; /* numeric names first */
    if (dx) {
        while (*x == '0' && x[1]) x++;
        while (*y == '0' && y[1]) y++;
        size_t lx = strlen(x), ly = strlen(y);
        if (lx != ly) return lx < ly ? -1 : 1;
    }
    return strcmp(x, y);
}

char **fs_imp_list_dirs(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fs_fail("%s: cannot list (%s)", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL, path[4096];
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!fs_imp_is_dir(path)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (*n > 1) qsort(names, (size_t)*n, sizeof *names, cmp_names);
    if (!names) names = calloc(1, sizeof *names); /* an empty list is not an error */
    return names;
}

void fs_imp_free_list(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

const char *fs_imp_string_array(const cJSON *a, const char *field, char **out, int *n)
{
    static _Thread_local char why[96];
    *n = 0;
    if (!a || cJSON_IsNull(a)) {
        snprintf(why, sizeof why, "missing \"%s\"", field);
        return why;
    }
    if (!cJSON_IsArray(a)) {
        snprintf(why, sizeof why, "\"%s\" is not an array", field);
        return why;
    }
    int k = 0;
    for (const cJSON *c = a->child; c; c = c->next, k++) {
        if (!cJSON_IsString(c)) {
            snprintf(why, sizeof why, "\"%s\"[%d] is not a string", field, k);
            return why;
        }
        if (k < FS_MAX_CHOICES) out[k] = c->valuestring;
    }
    *n = k;
    return NULL;
}

/* ---------------------------------------------------------------- writer */
struct fs_imp_writer {
    char out[4096], tmp[4096], jsonl[4200];
    FILE *f;
    fs_import_opts o;
    fs_import_stats *st, own;
    char **cats;
    int n_cats, cap_cats;
    char **ids; /* open-addressing set of written ids */
    uint32_t id_cap, n_ids;
    fs_canvas canvas;
};

fs_imp_writer *fs_imp_begin(const char *out_dir, const fs_import_opts *o, fs_import_stats *st)
{
    fs_import_opts d = fs_import_defaults();
    if (!o) o = &d;
    if (o->image_size < 8 || o->image_size > 1024) {
        fs_fail("image size %d is out of range (8..1024)", o->image_size);
        return NULL;
    }
    if (!out_dir || !*out_dir) {
        fs_fail("no output directory given");
        return NULL;
    }
    if (fs_ds_dir_state(out_dir) == 2) {
        fs_fail("%s: already exists and is not empty; remove it or choose another output "
                "directory", out_dir);
        return NULL;
    }
    fs_imp_writer *w = calloc(1, sizeof *w);
    if (!w) {
        fs_fail("out of memory");
        return NULL;
    }
    w->o = *o;
    w->st = st ? st : &w->own;
    memset(w->st, 0, sizeof *w->st);
    snprintf(w->out, sizeof w->out, "%s", out_dir);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp-%ld", out_dir, (long)getpid());
    snprintf(w->jsonl, sizeof w->jsonl, "%s/examples.jsonl", w->tmp);
    fs_ds_remove_stale_tmps(out_dir);
    char images[4200];
    snprintf(images, sizeof images, "%s/images", w->tmp);
    if (mkdir(w->tmp, 0755)) {
        fs_fail("%s: cannot create (%s); does the parent directory exist and is it writable?",
                w->tmp, strerror(errno));
        free(w);
        return NULL;
    }
    const char *failed = mkdir(images, 0755) ? images
                         : !(w->f = fopen(w->jsonl, "wb")) ? w->jsonl : NULL;
    if (failed) fs_fail("%s: cannot create (%s)", failed, strerror(errno));
    if (failed || fs_canvas_init(&w->canvas, o->image_size)) {
        fs_imp_abort(w);
        return NULL;
    }
    return w;
}

static void free_writer(fs_imp_writer *w)
{
    if (w->f) fclose(w->f);
    for (int i = 0; i < w->n_cats; i++) free(w->cats[i]);
    free(w->cats);
    for (uint32_t i = 0; i < w->id_cap; i++) free(w->ids[i]);
    free(w->ids);
    fs_canvas_free(&w->canvas);
    free(w);
}

void fs_imp_abort(fs_imp_writer *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    w->f = NULL;
    w->st->n_categories = w->n_cats;
    fs_ds_remove_tree(w->tmp);
    free_writer(w);
}

static int is_data_error(fs_import_skip r)
{
    return r == FS_SKIP_MALFORMED || r == FS_SKIP_MISSING_IMAGE || r == FS_SKIP_BAD_IMAGE;
}

int fs_imp_skip(fs_imp_writer *w, fs_import_skip r, const char *rec, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (w->o.strict && is_data_error(r))
        return fs_fail("%s: %s (%s; --strict makes this fatal, without it such records are "
                       "skipped and counted)", rec, what, fs_import_skip_name(r));
    int k = w->st->skipped[r]++;
    if (k < FS_IMPORT_N_EXAMPLES)
        snprintf(w->st->first[r][k], sizeof w->st->first[r][k], "%.100s: %.290s", rec, what);
    return 0;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* 1 if id was already present, 0 if added, -1 out of memory. */
static int id_insert(fs_imp_writer *w, const char *id)
{
    if (2 * (w->n_ids + 1) > w->id_cap) {
        uint32_t cap = w->id_cap ? 2 * w->id_cap : 1024;
        char **t = calloc(cap, sizeof *t);
        if (!t) return -1;
        for (uint32_t i = 0; i < w->id_cap; i++) {
            if (!w->ids[i]) continue;
            uint32_t h = hash_str(w->ids[i]) & (cap - 1);
            while (t[h]) h = (h + 1) & (cap - 1);
            t[h] = w->ids[i];
        }
        free(w->ids);
        w->ids = t;
        w->id_cap = cap;
    }
    uint32_t h = hash_str(id) & (w->id_cap - 1);
    for (; w->ids[h]; h = (h + 1) & (w->id_cap - 1))
        if (!strcmp(w->ids[h], id)) return 1;
    if (!(w->ids[h] = strdup(id))) return -1;
    w->n_ids++;
    return 0;
}

static int add_category(fs_imp_writer *w, const char *c)
{
    for (int i = 0; i < w->n_cats; i++)
        if (!strcmp(w->cats[i], c)) return 0;
    if (w->n_cats == w->cap_cats) {
        int cap = w->cap_cats ? 2 * w->cap_cats : 32;
        char **n = realloc(w->cats, (size_t)cap * sizeof *n);
        if (!n) return fs_fail("out of memory");
        w->cats = n;
        w->cap_cats = cap;
    }
    if (!(w->cats[w->n_cats] = strdup(c))) return fs_fail("out of memory");
    w->n_cats++;
    return 0;
}

static int id_ok(const char *id)
{
    if (!*id || strlen(id) > 100 || !strcmp(id, ".") || !strcmp(id, "..")) return 0;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return 0;
    return 1;
}

/* Fits the decoded image (w x h x 3) into the writer's S x S canvas. The
 * padded square is never built (a 60000 x 10 image would need 10.8 GB). */
static int fit_image(fs_imp_writer *w, const uint8_t *px, int iw, int ih, const char *path)
{
    int s = w->canvas.size;
    if (w->o.fit == FS_IMPORT_FIT_PAD) {
        /* LLaVA-1.5 expand2square: background = int(255 * CLIP mean). */
        static const uint8_t bg[3] = {122, 116, 104};
        if (fs_clip_resize_padded_rgb(px, iw, ih, bg, w->canvas.px, s, FS_CLIP_RESAMPLE_TORCHVISION))
            return fs_fail("%s: out of memory resizing %dx%d to %dx%d", path, iw, ih, s, s);
        return 0;
    }
    int side = iw < ih ? iw : ih, ox = (iw - side) / 2, oy = (ih - side) / 2;
    uint8_t *sq = malloc((size_t)side * side * 3);
    if (!sq) return fs_fail("%s: out of memory (%dx%d)", path, iw, ih);
    for (int y = 0; y < side; y++)
        memcpy(sq + (size_t)y * side * 3, px + ((size_t)(y + oy) * iw + ox) * 3, (size_t)side * 3);
    int rc = 0;
    if (side == s) {
        memcpy(w->canvas.px, sq, (size_t)s * s * 3);
    } else if (fs_clip_resize_rgb(sq, side, side, w->canvas.px, s, s, FS_CLIP_RESAMPLE_TORCHVISION)) {
        rc = fs_fail("%s: out of memory resizing %dx%d to %dx%d", path, side, side, s, s);
    }
    free(sq);
    return rc;
}

static int has_reserved(const char *s) { return s && strstr(s, "<image>") != NULL; }

int fs_imp_add(fs_imp_writer *w, fs_mcqa_example *e, const char *src_image, const char *rec)
{
    /* The checks of fs_mcqa_read and the task builder, so the output always loads. */
    const char *bad = NULL;
    char why[160];
    if (!e->id || !id_ok(e->id)) bad = "id is not usable as a file name ([A-Za-z0-9._-], 1-100 characters)";
    else if (!e->question || !*e->question) bad = "missing or empty question";
    else if (e->n_choices < 2 || e->n_choices > FS_MAX_CHOICES) {
        snprintf(why, sizeof why, "%d choice%s; fedsim needs 2 to %d", e->n_choices,
                 e->n_choices == 1 ? "" : "s", FS_MAX_CHOICES);
        bad = why;
    } else if (e->answer < 0 || e->answer >= e->n_choices) {
        snprintf(why, sizeof why, "answer %d is out of range for %d choices", e->answer,
                 e->n_choices);
        bad = why;
    } else if (!e->category || !*e->category) bad = "missing or empty category";
    else if (has_reserved(e->question) || has_reserved(e->context)) bad = "the reserved text <image> in the question or context";
    for (int c = 0; !bad && c < e->n_choices; c++) {
        if (!e->choices[c] || !*e->choices[c]) {
            snprintf(why, sizeof why, "choice %d is empty", c);
            bad = why;
        } else if (has_reserved(e->choices[c])) {
            bad = "the reserved text <image> in a choice";
        }
    }
    if (bad) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "%s", bad) ? -1 : 1;
    if (e->skill && !*e->skill) e->skill = NULL;
    if (e->subject && !*e->subject) e->subject = NULL;
    if (!e->context) e->context = "";

    char rel[160], dst[4400];
    e->image = NULL;
    if (src_image) {
        if (!fs_imp_is_file(src_image))
            return fs_imp_skip(w, FS_SKIP_MISSING_IMAGE, rec, "%s does not exist", src_image) ? -1 : 1;
        int iw, ih, n;
        /* Limits read from the header, before decoding allocates anything. */
        if (stbi_info(src_image, &iw, &ih, &n) &&
            (iw > FS_IMPORT_MAX_SIDE || ih > FS_IMPORT_MAX_SIDE || (double)iw * ih > FS_IMPORT_MAX_PIXELS))
            return fs_imp_skip(w, FS_SKIP_BAD_IMAGE, rec,
                               "%s: %dx%d pixels, beyond what fedsim imports (at most %d per side "
                               "and %d megapixels)",
                               src_image, iw, ih, FS_IMPORT_MAX_SIDE, FS_IMPORT_MAX_PIXELS >> 20)
                       ? -1
                       : 1;
        uint8_t *px = stbi_load(src_image, &iw, &ih, &n, 3); /* alpha dropped, like PIL convert("RGB") */
        if (!px)
            return fs_imp_skip(w, FS_SKIP_BAD_IMAGE, rec, "%s: %s", src_image,
                               stbi_failure_reason()) ? -1 : 1;
        int rc = fit_image(w, px, iw, ih, src_image);
        stbi_image_free(px);
        if (rc) return -1;
    }
    int dup = id_insert(w, e->id);
    if (dup < 0) return fs_fail("out of memory");
    if (dup) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "duplicate id \"%s\"", e->id) ? -1 : 1;
    if (src_image) {
        snprintf(rel, sizeof rel, "images/%s.png", e->id);
        snprintf(dst, sizeof dst, "%s/%s", w->tmp, rel);
        if (fs_canvas_save_png(&w->canvas, dst)) return -1;
        e->image = rel;
    }
    if (add_category(w, e->category) || fs_mcqa_write_example(w->f, e, w->jsonl)) return -1;
    w->st->written[e->split]++;
    w->st->text_only += !src_image;
    e->image = NULL; /* rel is local */
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fs_imp_finish(fs_imp_writer *w, const char *name)
{
    fs_import_stats *st = w->st;
    int rc = 0;
    if (fflush(w->f) || fsync(fileno(w->f))) rc = fs_fail("%s: write error (%s)", w->jsonl, strerror(errno));
    if (fclose(w->f) && !rc) rc = fs_fail("%s: write error (%s)", w->jsonl, strerror(errno));
    w->f = NULL;
    st->n_categories = w->n_cats;
    if (!rc && st->written[0] + st->written[1] == 0)
        rc = fs_fail("no example could be imported (%d records read, all skipped; see the tally)",
                     st->read);
    if (!rc) {
        if (w->n_cats > 1) qsort(w->cats, (size_t)w->n_cats, sizeof *w->cats, cmp_str);
        rc = fs_mcqa_write_meta(w->tmp, name, w->o.image_size, 0, (const char *const *)w->cats,
                                w->n_cats, st->written[0], st->written[1]);
    }
    if (!rc && rename(w->tmp, w->out)) {
        rc = fs_fail("%s: cannot move the imported dataset into place (%s)", w->out,
                     strerror(errno));
    }
    if (rc) {
        fs_imp_abort(w);
        return -1;
    }
    free_writer(w);
    return 0;
}
