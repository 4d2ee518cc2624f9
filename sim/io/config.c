/* Loading the run configuration.
 *
 * Design: one key table, line-accurate errors
 * -------------------------------------------
 * A key's table entry (config_schema.c: dotted key, kind, bounds, default,
 * what is expected, offset in fs_config) is all there is to it: loading
 * runs in two stages over that table.
 *
 *  1. Walk (config_yaml.c). libyaml parses the text into a document tree,
 *     whose nodes carry their line numbers. The tree is walked against the
 *     key table. Everything a user can get wrong is caught here and reported
 *     as "file:line: dotted.key: what is wrong": YAML syntax, the shape of
 *     each node, unknown keys at every level (with the closest known key
 *     within edit distance 2), duplicate keys and methods, every value
 *     (cfg_check: type, range, choices, string length). Each accepted value
 *     is stored as canonical text in cfg_values ("1e-3" -> "0.001", ".inf" ->
 *     "inf", method scalars -> entries, absent keys -> defaults).
 *     `--set` overrides and sweep values are checked by the same cfg_check
 *     against the same table entry (config_values.c: cfg_apply), so a value
 *     means the same thing and fails with the same words wherever it comes
 *     from; only the location differs ("--set key=value:" instead of
 *     "file:line:").
 *  2. Typed load (this file): each canonical text is parsed into the field
 *     at its entry's offset. The methods' keys come from the method
 *     registry (sim/fed/method.h), each entry's parameters into the
 *     method's parameter struct (cfg_method_from_values).
 *
 * fs_config_to_yaml emits the same values in human form (config_emit.c), and
 * fs_config_set is to_yaml -> load with one override: one validation path
 * for files, --set, sweep cells and round trips.
 *
 * `fedsim pretrain`'s config (pretrain_config.c) is its own key table walked
 * the same way (cfg_walk_table) and stored the same way (cfg_store). */
#include "sim/io/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

void cfg_store(const cfg_leaf *l, const char *t, void *base)
{
    void *field = (char *)base + l->offset;
    /* canonical texts, checked by cfg_check: they parse back exactly and fit */
    switch (l->kind) {
    case K_STR:
    case K_ENUM: memcpy(field, t, strlen(t) + 1); break;
    case K_U64: *(uint64_t *)field = strtoull(t, NULL, 10); break;
    case K_INT: *(int *)field = (int)strtol(t, NULL, 10); break;
    case K_WORDINT: *(int *)field = strcmp(t, l->choices[0]) ? (int)strtol(t, NULL, 10) : 0; break;
    case K_FLOAT: *(double *)field = strtod(t, NULL); break; /* "inf" too */
    case K_CHOICE: *(int *)field = cfg_choice(l->choices, t); break;
    case K_BOOLWORD: *(bool *)field = cfg_choice(l->choices, t) == 1; break;
    default: break;
    }
}

/* Stage 2: each resolved canonical text straight into its field (the key
 * table's offsets); the methods into their parameter structs. */
static int typed_load(const cfg_values *v, const char *name, fs_config *out)
{
    for (int i = 0; i < L_COUNT; i++) {
        const cfg_leaf *l = &cfg_top[i];
        const char *t = v->text[i];
        if (l->kind == K_METHODS || l->kind == K_SWEEP) continue;
        if (!t) return fs_fail("%s: internal error: no value for %s", name, l->key);
        cfg_store(l, t, out);
        for (const char *s = t; l->kind == K_TARGETS && *s;) {
            size_t n = strcspn(s, ",");
            if (n == 5 && !strncmp(s, "image", 5)) out->target_image = true;
            if (n == 4 && !strncmp(s, "text", 4)) out->target_text = true;
            s += n + (s[n] == ',');
        }
    }
    out->n_methods = v->n_methods;
    for (int i = 0; i < v->n_methods; i++)
        if (cfg_method_from_values(&v->methods[i], &out->methods[i])) return fs_fail_context("%s", name);
    return 0;
}

/* "configs/paper-alpha.yaml" -> "paper-alpha". */
static void default_name(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, size, "%.*s", (int)(n < size - 1 ? n : size - 1), base);
}

static int apply_override(cfg_values *v, const char *key, const char *value, const char *label)
{
    cfg_keyref ref;
    char why[640];
    if (cfg_resolve_key(key, &ref, why, sizeof why)) return fs_fail("%s: %s", label, why);
    return cfg_apply(v, &ref, value, label);
}

/* After overrides: what no single value can tell. */
static int check_whole(const cfg_values *v, const char *name)
{
    if (!v->text[L_MODEL_PATH])
        return fs_fail("%s:%d: model.path: required key missing; expected %s", name,
                       v->model_line ? v->model_line : v->top_line, cfg_top[L_MODEL_PATH].what);
    for (int a = 0; a < v->n_sweep; a++) {
        cfg_keyref ref;
        char why[640];
        if (cfg_resolve_key(v->sweep[a].key, &ref, why, sizeof why) || ref.leaf >= 0) continue;
        bool listed = false;
        for (int i = 0; i < v->n_methods; i++) listed = listed || v->methods[i].kind == ref.method;
        if (!listed)
            return fs_fail("%s:%d: sweep.%s: method %s is not in methods; list it to sweep its "
                           "parameters", name, v->sweep_line[a], v->sweep[a].key,
                           cfg_method_names()[ref.method]);
    }
    return 0;
}

/* s[0..n) without surrounding blanks, truncated to size - 1. */
static void trimmed(char *out, size_t size, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    snprintf(out, size, "%.*s", (int)(n < size - 1 ? n : size - 1), s);
}

static char *trimmed_dup(const char *s)
{
    size_t n = strlen(s);
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return strndup(s, n);
}

/* The whole pipeline. overrides are "key=value" (label "--set ..."); set_key /
 * set_value, when given, one more override labelled "key=value". */
static int load_text(const char *text, size_t len, const char *name, const char *const *overrides,
                     int n_overrides, const char *set_key, const char *set_value, fs_config *out)
{
    memset(out, 0, sizeof *out);
    if (strlen(name) >= sizeof out->source_path)
        return fs_fail("%.100s...: path too long (at most %zu characters)", name, sizeof out->source_path - 1);
    cfg_values *v = calloc(1, sizeof *v);
    if (!v) return fs_fail("out of memory loading %s", name);
    int rc = -1;
    if (cfg_walk_table(text, len, name, &cfg_run_table, v, v->text, v->line)) goto done;
    if (!v->text[L_NAME]) {
        char stem[128], *canon, why[640];
        default_name(name, stem, sizeof stem);
        if (cfg_check(&cfg_top[L_NAME], stem, false, &canon, why, sizeof why) &&
            cfg_check(&cfg_top[L_NAME], "run", false, &canon, why, sizeof why)) {
            fs_fail("out of memory");
            goto done;
        }
        v->text[L_NAME] = canon;
    }
    if (cfg_values_defaults(v)) goto done;
    for (int i = 0; i < n_overrides; i++) {
        const char *arg = overrides[i] ? overrides[i] : "";
        const char *eq = strchr(arg, '=');
        char label[512], key[256];
        snprintf(label, sizeof label, "--set %s", cfg_quote(arg));
        if (!eq || eq == arg) {
            fs_fail("%s: expected key=value (e.g. --set federation.rounds=20)", label);
            goto done;
        }
        trimmed(key, sizeof key, arg, (size_t)(eq - arg));
        char *value = trimmed_dup(eq + 1);
        if (!value) {
            fs_fail("out of memory");
            goto done;
        }
        int bad = apply_override(v, key, value, label);
        free(value);
        if (bad) goto done;
    }
    if (set_key) {
        char label[512];
        snprintf(label, sizeof label, "%.200s=%s", set_key, cfg_quote(set_value));
        if (apply_override(v, set_key, set_value, label)) goto done;
    }
    if (check_whole(v, name) || typed_load(v, name, out)) goto done;
    memcpy(out->sweep, v->sweep, sizeof out->sweep);
    out->n_sweep = v->n_sweep;
    snprintf(out->source_path, sizeof out->source_path, "%s", name);
    rc = 0;
done:
    cfg_values_free(v);
    free(v);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int fs_config_load_string(const char *yaml, const char *name, const char *const *overrides,
                          int n_overrides, fs_config *out)
{
    if (!yaml || !out || (n_overrides > 0 && !overrides))
        return fs_fail("fs_config_load_string: no text, output or overrides");
    return load_text(yaml, strlen(yaml), name ? name : "<config>", overrides, n_overrides, NULL, NULL, out);
}

#define MAX_FILE_BYTES (16u << 20)

char *cfg_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fs_fail("cannot open %s: %s", path, strerror(errno)), NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *p = cap >= MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
            if (!p) break;
            buf = p, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!buf || n + 1 >= cap) {
        if (buf && cap >= MAX_FILE_BYTES)
            fs_fail("%s: too large for a configuration file (over %u MiB)", path, MAX_FILE_BYTES >> 20);
        else
            fs_fail("out of memory reading %s", path);
        free(buf), buf = NULL;
    } else if (ferror(f)) {
        fs_fail("cannot read %s: %s", path, strerror(errno));
        free(buf), buf = NULL;
    } else {
        buf[n] = 0;
        *len = n;
    }
    fclose(f);
    return buf;
}

int fs_config_load(const char *path, const char *const *overrides, int n_overrides, fs_config *out)
{
    if (!path || !out || (n_overrides > 0 && !overrides))
        return fs_fail("fs_config_load: no path, output or overrides");
    size_t n;
    char *buf = cfg_read_file(path, &n);
    int rc = buf ? load_text(buf, n, path, overrides, n_overrides, NULL, NULL, out) : -1;
    free(buf);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

char *fs_config_to_yaml(const fs_config *c)
{
    if (!c) return fs_fail("fs_config_to_yaml: no config"), NULL;
    cfg_values *v = calloc(1, sizeof *v);
    if (!v) return fs_fail("out of memory"), NULL;
    char *yaml = NULL;
    if (!cfg_values_from_config(c, v)) yaml = cfg_emit(v, NULL, NULL);
    cfg_values_free(v);
    free(v);
    return yaml;
}

int fs_config_set(fs_config *c, const char *key, const char *value)
{
    if (!c || !key || !value) return fs_fail("fs_config_set: missing config, key or value");
    char *yaml = fs_config_to_yaml(c);
    if (!yaml) return -1;
    fs_config *next = malloc(sizeof *next);
    int rc = -1;
    if (!next) {
        fs_fail("out of memory");
    } else if (!load_text(yaml, strlen(yaml), c->source_path[0] ? c->source_path : "<config>", NULL, 0,
                          key, value, next)) {
        memcpy(next->sweep, c->sweep, sizeof next->sweep);
        next->n_sweep = c->n_sweep;
        memcpy(next->source_path, c->source_path, sizeof next->source_path);
        memcpy(c, next, sizeof *c);
        rc = 0;
    }
    free(next);
    free(yaml);
    return rc;
}

long fs_config_sweep_cells(const fs_config *c)
{
    long n = 1;
    for (int a = 0; a < c->n_sweep; a++) n *= c->sweep[a].n_values > 0 ? c->sweep[a].n_values : 1;
    return n;
}

/* The value index of every axis in cell `cell` (the first axis varies slowest). */
static int cell_indices(const fs_config *base, long cell, int idx[FS_MAX_SWEEP_KEYS])
{
    if (base->n_sweep < 0 || base->n_sweep > FS_MAX_SWEEP_KEYS) return fs_fail("malformed sweep");
    for (int a = 0; a < base->n_sweep; a++)
        if (base->sweep[a].n_values < 1 || base->sweep[a].n_values > FS_MAX_SWEEP_VALUES)
            return fs_fail("sweep.%.127s: malformed axis (%d values)", base->sweep[a].key,
                           base->sweep[a].n_values);
    long n = fs_config_sweep_cells(base);
    if (cell < 0 || cell >= n) return fs_fail("sweep cell %ld out of range (0..%ld)", cell, n - 1);
    long rest = cell;
    for (int a = base->n_sweep - 1; a >= 0; a--) {
        idx[a] = (int)(rest % base->sweep[a].n_values);
        rest /= base->sweep[a].n_values;
    }
    return 0;
}

int fs_config_sweep_values(const fs_config *base, long cell, const char *values[FS_MAX_SWEEP_KEYS])
{
    int idx[FS_MAX_SWEEP_KEYS] = {0};
    if (cell_indices(base, cell, idx)) return -1;
    for (int a = 0; a < base->n_sweep; a++) values[a] = base->sweep[a].values[idx[a]];
    return 0;
}

int fs_config_sweep_cell(const fs_config *base, long cell, fs_config *out, char *label, int label_size)
{
    int idx[FS_MAX_SWEEP_KEYS] = {0};
    if (cell_indices(base, cell, idx)) return -1;
    fs_config *c = malloc(sizeof *c);
    if (!c) return fs_fail("out of memory");
    memcpy(c, base, sizeof *c);
    if (label && label_size > 0) label[0] = 0;
    /* method parameter axes act on the base list; the methods axis then picks from it */
    for (int pass = 0; pass < 2; pass++)
        for (int a = 0; a < base->n_sweep; a++) {
            const fs_sweep_axis *ax = &base->sweep[a];
            if ((pass == 1) != !strcmp(ax->key, "methods")) continue;
            if (fs_config_set(c, ax->key, ax->values[idx[a]])) {
                free(c);
                return fs_fail_context("%s: sweep cell %ld", base->source_path, cell);
            }
        }
    for (int a = 0; a < base->n_sweep && label && label_size > 0; a++) {
        size_t used = strlen(label);
        snprintf(label + used, (size_t)label_size - used, "%s%s=%s", a ? "," : "", base->sweep[a].key,
                 base->sweep[a].values[idx[a]]);
    }
    memset(c->sweep, 0, sizeof c->sweep);
    c->n_sweep = 0;
    memcpy(out, c, sizeof *out);
    free(c);
    return 0;
}
