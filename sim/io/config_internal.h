/* Private to sim/io/config*.c: the key table, the resolved-values store that
 * the YAML walk fills and the emitter reads, and the helpers between them.
 * See the comment at the top of config.c for how the pieces fit. */
#ifndef FEDSIM_CONFIG_INTERNAL_H
#define FEDSIM_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/io/config.h"

typedef enum {
    K_STR,      /* string; max_len; nullable -> "" */
    K_U64,      /* non-negative integer, 64-bit */
    K_INT,      /* integer >= imin (and <= imax unless imax is 0) */
    K_FLOAT,    /* number with bounds; allow_inf */
    K_ENUM,     /* one of choices, stored as a string */
    K_BOOLWORD, /* one of two choices, stored as a bool (choices[1] = true) */
    K_WORDINT,  /* choices[0] (stored 0) or an integer, bounded as K_INT */
    K_CHOICE,   /* one of choices, stored as its index (an int) */
    K_TARGETS,  /* non-empty subset of [image, text] */
    K_NAMES,    /* list of at most imax distinct names of at most max_len characters,
                 * resolved to one comma list; stored by the table's owner */
    K_METHODS,  /* list of methods: names or mappings */
    K_METHOD_NAME,
    K_SWEEP,    /* mapping dotted-key -> list of scalars */
} cfg_kind;

typedef struct {
    const char *key;  /* dotted path relative to the table's root */
    cfg_kind kind;
    const char *what; /* what is expected, for messages: "a positive integer" */
    const char *def;  /* canonical default text; NULL: required (or none) */
    long imin, imax;
    double fmin, fmax;
    bool fmin_open, allow_inf, nullable;
    size_t max_len;              /* strings: longest accepted length */
    const char *const *choices;  /* NULL-terminated */
    size_t offset;               /* field in fs_config, or in the method's parameter struct */
} cfg_leaf;

/* A config file's key table. empty: what the file should hold, for the
 * message on an empty file. */
typedef struct {
    const cfg_leaf *leaves;
    int n;
    const char *empty;
} cfg_table;

/* Top-level keys, in emission order (sections contiguous). */
enum {
    L_NAME, L_SEED, L_MODEL_PATH,
    L_DATASET, L_ROOT, L_CLIENTS, L_ALPHA, L_PKEY, L_MIN_SAMPLES, L_MAX_TRAIN, L_VALIDATION,
    L_ROUNDS, L_PARTICIPATION, L_LOCAL_EPOCHS, L_BATCH, L_EVAL_EVERY, L_OPTIMIZER, L_LR, L_WD,
    L_RANK, L_ADAPTER_ALPHA, L_TARGETS,
    L_METHODS,
    L_BACKEND, L_GPUS, L_THREADS, L_ROWS_PER_PASS,
    L_OUTPUT_DIR, L_CHECKPOINT,
    L_SWEEP,
    L_COUNT
};
extern const cfg_leaf cfg_top[L_COUNT];
extern const cfg_table cfg_run_table; /* cfg_top */

/* The keys of one methods entry: leaf 0 is `name`, leaves 1..n_params the
 * method's parameters (its fs_param table as cfg_leafs). */
#define CFG_MAX_MPARAMS (FS_MAX_METHOD_PARAMS + 1)
#define CFG_MAX_REGISTERED 32
typedef struct {
    const cfg_leaf *leaves; /* [1 + n_params] */
    int n;                  /* 1 + n_params */
} cfg_method_keys;
/* Built once from the registry (sim/fed/methods.c). */
cfg_method_keys cfg_method_keys_of(int method);
/* The registered names, NULL-terminated (the choices of `methods`). */
const char *const *cfg_method_names(void);
/* The first method having a parameter with that key, or NULL. */
const char *cfg_method_owning(const char *param);

typedef struct {
    int kind;                       /* index in the registry */
    int line;                       /* 0: not from the file */
    char *param[CFG_MAX_MPARAMS];   /* canonical texts, by leaf (0 unused); NULL: default */
    int pline[CFG_MAX_MPARAMS];
} cfg_method;

/* What the YAML walk and the overrides resolve, as canonical texts. */
typedef struct {
    char *text[L_COUNT]; /* NULL: absent (default applies) */
    int line[L_COUNT];   /* where it was set in the file; 0: not from the file */
    cfg_method methods[FS_MAX_METHODS];
    int n_methods;
    fs_sweep_axis sweep[FS_MAX_SWEEP_KEYS];
    int sweep_line[FS_MAX_SWEEP_KEYS];
    int n_sweep;
    int top_line;   /* line of the top-level mapping */
    int model_line; /* line of `model:`, 0 if absent */
} cfg_values;

/* What an override / sweep key names. */
typedef struct {
    int leaf;   /* L_* (methods: L_METHODS), or -1 for a method parameter */
    int method; /* method parameter: registry index */
    int mparam; /* method parameter: its leaf in cfg_method_keys_of(method) */
} cfg_keyref;

/* ---- config_schema.c ---- */
/* Validates one scalar (or comma list for list kinds) against a leaf; on
 * success *canon gets a malloc'd canonical text. On failure why gets
 * "expected ..., got '...'" and -1 is returned. */
int cfg_check(const cfg_leaf *l, const char *text, bool is_null, char **canon, char *why,
              size_t why_size);
/* Index of name in a NULL-terminated list, or -1. */
int cfg_choice(const char *const *choices, const char *name);
/* The candidate closest to word within edit distance 2, or NULL. */
const char *cfg_closest(const char *word, const char *const *candidates, int n);
/* cfg_closest, else the one candidate containing word (or contained in it), or NULL. */
const char *cfg_suggest(const char *word, const char *const *candidates, int n);
/* The leaf a resolved key names. */
const cfg_leaf *cfg_leaf_of(const cfg_keyref *ref);
/* Resolves a dotted override key; -1 with why ("unknown key (did you mean ...)"). */
int cfg_resolve_key(const char *key, cfg_keyref *ref, char *why, size_t why_size);
/* Shortest text that reads back as exactly x ("inf" for infinity). */
void cfg_format_double(double x, char *buf, size_t size);
/* 'text' shortened for messages (static per-thread buffer). */
const char *cfg_quote(const char *text);
void cfg_values_free(cfg_values *v);
/* Fills every absent value with its default (the paper's methods when none). -1 on OOM. */
int cfg_values_defaults(cfg_values *v);
/* The values of a config, for emitting it (-1 on OOM or an unprintable field). */
int cfg_values_from_config(const fs_config *c, cfg_values *v);
/* The typed entry of a resolved method (every parameter present). */
int cfg_method_from_values(const cfg_method *m, fs_method_cfg *out);
/* Replaces the methods list by a canonical "a,b" list; listed methods keep their parameters. */
void cfg_relist_methods(cfg_values *v, const char *canon);
/* Applies a resolved override to the values (methods lists keep known parameters). */
int cfg_apply(cfg_values *v, const cfg_keyref *ref, const char *value, const char *label);

/* ---- config.c ---- */
/* A config file's text (malloc'd, NUL-terminated, *len bytes), or NULL with fs_last_error(). */
char *cfg_read_file(const char *path, size_t *len);
/* Stores a canonical text (checked by cfg_check) into the field at l->offset
 * of base (every kind but the lists, methods and sweep). */
void cfg_store(const cfg_leaf *l, const char *canon, void *base);

/* ---- config_yaml.c ---- */
/* Parses YAML text with libyaml and walks it against a key table (stage 1
 * of loading): every structural, key and value error is reported here with
 * name:line. Each given leaf i gets its canonical text in texts[i] (malloc'd;
 * texts must start NULL, the caller frees them) and its line in lines[i].
 * v: the run's store, for methods, sweep and its lines (NULL for tables
 * without them); it must be zeroed; on failure the caller frees it. */
int cfg_walk_table(const char *text, size_t len, const char *name, const cfg_table *tab, cfg_values *v,
                   char **texts, int *lines);

/* ---- config_emit.c ---- */
/* YAML text of the values (malloc'd, NUL-terminated), every key present
 * (methods as mappings). skip (may be NULL): per top-level leaf, true to
 * leave it out. */
char *cfg_emit(const cfg_values *v, const bool *skip, size_t *len);

/* ---- config_results.c ---- */
/* Why a top-level key cannot be a sweep axis, or NULL when it can. */
const char *cfg_unsweepable(int leaf);

#endif
