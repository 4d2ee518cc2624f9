/* ScienceQA (Lu et al. 2022) -> fedsim-mcqa-1.
 *
 * <root>/problems.json      {pid: {question, choices, answer, hint, image, task, grade,
 *                                  subject, topic, category, skill, lecture, solution, split}}
 * <root>/pid_splits.json    {"train": [pid...], "val": [...], "test": [...], "minitrain": ...}
 *                           (optional; when present its train/val/test lists decide the split)
 * <root>/images/<split>/<pid>/<image>   usually image.png
 *
 * Mapping: hint -> context, category/skill/subject kept, image null -> text-only
 * example; topic, grade, task, lecture and solution have no field in the format
 * and are not kept. Problems are written in the order of problems.json. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/importers.h"
#include "sim/io/error.h"

/* pid -> 1 train, 2 val, 3 test from pid_splits.json, hashed (cJSON lookups
 * are linear and ScienceQA has 21k problems). */
typedef struct {
    char **pid;
    unsigned char *split; /* 1 train, 2 val, 3 test */
    size_t cap;
} split_index;

static size_t hash_pid(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* A pid listed under two splits is refused, not resolved: whichever split it
 * went to, the other's list is wrong, and a problem in both train and test
 * leaks test answers into training. Repeats within one list are harmless. */
static int index_splits(const char *path, const cJSON *splits, split_index *ix)
{
    static const char *const names[3] = {"train", "val", "test"};
    size_t n = 0;
    for (int s = 0; s < 3; s++) n += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(splits, names[s]));
    ix->cap = 16;
    while (ix->cap < 2 * n + 2) ix->cap *= 2;
    ix->pid = calloc(ix->cap, sizeof *ix->pid);
    ix->split = calloc(ix->cap, 1);
    if (!ix->pid || !ix->split) return fs_fail("out of memory indexing pid_splits.json");
    for (int s = 0; s < 3; s++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(splits, names[s]);
        for (const cJSON *c = cJSON_IsArray(a) ? a->child : NULL; c; c = c->next) {
            char buf[64];
            const char *p = buf;
            if (cJSON_IsString(c)) p = c->valuestring;
            else if (cJSON_IsNumber(c)) snprintf(buf, sizeof buf, "%.0f", c->valuedouble);
            else continue;
            size_t h = hash_pid(p) & (ix->cap - 1);
            while (ix->pid[h] && strcmp(ix->pid[h], p)) h = (h + 1) & (ix->cap - 1);
            if (ix->pid[h] && ix->split[h] != 1 + s)
                return fs_fail("%s: pid '%.64s' is listed under both \"%s\" and \"%s\"; a "
                               "problem belongs to one split (re-download pid_splits.json, or "
                               "remove it to use each problem's \"split\")", path, p,
                               names[ix->split[h] - 1], names[s]);
            if (ix->pid[h]) continue;
            if (!(ix->pid[h] = strdup(p))) return fs_fail("out of memory indexing pid_splits.json");
            ix->split[h] = (unsigned char)(1 + s);
        }
    }
    return 0;
}

static int lookup_split(const split_index *ix, const char *pid)
{
    if (!ix->cap) return 0;
    size_t h = hash_pid(pid) & (ix->cap - 1);
    for (; ix->pid[h]; h = (h + 1) & (ix->cap - 1))
        if (!strcmp(ix->pid[h], pid)) return ix->split[h];
    return 0;
}

static void free_index(split_index *ix)
{
    for (size_t i = 0; i < ix->cap; i++) free(ix->pid[i]);
    free(ix->pid);
    free(ix->split);
}

static const char *opt_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* One problem: 0 written or counted, -1 fatal. */
static int import_problem(fs_imp_writer *w, const char *root, const char *pid, const cJSON *p,
                          const split_index *ix, const fs_import_opts *o, fs_import_stats *st)
{
    char rec[200], img[4400];
    snprintf(rec, sizeof rec, "problems.json pid %.150s", pid);
    if (!cJSON_IsObject(p)) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "not a JSON object");

    /* split: pid_splits.json's lists, else the record's own "split" */
    static const char *const names[3] = {"train", "val", "test"};
    const char *split = NULL;
    int s = lookup_split(ix, pid);
    if (s) split = names[s - 1];
    else {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "split");
        if (!cJSON_IsString(sp) || !*sp->valuestring)
            return fs_imp_skip(w, FS_SKIP_MALFORMED, rec,
                               "no \"split\" and not listed in pid_splits.json");
        split = sp->valuestring;
    }
    fs_mcqa_example e = {.id = (char *)pid};
    if (!strcmp(split, "train")) e.split = FS_SPLIT_TRAIN;
    else if (!strcmp(split, "test")) e.split = FS_SPLIT_TEST;
    else if (!strcmp(split, "val")) {
        if (o->val == FS_IMPORT_VAL_DROP) return fs_imp_skip(w, FS_SKIP_VAL, rec, "split val");
        e.split = o->val == FS_IMPORT_VAL_TRAIN ? FS_SPLIT_TRAIN : FS_SPLIT_TEST;
    } else {
        return fs_imp_skip(w, FS_SKIP_OTHER_SPLIT, rec, "split \"%.40s\"", split);
    }

    const cJSON *q = cJSON_GetObjectItemCaseSensitive(p, "question");
    if (!cJSON_IsString(q) || !*q->valuestring)
        return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "missing or empty \"question\"");
    e.question = q->valuestring;
    const char *why = fs_imp_string_array(cJSON_GetObjectItemCaseSensitive(p, "choices"),
                                          "choices", e.choices, &e.n_choices);
    if (why) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "%s", why);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "answer");
    if (!cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble) || fabs(a->valuedouble) > 1e6)
        return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "\"answer\" is not an integer index");
    e.answer = (int)a->valuedouble;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(p, "hint");
    if (h && !cJSON_IsNull(h) && !cJSON_IsString(h))
        return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "\"hint\" is not a string");
    e.context = cJSON_IsString(h) ? h->valuestring : "";
    e.category = (char *)opt_string(p, "category");
    e.skill = (char *)opt_string(p, "skill");
    e.subject = (char *)opt_string(p, "subject");

    const cJSON *im = cJSON_GetObjectItemCaseSensitive(p, "image");
    const char *src = NULL;
    if (im && !cJSON_IsNull(im)) {
        if (!cJSON_IsString(im) || !*im->valuestring || strchr(im->valuestring, '/') ||
            !strcmp(im->valuestring, ".."))
            return fs_imp_skip(w, FS_SKIP_MALFORMED, rec,
                               "\"image\" must be null or a file name like \"image.png\"");
        snprintf(img, sizeof img, "%s/images/%s/%s/%s", root, split, pid, im->valuestring);
        src = img;
    }
    int rc = fs_imp_add(w, &e, src, rec);
    if (rc == 0 && !strcmp(split, "val")) st->from_val++;
    return rc < 0 ? -1 : 0;
}

int fs_import_scienceqa(const char *root, const char *out_dir, const fs_import_opts *o,
                        fs_import_stats *st)
{
    fs_import_opts d = fs_import_defaults();
    fs_import_stats own;
    if (!o) o = &d;
    if (!st) st = &own;
    memset(st, 0, sizeof *st);
    if (!root || !fs_imp_is_dir(root))
        return fs_fail("%s: no such directory; --root must be the ScienceQA directory holding "
                       "problems.json, pid_splits.json and images/", root ? root : "(null)");
    char path[4200];
    snprintf(path, sizeof path, "%s/problems.json", root);
    char *text = fs_imp_read_text(path, "--root must be the ScienceQA directory holding "
                                        "problems.json (from the ScienceQA release, data/scienceqa/)");
    if (!text) return -1;
    const char *end = NULL;
    cJSON *probs = cJSON_ParseWithOpts(text, &end, 0);
    long at = end ? (long)(end - text) : 0L;
    free(text);
    if (!probs || !cJSON_IsObject(probs)) {
        int parsed = probs != NULL;
        cJSON_Delete(probs);
        if (parsed)
            return fs_fail("%s: not a JSON object; expected ScienceQA's {\"pid\": {\"question\": "
                           "..., ...}, ...}", path);
        return fs_fail("%s: not valid JSON (error near byte %ld); re-download ScienceQA's "
                       "problems.json", path, at);
    }

    cJSON *splits = NULL;
    split_index ix = {0};
    snprintf(path, sizeof path, "%s/pid_splits.json", root);
    if (fs_imp_is_file(path)) {
        if (!(text = fs_imp_read_text(path, NULL))) {
            cJSON_Delete(probs);
            return -1;
        }
        splits = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(splits)) {
            cJSON_Delete(splits);
            cJSON_Delete(probs);
            return fs_fail("%s: %s; expected {\"train\": [pid, ...], \"val\": [...], \"test\": "
                           "[...]} (re-download it, or remove it to use each problem's \"split\")",
                           path, splits ? "not a JSON object" : "not valid JSON");
        }
        if (index_splits(path, splits, &ix)) {
            free_index(&ix);
            cJSON_Delete(splits);
            cJSON_Delete(probs);
            return -1;
        }
    }
    int rc = 0;
    fs_imp_writer *w = fs_imp_begin(out_dir, o, st);
    if (!w) rc = -1;
    for (const cJSON *p = probs->child; p && !rc; p = p->next) {
        st->read++;
        rc = import_problem(w, root, p->string ? p->string : "", p, &ix, o, st);
    }
    free_index(&ix);
    cJSON_Delete(splits);
    cJSON_Delete(probs);
    if (w && rc) fs_imp_abort(w);
    else if (w) rc = fs_imp_finish(w, o->name ? o->name : "scienceqa");
    if (rc) return fs_fail_context("while importing ScienceQA from %s into %s", root, out_dir);
    return 0;
}
