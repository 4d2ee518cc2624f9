/* Loading the run configuration.
 *
 * Design: libcyaml + line-accurate errors
 * ---------------------------------------
 * libcyaml binds YAML to C structs from a schema but cannot express "a
 * scalar or a mapping" (methods: `- fedavg` or `- { name: fedprox, mu: 0.01 }`),
 * and its errors are log lines, not one message naming file:line:key with a
 * suggestion. So loading runs in two stages:
 *
 *  1. Walk (config_yaml.c). libyaml parses the text into a document tree,
 *     whose nodes carry their line numbers. The tree is walked against one
 *     key table (config_schema.c: dotted key, kind, bounds, default, what is
 *     expected). Everything a user can get wrong is caught here and reported
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
 *  2. Typed load (this file). The resolved values are emitted as a
 *     normalised YAML document (config_emit.c: every key present, methods
 *     always mappings with every parameter, "all"/"auto" as 0, null as "")
 *     and libcyaml loads that document into doc_config through the schema
 *     below (typed scalars, enums for method names and Fisher labels, flags
 *     for adapter targets, bounded strings and sequences). Stage 1 has
 *     already validated everything, so libcyaml failing here is an internal
 *     error; its log lines are then kept in the message. doc_config is copied
 *     into the flat fs_config.
 *
 * fs_config_to_yaml emits the same values in human form (config_emit.c), and
 * fs_config_set is to_yaml -> load with one override: one validation path
 * for files, --set, sweep cells and round trips. */
#include "sim/io/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>

#include "sim/io/config_internal.h"
#include "sim/io/error.h"

/* ---- the normalised document, as libcyaml loads it ---- */
typedef struct { char path[4096]; } doc_model;
typedef struct { int clients; double dirichlet_alpha; char key[64]; int min_samples; } doc_partition;
typedef struct { char dataset[32]; char root[4096]; doc_partition partition; int max_train_samples; double validation; } doc_data;
typedef struct { char name[16]; double lr, weight_decay; } doc_optimizer;
typedef struct {
    int rounds; double participation; int local_epochs, batch_size, eval_every;
    doc_optimizer optimizer;
} doc_federation;
typedef struct { int rank; double alpha; unsigned targets; } doc_adapter;
typedef struct { int samples; int labels; } doc_fisher;
typedef struct {
    int name; double mu; int local_epochs; double mix; int instances; double scale;
    doc_fisher fisher; int at, budget;
} doc_method;
typedef struct { char backend[16]; int gpus, threads, rows_per_pass; } doc_runtime;
typedef struct { char dir[4096]; int checkpoint_every; } doc_output;
typedef struct {
    char name[128];
    uint64_t seed;
    doc_model model;
    doc_data data;
    doc_federation federation;
    doc_adapter adapter;
    doc_method *methods;
    unsigned methods_count;
    doc_runtime runtime;
    doc_output output;
} doc_config;

#define TARGET_IMAGE 1u
#define TARGET_TEXT 2u
static const cyaml_strval_t target_flags[] = {{"image", TARGET_IMAGE}, {"text", TARGET_TEXT}};
static const cyaml_strval_t method_enum[] = {
    {"fedavg", FS_METHOD_FEDAVG},         {"fedprox", FS_METHOD_FEDPROX},
    {"feddpa_f", FS_METHOD_FEDDPA_F},     {"fednano", FS_METHOD_FEDNANO},
    {"fednano_ef", FS_METHOD_FEDNANO_EF}, {"centralized", FS_METHOD_CENTRALIZED},
    {"local", FS_METHOD_LOCAL}};
static const cyaml_strval_t label_enum[] = {{"sampled", 0}, {"expected", 1}};
static const cyaml_strval_t ef_point_enum[] = {{"last_epoch", 0}, {"final", 1}};
static const cyaml_strval_t budget_enum[] = {{"data", 0}, {"compute", 1}};

#define F_REQ CYAML_FLAG_DEFAULT
static const cyaml_schema_field_t model_fields[] = {
    CYAML_FIELD_STRING("path", F_REQ, doc_model, path, 1), CYAML_FIELD_END};
static const cyaml_schema_field_t partition_fields[] = {
    CYAML_FIELD_INT("clients", F_REQ, doc_partition, clients),
    CYAML_FIELD_FLOAT("dirichlet_alpha", F_REQ, doc_partition, dirichlet_alpha),
    CYAML_FIELD_STRING("key", F_REQ, doc_partition, key, 1),
    CYAML_FIELD_INT("min_samples", F_REQ, doc_partition, min_samples), CYAML_FIELD_END};
static const cyaml_schema_field_t data_fields[] = {
    CYAML_FIELD_STRING("dataset", F_REQ, doc_data, dataset, 1),
    CYAML_FIELD_STRING("root", F_REQ, doc_data, root, 0),
    CYAML_FIELD_MAPPING("partition", F_REQ, doc_data, partition, partition_fields),
    CYAML_FIELD_INT("max_train_samples", F_REQ, doc_data, max_train_samples),
    CYAML_FIELD_FLOAT("validation", F_REQ, doc_data, validation), CYAML_FIELD_END};
static const cyaml_schema_field_t optimizer_fields[] = {
    CYAML_FIELD_STRING("name", F_REQ, doc_optimizer, name, 1),
    CYAML_FIELD_FLOAT("lr", F_REQ, doc_optimizer, lr),
    CYAML_FIELD_FLOAT("weight_decay", F_REQ, doc_optimizer, weight_decay), CYAML_FIELD_END};
static const cyaml_schema_field_t federation_fields[] = {
    CYAML_FIELD_INT("rounds", F_REQ, doc_federation, rounds),
    CYAML_FIELD_FLOAT("participation", F_REQ, doc_federation, participation),
    CYAML_FIELD_INT("local_epochs", F_REQ, doc_federation, local_epochs),
    CYAML_FIELD_INT("batch_size", F_REQ, doc_federation, batch_size),
    CYAML_FIELD_INT("eval_every", F_REQ, doc_federation, eval_every),
    CYAML_FIELD_MAPPING("optimizer", F_REQ, doc_federation, optimizer, optimizer_fields),
    CYAML_FIELD_END};
static const cyaml_schema_field_t adapter_fields[] = {
    CYAML_FIELD_INT("rank", F_REQ, doc_adapter, rank),
    CYAML_FIELD_FLOAT("alpha", F_REQ, doc_adapter, alpha),
    CYAML_FIELD_FLAGS("targets", CYAML_FLAG_STRICT, doc_adapter, targets, target_flags,
                      CYAML_ARRAY_LEN(target_flags)),
    CYAML_FIELD_END};
static const cyaml_schema_field_t fisher_fields[] = {
    CYAML_FIELD_INT("samples", F_REQ, doc_fisher, samples),
    CYAML_FIELD_ENUM("labels", CYAML_FLAG_STRICT, doc_fisher, labels, label_enum,
                     CYAML_ARRAY_LEN(label_enum)),
    CYAML_FIELD_END};
static const cyaml_schema_field_t method_fields[] = {
    CYAML_FIELD_ENUM("name", CYAML_FLAG_STRICT, doc_method, name, method_enum, CYAML_ARRAY_LEN(method_enum)),
    CYAML_FIELD_FLOAT("mu", F_REQ, doc_method, mu),
    CYAML_FIELD_INT("local_epochs", F_REQ, doc_method, local_epochs),
    CYAML_FIELD_FLOAT("mix", F_REQ, doc_method, mix),
    CYAML_FIELD_INT("instances", F_REQ, doc_method, instances),
    CYAML_FIELD_FLOAT("scale", F_REQ, doc_method, scale),
    CYAML_FIELD_MAPPING("fisher", F_REQ, doc_method, fisher, fisher_fields),
    CYAML_FIELD_ENUM("at", CYAML_FLAG_STRICT, doc_method, at, ef_point_enum,
                     CYAML_ARRAY_LEN(ef_point_enum)),
    CYAML_FIELD_ENUM("budget", CYAML_FLAG_STRICT, doc_method, budget, budget_enum,
                     CYAML_ARRAY_LEN(budget_enum)),
    CYAML_FIELD_END};
static const cyaml_schema_value_t method_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, doc_method, method_fields)};
static const cyaml_schema_field_t runtime_fields[] = {
    CYAML_FIELD_STRING("backend", F_REQ, doc_runtime, backend, 1),
    CYAML_FIELD_INT("gpus", F_REQ, doc_runtime, gpus),
    CYAML_FIELD_INT("threads", F_REQ, doc_runtime, threads),
    CYAML_FIELD_INT("rows_per_pass", F_REQ, doc_runtime, rows_per_pass), CYAML_FIELD_END};
static const cyaml_schema_field_t output_fields[] = {
    CYAML_FIELD_STRING("dir", F_REQ, doc_output, dir, 1),
    CYAML_FIELD_INT("checkpoint_every", F_REQ, doc_output, checkpoint_every), CYAML_FIELD_END};
static const cyaml_schema_field_t config_fields[] = {
    CYAML_FIELD_STRING("name", F_REQ, doc_config, name, 1),
    CYAML_FIELD_UINT("seed", F_REQ, doc_config, seed),
    CYAML_FIELD_MAPPING("model", F_REQ, doc_config, model, model_fields),
    CYAML_FIELD_MAPPING("data", F_REQ, doc_config, data, data_fields),
    CYAML_FIELD_MAPPING("federation", F_REQ, doc_config, federation, federation_fields),
    CYAML_FIELD_MAPPING("adapter", F_REQ, doc_config, adapter, adapter_fields),
    CYAML_FIELD_SEQUENCE("methods", CYAML_FLAG_POINTER, doc_config, methods, &method_entry, 1,
                         FS_MAX_METHODS),
    CYAML_FIELD_MAPPING("runtime", F_REQ, doc_config, runtime, runtime_fields),
    CYAML_FIELD_MAPPING("output", F_REQ, doc_config, output, output_fields), CYAML_FIELD_END};
static const cyaml_schema_value_t config_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, doc_config, config_fields)};

typedef struct { char text[1024]; } cy_log_buf;

static void cy_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    (void)level;
    cy_log_buf *b = ctx;
    size_t n = strlen(b->text);
    if (n + 1 < sizeof b->text) vsnprintf(b->text + n, sizeof b->text - n, fmt, args);
    for (char *p = b->text; *p; p++)
        if (*p == '\n') *p = ' ';
}

static void doc_to_config(const doc_config *d, fs_config *c)
{
    /* Same sizes on both sides (stage 1 bounded every string). */
    memcpy(c->name, d->name, sizeof c->name);
    c->seed = d->seed;
    memcpy(c->model_path, d->model.path, sizeof c->model_path);
    memcpy(c->dataset, d->data.dataset, sizeof c->dataset);
    memcpy(c->data_root, d->data.root, sizeof c->data_root);
    c->clients = d->data.partition.clients;
    c->dirichlet_alpha = d->data.partition.dirichlet_alpha;
    memcpy(c->partition_key, d->data.partition.key, sizeof c->partition_key);
    c->min_samples_per_client = d->data.partition.min_samples;
    c->max_train_samples = d->data.max_train_samples;
    c->validation = d->data.validation;
    c->rounds = d->federation.rounds;
    c->participation = d->federation.participation;
    c->local_epochs = d->federation.local_epochs;
    c->batch_size = d->federation.batch_size;
    c->eval_every = d->federation.eval_every;
    memcpy(c->optimizer, d->federation.optimizer.name, sizeof c->optimizer);
    c->lr = d->federation.optimizer.lr;
    c->weight_decay = d->federation.optimizer.weight_decay;
    c->rank = d->adapter.rank;
    c->adapter_alpha = d->adapter.alpha;
    c->target_image = (d->adapter.targets & TARGET_IMAGE) != 0;
    c->target_text = (d->adapter.targets & TARGET_TEXT) != 0;
    c->n_methods = (int)d->methods_count;
    for (unsigned i = 0; i < d->methods_count; i++) {
        const doc_method *m = &d->methods[i];
        fs_method_cfg *o = &c->methods[i];
        o->kind = (fs_method_kind)m->name;
        o->mu = m->mu;
        o->dpa_local_epochs = m->local_epochs;
        o->dpa_mix = m->mix;
        o->dpa_instances = m->instances;
        o->dpa_scale = m->scale;
        o->fisher_samples = m->fisher.samples;
        o->fisher_expected = m->fisher.labels == 1;
        o->ef_at_final = m->at == 1;
        o->central_compute = m->budget == 1;
    }
    memcpy(c->backend, d->runtime.backend, sizeof c->backend);
    c->gpus = d->runtime.gpus;
    c->threads = d->runtime.threads;
    c->rows_per_pass = d->runtime.rows_per_pass;
    memcpy(c->output_dir, d->output.dir, sizeof c->output_dir);
    c->checkpoint_every = d->output.checkpoint_every;
}

/* Stage 2: the normalised document through libcyaml into *out. */
static int typed_load(const cfg_values *v, const char *name, fs_config *out)
{
    size_t len;
    char *yaml = cfg_emit(v, true, NULL, &len);
    if (!yaml) return fs_fail_context("%s", name);
    cy_log_buf log = {{0}};
    cyaml_config_t cc = {.log_fn = cy_log, .log_ctx = &log, .mem_fn = cyaml_mem,
                         .log_level = CYAML_LOG_ERROR, .flags = CYAML_CFG_DEFAULT};
    doc_config *d = NULL;
    cyaml_err_t err = cyaml_load_data((const uint8_t *)yaml, len, &cc, &config_schema,
                                      (cyaml_data_t **)&d, NULL);
    free(yaml);
    if (err != CYAML_OK || !d) /* libcyaml frees what it built when it fails */
        return fs_fail("%s: internal error: libcyaml rejected the validated configuration (%s) %s",
                       name, cyaml_strerror(err), log.text);
    doc_to_config(d, out);
    cyaml_free(&cc, &config_schema, d, 0);
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
        for (int i = 0; i < v->n_methods; i++) listed = listed || (int)v->methods[i].kind == ref.method;
        if (!listed)
            return fs_fail("%s:%d: sweep.%s: method %s is not in methods; list it to sweep its "
                           "parameters", name, v->sweep_line[a], v->sweep[a].key,
                           fs_method_name(ref.method));
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
    if (cfg_walk_yaml(text, len, name, v)) goto done;
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

int fs_config_load(const char *path, const char *const *overrides, int n_overrides, fs_config *out)
{
    if (!path || !out || (n_overrides > 0 && !overrides))
        return fs_fail("fs_config_load: no path, output or overrides");
    FILE *f = fopen(path, "rb");
    if (!f) return memset(out, 0, sizeof *out), fs_fail("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= MAX_FILE_BYTES) {
                fs_fail("%s: too large for a configuration file (over %u MiB)", path, MAX_FILE_BYTES >> 20);
                goto done;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) break;
            buf = p, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!buf) {
        fs_fail("out of memory reading %s", path);
    } else if (ferror(f)) {
        fs_fail("cannot read %s: %s", path, strerror(errno));
    } else {
        buf[n] = 0;
        rc = load_text(buf, n, path, overrides, n_overrides, NULL, NULL, out);
    }
done:
    free(buf);
    fclose(f);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

char *fs_config_to_yaml(const fs_config *c)
{
    if (!c) return fs_fail("fs_config_to_yaml: no config"), NULL;
    cfg_values *v = calloc(1, sizeof *v);
    if (!v) return fs_fail("out of memory"), NULL;
    char *yaml = NULL;
    if (!cfg_values_from_config(c, v)) yaml = cfg_emit(v, false, NULL, NULL);
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
