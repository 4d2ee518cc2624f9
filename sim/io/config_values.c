/* The resolved-values store (cfg_values): canonical texts per key, filled by
 * the YAML walk or from an fs_config, changed by overrides, read by the
 * emitter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

static void method_free(cfg_method *m)
{
    for (int p = 0; p < CFG_MAX_MPARAMS; p++) free(m->param[p]), m->param[p] = NULL;
}

void cfg_values_free(cfg_values *v)
{
    for (int i = 0; i < L_COUNT; i++) free(v->text[i]), v->text[i] = NULL;
    for (int i = 0; i < v->n_methods && i < FS_MAX_METHODS; i++) method_free(&v->methods[i]);
    v->n_methods = 0;
}

static int dup_into(char **slot, const char *s)
{
    if (!(*slot = strdup(s))) return fs_fail("out of memory");
    return 0;
}

int cfg_values_defaults(cfg_values *v)
{
    for (int i = 0; i < L_COUNT; i++)
        if (!v->text[i] && cfg_top[i].def && dup_into(&v->text[i], cfg_top[i].def)) return -1;
    if (v->n_methods == 0)
        for (int k = 0; k < fs_method_count() && v->n_methods < FS_MAX_METHODS; k++)
            if (fs_method_at(k)->paper) v->methods[v->n_methods++] = (cfg_method){.kind = k};
    /* Every entry gets every parameter of its method. */
    for (int i = 0; i < v->n_methods; i++) {
        cfg_method_keys keys = cfg_method_keys_of(v->methods[i].kind);
        for (int p = 1; p < keys.n; p++)
            if (!v->methods[i].param[p] && dup_into(&v->methods[i].param[p], keys.leaves[p].def))
                return -1;
    }
    return 0;
}

static bool is_null_text(const char *s)
{
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* methods=<a,b,...>: the new list, in that order; a method already listed keeps its parameters. */
void cfg_relist_methods(cfg_values *v, const char *canon)
{
    cfg_method next[FS_MAX_METHODS];
    bool taken[FS_MAX_METHODS] = {0};
    int n = 0;
    for (const char *s = canon; *s && n < FS_MAX_METHODS;) {
        size_t len = strcspn(s, ",");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(len < 31 ? len : 31), s);
        int k = cfg_choice(cfg_method_names(), name); /* validated by cfg_check */
        next[n] = (cfg_method){.kind = k};
        for (int j = 0; j < v->n_methods; j++)
            if (!taken[j] && (int)v->methods[j].kind == k) {
                next[n] = v->methods[j];
                next[n].line = 0;
                taken[j] = true;
                break;
            }
        n++;
        s += len + (s[len] == ',');
    }
    for (int j = 0; j < v->n_methods; j++)
        if (!taken[j]) method_free(&v->methods[j]);
    memcpy(v->methods, next, (size_t)n * sizeof next[0]);
    v->n_methods = n;
}

int cfg_apply(cfg_values *v, const cfg_keyref *ref, const char *value, const char *label)
{
    const cfg_leaf *l = cfg_leaf_of(ref);
    char why[640], *canon;
    if (cfg_check(l, value, is_null_text(value), &canon, why, sizeof why))
        return fs_fail("%s: %s", label, why);
    if (ref->leaf == L_METHODS) {
        cfg_relist_methods(v, canon);
        free(canon);
        return cfg_values_defaults(v);
    }
    if (ref->leaf >= 0) {
        free(v->text[ref->leaf]);
        v->text[ref->leaf] = canon;
        v->line[ref->leaf] = 0;
        return 0;
    }
    for (int i = 0; i < v->n_methods; i++) {
        cfg_method *m = &v->methods[i];
        if (m->kind != ref->method) continue;
        free(m->param[ref->mparam]);
        m->param[ref->mparam] = canon;
        m->pline[ref->mparam] = 0;
        return 0;
    }
    free(canon);
    char listed[256] = "";
    for (int i = 0; i < v->n_methods; i++)
        snprintf(listed + strlen(listed), sizeof listed - strlen(listed), "%s%s", i ? ", " : "",
                 cfg_method_names()[v->methods[i].kind]);
    return fs_fail("%s: method %s is not in methods (listed: %s); add it to methods first", label,
                   cfg_method_names()[ref->method], listed);
}

int cfg_values_from_config(const fs_config *c, cfg_values *v)
{
    char buf[64];
    for (int i = 0; i < L_COUNT; i++) {
        const cfg_leaf *l = &cfg_top[i];
        const char *field = (const char *)c + l->offset;
        switch (l->kind) {
        case K_STR:
        case K_ENUM:
            if (strnlen(field, l->max_len + 1) > l->max_len)
                return fs_fail("configuration field %s is not a terminated string", l->key);
            if (dup_into(&v->text[i], field)) return -1;
            break;
        case K_U64:
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field);
            if (dup_into(&v->text[i], buf)) return -1;
            break;
        case K_INT:
            snprintf(buf, sizeof buf, "%d", *(const int *)(const void *)field);
            if (dup_into(&v->text[i], buf)) return -1;
            break;
        case K_WORDINT: {
            int x = *(const int *)(const void *)field;
            if (x <= 0)
                snprintf(buf, sizeof buf, "%s", l->choices[0]);
            else
                snprintf(buf, sizeof buf, "%d", x);
            if (dup_into(&v->text[i], buf)) return -1;
            break;
        }
        case K_FLOAT:
            cfg_format_double(*(const double *)(const void *)field, buf, sizeof buf);
            if (dup_into(&v->text[i], buf)) return -1;
            break;
        case K_TARGETS:
            snprintf(buf, sizeof buf, "%s%s%s", c->target_image ? "image" : "",
                     c->target_image && c->target_text ? "," : "", c->target_text ? "text" : "");
            if (dup_into(&v->text[i], buf)) return -1;
            break;
        default: /* methods, sweep: below / not emitted */
            break;
        }
    }
    if (c->n_methods < 0 || c->n_methods > FS_MAX_METHODS)
        return fs_fail("configuration holds %d methods (at most %d)", c->n_methods, FS_MAX_METHODS);
    for (int i = 0; i < c->n_methods; i++) {
        const fs_method_cfg *mc = &c->methods[i];
        int k = fs_method_index(mc->method);
        if (k < 0) return fs_fail("configuration method %d is not a registered method", i);
        cfg_method *m = &v->methods[v->n_methods++];
        *m = (cfg_method){.kind = k};
        cfg_method_keys keys = cfg_method_keys_of(k);
        for (int p = 1; p < keys.n; p++) {
            const cfg_leaf *l = &keys.leaves[p];
            const void *field = mc->params + l->offset;
            if (l->kind == K_FLOAT) {
                cfg_format_double(*(const double *)field, buf, sizeof buf);
            } else if (l->kind == K_INT) {
                snprintf(buf, sizeof buf, "%d", *(const int *)field);
            } else {
                int x = *(const int *)field, nc = 0;
                while (l->choices[nc]) nc++;
                if (x < 0 || x >= nc)
                    return fs_fail("configuration method %s: %s holds choice %d of %d",
                                   mc->method->name, l->key, x, nc);
                snprintf(buf, sizeof buf, "%s", l->choices[x]);
            }
            if (dup_into(&m->param[p], buf)) return -1;
        }
    }
    return 0;
}

int cfg_method_from_values(const cfg_method *m, fs_method_cfg *out)
{
    memset(out, 0, sizeof *out);
    out->method = fs_method_at(m->kind);
    cfg_method_keys keys = cfg_method_keys_of(m->kind);
    for (int p = 1; p < keys.n; p++) {
        const cfg_leaf *l = &keys.leaves[p];
        if (!m->param[p])
            return fs_fail("internal error: no value for methods.%s.%s", out->method->name, l->key);
        cfg_store(l, m->param[p], out->params);
    }
    return 0;
}
