/* The fedsim command end to end on a tiny model: run writes a readable
 * results file with every method, report prints the table, the same seed
 * gives identical numbers, a sweep resumes, bad input exits non-zero with a
 * message naming the file, an absurd thread count is capped with a warning. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/wait.h>

#include "sim/fed/method.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

/* <dir>/<name>.yaml running every method (run name = file name). */
static void write_config(const char *name, const char *out, const char *extra)
{
    cli_write_config(name, name,
                     "\n  - fedavg\n  - { name: fedprox, mu: 0.1 }\n"
                     "  - { name: feddpa_f, instances: 3 }\n"
                     "  - { name: fednano, fisher: { samples: 8 } }\n"
                     "  - fednano_ef\n  - centralized\n  - local\n"
                     "  - fedadam\n  - { name: fedyogi, server_lr: 0.05 }\n  - scaffold",
                     out, extra);
}

TestSuite(cli, .init = cli_setup, .timeout = 600);

Test(cli, run_writes_every_method_and_report_prints_the_table)
{
    write_config("qs", "out", "");
    char h5[600], log[600];
    snprintf(log, sizeof log, "%s/run.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' run %s/qs.yaml --quiet > %s 2>&1", cli_fedsim, cli_dir, log), 0, "%s",
                 cli_slurp(log));
    snprintf(h5, sizeof h5, "%s/out/qs.h5", cli_dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 10, "expected 10 methods, found %d", n);
    const char *methods[] = {"fedavg", "fedprox", "feddpa_f", "fednano", "fednano_ef",
                             "centralized", "local", "fedadam", "fedyogi", "scaffold"};
    for (int i = 0; i < 10; i++) {
        cr_assert_str_eq(e[i].method, methods[i]);
        cr_assert(e[i].complete);
        cr_assert(e[i].summary.mean_acc >= 0 && e[i].summary.mean_acc <= 1);
        cr_assert_eq(e[i].n_rounds_rows, 3 * 4, "rounds 0..2 x (3 clients + aggregate)");
    }
    /* Round 0 is the untuned model for every method (FedDPA-F's local
     * adapters are not trained before it). */
    double round0[10];
    for (int i = 0; i < 10; i++) {
        fs_round_row *rows;
        int nrows;
        cr_assert_eq(fs_results_read_rounds(h5, e[i].cell, e[i].method, &rows, &nrows), 0);
        round0[i] = NAN;
        for (int r = 0; r < nrows; r++)
            if (rows[r].round == 0 && rows[r].client == -1) round0[i] = rows[r].test_acc;
        free(rows);
        cr_assert(round0[i] == round0[0], "%s round 0 %.4f, fedavg %.4f", methods[i], round0[i],
                  round0[0]);
    }
    cr_assert_gt(e[3].summary.upload_mb, e[0].summary.upload_mb, "FedNano uploads adapters + Fisher");
    cr_assert_eq(e[5].summary.upload_mb, 0, "centralized communicates nothing");
    cr_assert_eq(e[7].summary.upload_mb, e[0].summary.upload_mb, "FedAdam uploads what FedAvg does");
    cr_assert_eq(e[9].summary.upload_mb, 2 * e[0].summary.upload_mb,
                 "SCAFFOLD uploads its control variate with its adapter");
    cr_assert_eq(e[9].summary.download_mb, 2 * e[0].summary.download_mb, "and downloads x and c");
    fs_results_list_free(e, n);
    cr_assert_eq(cli_sh("'%s' report %s --no-plot > %s/report.txt", cli_fedsim, h5, cli_dir), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/report.txt", cli_dir);
    const char *rep = cli_slurp(path);
    for (int i = 0; i < 10; i++) cr_assert(strstr(rep, methods[i]), "report lacks %s:\n%s", methods[i], rep);
    cr_assert(strstr(rep, "mean acc"), "%s", rep);
    if (cli_sh("command -v gnuplot > /dev/null") == 0) {
        snprintf(path, sizeof path, "%s/out/qs.png", cli_dir);
        cr_assert(access(path, R_OK) == 0, "no plot at %s", path);
    }
    if (cli_sh("command -v h5dump > /dev/null") == 0)
        cr_assert_eq(cli_sh("h5dump -H %s > /dev/null", h5), 0, "h5dump cannot read %s", h5);
}

/* The method list of `fedsim run --help` comes from the registry: every
 * method, with each of its keys. */
Test(cli, run_help_lists_every_registered_method)
{
    char path[600];
    snprintf(path, sizeof path, "%s/help.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' run --help > %s 2>&1", cli_fedsim, path), 0);
    const char *help = cli_slurp(path);
    for (int i = 0; i < fs_method_count(); i++) {
        const fs_method *m = fs_method_at(i);
        char line[64];
        snprintf(line, sizeof line, "  %s ", m->name);
        cr_assert(strstr(help, line), "--help lacks %s:\n%s", m->name, help);
        for (int p = 0; p < m->n_params; p++)
            cr_assert(strstr(help, m->params[p].key), "--help lacks %s's %s", m->name,
                      m->params[p].key);
    }
}

/* At alpha 0.1 over 12 clients some clients get no test items: they are
 * left out of the mean and the worst client (not scored 0), and the summary
 * counts the clients that were evaluated. */
Test(cli, clients_without_test_items_are_left_out_not_scored_zero)
{
    cli_write_config("sparse", "sparse", " [fedavg]", "sparse", "");
    char log[600], h5[600];
    snprintf(log, sizeof log, "%s/sparse.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' run %s/sparse.yaml --quiet --set data.partition.clients=12 "
                        "--set data.partition.dirichlet_alpha=0.1 --set data.partition.min_samples=1 "
                        "--set federation.rounds=1 > %s 2>&1",
                        cli_fedsim, cli_dir, log),
                 0, "%s", cli_slurp_log(log));
    snprintf(h5, sizeof h5, "%s/sparse/sparse.h5", cli_dir);
    fs_final_row *f;
    int n, without = 0;
    cr_assert_eq(fs_results_read_final(h5, "sparse", "fedavg", &f, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 12);
    double sum = 0, worst = INFINITY, right = 0, items = 0;
    for (int k = 0; k < n; k++) {
        if (f[k].n_test == 0) {
            cr_assert(isnan(f[k].test_acc), "client %d has no test items but accuracy %g", k,
                      f[k].test_acc);
            without++;
            continue;
        }
        sum += f[k].test_acc, worst = fmin(worst, f[k].test_acc);
        right += f[k].test_acc * f[k].n_test, items += f[k].n_test;
    }
    free(f);
    cr_assert_gt(without, 0, "every client got test items: the case is not exercised");
    fs_result_entry *e;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(e[0].summary.clients_evaluated, 12 - without);
    cr_assert_float_eq(e[0].summary.mean_acc, sum / (12 - without), 1e-12);
    cr_assert_float_eq(e[0].summary.worst_acc, worst, 1e-12);
    cr_assert_float_eq(e[0].summary.sample_weighted_acc, right / items, 1e-12);
    fs_results_list_free(e, n);
}

/* Copies the model directory src to dst and writes value over the first
 * element of the F32 tensor whose name ends in `suffix`. */
static void poisoned_model(const char *src, const char *dst, const char *suffix, float value)
{
    cr_assert_eq(cli_sh("rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    FILE *f = fopen(path, "r+b");
    cr_assert(f, "cannot open %s", path);
    uint64_t n = 0;
    cr_assert_eq(fread(&n, 8, 1, f), 1);
    char *header = calloc(n + 1, 1);
    cr_assert_eq(fread(header, 1, n, f), n);
    cJSON *h = cJSON_Parse(header);
    cr_assert(h, "bad header in %s", path);
    long offset = -1;
    for (cJSON *t = h->child; t; t = t->next) {
        size_t len = strlen(t->string), sl = strlen(suffix);
        if (len >= sl && !strcmp(t->string + len - sl, suffix)) {
            cr_assert_str_eq(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32");
            offset = (long)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
        }
    }
    cr_assert_geq(offset, 0, "no tensor named *%s in %s", suffix, path);
    cr_assert_eq(fseek(f, 8 + (long)n + offset, SEEK_SET), 0);
    cr_assert_eq(fwrite(&value, sizeof value, 1, f), 1);
    cr_assert_eq(fclose(f), 0);
    cJSON_Delete(h);
    free(header);
}

/* A NaN or infinite weight makes the training loss non-finite: the run
 * stops with a message naming the round and client, demo fails too, and
 * `info --check-values` names the tensor. */
Test(cli, non_finite_weights_stop_the_method_with_a_message)
{
    const float values[2] = {NAN, INFINITY};
    for (int v = 0; v < 2; v++) {
        char model[600], log[600];
        snprintf(model, sizeof model, "%s/bad-model-%d", cli_dir, v);
        poisoned_model(cli_model, model, "lm_head.weight", values[v]);
        cli_write_config("nonfinite", "nonfinite", " [fedavg, local]", "nonfinite", "");
        snprintf(log, sizeof log, "%s/nonfinite-%d.txt", cli_dir, v);
        int st = cli_sh("'%s' run %s/nonfinite.yaml --quiet --set model.path=%s --set output.dir=%s/nf%d "
                        "> %s 2>&1", cli_fedsim, cli_dir, model, cli_dir, v, log);
        const char *out = cli_slurp(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit %d:\n%s", st, out);
        cr_assert(strstr(out, "round 1, client ") && strstr(out, "not a finite number") &&
                      strstr(out, "fedsim info"),
                  "%s", out);
        st = cli_sh("'%s' demo --model %s > %s 2>&1", cli_fedsim, model, log);
        out = cli_slurp(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0 && strstr(out, "not a finite number"),
                  "demo on weights with %g: exit %d\n%s", values[v], st, out);
        st = cli_sh("'%s' info %s --check-values > %s 2>&1", cli_fedsim, model, log);
        out = cli_slurp(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "lm_head.weight") &&
                      strstr(out, "1 NaN or infinite in 1 tensor"),
                  "info --check-values: exit %d\n%s", st, out);
    }
    char log[600];
    snprintf(log, sizeof log, "%s/info-clean.txt", cli_dir);
    int st = cli_sh("'%s' info %s --check-values > %s 2>&1", cli_fedsim, cli_model, log);
    const char *out = cli_slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "every weight is finite"), "%s",
              out);
}

Test(cli, same_seed_same_numbers)
{
    write_config("a", "outa", "");
    write_config("b", "outb", "");
    const char *four = "--set methods=fedavg,fednano,feddpa_f,local";
    cr_assert_eq(cli_sh("'%s' run %s/a.yaml %s --quiet > /dev/null 2>&1", cli_fedsim, cli_dir, four),
                 0);
    cr_assert_eq(cli_sh("'%s' run %s/b.yaml %s --quiet > /dev/null 2>&1", cli_fedsim, cli_dir, four),
                 0);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/outa/a.h5", cli_dir);
    snprintf(pb, sizeof pb, "%s/outb/b.h5", cli_dir);
    const char *methods[] = {"fedavg", "fednano", "feddpa_f", "local"};
    for (int m = 0; m < 4; m++) {
        fs_round_row *ra, *rb;
        int na, nb;
        cr_assert_eq(fs_results_read_rounds(pa, "a", methods[m], &ra, &na), 0);
        cr_assert_eq(fs_results_read_rounds(pb, "b", methods[m], &rb, &nb), 0);
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++) {
            cr_assert(memcmp(&ra[i].train_loss, &rb[i].train_loss, sizeof(double)) == 0,
                      "%s row %d: loss %.17g vs %.17g", methods[m], i, ra[i].train_loss, rb[i].train_loss);
            cr_assert(memcmp(&ra[i].test_acc, &rb[i].test_acc, sizeof(double)) == 0);
        }
        free(ra), free(rb);
    }
}

Test(cli, sweep_resumes_and_skips_finished_cells)
{
    write_config("sw", "outs", "sweep:\n  seed: [0, 1]\n  methods: [fedavg, local]\n");
    cr_assert_eq(cli_sh("'%s' sweep %s/sw.yaml --quiet > /dev/null 2>&1", cli_fedsim, cli_dir), 0);
    char h5[600], log[600];
    snprintf(h5, sizeof h5, "%s/outs/sw.h5", cli_dir);
    snprintf(log, sizeof log, "%s/sweep2.txt", cli_dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 4, "2 seeds x 2 methods, found %d", n);
    fs_results_list_free(e, n);
    cr_assert_eq(cli_sh("'%s' sweep %s/sw.yaml > %s 2>&1", cli_fedsim, cli_dir, log), 0);
    const char *out = cli_slurp(log);
    cr_assert(strstr(out, "already complete"), "restarted sweep re-ran finished cells:\n%s", out);
    cr_assert_eq(fs_results_list(h5, &e, &n), 0);
    cr_assert_eq(n, 4, "a resumed sweep duplicated cells: %d groups", n);
    fs_results_list_free(e, n);
}

Test(cli, bad_input_is_one_clear_message_and_nonzero_exit)
{
    char bad[600], log[600];
    snprintf(bad, sizeof bad, "%s/bad.yaml", cli_dir);
    snprintf(log, sizeof log, "%s/bad.txt", cli_dir);
    FILE *f = fopen(bad, "w");
    fprintf(f, "name: bad\nmodel: { path: %s }\nfederation:\n  rounds: ten\n", cli_model);
    fclose(f);
    int rc = cli_sh("'%s' run %s > %s 2>&1", cli_fedsim, bad, log);
    cr_assert_neq(rc, 0);
    const char *out = cli_slurp(log);
    cr_assert(strstr(out, "bad.yaml:4") && strstr(out, "federation.rounds"), "%s", out);
    rc = cli_sh("'%s' run %s/missing.yaml > %s 2>&1", cli_fedsim, cli_dir, log);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(cli_slurp(log), "missing.yaml"), "%s", cli_slurp(log));
    rc = cli_sh("'%s' report %s > %s 2>&1", cli_fedsim, bad, log);
    cr_assert_neq(rc, 0, "report accepted a YAML file as HDF5");
    rc = cli_sh("'%s' run --frobnicate > %s 2>&1", cli_fedsim, log);
    cr_assert_neq(rc, 0);
}

/* Every command parses with getopt_long: an unknown option or a missing value
 * is named, followed by the command's usage, exit 2; options may come before
 * or after the operand and take --opt=value. */
Test(cli, every_command_names_a_bad_option_and_shows_its_usage)
{
    char log[600];
    snprintf(log, sizeof log, "%s/opts.txt", cli_dir);
    const struct {
        const char *args, *message, *usage;
    } cases[] = {
        {"run c.yaml --frobnicate", "fedsim run: unknown option '--frobnicate'", "usage: fedsim run"},
        {"sweep c.yaml --set", "fedsim sweep: option '--set' needs a value", "usage: fedsim sweep"},
        {"report --plots x.h5 --bogus", "fedsim report: unknown option '--bogus'", "usage: fedsim report"},
        {"export x.h5 --csv", "fedsim export: option '--csv' needs a value", "usage: fedsim export"},
        {"info -z dir", "fedsim info: unknown option '-z'", "usage: fedsim info"},
        {"demo stray", "fedsim demo: unexpected argument 'stray'", "usage: fedsim demo"},
        {"pretrain --stepz 3", "fedsim pretrain: unknown option '--stepz'", "usage: fedsim pretrain"},
        {"data synth x --out", "fedsim data synth: option '--out' needs a value",
         "usage: fedsim data synth"},
        {"data import a b", "fedsim data import: unexpected argument 'b'", "usage: fedsim data import"},
        {"data stats --x", "fedsim data stats: unknown option '--x'", "usage: fedsim data stats"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int st = cli_sh("'%s' %s > '%s' 2>&1", cli_fedsim, cases[i].args, log);
        const char *out = cli_slurp(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %d\n%s", cases[i].args, st, out);
        cr_assert(strstr(out, cases[i].message) == out && strstr(out, cases[i].usage),
                  "fedsim %s:\n%s", cases[i].args, out);
    }
    /* --opt=value, and the operand before or after the options: the same output */
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/opts-a.txt", cli_dir);
    snprintf(b, sizeof b, "%s/opts-b.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' info --rank=8 '%s' > '%s' 2>&1", cli_fedsim, cli_model, a), 0);
    cr_assert_eq(cli_sh("'%s' info '%s' --rank 8 > '%s' 2>&1", cli_fedsim, cli_model, b), 0);
    cr_assert_eq(cli_sh("cmp -s '%s' '%s'", a, b), 0, "%s", cli_slurp(a));
    cr_assert_eq(cli_sh("'%s' info '%s' > '%s' 2>&1", cli_fedsim, cli_model, b), 0);
    cr_assert_neq(cli_sh("cmp -s '%s' '%s'", a, b), 0, "--rank=8 was ignored");
}

/* `data stats` decodes every image: a deleted one and a truncated one are
 * counted and named on stderr, and the exit status is non-zero (it was 0). */
Test(cli, data_stats_reports_missing_and_undecodable_images)
{
    char data[600], log[600], gone[700], cut[700];
    snprintf(data, sizeof data, "%s/stats-data", cli_dir);
    snprintf(log, sizeof log, "%s/stats.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' data synth synth-iconqa --out '%s' --train 10 --test 5 "
                        "--image-size 16 > '%s' 2>&1", cli_fedsim, data, log), 0, "%s",
                 cli_slurp_log(log));
    cr_assert_eq(cli_sh("'%s' data stats '%s' > '%s' 2>&1", cli_fedsim, data, log), 0, "%s",
                 cli_slurp_log(log));
    cr_assert(strstr(cli_slurp(log), "images: 15, all decode"), "%s", cli_slurp(log));

    snprintf(gone, sizeof gone, "%s/images/000003.png", data);
    snprintf(cut, sizeof cut, "%s/images/000007.png", data);
    cr_assert_eq(unlink(gone), 0);
    cr_assert_eq(truncate(cut, 40), 0);
    int rc = cli_sh("'%s' data stats '%s' > '%s' 2>&1", cli_fedsim, data, log);
    const char *out = cli_slurp(log);
    cr_assert_neq(rc, 0, "data stats exited 0 with a deleted and a truncated image:\n%s", out);
    cr_assert(strstr(out, "2 of 15 images are unusable (1 missing, 1 undecodable)"), "%s", out);
    cr_assert(strstr(out, "000003.png: missing"), "%s", out);
    cr_assert(strstr(out, "000007.png: cannot decode the image"), "%s", out);
}

/* `fedsim info` refuses a zero rank or storage width with one line naming the
 * flag, the value and what it accepts (it used to exit 2 silently). */
Test(cli, info_rejects_zero_rank_and_bytes_per_param)
{
    char log[600];
    snprintf(log, sizeof log, "%s/info.txt", cli_dir);
    const char *flags[] = {"--rank", "--bytes-per-param"};
    for (int i = 0; i < 2; i++) {
        int rc = cli_sh("'%s' info '%s' %s 0 > '%s' 2>&1", cli_fedsim, tu_source_path("models/tiny-llava"),
                        flags[i], log);
        cr_assert_neq(rc, 0, "%s 0 accepted", flags[i]);
        char want[200];
        snprintf(want, sizeof want, "fedsim: %s expects an integer of at least 1, got '0'\n", flags[i]);
        cr_assert_str_eq(cli_slurp(log), want);
    }
}

/* A thread count far beyond the cores (100000 crashed inside libgomp) runs
 * on FS_THREADS_PER_CORE x the online cores, saying so once. */
Test(cli, absurd_thread_count_is_capped_with_one_warning)
{
    cli_write_config("threads", "threads", " [fedavg]", "outthreads", "");
    char log[600];
    snprintf(log, sizeof log, "%s/threads.txt", cli_dir);
    int rc = cli_sh("'%s' run %s/threads.yaml --threads 100000 --quiet > '%s' 2>&1", cli_fedsim, cli_dir,
                    log);
    const char *out = cli_slurp_log(log);
    cr_assert_eq(rc, 0, "%s", out);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char want[200];
    snprintf(want, sizeof want,
             "fedsim: warning: 100000 threads is more than 4 x the %ld online cores; using %ld\n", cores,
             4 * cores);
    const char *at = strstr(out, want);
    cr_assert(at, "no '%s' in:\n%s", want, out);
    cr_assert(!strstr(at + strlen(want), "threads is more than"), "warned twice:\n%s", out);
}
