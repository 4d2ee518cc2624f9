/* One federated round of FedAvg local training, end to end, at a named model
 * shape with random weights: how many samples and tokens per second the
 * simulator trains, its model FLOP utilisation, and how the time per round
 * grows with the number of clients.
 *
 *   bench_round [--shape quickstart|tiny|small|7b] [--backend cpu|cuda|auto] [--threads N]
 *               [--clients 1,8,64] [--total-samples N | --samples-per-client N]
 *               [--text-tokens N] [--batch B] [--epochs E] [--rank R] [--alpha A]
 *               [--rounds R] [--max-rows N] [--peak-tflops X] [--json]
 *   bench_round --shape S [--text-tokens N] --write-config DIR
 *       writes DIR/config.json (for bench/reference/round_torch.py) and prints
 *       {"config": PATH, "text_tokens": N}
 *
 * Shapes: quickstart is the shipped model (models/tiny-llava/config.json, read
 * from the repository root: run from there) at its quickstart sample length;
 * tiny is the tiny preset; small and 7b are below.
 *
 * The round is the simulator's own: FedAvg's fit (fs_fit_from_global: broadcast, then
 * every client's E local epochs of AdamW in lockstep through the one frozen
 * model: adapter forward, frozen LLM forward, loss on the answer letter, LLM
 * input-backward, adapter backward) and aggregate (weighted mean), on a
 * synthetic task whose image features were cached beforehand, as a run
 * caches them once. Each sample is one image (n_image_tokens tokens after
 * one leading text token) and --text-tokens text tokens in all; every sample
 * has the same length, so no row is padding. One warm-up round, then the
 * median of --rounds timed rounds.
 *
 * Sweep: --total-samples N keeps the round's work fixed (each of K clients
 * holds N/K samples: the time should not grow with K); --samples-per-client n
 * grows it with K (the time should grow linearly). Default: --total-samples.
 *
 * Model FLOPs per sample (T tokens; L layers; d hidden; I intermediate;
 * Hq, Hkv heads of size D; V vocabulary; one answer row per sample):
 *   linear weights per layer  P = d*Hq*D + 2*d*Hkv*D + Hq*D*d + 3*d*I
 *   forward                   2*L*P*T + 2*L*Hq*D*T^2 + 2*V*d
 *                             (linear layers; causal attention QK^T and PV,
 *                             half of 4*T^2*D per head; the LM head on the
 *                             answer row only)
 *   input-backward            2*L*P*T + 4*L*Hq*D*T^2 + 2*V*d
 *                             (a frozen linear layer needs dX = dY W only, one
 *                             GEMM like its forward, not the two of a weight-
 *                             trained layer; attention needs dQ, dK, dV: four
 *                             T^2 products)
 * The adapters' FLOPs (r << d) and the elementwise ops are not counted.
 * MFU = model FLOPs / round time / peak. Peak: on CPU, the best fp32
 * sgemm (1024^3, same threads) measured in this run; MFU/CPU (CPU only) is
 * the model FLOPs per CPU second of the round over the sgemm's FLOPs per CPU
 * second, the figure to read when other jobs share the cores; on CUDA, H100 SXM bf16
 * dense 989 TFLOP/s unless --peak-tflops says otherwise (fedsim's weights are
 * fp32 today, whose H100 peak is 67 TFLOP/s: pass --peak-tflops 67 for that). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backends/cpu/cpu_ops.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"
#include "sim/model/presets.h"

#define USAGE "see the usage at the top of bench/bench_round.c"
#define SHIPPED_MODEL "models/tiny-llava" /* relative to the repository root */

enum { MAX_SWEEP = 32, MAX_IMAGES = 64, IMAGE_POS = 1, SEED = 1234 };

typedef struct {
    const char *shape, *backend, *write_config;
    int threads, clients[MAX_SWEEP], n_sweep, total, per_client, text_tokens, batch, epochs;
    int rank, rounds, max_rows;
    double alpha, peak_tflops;
    bool json;
} bench_opts;

/* hidden 512, 4 layers: LLaVA-1.5's vocabulary, tokens and projector, scaled
 * down so a 2-core CPU trains a round in seconds. */
static fs_llava_config config_small(void)
{
    fs_llava_config c = fs_llava_config_llava15_7b();
    c.v_hidden = 256, c.v_intermediate = 1024, c.v_layers = 2, c.v_heads = 4;
    c.v_image_size = 112; /* 8 x 8 patches of 14: 64 image tokens */
    c.t_hidden = 512, c.t_intermediate = 1376, c.t_layers = 4;
    c.t_heads = c.t_kv_heads = 8, c.t_head_dim = 64, c.t_max_pos = 1024;
    return c;
}

/* The shape's configuration and its default text tokens per sample. */
static int shape_config(const char *name, fs_llava_config *cfg, int *text_tokens)
{
    /* quickstart: the shipped model; its synth-iconqa samples hold 47.4 tokens on
     * average (16 image + 31.4 text), up to 61. */
    if (!strcmp(name, "quickstart")) {
        *text_tokens = 31;
        return fs_llava_config_load(SHIPPED_MODEL "/config.json", cfg);
    }
    if (!strcmp(name, "tiny")) *cfg = fs_llava_config_tiny(), *text_tokens = 16;
    else if (!strcmp(name, "small")) *cfg = config_small(), *text_tokens = 32;
    else if (!strcmp(name, "7b")) *cfg = fs_llava_config_llava15_7b(), *text_tokens = 64;
    else return fs_fail("--shape %s: unknown shape (quickstart, tiny, small or 7b)", name);
    return 0;
}

static int parse_int(const char *flag, const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > INT_MAX)
        return fs_fail("%s expects an integer >= %d, got '%s'", flag, min, s);
    *out = (int)v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end || !(*out > 0) || !isfinite(*out))
        return fs_fail("%s expects a positive number, got '%s'", flag, s);
    return 0;
}

static int parse_clients(const char *s, bench_opts *o)
{
    char buf[512];
    if (strlen(s) >= sizeof buf) return fs_fail("--clients: list too long");
    strcpy(buf, s);
    o->n_sweep = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_sweep == MAX_SWEEP) return fs_fail("--clients: at most %d values", MAX_SWEEP);
        if (parse_int("--clients", tok, 1, &o->clients[o->n_sweep++])) return -1;
    }
    return o->n_sweep ? 0 : fs_fail("--clients expects a list such as 1,8,64");
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.shape = "tiny", .backend = "cpu", .batch = 4, .epochs = 1, .rank = 16,
                      .alpha = 32, .rounds = 3, .max_rows = 2048};
    if (parse_clients("1,8,64", o)) return -1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(f, "--json")) {
            o->json = true;
            continue;
        }
        if (!v) return fs_fail("%s: missing value (%s)", f, USAGE);
        i++;
        if (!strcmp(f, "--shape")) o->shape = v;
        else if (!strcmp(f, "--backend")) o->backend = v;
        else if (!strcmp(f, "--write-config")) o->write_config = v;
        else if (!strcmp(f, "--clients")) rc = parse_clients(v, o);
        else if (!strcmp(f, "--threads")) rc = parse_int(f, v, 0, &o->threads);
        else if (!strcmp(f, "--total-samples")) rc = parse_int(f, v, 1, &o->total);
        else if (!strcmp(f, "--samples-per-client")) rc = parse_int(f, v, 1, &o->per_client);
        else if (!strcmp(f, "--text-tokens")) rc = parse_int(f, v, 2, &o->text_tokens);
        else if (!strcmp(f, "--batch")) rc = parse_int(f, v, 1, &o->batch);
        else if (!strcmp(f, "--epochs")) rc = parse_int(f, v, 1, &o->epochs);
        else if (!strcmp(f, "--rank")) rc = parse_int(f, v, 1, &o->rank);
        else if (!strcmp(f, "--rounds")) rc = parse_int(f, v, 1, &o->rounds);
        else if (!strcmp(f, "--max-rows")) rc = parse_int(f, v, 1, &o->max_rows);
        else if (!strcmp(f, "--alpha")) rc = parse_double(f, v, &o->alpha);
        else if (!strcmp(f, "--peak-tflops")) rc = parse_double(f, v, &o->peak_tflops);
        else return fs_fail("unknown option %s (%s)", f, USAGE);
        if (rc) return -1;
    }
    if (o->total && o->per_client)
        return fs_fail("give --total-samples or --samples-per-client, not both");
    if (!o->per_client && !o->total) o->total = 64;
    for (int s = 0; o->total && s < o->n_sweep; s++)
        if (o->total % o->clients[s])
            return fs_fail("--total-samples %d is not a multiple of %d clients: every client "
                           "holds the same number of samples", o->total, o->clients[s]);
    return 0;
}

/* Every sample: one text token, the image's tokens, then text up to len;
 * text ids avoid the image token and padding. */
static int make_task(const fs_mllm *m, int n, int len, fs_task *t)
{
    const fs_llava_config *c = &m->cfg;
    int ntok = m->n_image_tokens, S = c->v_image_size;
    fs_rng r = fs_rng_seed(SEED);
    memset(t, 0, sizeof *t);
    t->n_images = n < MAX_IMAGES ? n : MAX_IMAGES;
    t->image_size = S;
    t->pad_id = c->pad_token_id >= 0 ? c->pad_token_id : 0;
    for (int k = 0; k < FS_MAX_CHOICES; k++) t->letter_ids[k] = c->t_vocab / 2 + k;
    t->samples = calloc((size_t)n, sizeof *t->samples);
    t->pixels = malloc((size_t)t->n_images * 3 * S * S * sizeof *t->pixels);
    if (!t->samples || !t->pixels)
        return fs_task_free(t), fs_fail("out of memory making %d samples", n);
    t->n = n;
    for (size_t i = 0; i < (size_t)t->n_images * 3 * S * S; i++)
        t->pixels[i] = (float)(2 * fs_rng_uniform(&r) - 1);
    for (int i = 0; i < n; i++) {
        fs_sample *s = &t->samples[i];
        if (!(s->ids = malloc((size_t)len * sizeof *s->ids)))
            return fs_task_free(t), fs_fail("out of memory making %d samples", n);
        s->len = len, s->image = i % t->n_images, s->image_pos = IMAGE_POS;
        s->n_choices = 4, s->answer = i % 4;
        for (int p = 0; p < len; p++) {
            int32_t id;
            do id = 1 + (int32_t)fs_rng_below(&r, (uint64_t)c->t_vocab - 1);
            while (id == c->image_token_index || id == t->pad_id);
            s->ids[p] = p >= IMAGE_POS && p < IMAGE_POS + ntok ? c->image_token_index : id;
        }
    }
    return 0;
}

static double model_flops_per_sample(const fs_llava_config *c, int T)
{
    double d = c->t_hidden, D = c->t_head_dim, L = c->t_layers;
    double P = d * c->t_heads * D + 2 * d * c->t_kv_heads * D + c->t_heads * D * d +
               3 * d * c->t_intermediate;
    double fwd = 2 * L * P * T + 2 * L * c->t_heads * D * (double)T * T + 2.0 * c->t_vocab * d;
    double bwd = 2 * L * P * T + 4 * L * c->t_heads * D * (double)T * T + 2.0 * c->t_vocab * d;
    return fwd + bwd;
}

/* CPU seconds of all this process's threads: on a machine other jobs share,
 * the work done, where wall time also counts waiting for a core. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best fp32 sgemm rate of this machine with the run's threads, in FLOP per
 * second of wall time and per CPU second (all threads' CPU time: the rate one
 * core sustains, which other jobs sharing the cores do not deflate). */
static void cpu_sgemm_peak(double *wall_rate, double *cpu_rate)
{
    enum { N = 1024, REPS = 5 };
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    double best = INFINITY, best_cpu = INFINITY;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)N * N; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        for (int r = 0; r <= REPS; r++) { /* r == 0 warms up */
            double t0 = fs_now(), c0 = cpu_now();
            fs_cpu_sgemm(false, false, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
            if (r) best = fmin(best, fs_now() - t0), best_cpu = fmin(best_cpu, cpu_now() - c0);
        }
    }
    free(a), free(b), free(c);
    *wall_rate = isfinite(best) ? 2.0 * N * N * N / best : NAN;
    *cpu_rate = isfinite(best_cpu) ? 2.0 * N * N * N / best_cpu : NAN;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    double round_s, cpu_s, loss; /* wall and process CPU seconds per round (medians) */
    int steps, group_size;
} round_result;

/* K clients with n samples each (client k: samples k*n ..), FedAvg rounds
 * as fs_run_method drives them, minus evaluation and results. */
static int time_rounds(fs_engine *e, const bench_opts *o, int K, int n, int32_t *shard_ids,
                       round_result *res)
{
    const fs_ops *ops = fs_engine_ops(e);
    fs_fed_run r = {.engine = e, .method = fs_method_find("fedavg"), .clients = K,
                    .group_size = fs_engine_items_per_pass(e) / o->batch};
    if (r.group_size < 1) r.group_size = 1; /* as fs_run_method sizes lockstep groups */
    fs_adapter_shape shape = {.rank = o->rank, .dim = fs_engine_dim(e),
                              .scale = (float)(o->alpha / o->rank), .targets = {true, true}};
    r.opts = (fs_local_opts){.epochs = o->epochs, .batch_size = o->batch, .lr = 2e-3f};
    int *participants = malloc((size_t)K * sizeof *participants);
    double *loss = calloc((size_t)K, sizeof *loss);
    double *times = calloc(2 * (size_t)o->rounds, sizeof *times); /* wall, then CPU */
    r.train = calloc((size_t)K, sizeof *r.train);
    int rc = -1;
    if (!participants || !loss || !times || !r.train) {
        fs_fail("out of memory for %d clients", K);
        goto done;
    }
    for (int k = 0; k < K; k++)
        participants[k] = k, r.train[k] = (fs_shard){n, shard_ids + (size_t)k * n};
    if (fs_bank_init(&r.global, ops, &shape, 1) || fs_bank_init(&r.local, ops, &shape, K) ||
        fs_train_state_init(&r.state, &r.local))
        goto done;
    fs_bank_init_lora(&r.global, SEED);
    for (int round = 0; round <= o->rounds; round++) { /* round 0 warms up */
        r.opts.seed = (uint64_t)round;
        double t0 = fs_now(), c0 = cpu_now();
        if (fs_fit_from_global(&r, participants, K, loss) ||
            fs_aggregate_mean(&r, participants, K))
            goto done;
        ops->synchronize();
        if (round) times[round - 1] = fs_now() - t0, times[o->rounds + round - 1] = cpu_now() - c0;
    }
    res->round_s = median(times, o->rounds);
    res->cpu_s = median(times + o->rounds, o->rounds);
    res->loss = 0;
    for (int k = 0; k < K; k++) res->loss += loss[k] / K;
    res->steps = fs_local_steps(n, &r.opts);
    res->group_size = r.group_size;
    rc = isfinite(res->loss) ? 0 : fs_fail("training loss is %g with %d clients", res->loss, K);
done:
    fs_bank_free(&r.global), fs_bank_free(&r.local), fs_train_state_free(&r.state);
    free(participants), free(loss), free(times), free(r.train);
    return rc;
}

/* The shape as a Hugging Face config.json, and on stdout the text tokens per
 * sample the reference must use. */
static int write_config(const fs_llava_config *cfg, const char *dir, int text_tokens)
{
    char path[4096];
    if (mkdir(dir, 0755) && errno != EEXIST)
        return fs_fail("--write-config %s: cannot create the directory: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (fs_llava_config_save(path, cfg)) return -1;
    printf("{\"config\": \"%s\", \"text_tokens\": %d}\n", path, text_tokens);
    return 0;
}

/* 7B on the CPU backend: refused before allocating 28 GB. */
static int check_fits(const fs_llava_config *cfg, const char *shape, const fs_ops *ops)
{
    if (strcmp(shape, "7b") || strcmp(ops->name, "cpu")) return 0;
    fs_param_counts pc;
    if (fs_mllm_count_params(cfg, &pc)) return -1;
    size_t free_b = 0, total_b = 0;
    char mem[96] = "";
    if (!ops->mem_info(&free_b, &total_b))
        snprintf(mem, sizeof mem, " (this machine: %.1f GB free of %.1f GB)", free_b / 1e9,
                 total_b / 1e9);
    return fs_fail("--shape 7b is for a GPU: its fp32 weights alone take %.1f GB%s, plus ~8 MB of "
                   "activations per row of --max-rows, and a CPU round would take hours; run "
                   "`bench_round --shape 7b --backend cuda` from a CUDA build "
                   "(-DFEDSIM_CUDA=ON), or use --shape small here", pc.total * 4.0 / 1e9, mem);
}

static int run(const bench_opts *o)
{
    fs_llava_config cfg;
    int text_tokens = 0;
    if (shape_config(o->shape, &cfg, &text_tokens)) return -1;
    if (o->text_tokens) text_tokens = o->text_tokens;
    if (o->write_config) return write_config(&cfg, o->write_config, text_tokens);
    const char *why = NULL;
    const fs_ops *ops = fs_backend_by_name(o->backend, &why);
    if (!ops) return fs_fail("--backend %s: %s", o->backend, why ? why : "not available");
    if (check_fits(&cfg, o->shape, ops)) return -1;
    fs_set_threads(o->threads);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    bool gpu = strcmp(ops->name, "cpu") != 0;
    double peak = o->peak_tflops ? o->peak_tflops * 1e12 : 989e12, peak_cpu = NAN;
    if (!gpu && !o->peak_tflops) cpu_sgemm_peak(&peak, &peak_cpu);
    const char *peak_what = o->peak_tflops ? "--peak-tflops"
                            : gpu ? "H100 SXM bf16 dense (fedsim's weights are fp32)"
                                  : "best fp32 sgemm 1024^3 measured in this run";

    fs_mllm *m = fs_mllm_new_random(&cfg, ops, SEED);
    if (!m) return -1;
    int T = m->n_image_tokens + text_tokens, n_max = 0, rc = -1;
    for (int s = 0; s < o->n_sweep; s++) {
        int n = o->total ? o->total / o->clients[s] : o->per_client;
        if ((long)n * o->clients[s] > n_max) n_max = n * o->clients[s];
    }
    fs_task task = {0};
    fs_engine *e = NULL;
    int32_t *shard_ids = malloc((size_t)n_max * sizeof *shard_ids);
    if (!shard_ids) {
        fs_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < n_max; i++) shard_ids[i] = i;
    if (make_task(m, n_max, T, &task) || !(e = fs_engine_new(m, &task, o->max_rows)) ||
        fs_engine_cache_features(e))
        goto done;
    double flops = model_flops_per_sample(&cfg, T);
    if (!o->json) {
        printf("bench_round: one FedAvg round (fit + aggregate), shape %s, backend %s, "
               "%d threads\n", o->shape, ops->name, threads);
        printf("model: %zu params (random, fp32); LLM hidden %d x %d layers; %d tokens per sample "
               "(%d image + %d text)\n", m->nparams, cfg.t_hidden, cfg.t_layers, T,
               m->n_image_tokens, text_tokens);
        printf("round: batch %d, %d local epoch(s), AdamW, NanoAdapter-I/T rank %d; max %d rows "
               "per frozen-model pass; median of %d rounds after 1 warm-up\n", o->batch, o->epochs,
               o->rank, o->max_rows, o->rounds);
        printf("sweep: %s; model FLOPs/sample %.4g (forward + input-backward)\n",
               o->total ? "fixed total samples per round" : "fixed samples per client", flops);
        printf("peak: %.4g TFLOP/s (%s); per CPU second %.4g TFLOP/s\n\n", peak * 1e-12,
               peak_what, peak_cpu * 1e-12);
        printf("%8s %8s %6s %6s | %9s %7s %9s | %10s %11s %9s %6s %7s | %s\n", "clients",
               "samp/cl", "steps", "group", "round s", "vs 1st", "CPU s", "samples/s", "tokens/s",
               "TFLOP/s", "MFU", "MFU/CPU", "loss");
    }
    double first = 0;
    for (int s = 0; s < o->n_sweep; s++) {
        int K = o->clients[s], n = o->total ? o->total / K : o->per_client;
        round_result res;
        if (time_rounds(e, o, K, n, shard_ids, &res)) goto done;
        if (!s) first = res.round_s;
        double samples = (double)K * n * o->epochs, sps = samples / res.round_s;
        double achieved = sps * flops;
        /* The same against CPU time: FLOPs per CPU second over the sgemm's. */
        double mfu_cpu = samples * flops / res.cpu_s / peak_cpu;
        if (o->json)
            printf("{\"impl\": \"fedsim\", \"shape\": \"%s\", \"device\": \"%s\", "
                   "\"threads\": %d, \"params\": %zu, \"clients\": %d, \"samples_per_client\": %d, "
                   "\"seq_len\": %d, \"batch\": %d, \"epochs\": %d, \"round_s\": %.6g, "
                   "\"cpu_s\": %.6g, \"samples_per_s\": %.6g, \"tokens_per_s\": %.6g, "
                   "\"model_flops_per_sample\": %.6g, \"mfu\": %.4g, \"peak_flops\": %.6g, "
                   "\"mfu_cpu\": %.4g, \"peak_flops_per_cpu_s\": %.6g, \"loss\": %.6g}\n",
                   o->shape, ops->name, threads, m->nparams, K, n, T, o->batch, o->epochs,
                   res.round_s, res.cpu_s, sps, sps * T, flops, achieved / peak, peak, mfu_cpu, peak_cpu,
                   res.loss);
        else
            printf("%8d %8d %6d %6d | %9.4f %6.2fx %9.4f | %10.2f %11.0f %9.4f %5.1f%% %6.1f%% | "
                   "%.4f\n", K, n, res.steps, res.group_size, res.round_s, res.round_s / first,
                   res.cpu_s, sps, sps * T, achieved * 1e-12, 100 * achieved / peak, 100 * mfu_cpu,
                   res.loss);
        fflush(stdout);
    }
    if (!o->json)
        printf("\nround s: wall, CPU s: this process's CPU time, per round (medians). samples/s "
               "counts every sample of every local epoch; tokens/s = samples/s x %d; steps = local "
               "steps per client; group = clients per lockstep group.\n", T);
    rc = 0;
done:
    fs_engine_free(e);
    fs_task_free(&task);
    free(shard_ids);
    fs_mllm_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o) || run(&o)) {
        fprintf(stderr, "bench_round: %s\n", fs_last_error());
        return 1;
    }
    return 0;
}
