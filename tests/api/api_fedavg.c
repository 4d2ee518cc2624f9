/* libfedsim through its public header alone (linked against libfedsim only):
 * the shipped tiny model loads, and a 1-round FedAvg over 2 clients runs from
 * a config given as YAML text and leaves a finished summary that reads back.
 * Usage: api_fedavg FEDSIM_BINARY SOURCE_DIR (the binary only generates the
 * small synthetic dataset). Exit 0 when every check holds. */
#include <fedsim.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "api_fedavg: %s:%d: %s failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static int op_errors;

/* No op error is expected; one would be counted and end the program here. */
static void count_op_error(int kind, const char *message, void *ctx)
{
    ++*(int *)ctx;
    fprintf(stderr, "api_fedavg: op error %d: %s\n", kind, message);
    exit(1);
}

static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: api_fedavg FEDSIM_BINARY SOURCE_DIR\n");
        return 2;
    }
    char dir[] = "/tmp/fedsim-api-XXXXXX", data[512], model[512], yaml[2048];
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(model, sizeof model, "%s/models/tiny-llava", argv[2]);
    char *synth[] = {argv[1], "data", "synth", "synth-iconqa", "--out", data, "--train", "24",
                     "--test", "12", NULL};
    CHECK(run(synth) == 0, "fedsim data synth failed");

    CHECK(strlen(fedsim_version()) > 0, "no version");
    fedsim_set_op_error_handler(count_op_error, &op_errors);
    fedsim_model *m = fedsim_model_load(model, "cpu");
    CHECK(m, "%s", fedsim_last_error());
    if (m) {
        CHECK(fedsim_model_parameters(m) > 0, "%lld parameters", fedsim_model_parameters(m));
        CHECK(fedsim_model_hidden_size(m) > 0, "hidden size %d", fedsim_model_hidden_size(m));
        fedsim_model_free(m);
    }
    CHECK(!fedsim_model_load("/nonexistent", "cpu") && strstr(fedsim_last_error(), "/nonexistent"),
          "a missing model: '%s'", fedsim_last_error());

    snprintf(yaml, sizeof yaml,
             "name: api\nseed: 1\nmodel: { path: %s }\n"
             "data:\n  dataset: synth-iconqa\n  root: %s\n"
             "  partition: { clients: 2, dirichlet_alpha: 1.0, key: category, min_samples: 2 }\n"
             "federation: { rounds: 1, local_epochs: 1, batch_size: 8, eval_every: 1 }\n"
             "adapter: { rank: 2, alpha: 4 }\nmethods: [fedavg, fedprox]\n"
             "runtime: { backend: cpu, threads: 1 }\noutput: { dir: %s/out }\n",
             model, data, dir);
    const char *set[] = {"federation.rounds=1"};
    fedsim_run *r = fedsim_run_from_yaml(yaml, "api.yaml", set, 1);
    CHECK(r, "%s", fedsim_last_error());
    if (r) {
        fedsim_run_set_quiet(r, 1);
        CHECK(fedsim_run_method_count(r) == 2 && !strcmp(fedsim_run_method_name(r, 0), "fedavg"),
              "methods");
        CHECK(fedsim_run_method(r, "fednano") == -1 && strstr(fedsim_last_error(), "fednano"),
              "a method not in the config: '%s'", fedsim_last_error());
        CHECK(fedsim_run_method(r, "fedavg") == 0, "%s", fedsim_last_error());
        fedsim_summary s;
        CHECK(fedsim_run_summary(r, "fedavg", &s) == 0, "%s", fedsim_last_error());
        CHECK(s.rounds == 2 && s.clients_evaluated >= 1, "rounds %d, clients %d", s.rounds,
              s.clients_evaluated);
        CHECK(s.mean_acc >= 0 && s.mean_acc <= 1 && s.upload_mb > 0, "acc %g, upload %g MB",
              s.mean_acc, s.upload_mb);
        CHECK(fedsim_run_summary(r, "fedprox", &s) == -1, "fedprox has not run");
        fedsim_summary again;
        CHECK(fedsim_results_summary(fedsim_run_results_path(r), "api", "fedavg", &again) == 0 &&
                  again.mean_acc == s.mean_acc,
              "%s", fedsim_last_error());
        fedsim_run_free(r);
    }
    CHECK(!fedsim_run_from_yaml("model: {path: m}\nbogus: 1\n", "bad.yaml", NULL, 0) &&
              strstr(fedsim_last_error(), "bogus"),
          "a bad key: '%s'", fedsim_last_error());

    char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    run(rm);
    CHECK(op_errors == 0, "%d op errors", op_errors);
    if (failures) return 1;
    printf("api_fedavg: all checks passed\n");
    return 0;
}
