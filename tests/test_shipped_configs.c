/* Every config shipped in configs/ loads and validates. */
#include <math.h>

#include "sim/io/config.h"
#include "sim/io/error.h"
#include "tests/helpers/testutil.h"

static void load(const char *rel, fs_config *c)
{
    cr_assert_eq(fs_config_load(tu_source_path(rel), NULL, 0, c), 0, "%s", fs_last_error());
}

Test(shipped_configs, quickstart_runs_all_seven_methods_on_five_clients)
{
    fs_config c;
    load("configs/quickstart.yaml", &c);
    cr_assert_eq(c.n_methods, 7);
    cr_assert_eq(c.clients, 5);
    cr_assert_float_eq(c.dirichlet_alpha, 0.5, 1e-12);
    cr_assert_eq(c.n_sweep, 0);
}

Test(shipped_configs, paper_sweep_has_the_study_grid)
{
    fs_config c, cell;
    load("configs/paper-sweep.yaml", &c);
    cr_assert_eq(fs_config_sweep_cells(&c), 3 * 3 * 2 * 3, "datasets x alphas x client counts x seeds");
    char label[256];
    cr_assert_eq(fs_config_sweep_cell(&c, 0, &cell, label, sizeof label), 0, "%s", fs_last_error());
    cr_assert_eq(cell.n_sweep, 0);
}

Test(shipped_configs, example_loads)
{
    fs_config c;
    load("configs/example.yaml", &c);
    cr_assert_eq(c.n_methods, 7);
}
