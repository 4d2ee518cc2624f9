/* What the results store needs from a configuration: which keys decide a
 * run's numbers (identity texts for DESIGN.md section 2's "a re-run never
 * reuses a cell whose hash differs"), how two configs differ key by key (the
 * message when they do), and sweep axes given on the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

/* Keys that change where results go or how fast they come, never the
 * numbers: the run's name and output directory, checkpoint frequency, and
 * the runtime section (the backend actually used is part of the provenance
 * instead, since "auto" resolves per machine; threads, GPUs and
 * rows_per_pass give the same numbers, tests/test_mpi.c and RELIABILITY.md).
 * model.path and data.root are left out too: the model's weights digest and
 * the data's fingerprint in the provenance stand for them, so moving a
 * directory keeps its results. */
static bool leaf_is_inert(int leaf)
{
    switch (leaf) {
    case L_NAME: case L_MODEL_PATH: case L_ROOT: case L_BACKEND: case L_GPUS: case L_THREADS:
    case L_ROWS_PER_PASS: case L_OUTPUT_DIR: case L_CHECKPOINT:
        return true;
    default:
        return false;
    }
}

char *fs_config_identity_yaml(const fs_config *c, int method)
{
    if (!c || method < -1 || method >= c->n_methods)
        return fs_fail("fs_config_identity_yaml: no config or method %d out of range", method), NULL;
    cfg_values *v = calloc(1, sizeof *v);
    if (!v) return fs_fail("out of memory"), NULL;
    char *yaml = NULL;
    bool skip[L_COUNT];
    for (int i = 0; i < L_COUNT; i++) skip[i] = leaf_is_inert(i) || (i == L_METHODS && method < 0);
    /* Added after results were first stamped: at its default (test split)
     * the run computes what it did before, so it keeps the identity it had. */
    skip[L_VALIDATION] = skip[L_VALIDATION] || c->validation == 0;
    if (!cfg_values_from_config(c, v)) {
        if (method >= 0) { /* only this method: adding another one keeps its identity */
            cfg_method keep = v->methods[method];
            v->methods[method] = v->methods[0];
            v->methods[0] = keep;
        }
        int n = v->n_methods;
        v->n_methods = method >= 0;
        yaml = cfg_emit(v, skip, NULL);
        v->n_methods = n;
    }
    cfg_values_free(v);
    free(v);
    return yaml;
}

/* Appends "key was -> now" to out (comma separated). */
static void add_diff(char *out, size_t cap, int *n, const char *key, const char *was, const char *now)
{
    size_t used = strlen(out);
    if (used + 1 < cap)
        snprintf(out + used, cap - used, "%s%s %s -> %s", *n ? ", " : "", key, was, now);
    (*n)++;
}

int fs_config_diff(const fs_config *was, const fs_config *now, int method, char *out, size_t cap)
{
    if (cap) out[0] = 0;
    cfg_values *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    int n = -1;
    if (!a || !b) {
        fs_fail("out of memory");
        goto done;
    }
    if (cfg_values_from_config(was, a) || cfg_values_from_config(now, b)) goto done;
    n = 0;
    for (int i = 0; i < L_COUNT; i++)
        if (!leaf_is_inert(i) && a->text[i] && b->text[i] && strcmp(a->text[i], b->text[i]))
            add_diff(out, cap, &n, cfg_top[i].key, a->text[i], b->text[i]);
    if (method < 0 || method >= now->n_methods) goto done;
    const cfg_method *mb = &b->methods[method], *ma = NULL;
    for (int i = 0; i < a->n_methods; i++)
        if (a->methods[i].kind == mb->kind) ma = &a->methods[i];
    cfg_method_keys keys = cfg_method_keys_of(mb->kind);
    for (int p = 1; ma && p < keys.n; p++) {
        if (!strcmp(ma->param[p], mb->param[p])) continue;
        char key[96];
        snprintf(key, sizeof key, "methods.%s.%s", cfg_method_names()[mb->kind], keys.leaves[p].key);
        add_diff(out, cap, &n, key, ma->param[p], mb->param[p]);
    }
done:
    if (a) cfg_values_free(a);
    if (b) cfg_values_free(b);
    free(a);
    free(b);
    return n;
}

const char *cfg_unsweepable(int leaf)
{
    if (leaf == L_NAME || leaf == L_OUTPUT_DIR)
        return "cannot be swept: all cells of a sweep go to one results file, "
               "<output.dir>/<name>.h5 (run one sweep per value instead)";
    return NULL;
}

char fs_config_key_type(const char *key)
{
    cfg_keyref ref;
    char why[640];
    if (!key || cfg_resolve_key(key, &ref, why, sizeof why)) return 's';
    const cfg_leaf *l = cfg_leaf_of(&ref);
    return l->kind == K_INT || l->kind == K_U64 ? 'i' : l->kind == K_FLOAT ? 'f' : 's';
}

int fs_config_add_sweep(fs_config *c, const char *spec)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!c || !eq || eq == spec || !eq[1])
        return fs_fail("--sweep %s: expected key=value1,value2,... (e.g. --sweep seed=0,1,2)",
                       spec ? cfg_quote(spec) : "");
    char key[sizeof c->sweep[0].key], why[640];
    if ((size_t)(eq - spec) >= sizeof key)
        return fs_fail("--sweep %s: key too long", cfg_quote(spec));
    snprintf(key, sizeof key, "%.*s", (int)(eq - spec), spec);
    cfg_keyref ref;
    if (cfg_resolve_key(key, &ref, why, sizeof why))
        return fs_fail("--sweep %s: %s", cfg_quote(spec), why);
    const char *no = ref.leaf >= 0 ? cfg_unsweepable(ref.leaf) : NULL;
    if (no) return fs_fail("--sweep %s: %s %s", cfg_quote(spec), key, no);
    fs_sweep_axis ax = {0};
    snprintf(ax.key, sizeof ax.key, "%s", key);
    fs_config *probe = malloc(sizeof *probe);
    if (!probe) return fs_fail("out of memory");
    int rc = -1;
    for (const char *s = eq + 1; *s; ) {
        size_t len = strcspn(s, ",");
        if (ax.n_values == FS_MAX_SWEEP_VALUES) {
            fs_fail("--sweep %s: too many values (at most %d)", key, FS_MAX_SWEEP_VALUES);
            goto done;
        }
        if (len == 0 || len >= sizeof ax.values[0]) {
            fs_fail("--sweep %s: %s value '%.*s' (each value 1 to %zu characters, separated by commas)",
                    key, len ? "too long a" : "an empty", (int)(len < 40 ? len : 40), s,
                    sizeof ax.values[0] - 1);
            goto done;
        }
        char *value = ax.values[ax.n_values];
        snprintf(value, sizeof ax.values[0], "%.*s", (int)len, s);
        for (int j = 0; j < ax.n_values; j++)
            if (!strcmp(ax.values[j], value)) {
                fs_fail("--sweep %s: value '%s' is listed twice", key, value);
                goto done;
            }
        /* Checked now, with the config's own validation, rather than when the
         * cell comes up hours into the sweep. */
        *probe = *c;
        if (fs_config_set(probe, key, value)) {
            fs_fail_context("--sweep %s", key);
            goto done;
        }
        ax.n_values++;
        s += len + (s[len] == ',');
    }
    int at = 0;
    while (at < c->n_sweep && strcmp(c->sweep[at].key, key)) at++;
    if (at == FS_MAX_SWEEP_KEYS) {
        fs_fail("--sweep %s: too many swept keys (at most %d)", key, FS_MAX_SWEEP_KEYS);
        goto done;
    }
    c->sweep[at] = ax; /* replaces the config's values for this key, or adds an axis */
    if (at == c->n_sweep) c->n_sweep++;
    rc = 0;
done:
    free(probe);
    return rc;
}
