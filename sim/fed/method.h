/* The method registry: each federated method is one file,
 * sim/fed/strategy_<name>.c, holding one `const fs_method` that declares its
 * name, its parameters (the keys of its entry under `methods:` in the config:
 * type, default, bounds, doc) and its hooks. sim/fed/methods.c lists them;
 * the config, `fedsim run --help`, the federation loop and the local trainer
 * reach a method only through this struct.
 *
 * A round (sim/fed/federation.c): fit (default: copy the global adapter into
 * each participant's slot and train them in lockstep; the local trainer calls
 * client_gradient after every backward), then after_local (client-side work
 * on the trained adapters), then aggregate (server side), and every
 * eval_every rounds an evaluation that asks `answer` for the answers to test
 * items. Every hook but name may be left NULL for the default. */
#ifndef FEDSIM_METHOD_H
#define FEDSIM_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    FS_PARAM_FLOAT,  /* a double */
    FS_PARAM_INT,    /* an int */
    FS_PARAM_CHOICE, /* one word of choices, stored as its index (an int) */
} fs_param_type;

/* One key of a method's config entry, `methods: [{name: <method>, <key>: ...}]`
 * or `--set methods.<method>.<key>=...`. */
typedef struct {
    const char *key;            /* dots nest: "fisher.samples" is fisher: {samples: ...} */
    fs_param_type type;
    const char *def;            /* the default, as written in YAML */
    double min, max;            /* FLOAT and INT bounds (inclusive unless min_open) */
    bool min_open;
    const char *const *choices; /* CHOICE: NULL-terminated */
    const char *doc;            /* what is expected, for messages: "a non-negative number" */
    size_t offset;              /* of the value in the method's parameter struct */
} fs_param;

#define FS_MAX_METHOD_PARAMS 8
#define FS_METHOD_PARAMS_BYTES 64 /* room for a method's parameter struct */

struct fs_fed_run;
struct fs_adapter_bank;
struct fs_item;

typedef struct fs_method {
    const char *name;    /* the config's and the results' name */
    const char *summary; /* one line for `fedsim run --help` */
    bool paper;          /* in the FedNano comparison: run when the config lists no methods */
    const fs_param *params;
    int n_params;
    size_t params_size; /* sizeof its parameter struct (<= FS_METHOD_PARAMS_BYTES) */
    /* Adapter-shaped state the run allocates (and checkpoints) for it:
     * client_state: one slot per client in r->extra; server_slots: slots of r->server. */
    bool client_state;
    int server_slots;
    /* Adapter copies each participant uploads / downloads per round (0: none). */
    int upload_copies, download_copies;

    /* Client side: receive, train, write participant i's mean training loss
     * to loss[i]. NULL: fs_fit_from_global. */
    int (*fit)(struct fs_fed_run *r, const int *participants, int n, double *loss);
    /* Added to the local gradient after each backward, before the optimizer
     * step, for the trained slots active[0..nactive) of bank. The default
     * fit installs it; a method's own fit trains with fs_method_local_opts. */
    void (*client_gradient)(const struct fs_fed_run *r, struct fs_adapter_bank *grads,
                            const struct fs_adapter_bank *bank, const int *active, int nactive);
    /* Client side, after local training: what the participants compute on
     * their trained adapters (r->local) before uploading. */
    int (*after_local)(struct fs_fed_run *r, const int *participants, int n);
    /* Server side, identically on every rank. NULL: fs_aggregate_mean. */
    int (*aggregate)(struct fs_fed_run *r, const int *participants, int n);
    /* Host bytes it needs beyond its adapter-shaped state (e.g. evaluation
     * scratch), for the memory plan (sim/fed/memory_plan.c), given its
     * parameters, the clients, training and test items and the hidden size.
     * NULL: none. */
    double (*host_bytes)(const void *params, int clients, int n_train, int n_test, int dim);
    /* Evaluation: correct[i] = 1 when items[i] is answered right by the
     * adapter of client items[i].slot. NULL: the global adapter answers for
     * every client (so each test item is answered once). */
    int (*answer)(struct fs_fed_run *r, const struct fs_item *items, int n,
                  unsigned char *correct);
} fs_method;

/* The registry (sim/fed/methods.c), in listing order. */
int fs_method_count(void);
const fs_method *fs_method_at(int i);
/* NULL when no method has that name. */
const fs_method *fs_method_find(const char *name);
/* Index in the registry, -1 if m is not registered. */
int fs_method_index(const fs_method *m);
/* The method list of `fedsim run --help`: each name, summary and keys. */
void fs_methods_print(FILE *f);

#endif
