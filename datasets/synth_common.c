/* The generator driver (balanced answer positions, PNG + JSONL writing, atomic
 * directory creation), the dataset cache (fs_synth_ensure) and the small
 * random/formatting helpers shared by the generators. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/fsutil.h"
#include "datasets/mcqa_format.h"
#include "datasets/synth_internal.h"
#include "datasets/task_builder.h"

fs_synth_opts fs_synth_defaults(void)
{
    return (fs_synth_opts){.seed = 0, .image_size = FS_SYNTH_DEFAULT_IMAGE_SIZE,
                           .n_train = FS_SYNTH_DEFAULT_TRAIN, .n_test = FS_SYNTH_DEFAULT_TEST};
}

static const fs_synth_spec *find_spec(const char *name)
{
    if (name && !strcmp(name, fs_synth_iconqa_spec.name)) return &fs_synth_iconqa_spec;
    if (name && !strcmp(name, fs_synth_scienceqa_spec.name)) return &fs_synth_scienceqa_spec;
    return NULL;
}

int fs_synth_known(const char *name) { return find_spec(name) != NULL; }

/* ---------------------------------------------------------------- helpers */
int fs_si_below(fs_synth_item *it, int n) { return n <= 1 ? 0 : (int)fs_rng_below(it->rng, (uint64_t)n); }
int fs_si_range(fs_synth_item *it, int lo, int hi) { return lo + fs_si_below(it, hi - lo + 1); }
float fs_si_unif(fs_synth_item *it, float lo, float hi)
{
    return lo + (hi - lo) * (float)fs_rng_uniform(it->rng);
}

void fs_si_shuffle(fs_synth_item *it, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = fs_si_below(it, i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void fs_si_pick(fs_synth_item *it, int n, const int *ex, int nex, int k, int *out)
{
    int pool[64], m = 0;
    for (int v = 0; v < n && m < 64; v++) {
        int skip = 0;
        for (int e = 0; e < nex && !skip; e++) skip = ex[e] == v;
        if (!skip) pool[m++] = v;
    }
    fs_si_shuffle(it, pool, m);
    for (int i = 0; i < k; i++) out[i] = i < m ? pool[i] : -1;
}

static void vfmt(char *dst, size_t n, const char *fmt, va_list ap) { vsnprintf(dst, n, fmt, ap); }

void fs_si_question(fs_synth_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfmt(it->question, sizeof it->question, fmt, ap);
    va_end(ap);
}

void fs_si_context(fs_synth_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfmt(it->context, sizeof it->context, fmt, ap);
    va_end(ap);
}

bool fs_si_has_choice(const fs_synth_item *it, const char *s)
{
    for (int c = 0; c < it->n_choices; c++)
        if (!strcmp(it->choices[c], s)) return true;
    return false;
}

void fs_si_choice(fs_synth_item *it, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vfmt(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (it->n_choices >= FS_MAX_CHOICES || fs_si_has_choice(it, buf)) return;
    memcpy(it->choices[it->n_choices++], buf, sizeof buf);
}

void fs_si_numbers(fs_synth_item *it, int answer, int lo, int hi, int step, int k, int must,
                   const char *fmt)
{
    int nvals = (hi - lo) / step + 1, a = (answer - lo) / step;
    if (k > nvals) k = nvals;
    /* Windows [s, s+k) of value indices that contain a and fit in [0, nvals). */
    int smin = a - k + 1 < 0 ? 0 : a - k + 1, smax = a < nvals - k ? a : nvals - k;
    int s = fs_si_range(it, smin, smax);
    int vals[FS_MAX_CHOICES], m = 0;
    for (int v = s; v < s + k; v++)
        if (v != a) vals[m++] = lo + v * step;
    if (must >= lo && must != answer) {
        int in = 0;
        for (int i = 0; i < m; i++) in |= vals[i] == must;
        if (!in && m > 0) vals[fs_si_below(it, m)] = must;
    }
    fs_si_choice(it, fmt, answer);
    for (int i = 0; i < m; i++) fs_si_choice(it, fmt, vals[i]);
}

void fs_si_source_look(fs_synth_item *it)
{
    fs_rgb top = {(uint8_t)fs_si_range(it, 150, 235), (uint8_t)fs_si_range(it, 150, 235),
                  (uint8_t)fs_si_range(it, 150, 235)};
    fs_rgb bottom = {(uint8_t)fs_si_range(it, 120, 220), (uint8_t)fs_si_range(it, 120, 220),
                     (uint8_t)fs_si_range(it, 120, 220)};
    fs_canvas_restyle(&it->img, top, bottom);
}

const char *fs_si_number_word(int n)
{
    static const char *const w[] = {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                    "eight", "nine"};
    return n >= 0 && n <= 9 ? w[n] : "many";
}

/* ---------------------------------------------------------------- driver */
int fs_si_make(const fs_synth_spec *spec, fs_synth_item *it, int category)
{
    it->has_image = true;
    it->n_choices = 0;
    it->question[0] = it->context[0] = 0;
    it->skill = it->subject = NULL;
    if (spec->make(it, category)) return -1;
    if (it->n_choices < 2 || it->n_choices > 5 || !it->question[0])
        return fs_fail("%s: internal error: generator made %d choices for category %s", spec->name,
                       it->n_choices, spec->categories[category]);
    if (it->has_image == (bool)(spec->text_only >> category & 1u))
        return fs_fail("%s: internal error: category %s made an item %s an image, against its "
                       "text_only bit", spec->name, spec->categories[category],
                       it->has_image ? "with" : "without");
    return 0;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int fs_synth_write(const fs_synth_spec *spec, const char *dir, const fs_synth_opts *o)
{
    char path[4096], rel[64];
    snprintf(path, sizeof path, "%s/images", dir);
    if (mkdir(path, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create (%s)", path, strerror(errno));
    snprintf(path, sizeof path, "%s/examples.jsonl", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return fs_fail("%s: cannot create (%s)", path, strerror(errno));

    /* Distinct streams for distinct datasets sharing a seed. */
    fs_rng rng = fs_rng_seed(o->seed ^ name_hash(spec->name));
    fs_synth_item it = {.rng = &rng};
    int rc = fs_canvas_init(&it.img, o->image_size);
    /* One shuffled deck of answer positions per (split, number of choices):
     * exact balance within each block of k items, no predictable order. */
    int deck[2][FS_MAX_CHOICES + 1][FS_MAX_CHOICES], left[2][FS_MAX_CHOICES + 1] = {{0}};
    int total = o->n_train + o->n_test;
    for (int i = 0; i < total && !rc; i++) {
        fs_split split = i < o->n_train ? FS_SPLIT_TRAIN : FS_SPLIT_TEST;
        int j = split == FS_SPLIT_TRAIN ? i : i - o->n_train, cat = j % spec->n_categories;
        if ((rc = fs_si_make(spec, &it, cat))) break;
        int k = it.n_choices;
        if (!left[split][k]) {
            for (int p = 0; p < k; p++) deck[split][k][p] = p;
            fs_si_shuffle(&it, deck[split][k], k);
            left[split][k] = k;
        }
        int pos = deck[split][k][--left[split][k]];
        int order[FS_MAX_CHOICES];
        for (int d = 0; d < k - 1; d++) order[d] = d + 1;
        fs_si_shuffle(&it, order, k - 1);
        char id[32];
        snprintf(id, sizeof id, "%06d", i);
        fs_mcqa_example ex = {.id = id, .split = split, .question = it.question,
                              .context = it.context, .n_choices = k, .answer = pos,
                              .category = (char *)spec->categories[cat], .skill = (char *)it.skill,
                              .subject = (char *)it.subject};
        for (int c = 0, d = 0; c < k; c++) ex.choices[c] = it.choices[c == pos ? 0 : order[d++]];
        if (it.has_image) {
            snprintf(rel, sizeof rel, "images/%06d.png", i);
            snprintf(path, sizeof path, "%s/%s", dir, rel);
            fs_canvas_camera(&it.img, &spec->camera);
            if ((rc = fs_canvas_save_png(&it.img, path))) break;
            ex.image = rel;
        }
        snprintf(path, sizeof path, "%s/examples.jsonl", dir);
        rc = fs_mcqa_write_example(f, &ex, path);
    }
    fs_canvas_free(&it.img);
    if (fflush(f) || fsync(fileno(f))) rc = rc ? rc : fs_fail("%s: write error (%s)", path, strerror(errno));
    if (fclose(f) && !rc) rc = fs_fail("%s: write error (%s)", path, strerror(errno));
    if (!rc)
        rc = fs_mcqa_write_meta(dir, spec->name, o->image_size, o->seed, spec->categories,
                                spec->n_categories, o->n_train, o->n_test);
    return rc;
}

int fs_synth_generate(const char *name, const char *out_dir, const fs_synth_opts *o)
{
    const fs_synth_spec *spec = find_spec(name);
    if (!spec)
        return fs_fail("unknown synthetic dataset '%s'; known: synth-iconqa, synth-scienceqa",
                       name ? name : "(null)");
    if (o->image_size < 8 || o->image_size > 1024)
        return fs_fail("%s: image size %d is out of range (8..1024)", name, o->image_size);
    if (o->n_train < 1 || o->n_test < 1)
        return fs_fail("%s: needs at least one train and one test example (got %d and %d)", name,
                       o->n_train, o->n_test);
    if (fs_ds_dir_state(out_dir) == 2)
        return fs_fail("%s: already exists and is not empty; remove it or choose another "
                       "output directory", out_dir);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_dir, (long)getpid());
    fs_ds_remove_stale_tmps(out_dir);
    if (mkdir(tmp, 0755))
        return fs_fail("%s: cannot create (%s); does the parent directory exist and is it "
                       "writable?", tmp, strerror(errno));
    if (fs_synth_write(spec, tmp, o)) {
        fs_ds_remove_tree(tmp);
        return fs_fail_context("while generating %s into %s", name, out_dir);
    }
    if (rename(tmp, out_dir)) {
        int err = errno;
        fs_ds_remove_tree(tmp);
        return fs_fail("%s: cannot move the generated dataset into place (%s)", out_dir,
                       strerror(err));
    }
    return 0;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return fs_fail("%s: cannot create (%s)", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create (%s)", buf, strerror(errno));
    return 0;
}

int fs_synth_ensure(const char *name, const char *cache_dir, uint64_t seed, int image_size,
                    char *out_dir, size_t out_len)
{
    if (!fs_synth_known(name))
        return fs_fail("unknown synthetic dataset '%s'; known: synth-iconqa, synth-scienceqa",
                       name ? name : "(null)");
    char dir[4096], meta[4200];
    fs_synth_opts o = fs_synth_defaults();
    o.seed = seed;
    o.image_size = image_size;
    /* The split sizes are in the name so that changing a default never reuses an old cache. */
    int n = snprintf(dir, sizeof dir, "%s/%s-g%d-s%llu-i%d-n%d+%d", cache_dir, name,
                     FS_SYNTH_GENERATION, (unsigned long long)seed, image_size, o.n_train, o.n_test);
    if (n < 0 || (size_t)n >= sizeof dir || (size_t)n >= out_len)
        return fs_fail("%s: cache path too long", cache_dir);
    snprintf(meta, sizeof meta, "%s/dataset.json", dir);
    struct stat st;
    if (stat(meta, &st)) {
        if (mkdir_p(cache_dir)) return -1;
        /* Another process may have won the race: its complete dataset is as good. */
        if (fs_synth_generate(name, dir, &o) && stat(meta, &st)) return -1;
    }
    memcpy(out_dir, dir, (size_t)n + 1);
    return 0;
}
