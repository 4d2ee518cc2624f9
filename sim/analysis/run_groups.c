/* Runs grouped by cell group and method; aggregate curves (run_groups.h). */
#include "sim/analysis/run_groups.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/analysis/cell_label.h"
#include "sim/io/error.h"

int fs_run_groups_find(const fs_run_groups *g, const char *cell_group, const char *method)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->group[i].cell_group, cell_group) && !strcmp(g->group[i].method, method))
            return i;
    return -1;
}

/* Sort key: rank of the group's cell group by first appearance, then the
 * group's own first appearance. */
typedef struct {
    int cell_rank, order;
    fs_run_group group;
} ranked_group;

static int by_rank(const void *pa, const void *pb)
{
    const ranked_group *a = pa, *b = pb;
    if (a->cell_rank != b->cell_rank) return a->cell_rank < b->cell_rank ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int order_groups(fs_run_groups *g)
{
    ranked_group *r = malloc((size_t)(g->n ? g->n : 1) * sizeof *r);
    if (!r) return fs_fail("out of memory grouping runs");
    for (int i = 0; i < g->n; i++) {
        int rank = i;
        for (int j = 0; j < i; j++)
            if (!strcmp(g->group[j].cell_group, g->group[i].cell_group)) {
                rank = r[j].cell_rank;
                break;
            }
        r[i] = (ranked_group){.cell_rank = rank, .order = i, .group = g->group[i]};
    }
    qsort(r, (size_t)g->n, sizeof *r, by_rank);
    for (int i = 0; i < g->n; i++) g->group[i] = r[i].group;
    free(r);
    return 0;
}

static int add_run(fs_run_groups *g, const fs_result_entry *e, int index)
{
    char cell_group[256];
    if (fs_cell_group(e[index].cell, cell_group, sizeof cell_group)) return -1;
    int j = fs_run_groups_find(g, cell_group, e[index].method);
    if (j < 0) {
        j = g->n++;
        fs_run_group *ng = &g->group[j];
        memset(ng, 0, sizeof *ng);
        memcpy(ng->cell_group, cell_group, sizeof cell_group);
        snprintf(ng->method, sizeof ng->method, "%s", e[index].method);
    }
    fs_run_group *grp = &g->group[j];
    fs_run *run = realloc(grp->run, (size_t)(grp->n + 1) * sizeof *run);
    if (!run) return fs_fail("out of memory grouping runs");
    grp->run = run;
    fs_run *r = &run[grp->n++];
    r->entry = index;
    r->seed_known = fs_run_seed(e[index].config_yaml, e[index].cell, &r->seed);
    return 0;
}

int fs_run_groups_build(const fs_result_entry *e, int n, fs_run_groups *out)
{
    memset(out, 0, sizeof *out);
    /* at most one group per entry */
    out->group = calloc((size_t)(n ? n : 1), sizeof *out->group);
    if (!out->group) return fs_fail("out of memory grouping %d runs", n);
    for (int i = 0; i < n; i++) {
        if (!e[i].complete) {
            out->incomplete++;
            continue;
        }
        if (add_run(out, e, i)) {
            fs_run_groups_free(out);
            return -1;
        }
    }
    if (order_groups(out)) {
        fs_run_groups_free(out);
        return -1;
    }
    return 0;
}

void fs_run_groups_free(fs_run_groups *g)
{
    for (int i = 0; i < g->n; i++) free(g->group[i].run);
    free(g->group);
    memset(g, 0, sizeof *g);
}

void fs_group_curves_free(fs_group_curves *c)
{
    free(c->test_acc);
    free(c->train_loss);
    free(c->cum_bytes_up);
    memset(c, 0, sizeof *c);
}

int fs_group_curves_load(const char *path, const fs_result_entry *e, const fs_run_group *g,
                         fs_group_curves *out)
{
    memset(out, 0, sizeof *out);
    fs_round_row **rows = calloc((size_t)g->n, sizeof *rows);
    int *n_rows = calloc((size_t)g->n, sizeof *n_rows);
    int rc = -1;
    if (!rows || !n_rows) {
        fs_fail("out of memory reading %s", path);
        goto done;
    }
    int max_round = -1;
    for (int s = 0; s < g->n; s++) {
        const fs_result_entry *en = &e[g->run[s].entry];
        if (fs_results_read_rounds(path, en->cell, en->method, &rows[s], &n_rows[s])) goto done;
        for (int i = 0; i < n_rows[s]; i++)
            if (rows[s][i].client == -1 && rows[s][i].round > max_round)
                max_round = rows[s][i].round;
    }
    out->n_runs = g->n;
    out->n_rounds = max_round + 1;
    size_t cells = (size_t)out->n_runs * (size_t)out->n_rounds;
    out->test_acc = malloc((cells ? cells : 1) * sizeof(double));
    out->train_loss = malloc((cells ? cells : 1) * sizeof(double));
    out->cum_bytes_up = malloc((cells ? cells : 1) * sizeof(double));
    if (!out->test_acc || !out->train_loss || !out->cum_bytes_up) {
        fs_fail("out of memory: %d runs x %d rounds of %s", out->n_runs, out->n_rounds, path);
        goto done;
    }
    for (size_t i = 0; i < cells; i++)
        out->test_acc[i] = out->train_loss[i] = out->cum_bytes_up[i] = NAN;
    for (int s = 0; s < g->n; s++) {
        double *up = out->cum_bytes_up + (size_t)s * out->n_rounds;
        for (int i = 0; i < n_rows[s]; i++) {
            const fs_round_row *row = &rows[s][i];
            if (row->client != -1 || row->round < 0) continue;
            size_t at = (size_t)s * out->n_rounds + (size_t)row->round;
            out->test_acc[at] = row->test_acc;
            out->train_loss[at] = row->train_loss;
            up[row->round] = (double)row->bytes_up;
        }
        /* rows are per round; the running sum skips rounds a run lacks */
        double sum = 0;
        for (int r = 0; r < out->n_rounds; r++)
            if (!isnan(up[r])) up[r] = sum += up[r];
    }
    rc = 0;
done:
    for (int s = 0; rows && s < g->n; s++) free(rows[s]);
    free(rows);
    free(n_rows);
    if (rc) fs_group_curves_free(out);
    return rc;
}
