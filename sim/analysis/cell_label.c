/* Cell labels: axes, cell groups and seeds (cell_label.h). */
#include "sim/analysis/cell_label.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"

int fs_cell_label_parse(const char *label, fs_cell_label *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(label);
    out->text = malloc(len + 1);
    /* at most one axis per '=' */
    int cap = 1;
    for (const char *p = label; *p; p++) cap += *p == '=';
    out->axis = malloc((size_t)cap * sizeof *out->axis);
    if (!out->text || !out->axis) {
        fs_cell_label_free(out);
        return fs_fail("out of memory parsing the cell label '%s'", label);
    }
    memcpy(out->text, label, len + 1);
    for (char *piece = out->text; piece;) {
        char *comma = strchr(piece, ',');
        char *eq = memchr(piece, '=', comma ? (size_t)(comma - piece) : strlen(piece));
        char *next = comma ? comma + 1 : NULL;
        if (eq) {
            /* A new axis: it ends the previous one at the comma before it. */
            if (piece > out->text) piece[-1] = 0;
            *eq = 0;
            out->axis[out->n++] = (fs_label_axis){.key = piece, .value = eq + 1};
        } else if (out->n == 0 && comma) {
            *comma = 0; /* leading name text, not an axis */
        }
        piece = next;
    }
    return 0;
}

void fs_cell_label_free(fs_cell_label *l)
{
    free(l->text);
    free(l->axis);
    memset(l, 0, sizeof *l);
}

bool fs_label_axis_is_replicate(const char *key)
{
    return !strcmp(key, "seed") || !strcmp(key, "methods");
}

int fs_cell_group(const char *label, char *out, size_t len)
{
    fs_cell_label l;
    if (fs_cell_label_parse(label, &l)) return -1;
    out[0] = 0;
    size_t used = 0;
    for (int i = 0; i < l.n; i++) {
        if (fs_label_axis_is_replicate(l.axis[i].key)) continue;
        const char *dot = strrchr(l.axis[i].key, '.');
        int k = snprintf(out + used, len - used, "%s%s=%s", used ? "," : "",
                         dot ? dot + 1 : l.axis[i].key, l.axis[i].value);
        if (k < 0 || (size_t)k >= len - used) break;
        used += (size_t)k;
    }
    if (l.n == 0)
        snprintf(out, len, "%s", label);
    else if (!used)
        snprintf(out, len, "all");
    fs_cell_label_free(&l);
    return 0;
}

/* An integer spanning all of s (surrounding blanks allowed). */
static bool parse_long(const char *s, const char *end, long *v)
{
    char buf[64];
    while (s < end && isspace((unsigned char)*s)) s++;
    while (end > s && isspace((unsigned char)end[-1])) end--;
    if (end == s || (size_t)(end - s) >= sizeof buf) return false;
    memcpy(buf, s, (size_t)(end - s));
    buf[end - s] = 0;
    char *stop;
    errno = 0;
    long x = strtol(buf, &stop, 10);
    if (errno || *stop) return false;
    *v = x;
    return true;
}

bool fs_run_seed(const char *config_yaml, const char *label, long *seed)
{
    /* The resolved config is normalised YAML with one top-level key per line
     * at column 0 (config_emit.c), so the seed is the line "seed: N". */
    for (const char *line = config_yaml; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (!eol) eol = line + strlen(line);
        if (!strncmp(line, "seed:", 5)) {
            const char *end = memchr(line, '#', (size_t)(eol - line));
            if (parse_long(line + 5, end ? end : eol, seed)) return true;
        }
        line = *eol ? eol + 1 : eol;
    }
    fs_cell_label l;
    if (fs_cell_label_parse(label, &l)) return false;
    bool found = false;
    for (int i = 0; i < l.n && !found; i++)
        if (!strcmp(l.axis[i].key, "seed"))
            found = parse_long(l.axis[i].value, l.axis[i].value + strlen(l.axis[i].value), seed);
    fs_cell_label_free(&l);
    return found;
}
