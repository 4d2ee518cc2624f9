/* The key table of the configuration file and the value checks every input
 * path shares: the YAML walk, --set overrides, sweep values and
 * fs_config_set all validate a value with cfg_check against the same leaf,
 * so a value is accepted or rejected (with the same words) wherever it comes
 * from. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

/* ---- the methods' keys, from the registry (built once) ---- */
static struct {
    const char *names[CFG_MAX_REGISTERED + 1];
    cfg_leaf leaves[CFG_MAX_REGISTERED][CFG_MAX_MPARAMS];
    int n_leaves[CFG_MAX_REGISTERED];
    char list[512];  /* "fedavg | fedprox | ..." */
    char methods_what[600], name_what[560];
} reg;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void reg_build(void)
{
    int n = fs_method_count();
    if (n > CFG_MAX_REGISTERED) n = CFG_MAX_REGISTERED; /* tests/test_methods.c checks the bound */
    for (int k = 0; k < n; k++) {
        const fs_method *m = fs_method_at(k);
        reg.names[k] = m->name;
        snprintf(reg.list + strlen(reg.list), sizeof reg.list - strlen(reg.list), "%s%s",
                 k ? " | " : "", m->name);
        cfg_leaf *l = reg.leaves[k];
        l[0] = (cfg_leaf){.key = "name", .kind = K_METHOD_NAME, .what = reg.name_what};
        int np = m->n_params < FS_MAX_METHOD_PARAMS ? m->n_params : FS_MAX_METHOD_PARAMS;
        for (int p = 0; p < np; p++) {
            const fs_param *q = &m->params[p];
            l[p + 1] = (cfg_leaf){.key = q->key, .what = q->doc, .def = q->def,
                                  .offset = q->offset, .choices = q->choices};
            if (q->type == FS_PARAM_FLOAT)
                l[p + 1].kind = K_FLOAT, l[p + 1].fmin = q->min, l[p + 1].fmax = q->max,
                l[p + 1].fmin_open = q->min_open;
            else if (q->type == FS_PARAM_INT)
                l[p + 1].kind = K_INT, l[p + 1].imin = (long)q->min;
            else
                l[p + 1].kind = K_CHOICE;
        }
        reg.n_leaves[k] = np + 1;
    }
    snprintf(reg.methods_what, sizeof reg.methods_what, "a non-empty list of methods (%s)", reg.list);
    snprintf(reg.name_what, sizeof reg.name_what, "one of %s", reg.list);
}

const char *const *cfg_method_names(void)
{
    pthread_once(&reg_once, reg_build);
    return reg.names;
}

cfg_method_keys cfg_method_keys_of(int method)
{
    pthread_once(&reg_once, reg_build);
    if (method < 0 || method >= fs_method_count() || method >= CFG_MAX_REGISTERED)
        return (cfg_method_keys){0};
    return (cfg_method_keys){reg.leaves[method], reg.n_leaves[method]};
}

const cfg_leaf *cfg_leaf_of(const cfg_keyref *ref)
{
    return ref->leaf >= 0 ? &cfg_top[ref->leaf] : &cfg_method_keys_of(ref->method).leaves[ref->mparam];
}

static const char *const datasets[] = {"synth-iconqa", "synth-scienceqa", "scienceqa", "iconqa",
                                       "mix", NULL};
static const char *const optimizers[] = {"adamw", "sgd", NULL};
static const char *const backends[] = {"auto", "cpu", "cuda", NULL};
static const char *const word_all[] = {"all", NULL};
static const char *const word_auto[] = {"auto", NULL};
static const char *const targets[] = {"image", "text", NULL};

#define OFF(f) offsetof(fs_config, f)
#define STR(k, f, d, w) {.key = k, .kind = K_STR, .what = w, .def = d, .max_len = sizeof(((fs_config *)0)->f) - 1, .offset = OFF(f)}
#define INT(k, f, d, lo, w) {.key = k, .kind = K_INT, .what = w, .def = d, .imin = lo, .offset = OFF(f)}
#define FLT(k, f, d, lo, open, hi, w) {.key = k, .kind = K_FLOAT, .what = w, .def = d, .fmin = lo, .fmin_open = open, .fmax = hi, .offset = OFF(f)}
#define ENUM(k, f, d, ch, w) {.key = k, .kind = K_ENUM, .what = w, .def = d, .choices = ch, .max_len = sizeof(((fs_config *)0)->f) - 1, .offset = OFF(f)}

const cfg_leaf cfg_top[L_COUNT] = {
    [L_NAME] = STR("name", name, NULL, "a non-empty name without '/' (used for result files)"),
    [L_SEED] = {.key = "seed", .kind = K_U64, .what = "a non-negative integer", .def = "0", .offset = OFF(seed)},
    [L_MODEL_PATH] = STR("model.path", model_path, NULL, "the path of the model directory (e.g. models/tiny-llava)"),
    [L_DATASET] = ENUM("data.dataset", dataset, "synth-iconqa", datasets,
                       "one of synth-iconqa | synth-scienceqa | scienceqa | iconqa | mix"),
    [L_ROOT] = {.key = "data.root", .kind = K_STR, .what = "a directory or null", .def = "",
                .nullable = true, .max_len = sizeof(((fs_config *)0)->data_root) - 1, .offset = OFF(data_root)},
    [L_CLIENTS] = INT("data.partition.clients", clients, "5", 1, "a positive integer"),
    [L_ALPHA] = {.key = "data.partition.dirichlet_alpha", .kind = K_FLOAT,
                 .what = "a positive number or inf (IID)", .def = "0.5", .fmin = 0, .fmin_open = true,
                 .fmax = INFINITY, .allow_inf = true, .offset = OFF(dirichlet_alpha)},
    [L_PKEY] = STR("data.partition.key", partition_key, "category",
                   "a non-empty category key (e.g. category, skill, subject)"),
    [L_MIN_SAMPLES] = INT("data.partition.min_samples", min_samples_per_client, "2", 0, "a non-negative integer"),
    [L_MAX_TRAIN] = INT("data.max_train_samples", max_train_samples, "0", 0, "a non-negative integer (0 = all)"),
    [L_VALIDATION] = FLT("data.validation", validation, "0", 0, false, 0.9,
                         "a fraction in [0, 0.9] (0 = evaluate on the test split)"),
    [L_ROUNDS] = INT("federation.rounds", rounds, "10", 1, "a positive integer"),
    [L_PARTICIPATION] = FLT("federation.participation", participation, "1", 0, true, 1,
                            "a fraction in (0, 1]"),
    [L_LOCAL_EPOCHS] = INT("federation.local_epochs", local_epochs, "1", 1, "a positive integer"),
    [L_BATCH] = INT("federation.batch_size", batch_size, "16", 1, "a positive integer"),
    [L_EVAL_EVERY] = INT("federation.eval_every", eval_every, "1", 1, "a positive integer"),
    [L_OPTIMIZER] = ENUM("federation.optimizer.name", optimizer, "adamw", optimizers, "one of adamw | sgd"),
    [L_LR] = FLT("federation.optimizer.lr", lr, "0.002", 0, true, INFINITY, "a positive number"),
    [L_WD] = FLT("federation.optimizer.weight_decay", weight_decay, "0", 0, false, INFINITY,
                 "a non-negative number"),
    [L_RANK] = INT("adapter.rank", rank, "16", 1, "a positive integer"),
    [L_ADAPTER_ALPHA] = FLT("adapter.alpha", adapter_alpha, "32", 0, true, INFINITY, "a positive number"),
    [L_TARGETS] = {.key = "adapter.targets", .kind = K_TARGETS, .choices = targets, .def = "image,text",
                   .what = "a non-empty list drawn from [image, text]"},
    [L_METHODS] = {.key = "methods", .kind = K_METHODS, .what = reg.methods_what},
    [L_BACKEND] = ENUM("runtime.backend", backend, "auto", backends, "one of auto | cpu | cuda"),
    [L_GPUS] = {.key = "runtime.gpus", .kind = K_WORDINT, .choices = word_all, .def = "all", .imin = 1,
                .what = "all or a positive integer", .offset = OFF(gpus)},
    [L_THREADS] = {.key = "runtime.threads", .kind = K_WORDINT, .choices = word_auto, .def = "auto", .imin = 1,
                   .what = "auto or a positive integer", .offset = OFF(threads)},
    [L_ROWS_PER_PASS] = INT("runtime.rows_per_pass", rows_per_pass, "2048", 1, "a positive integer"),
    [L_OUTPUT_DIR] = STR("output.dir", output_dir, "results", "a non-empty directory path"),
    [L_CHECKPOINT] = INT("output.checkpoint_every", checkpoint_every, "0", 0,
                         "a non-negative integer (0 = never)"),
    [L_SWEEP] = {.key = "sweep", .kind = K_SWEEP,
                 .what = "a mapping from dotted keys to non-empty lists of values"},
};
const cfg_table cfg_run_table = {cfg_top, L_COUNT,
                                 "a mapping with at least model.path (see configs/example.yaml)"};

const char *cfg_quote(const char *text)
{
    static _Thread_local char buf[96];
    size_t n = strlen(text);
    if (n < 80) {
        snprintf(buf, sizeof buf, "%s", text);
    } else {
        snprintf(buf, sizeof buf, "%.72s...", text);
    }
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 32) *p = '?'; /* keep messages on one line */
    return buf;
}

int cfg_choice(const char *const *choices, const char *name)
{
    for (int i = 0; choices && choices[i]; i++)
        if (!strcmp(choices[i], name)) return i;
    return -1;
}

/* Optimal-string-alignment distance (a transposition counts as one edit), capped at 3. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64) return 3;
    if ((n > m ? n - m : m - n) > 2) return 3;
    int d[65][65];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m] > 3 ? 3 : d[n][m];
}

const char *cfg_closest(const char *word, const char *const *candidates, int n)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < n && candidates[i]; i++) {
        int d = edit_distance(word, candidates[i]);
        /* a 2-letter key is "2 edits" from anything of length 2: require the
         * suggestion to keep at least one letter of the candidate */
        if (d < best_d && (size_t)d < strlen(candidates[i])) best = candidates[i], best_d = d;
    }
    return best;
}

const char *cfg_suggest(const char *word, const char *const *candidates, int n)
{
    const char *s = cfg_closest(word, candidates, n);
    if (s || strlen(word) < 3) return s;
    for (int i = 0; i < n && candidates[i]; i++) /* "alpha" -> "dirichlet_alpha", if unique */
        if (strstr(candidates[i], word) || strstr(word, candidates[i])) {
            if (s) return NULL;
            s = candidates[i];
        }
    return s;
}

void cfg_format_double(double x, char *buf, size_t size)
{
    if (isinf(x)) {
        snprintf(buf, size, x > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static bool parse_long(const char *s, long *out, bool *too_big)
{
    const char *p = s;
    *too_big = false;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return false;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v > INT_MAX || v < INT_MIN) *too_big = true;
    *out = v;
    return true;
}

static bool is_inf_word(const char *s)
{
    if (*s == '+') s++;
    if (*s == '.') s++;
    return !strcasecmp(s, "inf") || !strcasecmp(s, "infinity");
}

static void choice_hint(const char *const *choices, const char *got, char *buf, size_t size)
{
    int n = 0;
    while (choices[n]) n++;
    const char *s = cfg_closest(got, choices, n);
    if (s)
        snprintf(buf, size, " (did you mean '%s'?)", s);
    else
        buf[0] = 0;
}

/* Comma list "a,b" or "[a, b]" -> canonical "a,b", every item one of choices, no duplicates. */
static int check_list(const cfg_leaf *l, const char *text, char **canon, char *why, size_t n)
{
    size_t len = strlen(text);
    const char *s = text, *e = text + len;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (s < e && *s == '[' && e[-1] == ']') s++, e--;
    char *out = malloc(len + 1);
    if (!out) return snprintf(why, n, "out of memory"), -1;
    out[0] = 0;
    int items = 0;
    bool seen[CFG_MAX_REGISTERED + 1] = {0};
    while (s < e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *ie = c ? c : e, *is = s;
        s = c ? c + 1 : e;
        while (is < ie && isspace((unsigned char)*is)) is++;
        while (ie > is && isspace((unsigned char)ie[-1])) ie--;
        char item[64];
        if (ie - is >= (long)sizeof item) {
            snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text));
            return free(out), -1;
        }
        memcpy(item, is, (size_t)(ie - is));
        item[ie - is] = 0;
        if (!item[0] && !c && !items) break; /* "" or "[]" */
        int k = cfg_choice(l->choices, item);
        if (k < 0) {
            char hint[96];
            choice_hint(l->choices, item, hint, sizeof hint);
            snprintf(why, n, "expected %s, got '%s'%s", l->what, cfg_quote(item), hint);
            return free(out), -1;
        }
        if (seen[k]) {
            snprintf(why, n, "'%s' is listed twice", item);
            return free(out), -1;
        }
        if (l->kind == K_METHODS && items == FS_MAX_METHODS) {
            snprintf(why, n, "too many methods (at most %d)", FS_MAX_METHODS);
            return free(out), -1;
        }
        seen[k] = true;
        if (items++) strcat(out, ",");
        strcat(out, item);
    }
    if (!items) {
        snprintf(why, n, "expected %s, got an empty list", l->what);
        return free(out), -1;
    }
    *canon = out;
    return 0;
}

int cfg_check(const cfg_leaf *l, const char *text, bool is_null, char **canon, char *why,
              size_t n)
{
    char buf[64];
    cfg_leaf named; /* the method names are the registry's */
    if (l->kind == K_METHODS || l->kind == K_METHOD_NAME) {
        named = *l;
        named.choices = cfg_method_names();
        l = &named;
    }
    const char *c = text;
    *canon = NULL;
    if (is_null && !(l->kind == K_STR && l->nullable)) {
        snprintf(why, n, "expected %s, got nothing (null)", l->what);
        return -1;
    }
    switch (l->kind) {
    case K_STR: {
        if (is_null) {
            c = "";
            break;
        }
        size_t len = strlen(text);
        if (!len && !l->nullable) return snprintf(why, n, "expected %s, got an empty string", l->what), -1;
        if (len > l->max_len)
            return snprintf(why, n, "too long (%zu characters; at most %zu): '%s'", len, l->max_len,
                            cfg_quote(text)), -1;
        for (const char *p = text; *p; p++)
            if ((unsigned char)*p < 32 || (l == &cfg_top[L_NAME] && *p == '/'))
                return snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text)), -1;
        break;
    }
    case K_U64: {
        const char *p = text[0] == '+' ? text + 1 : text;
        bool ok = *p != 0;
        for (const char *q = p; *q; q++) ok = ok && isdigit((unsigned char)*q);
        if (!ok) return snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text)), -1;
        errno = 0;
        unsigned long long v = strtoull(p, NULL, 10);
        if (errno == ERANGE)
            return snprintf(why, n, "expected %s below 2^64, got '%s'", l->what, cfg_quote(text)), -1;
        snprintf(buf, sizeof buf, "%llu", v);
        c = buf;
        break;
    }
    case K_INT:
    case K_WORDINT: {
        if (l->kind == K_WORDINT && !strcmp(text, l->choices[0])) break;
        long v;
        bool big;
        if (!parse_long(text, &v, &big) || big || v < l->imin || (l->imax && v > l->imax))
            return snprintf(why, n, "expected %s, got '%s'%s", l->what, cfg_quote(text),
                            big ? " (too large)" : ""), -1;
        snprintf(buf, sizeof buf, "%ld", v);
        c = buf;
        break;
    }
    case K_FLOAT: {
        double v;
        if (is_inf_word(text)) {
            v = INFINITY;
        } else {
            char *end;
            errno = 0;
            v = strtod(text, &end);
            bool bad = !text[0] || *end || isspace((unsigned char)text[0]) || isnan(v);
            if (!bad && (isinf(v) || errno == ERANGE) && v != 0)
                return snprintf(why, n, "expected %s, got '%s' (out of range)", l->what,
                                cfg_quote(text)), -1;
            if (bad) return snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text)), -1;
        }
        bool ok = l->fmin_open ? v > l->fmin : v >= l->fmin;
        ok = ok && (isinf(v) ? l->allow_inf && v > 0 : v <= l->fmax);
        if (!ok) return snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text)), -1;
        cfg_format_double(v + 0.0, buf, sizeof buf); /* + 0.0: -0 reads as 0 */
        c = buf;
        break;
    }
    case K_ENUM:
    case K_CHOICE:
    case K_BOOLWORD:
    case K_METHOD_NAME:
        if (cfg_choice(l->choices, text) < 0) {
            char hint[96];
            choice_hint(l->choices, text, hint, sizeof hint);
            return snprintf(why, n, "expected %s, got '%s'%s", l->what, cfg_quote(text), hint), -1;
        }
        break;
    case K_TARGETS:
    case K_METHODS:
        return check_list(l, text, canon, why, n);
    case K_SWEEP:
        return snprintf(why, n, "the sweep section cannot be set from a single value"), -1;
    case K_NAMES:
        return snprintf(why, n, "expected %s, got '%s'", l->what, cfg_quote(text)), -1;
    }
    *canon = strdup(c);
    if (!*canon) return snprintf(why, n, "out of memory"), -1;
    return 0;
}

int cfg_resolve_key(const char *key, cfg_keyref *ref, char *why, size_t n)
{
    *ref = (cfg_keyref){.leaf = -1, .method = -1, .mparam = -1};
    for (int i = 0; i < L_COUNT; i++)
        if (i != L_SWEEP && !strcmp(key, cfg_top[i].key)) return ref->leaf = i, 0;
    if (!strncmp(key, "sweep", 5) && (key[5] == 0 || key[5] == '.'))
        return snprintf(why, n, "the sweep section cannot be overridden"), -1;
    if (!strncmp(key, "methods.", 8)) {
        const char *m = key + 8, *dot = strchr(m, '.');
        char name[32];
        size_t mlen = dot ? (size_t)(dot - m) : strlen(m);
        snprintf(name, sizeof name, "%.*s", (int)(mlen < 31 ? mlen : 31), m);
        int k = cfg_choice(cfg_method_names(), name);
        if (k < 0 || mlen >= sizeof name) {
            char hint[96];
            choice_hint(cfg_method_names(), name, hint, sizeof hint);
            return snprintf(why, n, "unknown method '%s' in the key%s; method parameters are set as "
                            "methods.<method>.<parameter>, e.g. methods.fedprox.mu",
                            cfg_quote(name), hint), -1;
        }
        const char *param = dot ? dot + 1 : "";
        cfg_method_keys keys = cfg_method_keys_of(k);
        for (int p = 1; p < keys.n; p++)
            if (!strcmp(param, keys.leaves[p].key)) return ref->method = k, ref->mparam = p, 0;
        const char *owner = cfg_method_owning(param);
        if (owner)
            return snprintf(why, n, "%s has no parameter '%s' (%s belongs to %s)", name, param,
                            param, owner), -1;
        char list[256] = "";
        const char *cands[CFG_MAX_MPARAMS];
        int nc = 0;
        for (int p = 1; p < keys.n; p++) {
            cands[nc++] = keys.leaves[p].key;
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", nc > 1 ? ", " : "",
                     keys.leaves[p].key);
        }
        const char *s = cfg_closest(param, cands, nc);
        if (s) return snprintf(why, n, "unknown key (did you mean 'methods.%s.%s'?)", name, s), -1;
        if (!nc) return snprintf(why, n, "unknown key (%s has no parameters)", name), -1;
        return snprintf(why, n, "unknown key (%s takes: %s)", name, list), -1;
    }
    /* A section named as a whole ("data", "federation.optimizer")? */
    size_t klen = strlen(key);
    for (int i = 0; i < L_COUNT; i++)
        if (!strncmp(cfg_top[i].key, key, klen) && cfg_top[i].key[klen] == '.')
            return snprintf(why, n, "'%s' is a section, not a value; set one of its keys, e.g. %s",
                            cfg_quote(key), cfg_top[i].key), -1;
    /* A key of a known section: suggest or list that section's keys. */
    const char *dot = strrchr(key, '.');
    if (dot) {
        size_t plen = (size_t)(dot - key);
        const char *cands[L_COUNT];
        char list[400] = "";
        int nc = 0;
        for (int i = 0; i < L_COUNT; i++) {
            const char *k = cfg_top[i].key;
            if (strncmp(k, key, plen) || k[plen] != '.' || strchr(k + plen + 1, '.')) continue;
            cands[nc++] = k + plen + 1;
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", nc > 1 ? ", " : "", k + plen + 1);
        }
        if (nc) {
            const char *s = cfg_suggest(dot + 1, cands, nc);
            if (s)
                return snprintf(why, n, "unknown key (did you mean '%.*s.%s'?)", (int)plen, key, s), -1;
            /* close to a whole dotted key elsewhere? (below) otherwise list this section */
            const char *all[L_COUNT];
            int na = 0;
            for (int i = 0; i < L_COUNT; i++)
                if (i != L_SWEEP) all[na++] = cfg_top[i].key;
            if (!cfg_closest(key, all, na))
                return snprintf(why, n, "unknown key (%.*s has: %s)", (int)plen, key, list), -1;
        }
    }
    /* Closest of every settable key. */
    enum { MAX_KEYS = L_COUNT + CFG_MAX_REGISTERED * FS_MAX_METHOD_PARAMS };
    const char *cands[MAX_KEYS];
    static _Thread_local char mkeys[CFG_MAX_REGISTERED * FS_MAX_METHOD_PARAMS][96];
    int nc = 0, nm = 0;
    for (int i = 0; i < L_COUNT; i++)
        if (i != L_SWEEP) cands[nc++] = cfg_top[i].key;
    for (int k = 0; cfg_method_names()[k]; k++) {
        cfg_method_keys keys = cfg_method_keys_of(k);
        for (int p = 1; p < keys.n; p++, nm++) {
            snprintf(mkeys[nm], sizeof mkeys[nm], "methods.%s.%s", cfg_method_names()[k],
                     keys.leaves[p].key);
            cands[nc++] = mkeys[nm];
        }
    }
    const char *s = cfg_closest(key, cands, nc);
    if (s) return snprintf(why, n, "unknown key (did you mean '%s'?)", s), -1;
    return snprintf(why, n, "unknown key (see configs/example.yaml for every key)"), -1;
}

const char *cfg_method_owning(const char *param)
{
    for (int k = 0; cfg_method_names()[k]; k++) {
        cfg_method_keys keys = cfg_method_keys_of(k);
        for (int p = 1; p < keys.n; p++)
            if (!strcmp(param, keys.leaves[p].key)) return cfg_method_names()[k];
    }
    return NULL;
}
