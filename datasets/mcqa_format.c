/* Reader and writer of the fedsim-mcqa-1 dataset format, with one clear
 * message per malformed input (file, line, field, what to do). */
#include "datasets/mcqa_format.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/fsutil.h"
#include "sim/io/error.h"

static int read_meta(const char *dir, fs_mcqa_dataset *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    char *text = fs_ds_read_text(path, "is this a fedsim dataset directory (fedsim data "
                                       "synth writes one)?");
    if (!text) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    int rc = -1;
    if (!root) {
        fs_fail("%s: not valid JSON (at byte %ld)", path, end ? (long)(end - text) : 0L);
        goto out;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "image_size");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(root, "counts");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FS_MCQA_FORMAT)) {
        fs_fail("%s: \"format\" must be \"%s\" (got %s); this reader understands only that "
                "format", path, FS_MCQA_FORMAT,
                cJSON_IsString(fmt) ? fmt->valuestring : "no string");
        goto out;
    }
    if (!cJSON_IsString(name) || !*name->valuestring) {
        fs_fail("%s: missing \"name\" (a non-empty string)", path);
        goto out;
    }
    if (!cJSON_IsNumber(size) || size->valuedouble < 1 || size->valuedouble > 4096 ||
        size->valuedouble != floor(size->valuedouble)) {
        fs_fail("%s: \"image_size\" must be a positive integer (pixels per side)", path);
        goto out;
    }
    if (!cJSON_IsArray(cats)) {
        fs_fail("%s: \"categories\" must be an array of strings", path);
        goto out;
    }
    const cJSON *ctr = counts ? cJSON_GetObjectItemCaseSensitive(counts, "train") : NULL;
    const cJSON *cte = counts ? cJSON_GetObjectItemCaseSensitive(counts, "test") : NULL;
    if (!cJSON_IsNumber(ctr) || !cJSON_IsNumber(cte) || ctr->valuedouble < 0 ||
        cte->valuedouble < 0) {
        fs_fail("%s: \"counts\" must be {\"train\": N, \"test\": M}", path);
        goto out;
    }
    d->name = strdup(name->valuestring);
    d->image_size = size->valueint;
    d->seed = cJSON_IsNumber(seed) ? (uint64_t)seed->valuedouble : 0;
    d->count_train = ctr->valueint;
    d->count_test = cte->valueint;
    d->n_categories = cJSON_GetArraySize(cats);
    d->categories = calloc((size_t)d->n_categories + 1, sizeof *d->categories);
    if (!d->name || !d->categories) {
        fs_fail("%s: out of memory", path);
        goto out;
    }
    int i = 0;
    for (const cJSON *c = cats->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c) || !*c->valuestring) {
            fs_fail("%s: \"categories\"[%d] must be a non-empty string", path, i);
            goto out;
        }
        if (!(d->categories[i] = strdup(c->valuestring))) {
            fs_fail("%s: out of memory", path);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* Copies a required (or optional) string field. */
static int get_str(const cJSON *o, const char *key, bool required, bool allow_empty, char **out,
                   const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required) return fs_fail("%s: missing field \"%s\"", where, key);
        return 0;
    }
    if (!cJSON_IsString(v)) return fs_fail("%s: field \"%s\" must be a string", where, key);
    if (!allow_empty && !*v->valuestring)
        return fs_fail("%s: field \"%s\" must not be empty", where, key);
    if (!(*out = strdup(v->valuestring))) return fs_fail("%s: out of memory", where);
    return 0;
}

static void free_example(fs_mcqa_example *e)
{
    free(e->id);
    free(e->question);
    free(e->context);
    for (int c = 0; c < FS_MAX_CHOICES; c++) free(e->choices[c]);
    free(e->category);
    free(e->skill);
    free(e->subject);
    free(e->image);
    memset(e, 0, sizeof *e);
}

static int parse_example(const cJSON *o, fs_mcqa_example *e, const char *where)
{
    if (!cJSON_IsObject(o)) return fs_fail("%s: each line must be a JSON object", where);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsNumber(id)) {
        char b[32];
        snprintf(b, sizeof b, "%.0f", id->valuedouble);
        if (!(e->id = strdup(b))) return fs_fail("%s: out of memory", where);
    } else if (get_str(o, "id", true, false, &e->id, where)) {
        return -1;
    }
    char *split = NULL;
    if (get_str(o, "split", true, false, &split, where)) return -1;
    if (!strcmp(split, "train")) e->split = FS_SPLIT_TRAIN;
    else if (!strcmp(split, "test")) e->split = FS_SPLIT_TEST;
    else {
        fs_fail("%s: unknown split \"%s\"; expected \"train\" or \"test\"", where, split);
        free(split);
        return -1;
    }
    free(split);
    if (get_str(o, "question", true, false, &e->question, where) ||
        get_str(o, "context", true, true, &e->context, where) ||
        get_str(o, "category", true, false, &e->category, where) ||
        get_str(o, "skill", false, false, &e->skill, where) ||
        get_str(o, "subject", false, false, &e->subject, where) ||
        get_str(o, "image", false, false, &e->image, where))
        return -1;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!ch) return fs_fail("%s: missing field \"choices\"", where);
    if (!cJSON_IsArray(ch)) return fs_fail("%s: \"choices\" must be an array of strings", where);
    int n = cJSON_GetArraySize(ch);
    if (n < 2 || n > FS_MAX_CHOICES)
        return fs_fail("%s: %d choice%s; a question needs 2 to %d choices", where, n,
                       n == 1 ? "" : "s", FS_MAX_CHOICES);
    int k = 0;
    for (const cJSON *c = ch->child; c; c = c->next, k++) {
        if (!cJSON_IsString(c) || !*c->valuestring)
            return fs_fail("%s: \"choices\"[%d] must be a non-empty string", where, k);
        if (!(e->choices[k] = strdup(c->valuestring))) return fs_fail("%s: out of memory", where);
    }
    e->n_choices = n;
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    if (!ans) return fs_fail("%s: missing field \"answer\"", where);
    if (!cJSON_IsNumber(ans) || ans->valuedouble != floor(ans->valuedouble))
        return fs_fail("%s: \"answer\" must be an integer (0-based choice index)", where);
    if (ans->valuedouble < 0 || ans->valuedouble >= n)
        return fs_fail("%s: answer %.0f is out of range for %d choices (0-based: 0..%d)", where,
                       ans->valuedouble, n, n - 1);
    e->answer = ans->valueint;
    if (e->image) {
        const char *p = e->image;
        if (p[0] == '/' || !strncmp(p, "../", 3) || strstr(p, "/../") ||
            (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")) || !strcmp(p, ".."))
            return fs_fail("%s: image path \"%s\" must be relative to the dataset directory "
                           "and stay inside it", where, p);
    }
    return 0;
}

/* Open-addressing set of example ids, for the duplicate check. */
static int check_unique_ids(const fs_mcqa_dataset *d, const char *path)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)d->n) cap *= 2;
    int *table = malloc(cap * sizeof *table);
    if (!table) return fs_fail("%s: out of memory", path);
    memset(table, 0xff, cap * sizeof *table);
    for (int i = 0; i < d->n; i++) {
        uint32_t h = 2166136261u;
        for (const char *s = d->ex[i].id; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
        for (h &= cap - 1; table[h] >= 0; h = (h + 1) & (cap - 1)) {
            if (!strcmp(d->ex[table[h]].id, d->ex[i].id)) {
                int first = d->ex[table[h]].line;
                free(table);
                return fs_fail("%s:%d: duplicate id \"%s\" (first on line %d)", path,
                               d->ex[i].line, d->ex[i].id, first);
            }
        }
        table[h] = i;
    }
    free(table);
    return 0;
}

int fs_mcqa_read(const char *dir, fs_mcqa_dataset *out)
{
    fs_mcqa_dataset d = {0};
    memset(out, 0, sizeof *out);
    if (read_meta(dir, &d)) {
        fs_mcqa_free(&d);
        return -1;
    }
    char path[4096], where[4200];
    snprintf(path, sizeof path, "%s/examples.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fs_mcqa_free(&d);
        return fs_fail("%s: cannot open (%s); a dataset directory needs examples.jsonl", path,
                       strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0, excap = 0;
    ssize_t len;
    int lineno = 0, rc = -1;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        bool blank = true;
        for (ssize_t i = 0; i < len && blank; i++)
            blank = line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\r';
        if (blank) continue;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithOpts(line, &end, 0);
        if (!o) {
            fs_fail("%s: not valid JSON (at column %ld); each line must be one JSON object", where,
                    end ? (long)(end - line) + 1 : 0L);
            goto out;
        }
        if ((size_t)d.n == excap) {
            excap = excap ? 2 * excap : 1024;
            fs_mcqa_example *ne = realloc(d.ex, excap * sizeof *ne);
            if (!ne) {
                cJSON_Delete(o);
                fs_fail("%s: out of memory", path);
                goto out;
            }
            d.ex = ne;
        }
        fs_mcqa_example *e = &d.ex[d.n];
        memset(e, 0, sizeof *e);
        e->line = lineno;
        int prc = parse_example(o, e, where);
        cJSON_Delete(o);
        d.n++; /* counted even on failure so that fs_mcqa_free releases it */
        if (prc) goto out;
        if (d.n_categories > 0) {
            bool listed = false;
            for (int c = 0; c < d.n_categories && !listed; c++)
                listed = !strcmp(d.categories[c], e->category);
            if (!listed) {
                fs_fail("%s: category \"%s\" is not listed in dataset.json \"categories\"", where,
                        e->category);
                goto out;
            }
        }
    }
    if (ferror(f)) {
        fs_fail("%s: read error", path);
        goto out;
    }
    int ntr = 0, nte = 0;
    for (int i = 0; i < d.n; i++) {
        if (d.ex[i].split == FS_SPLIT_TRAIN) ntr++;
        else nte++;
    }
    if (ntr != d.count_train || nte != d.count_test) {
        fs_fail("%s: holds %d train and %d test examples but dataset.json declares %d and %d; "
                "the dataset is incomplete or edited (regenerate it)", path, ntr, nte,
                d.count_train, d.count_test);
        goto out;
    }
    if (check_unique_ids(&d, path)) goto out;
    rc = 0;
out:
    free(line);
    fclose(f);
    if (rc) fs_mcqa_free(&d);
    else *out = d;
    return rc;
}

void fs_mcqa_free(fs_mcqa_dataset *d)
{
    if (!d) return;
    free(d->name);
    for (int i = 0; i < d->n_categories; i++) free(d->categories[i]);
    free(d->categories);
    for (int i = 0; i < d->n; i++) free_example(&d->ex[i]);
    free(d->ex);
    memset(d, 0, sizeof *d);
}

int fs_mcqa_key_valid(const char *key)
{
    return key && (!strcmp(key, "category") || !strcmp(key, "skill") || !strcmp(key, "subject"));
}

const char *fs_mcqa_key(const fs_mcqa_example *e, const char *key)
{
    if (!strcmp(key, "category")) return e->category;
    if (!strcmp(key, "skill")) return e->skill;
    if (!strcmp(key, "subject")) return e->subject;
    return NULL;
}

int fs_mcqa_write_example(FILE *f, const fs_mcqa_example *e, const char *path)
{
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_CreateArray();
    if (!o || !ch) {
        cJSON_Delete(o);
        cJSON_Delete(ch);
        return fs_fail("%s: out of memory", path);
    }
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddStringToObject(o, "split", e->split == FS_SPLIT_TRAIN ? "train" : "test");
    cJSON_AddStringToObject(o, "question", e->question);
    cJSON_AddStringToObject(o, "context", e->context ? e->context : "");
    for (int c = 0; c < e->n_choices; c++) cJSON_AddItemToArray(ch, cJSON_CreateString(e->choices[c]));
    cJSON_AddItemToObject(o, "choices", ch);
    cJSON_AddNumberToObject(o, "answer", e->answer);
    cJSON_AddStringToObject(o, "category", e->category);
    if (e->skill) cJSON_AddStringToObject(o, "skill", e->skill);
    if (e->subject) cJSON_AddStringToObject(o, "subject", e->subject);
    if (e->image) cJSON_AddStringToObject(o, "image", e->image);
    else cJSON_AddNullToObject(o, "image");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return fs_fail("%s: out of memory", path);
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    cJSON_free(s);
    return ok ? 0 : fs_fail("%s: write error (%s)", path, strerror(errno));
}

int fs_mcqa_write_meta(const char *dir, const char *name, int image_size, uint64_t seed,
                       const char *const *categories, int n_categories, int n_train, int n_test)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    cJSON *o = cJSON_CreateObject(), *cats = cJSON_CreateArray(), *counts = cJSON_CreateObject();
    if (!o || !cats || !counts) {
        cJSON_Delete(o);
        cJSON_Delete(cats);
        cJSON_Delete(counts);
        return fs_fail("%s: out of memory", path);
    }
    cJSON_AddStringToObject(o, "format", FS_MCQA_FORMAT);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "image_size", image_size);
    for (int c = 0; c < n_categories; c++) cJSON_AddItemToArray(cats, cJSON_CreateString(categories[c]));
    cJSON_AddItemToObject(o, "categories", cats);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddNumberToObject(counts, "train", n_train);
    cJSON_AddNumberToObject(counts, "test", n_test);
    cJSON_AddItemToObject(o, "counts", counts);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return fs_fail("%s: out of memory", path);
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f) rc = fs_fail("%s: cannot create (%s)", path, strerror(errno));
    else {
        bool ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
        if (fclose(f) || !ok) rc = fs_fail("%s: write error (%s)", path, strerror(errno));
    }
    cJSON_free(s);
    return rc;
}
