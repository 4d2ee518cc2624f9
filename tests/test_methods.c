/* The method registry and the methods beyond the paper (FedAdam, FedYogi,
 * SCAFFOLD), each checked against a case computed by hand: two clients, an
 * adapter of two parameters (rank 1, dim 1, text target only: A and B). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fed/strategy.h"
#include "sim/io/config.h"
#include "sim/io/error.h"

typedef struct {
    fs_config cfg;
    fs_fed_run r;
    fs_shard train[2];
    int samples[4];
} world;

/* Two clients holding 1 and 3 training samples (weights 1/4, 3/4), the
 * method given by its config entry, global x, client adapters y[k]. */
static world *make_world(const char *entry, const float x[2], const float y[2][2])
{
    world *w = calloc(1, sizeof *w);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: {path: m}\ndata: {partition: {clients: 2}}\n"
             "federation: {batch_size: 1, optimizer: {lr: 0.1}}\nmethods: [%s]\n", entry);
    cr_assert_eq(fs_config_load_string(yaml, "t.yaml", NULL, 0, &w->cfg), 0, "%s", fs_last_error());
    const fs_method *m = w->cfg.methods[0].method;
    fs_adapter_shape shape = {.rank = 1, .dim = 1, .scale = 1, .targets = {false, true}};
    const fs_ops *o = fs_backend_cpu();
    w->train[0] = (fs_shard){1, w->samples};
    w->train[1] = (fs_shard){3, w->samples + 1};
    w->r = (fs_fed_run){.cfg = &w->cfg, .method = m, .params = w->cfg.methods[0].params,
                        .clients = 2, .train = w->train, .group_size = 1, .round = 1,
                        .opts = {.epochs = 1, .batch_size = 1, .lr = 0.1f}};
    cr_assert_eq(fs_bank_init(&w->r.global, o, &shape, 1), 0);
    cr_assert_eq(fs_bank_init(&w->r.local, o, &shape, 2), 0);
    if (m->client_state) cr_assert_eq(fs_bank_init(&w->r.extra, o, &shape, 2), 0);
    if (m->server_slots) cr_assert_eq(fs_bank_init(&w->r.server, o, &shape, m->server_slots), 0);
    if (w->r.extra.data) fs_bank_zero(&w->r.extra);
    if (w->r.server.data) fs_bank_zero(&w->r.server);
    fs_bank_set_client(&w->r.global, 0, x);
    for (int k = 0; k < 2; k++) fs_bank_set_client(&w->r.local, k, y[k]);
    return w;
}

static void free_world(world *w)
{
    fs_bank_free(&w->r.global), fs_bank_free(&w->r.local), fs_bank_free(&w->r.extra);
    fs_bank_free(&w->r.server);
    free(w);
}

static void assert_slot(const fs_adapter_bank *b, int k, double a, double bb, const char *what)
{
    float got[2];
    fs_bank_get_client(b, k, got);
    cr_assert_float_eq(got[0], a, 2e-6, "%s[0]: %.9g, want %.9g", what, got[0], a);
    cr_assert_float_eq(got[1], bb, 2e-6, "%s[1]: %.9g, want %.9g", what, got[1], bb);
}

/* Round 2: both clients return x + (0.01, 0), so delta = (0.01, 0). */
static void second_round(world *w)
{
    float x[2];
    fs_bank_get_client(&w->r.global, 0, x);
    x[0] += 0.01f;
    for (int k = 0; k < 2; k++) fs_bank_set_client(&w->r.local, k, x);
    w->r.round = 2;
}

static const float X[2] = {1, -2}, Y[2][2] = {{1.5f, -2}, {0.5f, -1}};
static const int both[2] = {0, 1};
#define ADAPTIVE "server_lr: 1, beta1: 0.5, beta2: 0.5, tau: 0.1"

/* Two rounds of a server optimiser: v and x after each. */
static void two_rounds(const char *entry, const double v1[2], const double x1[2],
                       const double v2[2], const double x2[2])
{
    world *w = make_world(entry, X, Y);
    cr_assert_eq(w->r.method->aggregate(&w->r, both, 2), 0, "%s", fs_last_error());
    assert_slot(&w->r.server, 0, -0.125, 0.375, "m after round 1");
    assert_slot(&w->r.server, 1, v1[0], v1[1], "v after round 1");
    assert_slot(&w->r.global, 0, x1[0], x1[1], "x after round 1");
    second_round(w);
    cr_assert_eq(w->r.method->aggregate(&w->r, both, 2), 0, "%s", fs_last_error());
    assert_slot(&w->r.server, 0, -0.0575, 0.1875, "m after round 2");
    assert_slot(&w->r.server, 1, v2[0], v2[1], "v after round 2");
    assert_slot(&w->r.global, 0, x2[0], x2[1], "x after round 2");
    free_world(w);
}

/* server_lr 1, beta1 = beta2 = 0.5, tau 0.1; v starts at tau^2 = 0.01.
 * Round 1: delta = 1/4 (y0 - x) + 3/4 (y1 - x) = 1/4 (0.5, 0) + 3/4 (-0.5, 1)
 *        = (-0.25, 0.75); m = 0.5 delta = (-0.125, 0.375);
 *   Adam: v = 0.5 * 0.01 + 0.5 delta^2 = (0.03625, 0.28625);
 *   x = x + m / (sqrt v + 0.1) = (1 - 0.125 / 0.290394, -2 + 0.375 / 0.635023)
 *     = (0.569551, -1.409471).
 * Round 2: delta = (0.01, 0); m = 0.5 m + 0.5 delta = (-0.0575, 0.1875);
 *   v = (0.5 * 0.03625 + 0.5e-4, 0.5 * 0.28625) = (0.018175, 0.143125);
 *   x = (0.569551 - 0.0575 / 0.234815, -1.409471 + 0.1875 / 0.478319)
 *     = (0.324677, -1.017472). */
Test(fedadam, two_rounds_by_hand)
{
    two_rounds("{name: fedadam, " ADAPTIVE "}", (double[]){0.03625, 0.28625},
               (double[]){0.5695508207, -1.4094705466}, (double[]){0.018175, 0.143125},
               (double[]){0.3246768711, -1.0174724498});
}

/* As FedAdam, with v = v - 0.5 delta^2 sign(v - delta^2):
 * Round 1: v = 0.01 < delta^2, so v = 0.01 + 0.5 delta^2 = (0.04125, 0.29125);
 *   x = (1 - 0.125 / 0.303101, -2 + 0.375 / 0.639676) = (0.587596, -1.413766).
 * Round 2: delta^2 = (1e-4, 0) < v, so v = (0.04125 - 0.5e-4, 0.29125) =
 *   (0.0412, 0.29125) (no decay without a gradient, unlike Adam);
 *   x = (0.587596 - 0.0575 / 0.302976, -1.413766 + 0.1875 / 0.639676)
 *     = (0.397813, -1.120648). */
Test(fedyogi, two_rounds_by_hand)
{
    two_rounds("{name: fedyogi, " ADAPTIVE "}", (double[]){0.04125, 0.29125},
               (double[]){0.5875961595, -1.4137655618}, (double[]){0.0412, 0.29125},
               (double[]){0.3978132974, -1.1206483428});
}

Test(fedadam, defaults_are_the_papers)
{
    world *w = make_world("fedadam", X, Y);
    const fs_method_cfg *m = &w->cfg.methods[0];
    cr_assert_eq(fs_method_param(m, "beta1"), 0.9);
    cr_assert_eq(fs_method_param(m, "beta2"), 0.99);
    cr_assert_eq(fs_method_param(m, "tau"), 1e-3);
    cr_assert_eq(fs_method_param(m, "server_lr"), 1e-2);
    cr_assert_not(w->r.method->paper, "not run unless listed");
    free_world(w);
}

/* x = (1, -2), server c = (0.2, 0.1), c_0 = (0.1, 0), c_1 = (-0.3, 0.4);
 * eta_l = 0.1, batch 1, one epoch: K_0 = 1, K_1 = 3 steps; server_lr 0.5.
 * Local step correction, for a gradient g = (0.5, 0.5):
 *   g_0 + c - c_0 = (0.6, 0.6), g_1 + c - c_1 = (1.0, 0.2).
 * With y_0 = (0.8, -1.5), y_1 = (1.3, -2.6), option II:
 *   c_0+ = c_0 - c + (x - y_0) / (1 * 0.1) = (-0.1 + 2, -0.1 - 5) = (1.9, -5.1);
 *   c_1+ = c_1 - c + (x - y_1) / (3 * 0.1) = (-0.5 - 1, 0.3 + 2) = (-1.5, 2.3).
 * Server: x += 0.5 (1/4 (y_0 - x) + 3/4 (y_1 - x)) = x + 0.5 (0.175, -0.325)
 *   = (1.0875, -2.1625); c += (2/2) mean(c_i+ - c_i) = c + ((1.8, -5.1) +
 *   (-1.2, 1.9)) / 2 = (0.5, -1.5). */
Test(scaffold, one_round_by_hand)
{
    const float y[2][2] = {{0.8f, -1.5f}, {1.3f, -2.6f}};
    const float c[2] = {0.2f, 0.1f}, ci[2][2] = {{0.1f, 0}, {-0.3f, 0.4f}};
    world *w = make_world("{name: scaffold, server_lr: 0.5}", X, y);
    cr_assert(w->r.method->client_state && w->r.method->server_slots == 1);
    cr_assert_eq(w->r.method->upload_copies, 2, "the control variate doubles the upload");
    fs_bank_set_client(&w->r.server, 0, c);
    for (int k = 0; k < 2; k++) fs_bank_set_client(&w->r.extra, k, ci[k]);
    fs_adapter_bank grads;
    cr_assert_eq(fs_bank_init(&grads, fs_backend_cpu(), &w->r.local.shape, 2), 0);
    const float g[2] = {0.5f, 0.5f};
    for (int k = 0; k < 2; k++) fs_bank_set_client(&grads, k, g);
    fs_local_opts opts = fs_method_local_opts(&w->r);
    cr_assert_not_null(opts.grad_hook);
    opts.grad_hook(opts.grad_ctx, &grads, &w->r.local, both, 2);
    assert_slot(&grads, 0, 0.6, 0.6, "corrected gradient of client 0");
    assert_slot(&grads, 1, 1.0, 0.2, "corrected gradient of client 1");
    fs_bank_free(&grads);
    cr_assert_eq(w->r.method->aggregate(&w->r, both, 2), 0, "%s", fs_last_error());
    assert_slot(&w->r.extra, 0, 1.9, -5.1, "c_0+");
    assert_slot(&w->r.extra, 1, -1.5, 2.3, "c_1+");
    assert_slot(&w->r.global, 0, 1.0875, -2.1625, "x");
    assert_slot(&w->r.server, 0, 0.5, -1.5, "c");
    free_world(w);
}

/* With zero control variates and server_lr 1, SCAFFOLD's round is FedAvg's. */
Test(scaffold, starts_as_fedavg)
{
    world *w = make_world("scaffold", X, Y);
    cr_assert_eq(w->r.method->aggregate(&w->r, both, 2), 0, "%s", fs_last_error());
    assert_slot(&w->r.global, 0, 0.75, -1.25, "x = 1/4 y_0 + 3/4 y_1");
    free_world(w);
}

Test(registry, every_method_is_well_formed)
{
    cr_assert_leq(fs_method_count(), 32, "config_internal.h's CFG_MAX_REGISTERED");
    for (int i = 0; i < fs_method_count(); i++) {
        const fs_method *m = fs_method_at(i);
        cr_assert(m->name && m->summary && m->name[0], "method %d", i);
        cr_assert_eq(fs_method_find(m->name), m, "%s: names are unique", m->name);
        cr_assert_leq(m->params_size, FS_METHOD_PARAMS_BYTES, "%s", m->name);
        cr_assert_leq(m->n_params, FS_MAX_METHOD_PARAMS, "%s", m->name);
        for (int p = 0; p < m->n_params; p++) {
            const fs_param *q = &m->params[p];
            size_t size = q->type == FS_PARAM_FLOAT ? sizeof(double) : sizeof(int);
            cr_assert_leq(q->offset + size, m->params_size, "%s.%s", m->name, q->key);
            cr_assert(q->doc && q->def, "%s.%s", m->name, q->key);
        }
        /* every method loads with its defaults, and round-trips through YAML */
        char yaml[256];
        snprintf(yaml, sizeof yaml, "model: {path: m}\nmethods: [%s]\n", m->name);
        fs_config *c = malloc(sizeof *c), *back = malloc(sizeof *back);
        cr_assert_eq(fs_config_load_string(yaml, "t.yaml", NULL, 0, c), 0, "%s", fs_last_error());
        char *text = fs_config_to_yaml(c);
        cr_assert_not_null(text, "%s", fs_last_error());
        cr_assert_eq(fs_config_load_string(text, "back.yaml", NULL, 0, back), 0, "%s", fs_last_error());
        cr_assert_eq(memcmp(c->methods[0].params, back->methods[0].params, m->params_size), 0,
                     "%s: parameters survive the YAML round trip", m->name);
        free(text), free(c), free(back);
    }
}

Test(registry, new_methods_keys_are_checked)
{
    fs_config *c = malloc(sizeof *c);
    cr_assert_neq(fs_config_load_string("model: {path: m}\nmethods: [{name: fedyogi, beta3: 0.5}]\n",
                                        "t.yaml", NULL, 0, c), 0);
    cr_assert(strstr(fs_last_error(), "t.yaml:2") && strstr(fs_last_error(), "did you mean 'beta"), "%s",
              fs_last_error());
    cr_assert_neq(fs_config_load_string("model: {path: m}\nmethods: [{name: fedavg, tau: 0.5}]\n",
                                        "t.yaml", NULL, 0, c), 0);
    cr_assert(strstr(fs_last_error(), "fedavg has no parameter 'tau' (tau belongs to fedadam)"), "%s",
              fs_last_error());
    const char *set[] = {"methods.scaffold.server_lr=0"};
    cr_assert_neq(fs_config_load_string("model: {path: m}\nmethods: [scaffold]\n", "t.yaml", set,
                                        1, c), 0);
    cr_assert(strstr(fs_last_error(), "positive"), "%s", fs_last_error());
    free(c);
}
