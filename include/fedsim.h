/* libfedsim: fedsim as a library (the `fedsim` command is one user of it).
 *
 *   fedsim_run *r = fedsim_run_from_file("configs/quickstart.yaml", NULL, 0);
 *   if (!r || fedsim_run_all(r)) fprintf(stderr, "%s\n", fedsim_last_error());
 *   fedsim_summary s;
 *   if (r && !fedsim_run_summary(r, "fedavg", &s)) printf("%.2f %%\n", 100 * s.mean_acc);
 *   fedsim_run_free(r);
 *
 * A run is one experiment config (YAML, the keys of configs/example.yaml)
 * without a sweep: section; it writes <output.dir>/<name>.h5 like `fedsim run`
 * (one cell named after the config's name), holding that file's writer lock
 * until fedsim_run_free, and skips methods already finished there under the
 * same configuration. Every function that fails returns -1 or NULL and leaves
 * a message naming what is wrong (file, key, what to do) in
 * fedsim_last_error(); errors inside the numeric kernels go to the handler
 * of fedsim_set_op_error_handler. Link with -lfedsim (CMake:
 * find_package(fedsim) and target fedsim::fedsim). */
#ifndef FEDSIM_H
#define FEDSIM_H

#ifdef __cplusplus
extern "C" {
#endif

#define FEDSIM_API __attribute__((visibility("default")))

/* "0.1.0" */
FEDSIM_API const char *fedsim_version(void);
/* The message of the last failure in this thread. */
FEDSIM_API const char *fedsim_last_error(void);

/* Errors inside the numeric kernels (out of memory for an op's scratch, a
 * token id outside the vocabulary, a failed CUDA call) have no way back
 * through the op: by default they print "fedsim: <message>" and end the
 * process with status 1. A handler installed here gets them instead. It must
 * not return (when it does, the default runs): e.g. record the message and
 * longjmp to your code, then only free the run or model that failed (its
 * state is undefined). It runs on the thread that hit the error: with
 * runtime.threads: 1 that is the thread that called fedsim. NULL restores
 * the default; set it before running anything. */
enum { FEDSIM_OP_OUT_OF_MEMORY, FEDSIM_OP_BAD_INPUT, FEDSIM_OP_DEVICE, FEDSIM_OP_INTERNAL };
typedef void (*fedsim_op_error_handler)(int kind, const char *message, void *ctx);
FEDSIM_API void fedsim_set_op_error_handler(fedsim_op_error_handler h, void *ctx);

/* ---- models: a Hugging Face LLaVA directory (config.json + safetensors) ---- */

typedef struct fedsim_model fedsim_model;

/* backend: "cpu", "cuda" or "auto". The model is loaded frozen (as runs use it). */
FEDSIM_API fedsim_model *fedsim_model_load(const char *dir, const char *backend);
/* Parameters of the whole model (vision encoder, projector, LLM). */
FEDSIM_API long long fedsim_model_parameters(const fedsim_model *m);
/* The LLM's hidden size (the NanoAdapters' width). */
FEDSIM_API int fedsim_model_hidden_size(const fedsim_model *m);
FEDSIM_API void fedsim_model_free(fedsim_model *m);

/* ---- runs ---- */

typedef struct fedsim_run fedsim_run;

/* A run from a YAML file, or from YAML text (name: what messages call it);
 * overrides are "key.sub=value" strings like `fedsim run --set` (may be NULL
 * when n_overrides is 0). Loads nothing yet. */
FEDSIM_API fedsim_run *fedsim_run_from_file(const char *config_path,
                                            const char *const *overrides, int n_overrides);
FEDSIM_API fedsim_run *fedsim_run_from_yaml(const char *yaml, const char *name,
                                            const char *const *overrides, int n_overrides);
/* The config's methods, in order, and where the results go. */
FEDSIM_API int fedsim_run_method_count(const fedsim_run *r);
FEDSIM_API const char *fedsim_run_method_name(const fedsim_run *r, int i);
FEDSIM_API const char *fedsim_run_results_path(const fedsim_run *r);
/* Progress lines on stderr (default) or none. */
FEDSIM_API void fedsim_run_set_quiet(fedsim_run *r, int quiet);
/* Runs one of the config's methods (by name, e.g. "fedavg"), or all of them;
 * the model and data load on the first call. 0 or -1. */
FEDSIM_API int fedsim_run_method(fedsim_run *r, const char *method);
FEDSIM_API int fedsim_run_all(fedsim_run *r);
/* Closes the results file (releasing its lock) and frees the model and data. */
FEDSIM_API void fedsim_run_free(fedsim_run *r);

/* ---- results ---- */

/* A finished method at its last round. Accuracies are fractions 0-1:
 * mean_acc is the unweighted mean over the clients with test items,
 * pooled_acc pools their test items, global_acc is on the global test set. */
typedef struct {
    double mean_acc, worst_acc, global_acc, pooled_acc;
    double upload_mb, download_mb, seconds;
    int clients_evaluated;
    int rounds; /* rounds recorded (round 0, the initial evaluation, included) */
} fedsim_summary;

/* The summary of /<cell>/<method> in a results file; -1 when absent or unfinished. */
FEDSIM_API int fedsim_results_summary(const char *results_path, const char *cell,
                                      const char *method, fedsim_summary *out);
/* The same for a method of a run (its cell is the config's name). */
FEDSIM_API int fedsim_run_summary(const fedsim_run *r, const char *method, fedsim_summary *out);

#ifdef __cplusplus
}
#endif

#endif
