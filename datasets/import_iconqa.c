/* IconQA (Lu et al. 2021) -> fedsim-mcqa-1.
 *
 * <root>/<split>/<subtask>/<qid>/data.json + image.png
 *   split    train | val | test
 *   subtask  choose_txt     question, choices (strings), answer (index)  -> imported
 *            choose_img     choices are image files (choice_0.png, ...)  -> counted, skipped
 *            fill_in_blank  answer is a free-form number/string          -> counted, skipped
 *   data.json fields: question, choices, answer, ques_type, grade, label, skills (list)
 *
 * Mapping: category = skills[0] (else ques_type, else the subtask), skill =
 * all skills joined with "+", context = "", image = image.png; grade and label
 * are not kept. Splits are read in the order train, val, test; qids in numeric
 * order, so the output does not depend on the directory listing order. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/importers.h"
#include "sim/io/error.h"

static int import_record(fs_imp_writer *w, const char *dir, const char *rec, const char *qid,
                         const char *subtask, fs_split split)
{
    char path[4700];
    snprintf(path, sizeof path, "%s/data.json", dir);
    if (!fs_imp_is_file(path)) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "no data.json");
    char *text = fs_imp_read_text(path, NULL);
    if (!text) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "%s", fs_last_error());
    const char *end = NULL;
    cJSON *d = cJSON_ParseWithOpts(text, &end, 0);
    long at = end ? (long)(end - text) : 0L;
    free(text);
    if (!cJSON_IsObject(d)) {
        cJSON_Delete(d);
        if (!d) return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "data.json is not valid JSON (near byte %ld)", at);
        return fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "data.json is not a JSON object");
    }
    int rc;
    fs_mcqa_example e = {.id = (char *)qid, .split = split, .context = ""};
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(d, "question");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "answer");
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(d, "skills");
    const cJSON *qt = cJSON_GetObjectItemCaseSensitive(d, "ques_type");
    const char *why = NULL;
    char skills[256] = "";
    if (!cJSON_IsString(q) || !*q->valuestring) why = "missing or empty \"question\"";
    else if (!(why = fs_imp_string_array(cJSON_GetObjectItemCaseSensitive(d, "choices"),
                                         "choices", e.choices, &e.n_choices))) {
        if (!cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble) ||
            fabs(a->valuedouble) > 1e6)
            why = "\"answer\" is not an integer index";
        else if (sk && !cJSON_IsNull(sk) && !cJSON_IsArray(sk))
            why = "\"skills\" is not a list";
    }
    if (why) {
        rc = fs_imp_skip(w, FS_SKIP_MALFORMED, rec, "%s", why);
        cJSON_Delete(d);
        return rc;
    }
    e.question = q->valuestring;
    e.answer = (int)a->valuedouble;
    int k = 0;
    for (const cJSON *s = cJSON_IsArray(sk) ? sk->child : NULL; s; s = s->next) {
        if (!cJSON_IsString(s) || !*s->valuestring) continue;
        if (!k) e.category = s->valuestring;
        size_t used = strlen(skills);
        snprintf(skills + used, sizeof skills - used, "%s%s", k ? "+" : "", s->valuestring);
        k++;
    }
    if (k) e.skill = skills;
    if (!e.category) e.category = cJSON_IsString(qt) && *qt->valuestring ? qt->valuestring : (char *)subtask;
    snprintf(path, sizeof path, "%s/image.png", dir);
    rc = fs_imp_add(w, &e, path, rec);
    cJSON_Delete(d);
    return rc < 0 ? -1 : 0;
}

static int import_split(fs_imp_writer *w, const char *root, const char *split_name,
                        const fs_import_opts *o, fs_import_stats *st)
{
    char dir[4200], sub[4400], qdir[4600], rec[300];
    snprintf(dir, sizeof dir, "%s/%s", root, split_name);
    int n_sub, rc = 0;
    char **subs = fs_imp_list_dirs(dir, &n_sub);
    if (!subs) return -1;
    int is_val = !strcmp(split_name, "val");
    fs_split split = !strcmp(split_name, "train") ? FS_SPLIT_TRAIN
                     : !strcmp(split_name, "test") ? FS_SPLIT_TEST
                     : o->val == FS_IMPORT_VAL_TRAIN ? FS_SPLIT_TRAIN : FS_SPLIT_TEST;
    for (int s = 0; s < n_sub && !rc; s++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[s]);
        int n_q;
        char **qids = fs_imp_list_dirs(sub, &n_q);
        if (!qids) {
            rc = -1;
            break;
        }
        const char *t = subs[s];
        for (int i = 0; i < n_q && !rc; i++) {
            st->read++;
            snprintf(rec, sizeof rec, "%.20s/%.40s/%.100s", split_name, t, qids[i]);
            snprintf(qdir, sizeof qdir, "%s/%s", sub, qids[i]);
            if (is_val && o->val == FS_IMPORT_VAL_DROP)
                rc = fs_imp_skip(w, FS_SKIP_VAL, rec, "split val");
            else if (!strcmp(t, "choose_img"))
                rc = fs_imp_skip(w, FS_SKIP_CHOOSE_IMG, rec, "image choices");
            else if (!strcmp(t, "fill_in_blank"))
                rc = fs_imp_skip(w, FS_SKIP_FILL_IN_BLANK, rec, "free-form answer");
            else if (strcmp(t, "choose_txt"))
                rc = fs_imp_skip(w, FS_SKIP_UNKNOWN_SUBTASK, rec, "subtask \"%.40s\"", t);
            else {
                int before = st->written[0] + st->written[1];
                rc = import_record(w, qdir, rec, qids[i], t, split);
                if (!rc && is_val && st->written[0] + st->written[1] > before) st->from_val++;
            }
        }
        fs_imp_free_list(qids, n_q);
    }
    fs_imp_free_list(subs, n_sub);
    return rc;
}

int fs_import_iconqa(const char *root, const char *out_dir, const fs_import_opts *o,
                     fs_import_stats *st)
{
    fs_import_opts d = fs_import_defaults();
    fs_import_stats own;
    if (!o) o = &d;
    if (!st) st = &own;
    memset(st, 0, sizeof *st);
    if (!root || !fs_imp_is_dir(root))
        return fs_fail("%s: no such directory; --root must be the IconQA directory holding "
                       "train/, val/ and test/ (iconqa_data/iconqa in the IconQA release)",
                       root ? root : "(null)");
    static const char *const splits[3] = {"train", "val", "test"};
    char path[4200];
    int found = 0;
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/%s", root, splits[s]);
        found += fs_imp_is_dir(path);
    }
    if (!found)
        return fs_fail("%s: holds none of train/, val/, test/; --root must be the IconQA "
                       "directory with <split>/<subtask>/<qid>/data.json (iconqa_data/iconqa)",
                       root);
    int rc = 0;
    fs_imp_writer *w = fs_imp_begin(out_dir, o, st);
    if (!w) rc = -1;
    for (int s = 0; s < 3 && !rc; s++) {
        snprintf(path, sizeof path, "%s/%s", root, splits[s]);
        if (fs_imp_is_dir(path)) rc = import_split(w, root, splits[s], o, st);
    }
    if (w && rc) fs_imp_abort(w);
    else if (w) rc = fs_imp_finish(w, o->name ? o->name : "iconqa");
    if (rc) return fs_fail_context("while importing IconQA from %s into %s", root, out_dir);
    return 0;
}
