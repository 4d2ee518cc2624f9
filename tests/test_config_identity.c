/* What of a config a result identity covers (fs_config_identity_yaml), how
 * two configs are told apart key by key (fs_config_diff), and sweep axes
 * from the command line (fs_config_add_sweep). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/config.h"
#include "sim/io/error.h"

static const char *const base_yaml =
    "name: a\nmodel: { path: /m }\ndata: { root: /d }\n"
    "federation: { rounds: 2 }\nadapter: { rank: 4 }\n"
    "methods: [fedavg, { name: fedprox, mu: 0.1 }]\n";

static fs_config load(const char *const *ov, int n)
{
    fs_config c;
    cr_assert_eq(fs_config_load_string(base_yaml, "base.yaml", ov, n, &c), 0, "%s", fs_last_error());
    return c;
}

static char *identity(const char *const *ov, int n, int method)
{
    fs_config c = load(ov, n);
    char *y = fs_config_identity_yaml(&c, method);
    cr_assert(y, "%s", fs_last_error());
    return y;
}

Test(config_identity, keys_that_do_not_change_numbers_are_left_out)
{
    const char *inert[] = {"name=b", "output.dir=/elsewhere", "runtime.threads=3",
                           "runtime.rows_per_pass=64", "output.checkpoint_every=5",
                           "model.path=/moved", "data.root=/moved", "runtime.backend=cpu"};
    char *base = identity(NULL, 0, 0);
    for (int i = 0; i < 8; i++) {
        char *y = identity(&inert[i], 1, 0);
        cr_assert_str_eq(y, base, "%s changed the identity", inert[i]);
        free(y);
    }
    const char *real[] = {"federation.rounds=3", "adapter.rank=8", "seed=1",
                          "data.partition.clients=2", "data.max_train_samples=10"};
    for (int i = 0; i < 5; i++) {
        char *y = identity(&real[i], 1, 0);
        cr_assert_str_neq(y, base, "%s left the identity as it was", real[i]);
        free(y);
    }
    free(base);
}

Test(config_identity, a_method_identity_covers_its_own_parameters_only)
{
    const char *mu = "methods.fedprox.mu=0.5", *more = "methods=fedavg,fedprox,local";
    char *fedavg = identity(NULL, 0, 0), *fedprox = identity(NULL, 0, 1);
    char *fedavg_mu = identity(&mu, 1, 0), *fedprox_mu = identity(&mu, 1, 1);
    char *fedavg_more = identity(&more, 1, 0), *cell = identity(NULL, 0, -1);
    cr_assert_str_neq(fedavg, fedprox);
    cr_assert_str_eq(fedavg, fedavg_mu, "fedprox's mu changed fedavg's identity");
    cr_assert_str_neq(fedprox, fedprox_mu);
    cr_assert_str_eq(fedavg, fedavg_more, "listing another method changed fedavg's identity");
    cr_assert(!strstr(cell, "fedavg") && !strstr(cell, "methods"), "%s", cell);
    free(fedavg), free(fedprox), free(fedavg_mu), free(fedprox_mu), free(fedavg_more), free(cell);
}

Test(config_identity, diff_names_each_differing_key)
{
    const char *ov[] = {"federation.rounds=3", "adapter.rank=8", "output.dir=/x",
                        "methods.fedprox.mu=0.2"};
    fs_config was = load(NULL, 0), now = load(ov, 4);
    char text[512];
    cr_assert_eq(fs_config_diff(&was, &now, -1, text, sizeof text), 2, "%s", text);
    cr_assert_str_eq(text, "federation.rounds 2 -> 3, adapter.rank 4 -> 8");
    cr_assert_eq(fs_config_diff(&was, &now, 1, text, sizeof text), 3, "%s", text);
    cr_assert(strstr(text, "methods.fedprox.mu 0.1 -> 0.2"), "%s", text);
    cr_assert_eq(fs_config_diff(&was, &was, 0, text, sizeof text), 0, "%s", text);
}

Test(config_identity, sweep_axes_from_the_command_line)
{
    fs_config c = load(NULL, 0);
    cr_assert_eq(fs_config_add_sweep(&c, "seed=0,1,2"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_config_add_sweep(&c, "methods.fedprox.mu=0.1,1"), 0, "%s", fs_last_error());
    cr_assert_eq(fs_config_add_sweep(&c, "seed=4,5"), 0, "%s", fs_last_error());
    cr_assert_eq(c.n_sweep, 2, "the second seed axis replaces the first");
    cr_assert_eq(fs_config_sweep_cells(&c), 4);
    const char *values[FS_MAX_SWEEP_KEYS];
    cr_assert_eq(fs_config_sweep_values(&c, 3, values), 0);
    cr_assert(!strcmp(values[0], "5") && !strcmp(values[1], "1"));
    cr_assert_eq(fs_config_key_type("seed"), 'i');
    cr_assert_eq(fs_config_key_type("data.partition.dirichlet_alpha"), 'f');
    cr_assert_eq(fs_config_key_type("methods"), 's');
    const char *bad[][2] = {{"name=a,b", "cannot be swept"},
                            {"output.dir=a,b", "cannot be swept"},
                            {"federation.rounds=1,0", "federation.rounds"},
                            {"seed=1,1", "listed twice"},
                            {"seed=1,,2", "empty"},
                            {"methods.feddpa_f.top_k=1,2", "feddpa_f"},
                            {"no.such.key=1", "unknown"},
                            {"seed", "key=value1,value2"}};
    for (int i = 0; i < 8; i++) {
        fs_config before = c;
        cr_assert_eq(fs_config_add_sweep(&c, bad[i][0]), -1, "%s accepted", bad[i][0]);
        cr_assert(strstr(fs_last_error(), bad[i][1]), "%s: %s", bad[i][0], fs_last_error());
        cr_assert(memcmp(&before, &c, sizeof c) == 0, "%s changed the config", bad[i][0]);
    }
}

Test(config_identity, unsweepable_and_empty_sweeps_in_the_yaml)
{
    fs_config c;
    cr_assert_eq(fs_config_load_string("model: { path: /m }\nsweep: {}\n", "e.yaml", NULL, 0, &c), -1);
    cr_assert(strstr(fs_last_error(), "e.yaml:2") && strstr(fs_last_error(), "empty"), "%s",
              fs_last_error());
    cr_assert_eq(fs_config_load_string("model: { path: /m }\nsweep:\n  output.dir: [a, b]\n",
                                       "o.yaml", NULL, 0, &c), -1);
    cr_assert(strstr(fs_last_error(), "o.yaml:3") && strstr(fs_last_error(), "cannot be swept"),
              "%s", fs_last_error());
}
