/* YAML text from resolved values, through libyaml's emitter (so strings are
 * quoted exactly when YAML needs it): fs_config_to_yaml and the results
 * identity. The nesting of mappings follows the dotted keys of the key table. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sbuf_write(void *data, unsigned char *buf, size_t size)
{
    sbuf *b = data;
    if (b->n + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + size + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, buf, size);
    b->n += size;
    b->p[b->n] = 0;
    return 1;
}

typedef struct {
    yaml_emitter_t em;
    bool ok, internal; /* internal: fs_fail already says what went wrong */
} emitter;

static void emit(emitter *e, yaml_event_t *ev, int initialized)
{
    if (!e->ok) {
        if (initialized) yaml_event_delete(ev);
        return;
    }
    e->ok = initialized && yaml_emitter_emit(&e->em, ev);
}

/* Would a plain scalar with this text read back as something other than a string? */
static bool needs_quotes(const char *s)
{
    static const char *const words[] = {"~", "null", "true", "false", "yes", "no", "on", "off",
                                        "y", "n", ".inf", "-.inf", "+.inf", ".nan", "inf", "nan", NULL};
    if (!s[0] || isspace((unsigned char)s[0])) return true;
    for (int i = 0; words[i]; i++)
        if (!strcasecmp(s, words[i])) return true;
    char *end;
    strtod(s, &end);
    return *end == 0 || isdigit((unsigned char)s[0]);
}

static void scalar(emitter *e, const char *s, bool quote)
{
    yaml_event_t ev;
    int init = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                            quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    emit(e, &ev, init);
}

static void string(emitter *e, const char *s) { scalar(e, s, needs_quotes(s)); }

static void map_start(emitter *e, bool flow)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(emitter *e)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void seq_start(emitter *e, bool flow)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

static void seq_end(emitter *e)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void value(emitter *e, const cfg_leaf *l, const char *t)
{
    switch (l->kind) {
    case K_STR:
        if (l->nullable && !t[0])
            scalar(e, "null", false);
        else
            string(e, t);
        break;
    case K_FLOAT:
        scalar(e, !strcmp(t, "inf") ? ".inf" : t, false);
        break;
    case K_TARGETS: {
        seq_start(e, true);
        char item[32];
        for (const char *s = t; *s;) {
            size_t n = strcspn(s, ",");
            snprintf(item, sizeof item, "%.*s", (int)(n < 31 ? n : 31), s);
            scalar(e, item, false);
            s += n + (s[n] == ',');
        }
        seq_end(e);
        break;
    }
    default:
        scalar(e, t, false);
    }
}

/* Emits the leaves idx[0..n) of tab as nested mappings; flow: every nested mapping in flow style. */
static void leaves(emitter *e, const cfg_leaf *tab, const int *idx, int n, const char *const *text,
                   const cfg_values *v, bool flow);

static void methods(emitter *e, const cfg_values *v)
{
    seq_start(e, false);
    for (int i = 0; i < v->n_methods; i++) {
        const cfg_method *m = &v->methods[i];
        cfg_method_keys keys = cfg_method_keys_of(m->kind);
        const char *text[CFG_MAX_MPARAMS];
        int idx[CFG_MAX_MPARAMS], n = 0;
        text[0] = cfg_method_names()[m->kind];
        idx[n++] = 0;
        for (int p = 1; p < keys.n; p++)
            if ((text[p] = m->param[p])) idx[n++] = p;
        map_start(e, true);
        leaves(e, keys.leaves, idx, n, text, v, true);
        map_end(e);
    }
    seq_end(e);
}

static void leaves(emitter *e, const cfg_leaf *tab, const int *idx, int n, const char *const *text,
                   const cfg_values *v, bool flow)
{
    char open[4][32];
    int depth = 0;
    for (int j = 0; j < n && e->ok; j++) {
        const cfg_leaf *l = &tab[idx[j]];
        char seg[4][32];
        int ns = 0;
        for (const char *s = l->key; *s && ns < 4;) {
            size_t len = strcspn(s, ".");
            snprintf(seg[ns++], 32, "%.*s", (int)(len < 31 ? len : 31), s);
            s += len + (s[len] == '.');
        }
        int common = 0;
        while (common < depth && common < ns - 1 && !strcmp(open[common], seg[common])) common++;
        for (; depth > common; depth--) map_end(e);
        for (; depth < ns - 1; depth++) {
            scalar(e, seg[depth], false);
            map_start(e, flow || depth > 0);
            memcpy(open[depth], seg[depth], 32);
        }
        scalar(e, seg[ns - 1], false);
        if (l->kind == K_METHODS) {
            methods(e, v);
        } else if (!text[idx[j]]) {
            fs_fail("internal error: no value for %s", l->key);
            e->ok = false, e->internal = true;
        } else {
            value(e, l, text[idx[j]]);
        }
    }
    for (; depth > 0; depth--) map_end(e);
}

char *cfg_emit(const cfg_values *v, const bool *skip, size_t *len)
{
    emitter e = {.ok = true};
    sbuf out = {0};
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e.em)) return fs_fail("out of memory"), NULL;
    yaml_emitter_set_output(&e.em, sbuf_write, &out);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, -1);
    emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    map_start(&e, false);
    int idx[L_COUNT], n = 0;
    for (int i = 0; i < L_COUNT; i++)
        if (i != L_SWEEP && !(skip && skip[i])) idx[n++] = i;
    leaves(&e, cfg_top, idx, n, (const char *const *)v->text, v, false);
    map_end(&e);
    emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    bool ok = e.ok && yaml_emitter_flush(&e.em);
    if (!ok && !e.internal)
        fs_fail("cannot write the configuration as YAML: %s",
                e.em.problem ? e.em.problem : "out of memory");
    yaml_emitter_delete(&e.em);
    if (!ok) return free(out.p), NULL;
    if (len) *len = out.n;
    return out.p;
}
