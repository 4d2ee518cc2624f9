/* Stage 1 of loading: libyaml's document tree (which knows every node's line)
 * walked against the key table. Structure, unknown and duplicate keys, and
 * every value are checked here, so each error names file:line and the
 * dotted key; the walk records canonical texts in cfg_values. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"
#include "sim/io/yaml_nesting.h"

typedef struct {
    const char *name;
    yaml_document_t *doc;
    cfg_values *v;
} walker;

#define KEYMAX 256

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)n->data.scalar.value;
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* "a mapping", "a list", "nothing (null)" or "'text'", for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(n)) return "nothing (null)";
    snprintf(buf, size, "'%s'", cfg_quote(scalar(n)));
    return buf;
}

static int fail_at(walker *w, const yaml_node_t *n, const char *key, const char *fmt, ...)
    FS_PRINTF(4, 5);
static int fail_at(walker *w, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fs_fail("%s:%d: %s: %s", w->name, line_of(n), key, msg);
}

static int expect(walker *w, const yaml_node_t *n, const char *key, const char *what)
{
    char buf[128];
    return fail_at(w, n, key, "expected %s, got %s", what, describe(n, buf, sizeof buf));
}

/* A scalar node's text, rejecting embedded NULs ("\0" escapes). */
static int scalar_text(walker *w, const yaml_node_t *n, const char *key, const char **out)
{
    if (strlen(scalar(n)) != n->data.scalar.length)
        return fail_at(w, n, key, "the value contains a NUL character");
    *out = scalar(n);
    return 0;
}

/* Checks a scalar value node against a leaf and stores its canonical text. */
static int take_scalar(walker *w, const yaml_node_t *val, const cfg_leaf *l, const char *key,
                       char **text, int *line)
{
    const char *s = NULL;
    char why[640], *canon;
    if (val->type != YAML_SCALAR_NODE) return expect(w, val, key, l->what);
    if (scalar_text(w, val, key, &s)) return -1;
    if (cfg_check(l, s, is_null(val), &canon, why, sizeof why)) return fail_at(w, val, key, "%s", why);
    free(*text);
    *text = canon;
    *line = line_of(val);
    return 0;
}

/* adapter.targets ([image, text], or the comma list "image,text") or a K_NAMES
 * list, as one comma list. */
static int take_list(walker *w, const yaml_node_t *val, const cfg_leaf *l, const char *key, char **text,
                     int *line)
{
    bool targets = l->kind == K_TARGETS;
    if (targets && val->type == YAML_SCALAR_NODE && !is_null(val)) return take_scalar(w, val, l, key, text, line);
    if (val->type != YAML_SEQUENCE_NODE) return expect(w, val, key, l->what);
    yaml_node_item_t *start = val->data.sequence.items.start, *end = val->data.sequence.items.top;
    if (targets && start == end) return fail_at(w, val, key, "expected %s, got an empty list", l->what);
    const char *item_what = targets ? "image or text" : l->what;
    char joined[1024] = "";
    for (yaml_node_item_t *it = start; it < end; it++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char ikey[KEYMAX + 16];
        const char *s = NULL;
        snprintf(ikey, sizeof ikey, "%s[%d]", key, (int)(it - start));
        if (!item) return fail_at(w, val, key, "malformed list");
        if (item->type != YAML_SCALAR_NODE || is_null(item)) return expect(w, item, ikey, item_what);
        if (scalar_text(w, item, ikey, &s)) return -1;
        if (targets && cfg_choice(l->choices, s) < 0) {
            const char *hint = cfg_closest(s, l->choices, 2);
            return fail_at(w, item, ikey, "expected image or text, got '%s'%s%s%s", cfg_quote(s),
                           hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        }
        if (!targets && (strchr(s, ',') || strlen(s) > l->max_len))
            return expect(w, item, ikey, item_what);
        if (!targets && it - start == l->imax)
            return fail_at(w, item, ikey, "too many names (at most %ld)", l->imax);
        for (yaml_node_item_t *before = start; before < it; before++) {
            yaml_node_t *b = yaml_document_get_node(w->doc, *before);
            if (!strcmp(scalar(b), s))
                return fail_at(w, item, ikey, "'%s' is listed twice (first at line %d)", s, line_of(b));
        }
        if (strlen(joined) + strlen(s) + 2 > sizeof joined) return fail_at(w, val, key, "list too long");
        if (joined[0]) strcat(joined, ",");
        strcat(joined, s);
    }
    free(*text);
    if (!(*text = strdup(joined))) return fs_fail("out of memory");
    *line = line_of(val);
    return 0;
}

/* Distinct next key segments below rel in a table, for "expected one of". */
static int next_segments(const cfg_leaf *tab, int ntab, const char *rel, const char **out,
                         char seg[][32], int max)
{
    size_t rlen = rel ? strlen(rel) : 0;
    int n = 0;
    for (int i = 0; i < ntab; i++) {
        const char *k = tab[i].key;
        if (rlen && (strncmp(k, rel, rlen) || k[rlen] != '.')) continue;
        k += rlen ? rlen + 1 : 0;
        size_t len = strcspn(k, ".");
        if (n >= max) break;
        snprintf(seg[n], 32, "%.*s", (int)(len < 31 ? len : 31), k);
        bool dup = false;
        for (int j = 0; j < n; j++) dup = dup || !strcmp(seg[j], seg[n]);
        if (!dup && n < max) out[n] = seg[n], n++;
    }
    return n;
}

static int walk_map(walker *w, const yaml_node_t *map, const cfg_leaf *tab, int ntab,
                    const char *rel, const char *disp, char **text, int *line);
static int walk_methods(walker *w, const yaml_node_t *val, const char *key);
static int walk_sweep(walker *w, const yaml_node_t *val);

static int walk_pair(walker *w, const yaml_node_t *keyn, const yaml_node_t *val, const cfg_leaf *tab,
                     int ntab, const char *rel, const char *disp, char **text, int *line)
{
    const char *k = NULL;
    char rfull[KEYMAX], dfull[KEYMAX];
    if (keyn->type != YAML_SCALAR_NODE || is_null(keyn))
        return expect(w, keyn, disp[0] ? disp : "top level", "plain key names");
    if (scalar_text(w, keyn, disp[0] ? disp : "top level", &k)) return -1;
    snprintf(rfull, sizeof rfull, "%s%s%.100s", rel[0] ? rel : "", rel[0] ? "." : "", k);
    snprintf(dfull, sizeof dfull, "%s%s%.100s", disp[0] ? disp : "", disp[0] ? "." : "", k);
    if (strchr(k, '.')) /* a dotted key would bypass duplicate detection of its nested form */
        return fail_at(w, keyn, dfull, "unknown key (dotted keys are for --set and sweep; nest "
                                       "mappings here, e.g. data: { partition: { clients: 5 } })");
    for (int i = 0; i < ntab; i++) {
        if (strcmp(tab[i].key, rfull)) continue;
        switch (tab[i].kind) {
        case K_METHODS: return line[i] = line_of(keyn), walk_methods(w, val, dfull);
        case K_SWEEP: return line[i] = line_of(keyn), walk_sweep(w, val);
        case K_TARGETS:
        case K_NAMES: return take_list(w, val, &tab[i], dfull, &text[i], &line[i]);
        default: return take_scalar(w, val, &tab[i], dfull, &text[i], &line[i]);
        }
    }
    const char *cands[32];
    char seg[32][32];
    int nc = next_segments(tab, ntab, rfull, cands, seg, 32);
    if (nc > 0) { /* a section */
        if (tab == cfg_top && !strcmp(rfull, "model")) w->v->model_line = line_of(keyn);
        if (val->type != YAML_MAPPING_NODE) {
            char what[256] = "a mapping with keys ";
            for (int j = 0; j < nc; j++)
                snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", j ? ", " : "", cands[j]);
            return expect(w, val, dfull, what);
        }
        return walk_map(w, val, tab, ntab, rfull, dfull, text, line);
    }
    nc = next_segments(tab, ntab, rel, cands, seg, 32);
    const char *s = cfg_suggest(k, cands, nc);
    if (s) return fail_at(w, keyn, dfull, "unknown key (did you mean '%s'?)", s);
    char list[512] = "";
    for (int j = 0; j < nc; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", cands[j]);
    return fail_at(w, keyn, dfull, "unknown key (expected one of: %s)", list);
}

static int walk_map(walker *w, const yaml_node_t *map, const cfg_leaf *tab, int ntab,
                    const char *rel, const char *disp, char **text, int *line)
{
    const char *seen[48];
    int seen_line[48], nseen = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *keyn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(w->doc, p->value);
        if (!keyn || !val) return fail_at(w, map, disp[0] ? disp : "top level", "malformed mapping");
        if (keyn->type == YAML_SCALAR_NODE)
            for (int j = 0; j < nseen; j++)
                if (!strcmp(seen[j], scalar(keyn))) {
                    char dfull[KEYMAX];
                    snprintf(dfull, sizeof dfull, "%s%s%.100s", disp, disp[0] ? "." : "", scalar(keyn));
                    return fail_at(w, keyn, dfull, "duplicate key (first given at line %d)", seen_line[j]);
                }
        if (walk_pair(w, keyn, val, tab, ntab, rel, disp, text, line)) return -1;
        /* only known keys get here, so nseen stays below the table size */
        if (nseen < 48) seen[nseen] = scalar(keyn), seen_line[nseen++] = line_of(keyn);
    }
    return 0;
}

/* A key of a method's mapping that belongs to another method: named as such. */
static int foreign_key(walker *w, const yaml_node_t *keyn, const char *key, const char *method,
                       cfg_method_keys keys)
{
    const char *k = scalar(keyn);
    size_t len = strlen(k);
    for (int p = 0; p < keys.n; p++)
        if (!strncmp(keys.leaves[p].key, k, len) &&
            (keys.leaves[p].key[len] == 0 || keys.leaves[p].key[len] == '.'))
            return 0;
    for (int j = 0; cfg_method_names()[j]; j++) {
        cfg_method_keys other = cfg_method_keys_of(j);
        for (int p = 1; p < other.n; p++) {
            const char *ok = other.leaves[p].key;
            if (strncmp(ok, k, len) || (ok[len] != 0 && ok[len] != '.')) continue;
            return fail_at(w, keyn, key, "%s has no parameter '%s' (%s belongs to %s)", method, k,
                           k, cfg_method_names()[j]);
        }
    }
    return 0;
}

/* One entry of methods: a name, or a mapping with `name` and that method's keys. */
static int walk_method(walker *w, const yaml_node_t *item, const char *key)
{
    cfg_values *v = w->v;
    cfg_method *m = &v->methods[v->n_methods++]; /* counted now so that errors free it */
    *m = (cfg_method){.line = line_of(item)};
    const cfg_leaf *nl = &cfg_method_keys_of(0).leaves[0]; /* `name`, the same in every table */
    if (item->type == YAML_SCALAR_NODE) {
        if (take_scalar(w, item, nl, key, &m->param[0], &m->pline[0])) return -1;
    } else if (item->type == YAML_MAPPING_NODE) {
        const yaml_node_t *name = NULL, *misspelt = NULL;
        const yaml_node_pair_t *pairs = item->data.mapping.pairs.start;
        for (const yaml_node_pair_t *p = pairs; p < item->data.mapping.pairs.top; p++) {
            yaml_node_t *keyn = yaml_document_get_node(w->doc, p->key);
            if (!keyn || keyn->type != YAML_SCALAR_NODE) continue;
            if (!strcmp(scalar(keyn), "name") && !name)
                name = yaml_document_get_node(w->doc, p->value);
            else if (cfg_closest(scalar(keyn), (const char *[]){"name"}, 1))
                misspelt = keyn;
        }
        char nkey[KEYMAX + 128];
        snprintf(nkey, sizeof nkey, "%.*s.name", KEYMAX, key);
        if (!name && misspelt) {
            snprintf(nkey, sizeof nkey, "%.*s.%.100s", KEYMAX, key, scalar(misspelt));
            return fail_at(w, misspelt, nkey, "unknown key (did you mean 'name'?)");
        }
        if (!name) return fail_at(w, item, key, "missing key 'name' (%s)", nl->what);
        if (take_scalar(w, name, nl, nkey, &m->param[0], &m->pline[0])) return -1;
        cfg_method_keys keys = cfg_method_keys_of(cfg_choice(cfg_method_names(), m->param[0]));
        for (const yaml_node_pair_t *p = pairs; p < item->data.mapping.pairs.top; p++) {
            yaml_node_t *keyn = yaml_document_get_node(w->doc, p->key);
            char pkey[KEYMAX + 128];
            if (!keyn || keyn->type != YAML_SCALAR_NODE) continue; /* walk_map reports it */
            snprintf(pkey, sizeof pkey, "%s.%.100s", key, scalar(keyn));
            if (foreign_key(w, keyn, pkey, m->param[0], keys)) return -1;
        }
        if (walk_map(w, item, keys.leaves, keys.n, "", key, m->param, m->pline)) return -1;
    } else {
        return expect(w, item, key, "a method name or a mapping such as { name: fedprox, mu: 0.01 }");
    }
    m->kind = cfg_choice(cfg_method_names(), m->param[0]);
    for (int j = 0; j < v->n_methods - 1; j++)
        if (v->methods[j].kind == m->kind)
            return fail_at(w, item, key, "duplicate method '%s' (already listed at line %d)",
                           m->param[0], v->methods[j].line);
    free(m->param[0]);
    m->param[0] = NULL;
    return 0;
}

static int walk_methods(walker *w, const yaml_node_t *val, const char *key)
{
    const cfg_leaf *l = &cfg_top[L_METHODS];
    if (val->type == YAML_SCALAR_NODE && !is_null(val)) { /* methods: fedavg, fednano */
        char why[640], *canon;
        const char *s = NULL;
        if (scalar_text(w, val, key, &s)) return -1;
        if (cfg_check(l, s, false, &canon, why, sizeof why)) return fail_at(w, val, key, "%s", why);
        cfg_relist_methods(w->v, canon);
        free(canon);
        for (int i = 0; i < w->v->n_methods; i++) w->v->methods[i].line = line_of(val);
        return 0;
    }
    if (val->type != YAML_SEQUENCE_NODE) return expect(w, val, key, l->what);
    yaml_node_item_t *it = val->data.sequence.items.start, *end = val->data.sequence.items.top;
    if (it == end) return fail_at(w, val, key, "expected %s, got an empty list", l->what);
    for (int i = 0; it < end; it++, i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char ikey[KEYMAX + 16];
        snprintf(ikey, sizeof ikey, "%s[%d]", key, i);
        if (!item) return fail_at(w, val, key, "malformed list");
        if (i == FS_MAX_METHODS)
            return fail_at(w, item, ikey, "too many methods (at most %d)", FS_MAX_METHODS);
        if (walk_method(w, item, ikey)) return -1;
    }
    return 0;
}

/* A list of plain names as one comma list (a sweep value of a list key). */
static int join_list(walker *w, const yaml_node_t *seq, const char *key, char *out, size_t size)
{
    out[0] = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE || is_null(item)) return expect(w, seq, key, "a list of names");
        size_t used = strlen(out);
        if (used + strlen(scalar(item)) + 2 > size)
            return fail_at(w, seq, key, "value too long (at most %zu characters)", size - 1);
        snprintf(out + used, size - used, "%s%s", used ? "," : "", scalar(item));
    }
    return 0;
}

static int walk_axis(walker *w, const yaml_node_t *keyn, const yaml_node_t *val)
{
    cfg_values *v = w->v;
    const char *k = NULL;
    char key[KEYMAX], why[640], *canon;
    cfg_keyref ref;
    if (keyn->type != YAML_SCALAR_NODE || is_null(keyn)) return expect(w, keyn, "sweep", "dotted key names");
    if (scalar_text(w, keyn, "sweep", &k)) return -1;
    snprintf(key, sizeof key, "sweep.%.100s", k);
    for (int j = 0; j < v->n_sweep; j++)
        if (!strcmp(v->sweep[j].key, k))
            return fail_at(w, keyn, key, "duplicate key (first given at line %d)", v->sweep_line[j]);
    if (cfg_resolve_key(k, &ref, why, sizeof why)) return fail_at(w, keyn, key, "%s", why);
    const char *no = ref.leaf >= 0 ? cfg_unsweepable(ref.leaf) : NULL;
    if (no) return fail_at(w, keyn, key, "%s", no);
    if (v->n_sweep == FS_MAX_SWEEP_KEYS)
        return fail_at(w, keyn, key, "too many swept keys (at most %d)", FS_MAX_SWEEP_KEYS);
    const cfg_leaf *l = cfg_leaf_of(&ref);
    if (val->type != YAML_SEQUENCE_NODE || val->data.sequence.items.start == val->data.sequence.items.top) {
        char what[640];
        snprintf(what, sizeof what, "a non-empty list of values, each %s", l->what);
        return val->type == YAML_SEQUENCE_NODE ? fail_at(w, val, key, "expected %s, got an empty list", what)
                                               : expect(w, val, key, what);
    }
    fs_sweep_axis *ax = &v->sweep[v->n_sweep];
    memset(ax, 0, sizeof *ax);
    snprintf(ax->key, sizeof ax->key, "%s", k);
    v->sweep_line[v->n_sweep] = line_of(keyn);
    int i = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char ikey[KEYMAX + 16];
        const char *s = NULL;
        snprintf(ikey, sizeof ikey, "%s[%d]", key, i);
        if (!item) return fail_at(w, val, key, "malformed list");
        if (i == FS_MAX_SWEEP_VALUES)
            return fail_at(w, item, ikey, "too many values (at most %d)", FS_MAX_SWEEP_VALUES);
        char joined[64];
        if (item->type == YAML_SEQUENCE_NODE && (l->kind == K_TARGETS || l->kind == K_METHODS)) {
            if (join_list(w, item, ikey, joined, sizeof joined)) return -1; /* [image, text] -> "image,text" */
            s = joined;
        } else {
            if (item->type != YAML_SCALAR_NODE) return expect(w, item, ikey, l->what);
            if (scalar_text(w, item, ikey, &s)) return -1;
            if (is_null(item)) s = "null";
        }
        if (strlen(s) >= sizeof ax->values[0])
            return fail_at(w, item, ikey, "value too long (%zu characters; at most %zu)", strlen(s),
                           sizeof ax->values[0] - 1);
        if (cfg_check(l, s, is_null(item), &canon, why, sizeof why)) return fail_at(w, item, ikey, "%s", why);
        free(canon);
        for (int j = 0; j < i; j++)
            if (!strcmp(ax->values[j], s)) return fail_at(w, item, ikey, "value '%s' is listed twice", s);
        snprintf(ax->values[i], sizeof ax->values[i], "%s", s);
        ax->n_values = i + 1;
    }
    v->n_sweep++;
    return 0;
}

static int walk_sweep(walker *w, const yaml_node_t *val)
{
    if (val->type != YAML_MAPPING_NODE) return expect(w, val, "sweep", cfg_top[L_SWEEP].what);
    if (val->data.mapping.pairs.start == val->data.mapping.pairs.top)
        return fail_at(w, val, "sweep", "empty: list at least one key with its values (e.g. "
                       "seed: [0, 1]), or remove the section to run the config as one cell");
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++) {
        yaml_node_t *keyn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        if (!keyn || !v) return fail_at(w, val, "sweep", "malformed mapping");
        if (walk_axis(w, keyn, v)) return -1;
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *text, size_t len, const char *name)
{
    int line = (int)p->problem_mark.line + 1;
    if (p->error == YAML_READER_ERROR) { /* marks are not set: count lines up to the offset */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) line += text[i] == '\n';
        return fs_fail("%s:%d: not a valid YAML text: %s", name, line,
                       p->problem ? p->problem : "unreadable input");
    }
    if (p->error == YAML_MEMORY_ERROR) return fs_fail("%s: out of memory while parsing", name);
    if (p->context && p->context_mark.line != p->problem_mark.line)
        return fs_fail("%s:%d: YAML syntax error: %s (%s that starts at line %d)", name, line,
                       p->problem ? p->problem : "invalid YAML", p->context,
                       (int)p->context_mark.line + 1);
    return fs_fail("%s:%d: YAML syntax error: %s%s%s%s", name, line, p->problem ? p->problem : "invalid YAML",
                   p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

int cfg_walk_table(const char *text, size_t len, const char *name, const cfg_table *tab, cfg_values *v,
                   char **texts, int *lines)
{
    yaml_parser_t parser;
    yaml_document_t doc, more;
    if (fs_yaml_check_nesting(text, len, name)) return -1;
    cfg_method_names(); /* the registry's keys, before any message reads them */
    if (!yaml_parser_initialize(&parser)) return fs_fail("%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&parser, text, len, name);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    walker w = {.name = name, .doc = &doc, .v = v};
    if (!root) {
        fs_fail("%s:1: the file is empty; expected %s", name, tab->empty);
        goto done;
    }
    if (!yaml_parser_load(&parser, &more)) {
        syntax_error(&parser, text, len, name);
        goto done;
    }
    yaml_node_t *second = yaml_document_get_root_node(&more);
    bool two = second != NULL;
    if (two) fail_at(&w, second, "top level", "a second YAML document ('---') is not supported");
    yaml_document_delete(&more);
    if (two) goto done;
    if (root->type != YAML_MAPPING_NODE) {
        const char *sections[32];
        char seg[32][32], what[512] = "a mapping of sections (";
        int n = next_segments(tab->leaves, tab->n, NULL, sections, seg, 32);
        for (int j = 0; j < n; j++)
            snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", sections[j], j < n - 1 ? ", " : ")");
        expect(&w, root, "top level", what);
        goto done;
    }
    if (v) v->top_line = line_of(root);
    rc = walk_map(&w, root, tab->leaves, tab->n, "", "", texts, lines);
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
