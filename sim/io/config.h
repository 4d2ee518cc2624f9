/* The run configuration: a YAML file (see configs/example.yaml for every
 * key), overridden by `--set key.sub=value` and, in sweeps, by one value per
 * swept key. Every bad input is rejected with one message naming the file,
 * line and key and what was expected (fs_last_error()). */
#ifndef FEDSIM_CONFIG_H
#define FEDSIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/fed/method.h"

#define FS_MAX_METHODS 16
#define FS_MAX_SWEEP_KEYS 8
#define FS_MAX_SWEEP_VALUES 32

/* One entry of `methods:`: a registered method (sim/fed/method.h) and its
 * parameter values, laid out as the method's own parameter struct (every
 * key of its table filled, defaults for those not given). */
typedef struct {
    const fs_method *method;
    _Alignas(double) unsigned char params[FS_METHOD_PARAMS_BYTES];
} fs_method_cfg;

/* A parameter's value as a number (a choice as its index); NAN when the
 * method has no such key. */
double fs_method_param(const fs_method_cfg *m, const char *key);

typedef struct {
    char key[128];                         /* dotted path, e.g. "data.partition.dirichlet_alpha" */
    int n_values;
    char values[FS_MAX_SWEEP_VALUES][64];  /* as written in YAML (scalars) */
} fs_sweep_axis;

typedef struct {
    char name[128];                /* default: the file name without directory and extension */
    uint64_t seed;                 /* default 0 */
    char model_path[4096];         /* model.path, required */
    char dataset[32];              /* data.dataset: synth-iconqa | synth-scienceqa | scienceqa | iconqa | mix */
    char data_root[4096];          /* data.root, "" when null/absent */
    int clients;                   /* data.partition.clients, >= 1, default 5 */
    double dirichlet_alpha;        /* data.partition.dirichlet_alpha > 0, or INFINITY for "inf"/".inf" (IID); default 0.5 */
    char partition_key[64];        /* data.partition.key, default "category" */
    int min_samples_per_client;    /* data.partition.min_samples, default 2 */
    int max_train_samples;         /* data.max_train_samples, 0 = all (default) */
    double validation;             /* data.validation in [0, 0.9]: fraction of the training pool held
                                    * out and evaluated instead of the test split; 0 = test (default) */
    int rounds;                    /* federation.rounds >= 1, default 10 */
    double participation;          /* federation.participation in (0,1], default 1 */
    int local_epochs;              /* federation.local_epochs >= 1, default 1 */
    int batch_size;                /* federation.batch_size >= 1, default 16 */
    int eval_every;                /* federation.eval_every >= 1, default 1 */
    char optimizer[16];            /* federation.optimizer.name: adamw | sgd, default adamw */
    double lr, weight_decay;       /* lr > 0 (default 2e-3), weight_decay >= 0 (default 0) */
    int rank;                      /* adapter.rank >= 1, default 16 */
    double adapter_alpha;          /* adapter.alpha > 0, default 32 */
    bool target_image, target_text; /* adapter.targets: non-empty subset of [image, text], default both */
    fs_method_cfg methods[FS_MAX_METHODS]; /* methods: list; default the paper's seven */
    int n_methods;
    char backend[16];              /* runtime.backend: auto | cpu | cuda, default auto */
    int gpus;                      /* runtime.gpus: "all" -> 0, or a positive int */
    int threads;                   /* runtime.threads: "auto" -> 0, or a positive int */
    int rows_per_pass;             /* runtime.rows_per_pass >= 1, default 2048 */
    char output_dir[4096];         /* output.dir, default "results" */
    int checkpoint_every;          /* output.checkpoint_every, 0 = never (default) */
    fs_sweep_axis sweep[FS_MAX_SWEEP_KEYS]; /* sweep: mapping dotted-key -> list of values (only in sweep configs) */
    int n_sweep;
    char source_path[4096];        /* the file it came from */
} fs_config;

/* Loads path, applies overrides ("a.b=value", as from --set, applied on top
 * of the YAML and validated the same way), validates. Returns 0, or -1 with
 * fs_last_error() set and *out zeroed.
 *
 * Overridable keys: every scalar key of the file by its dotted path
 * (federation.optimizer.lr, data.partition.dirichlet_alpha, ...);
 * adapter.targets and methods as comma lists (adapter.targets=image,text;
 * methods=fedavg,fednano — a listed method keeps the parameters it had);
 * method parameters as methods.<method>.<param> (the keys of each method's
 * parameter table, e.g. methods.fedprox.mu), which requires the method to
 * be listed. "null" or an empty value means YAML null. */
int fs_config_load(const char *path, const char *const *overrides, int n_overrides, fs_config *out);

/* As fs_config_load, from YAML text in memory; name stands for the file in
 * messages and is recorded as source_path (e.g. the HDF5 attribute it came from). */
int fs_config_load_string(const char *yaml, const char *name, const char *const *overrides,
                          int n_overrides, fs_config *out);

/* Applies one dotted override (the keys of fs_config_load) to an already
 * loaded config with full validation (used per sweep cell). On error c is
 * unchanged and the message reads "key=value: what is wrong". The sweep
 * section and source_path are kept. */
int fs_config_set(fs_config *c, const char *key, const char *value);

/* The resolved configuration as YAML text (malloc'd; every field, methods as
 * mappings, no sweep section); loading it back gives an identical fs_config
 * (source_path aside). NULL with fs_last_error() on failure. */
char *fs_config_to_yaml(const fs_config *c);

/* ---- sweeps: the cartesian product of the sweep axes ---- */
/* Number of cells (product of the axes' value counts; 1 without a sweep). */
long fs_config_sweep_cells(const fs_config *c);
/* The config of cell `cell` (0 <= cell < fs_config_sweep_cells): base with one
 * value of every axis applied through fs_config_set (the first axis varies
 * slowest; a `methods` axis is applied last so that method parameter axes act
 * on the listed methods). out gets no sweep section. label (may be NULL) gets
 * "key=value,key=value" naming the cell, truncated to label_size. */
int fs_config_sweep_cell(const fs_config *base, long cell, fs_config *out, char *label,
                         int label_size);

/* The value of every sweep axis in cell `cell` of base (values[a] points
 * into base->sweep[a]); -1 when cell is out of range. */
int fs_config_sweep_values(const fs_config *base, long cell, const char *values[FS_MAX_SWEEP_KEYS]);

/* Adds a sweep axis from the command line, "key=v1,v2,..." (`fedsim sweep
 * --sweep`): it replaces the config's values of that key or adds the key.
 * Each value is validated as fs_config_set would apply it; name and
 * output.dir cannot be swept (nor can they in the YAML). Values are split at
 * commas, so list-valued keys (adapter.targets) are swept in the YAML only. */
int fs_config_add_sweep(fs_config *c, const char *spec);

/* ---- results identity (sim/io/config_results.c) ---- */
/* The resolved config as YAML without the keys that do not change a run's
 * numbers (name, output.*, runtime.*, model.path, data.root: see
 * config_results.c for why), with only methods[method] listed, or no methods
 * at all when method is -1. What a result identity hashes (malloc'd). */
char *fs_config_identity_yaml(const fs_config *c, int method);
/* Writes "key old -> new, ..." for every key that decides the numbers and
 * differs between was and now (with method >= 0: also the parameters of
 * now's methods[method] against the same method in was). Returns how many
 * differ, -1 on error. */
int fs_config_diff(const fs_config *was, const fs_config *now, int method, char *out, size_t cap);
/* How a key's values are typed when stored: 'i' integer, 'f' float, 's' string. */
char fs_config_key_type(const char *key);

#endif
