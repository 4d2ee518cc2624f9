/* The registry of methods: one line per method (sim/fed/strategy_*.c; a
 * file may hold a family, as strategy_fedopt.c holds FedAdam and FedYogi).
 * C has no portable static constructors, so adding a method is its file plus
 * its line here (README, "How to add a method"). The order is the listing
 * order of `fedsim run --help` and of a config without `methods:`. */
#include <math.h>
#include <string.h>

#include "sim/fed/method.h"
#include "sim/io/config.h"

extern const fs_method fs_method_fedavg, fs_method_fedprox, fs_method_feddpa_f,
    fs_method_fednano, fs_method_fednano_ef, fs_method_centralized, fs_method_local,
    fs_method_fedadam, fs_method_fedyogi, fs_method_scaffold;

static const fs_method *const registry[] = {
    &fs_method_fedavg,      &fs_method_fedprox, &fs_method_feddpa_f, &fs_method_fednano,
    &fs_method_fednano_ef,  &fs_method_centralized, &fs_method_local, &fs_method_fedadam,
    &fs_method_fedyogi,     &fs_method_scaffold,
};

int fs_method_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const fs_method *fs_method_at(int i) { return i >= 0 && i < fs_method_count() ? registry[i] : NULL; }

const fs_method *fs_method_find(const char *name)
{
    for (int i = 0; name && i < fs_method_count(); i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

int fs_method_index(const fs_method *m)
{
    for (int i = 0; i < fs_method_count(); i++)
        if (registry[i] == m) return i;
    return -1;
}

double fs_method_param(const fs_method_cfg *m, const char *key)
{
    for (int p = 0; m && m->method && p < m->method->n_params; p++) {
        const fs_param *q = &m->method->params[p];
        if (strcmp(q->key, key)) continue;
        const void *field = m->params + q->offset;
        return q->type == FS_PARAM_FLOAT ? *(const double *)field : *(const int *)field;
    }
    return NAN;
}

void fs_methods_print(FILE *f)
{
    fprintf(f, "\nMethods (methods: in the config; * = run when none are listed):\n");
    for (int i = 0; i < fs_method_count(); i++) {
        const fs_method *m = registry[i];
        fprintf(f, "  %-12s %-2s%s\n", m->name, m->paper ? "*" : "", m->summary);
        for (int p = 0; p < m->n_params; p++)
            fprintf(f, "  %17s%s: %s (default %s)\n", "", m->params[p].key, m->params[p].doc,
                    m->params[p].def);
    }
}
