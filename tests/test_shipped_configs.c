/* Every config shipped in configs/ loads and validates (the paper ones
 * without their weights and data). */
#include <math.h>
#include <string.h>

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

Test(shipped_configs, quickstart_seeds_is_the_quickstart_over_three_seeds_and_both_datasets)
{
    fs_config c, q;
    load("configs/quickstart-seeds.yaml", &c);
    load("configs/quickstart.yaml", &q);
    cr_assert_eq(fs_config_sweep_cells(&c), 2 * 3, "datasets x seeds");
    cr_assert_eq(c.n_methods, q.n_methods);
    cr_assert(c.clients == q.clients && c.rounds == q.rounds && c.lr == q.lr &&
              c.max_train_samples == q.max_train_samples && c.rank == q.rank,
              "the seeds study must keep the quickstart's budget");
}

Test(shipped_configs, example_loads)
{
    fs_config c;
    load("configs/example.yaml", &c);
    cr_assert_eq(c.n_methods, fs_method_count(), "every registered method, with its keys");
}

/* The paper configs cannot run in CI (no LLaVA-1.5-7B or MiniGPT-4 weights,
 * no datasets): every key and every sweep cell must still validate, and the
 * only paths are the placeholders the user edits. */
Test(shipped_configs, paper_llava_and_minigpt4_configs_validate_every_cell)
{
    const char *files[] = {"configs/paper-llava-scienceqa.yaml", "configs/paper-llava-iconqa.yaml",
                           "configs/paper-minigpt4-scienceqa.yaml",
                           "configs/paper-minigpt4-iconqa.yaml"};
    const char *datasets[] = {"scienceqa", "iconqa", "scienceqa", "iconqa"};
    const char *models[] = {"/path/to/llava-1.5-7b-hf", "/path/to/llava-1.5-7b-hf",
                            "/path/to/minigpt4-7b", "/path/to/minigpt4-7b"};
    for (int f = 0; f < 4; f++) {
        fs_config c, cell;
        load(files[f], &c);
        cr_assert_str_eq(c.dataset, datasets[f]);
        cr_assert(strstr(c.model_path, models[f]) && strstr(c.data_root, "/path/to/"),
                  "%s: model.path and data.root should be the placeholders to edit", files[f]);
        cr_assert_str_eq(c.backend, "cuda");
        cr_assert_eq(c.n_methods, 7, "the five methods and the two bounds");
        for (int m = 0; m < c.n_methods; m++) cr_assert_eq(c.methods[m].method, fs_method_at(m));
        cr_assert_eq(fs_config_sweep_cells(&c), 2 * 3, "clients x alphas");
        int seen = 0; /* bit (clients == 10) * 3 + alpha index */
        for (long i = 0; i < fs_config_sweep_cells(&c); i++) {
            char label[256];
            cr_assert_eq(fs_config_sweep_cell(&c, i, &cell, label, sizeof label), 0, "%s",
                         fs_last_error());
            int a = fabs(cell.dirichlet_alpha - 0.1) < 1e-12   ? 0
                    : fabs(cell.dirichlet_alpha - 0.5) < 1e-12 ? 1
                    : fabs(cell.dirichlet_alpha - 1.0) < 1e-12 ? 2
                                                                : -1;
            cr_assert(a >= 0 && (cell.clients == 5 || cell.clients == 10), "cell %s", label);
            seen |= 1 << ((cell.clients == 10) * 3 + a);
        }
        cr_assert_eq(seen, 0x3f, "%s: not every (clients, alpha) pair is a cell", files[f]);
    }
}
