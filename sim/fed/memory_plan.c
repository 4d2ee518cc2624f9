/* The memory plan of a cell (sim/fed/memory_plan.h). The sizes mirror the
 * allocations they stand for: fs_bank_init and fs_train_state_init (banks),
 * ensure_rank and restrict_to_choices in engine.c (activations),
 * fs_plan_partition (shards sized for every training and test sample per
 * client), fs_run_method and the strategies (per-client rows), and the
 * results store, which builds the file in memory (results_cow.c). */
#define _DEFAULT_SOURCE /* d_type */
#include "sim/fed/memory_plan.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/fed/adapter.h"
#include "sim/fed/federation.h"
#include "sim/fed/strategy.h"
#include "sim/io/error.h"
#include "sim/io/results.h"

enum { ADAPTER_USES = 2 };       /* engine.c MAX_USES: adapter banks applied in one pass */
#define RUNTIME_BYTES 40e6 /* the least for fedsim's libraries, BLAS and HDF5 buffers (a tiny run: 76 MB in all) */
#define RESULT_ROW_BYTES 60.0    /* one packed rounds record in the file */
#define FINAL_ROW_BYTES 28.0     /* one packed final record */
#define RESULTS_FILE_COPIES 3.0  /* the file read, HDF5's copy, the image written back */

/* The size of the regular files directly in dir (a model directory). */
static double dir_file_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    double sum = 0;
    char path[8192];
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        if (n > 12 && !strcmp(e->d_name + n - 12, ".safetensors") && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            sum += (double)st.st_size;
    }
    closedir(d);
    return sum;
}

/* Floats of the LLM activation pool (fs_llm_acts_new with N = M = rows). */
static double llm_pool_floats(const fs_llava_config *c, double N)
{
    double d = c->t_hidden, I = c->t_intermediate, V = c->t_vocab;
    double qd = (double)c->t_heads * c->t_head_dim, kd = (double)c->t_kv_heads * c->t_head_dim;
    double layer = N * (5 * d + 2 * qd + 2 * kd + 3 * I + 2 + c->t_heads);
    return c->t_layers * layer + N * (2 * d + 1) + N * (d + V + 2);
}

/* /proc/self/statm in bytes: what this process maps (field 0) or holds
 * resident (field 1); 0 when it cannot be read. */
static double statm_bytes(int field)
{
    long v[2] = {0, 0};
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    int got = fscanf(f, "%ld %ld", &v[0], &v[1]);
    fclose(f);
    return got == 2 ? (double)v[field] * (double)sysconf(_SC_PAGESIZE) : 0;
}

void fs_memory_plan_estimate(const fs_config *cfg, const fs_task *task, const fs_mllm *m,
                             const char *model_dir, fs_memory_plan *p)
{
    memset(p, 0, sizeof *p);
    const fs_llava_config *mc = &m->cfg;
    double C = cfg->clients, d = mc->t_hidden, V = mc->t_vocab, K = task->n_categories;
    double ntrain = 0, ntest = 0, longest = 1;
    for (int i = 0; i < task->n; i++) {
        if (task->samples[i].split == FS_SPLIT_TRAIN) ntrain++;
        else ntest++;
        longest = task->samples[i].len > longest ? task->samples[i].len : longest;
    }
    if (cfg->max_train_samples > 0 && ntrain > cfg->max_train_samples) ntrain = cfg->max_train_samples;
    double rows = cfg->rows_per_pass > longest ? cfg->rows_per_pass : longest;

    p->weights = dir_file_bytes(model_dir);
    p->features = (double)task->n_images * m->n_image_tokens * d * 4;
    p->buffers = 4 * (llm_pool_floats(mc, rows) + rows * (d * (3 + ADAPTER_USES) + V + 20));
    /* What this process holds now beyond the rest: the libraries alone can
     * be most of it (a build with the CUDA backend maps cuBLAS(Lt), about
     * 150 MB resident even when the run uses the CPU). */
    p->runtime = fmax(RUNTIME_BYTES, statm_bytes(1) - p->weights - p->features - p->buffers);

    fs_adapter_shape shape = {.rank = cfg->rank, .dim = mc->t_hidden,
                              .targets = {cfg->target_image, cfg->target_text}};
    double P = (double)fs_adapter_params(&shape), targets = cfg->target_image + cfg->target_text;
    /* partition: C shards of capacity ntrain and ntest, counts and shares */
    double partition = C * ((ntrain + ntest) * 4 + K * 12 + 2 * sizeof(fs_shard));
    /* fs_run_method's per-client arrays and rows, choose_participants,
     * record_round, the lockstep step table, evaluation's shards */
    double per_client = sizeof(int) + 3 * sizeof(double) + sizeof(fs_round_row) +
                        sizeof(fs_final_row) + 4 + 1 + 8 + 1 + 4 + 2 * sizeof(fs_shard);
    double file = (cfg->rounds + 1.0) * (C + 1) * RESULT_ROW_BYTES + C * FINAL_ROW_BYTES + C * K * 4;
    p->results = RESULTS_FILE_COPIES * file;
    p->activations = ADAPTER_USES * targets * rows * cfg->rank * 4 + rows * V * 4;
    double hungriest = -1;
    for (int i = 0; i < cfg->n_methods; i++) {
        const fs_method *m = cfg->methods[i].method;
        double banks = (1 + C + (m->client_state ? C : 0) + m->server_slots) * P * 4,
               optimizer = 3 * C * P * 4;
        /* aggregation (Fisher-weighted: 3 doubles and 2 floats per parameter;
         * the server optimisers less) and the finiteness check */
        double host = 36 * P;
        if (m->host_bytes) host += m->host_bytes(cfg->methods[i].params, C, ntrain, ntest, d);
        if (banks + optimizer + host > hungriest) {
            hungriest = banks + optimizer + host;
            p->adapters = banks, p->optimizer = optimizer;
            p->clients = partition + C * per_client + host;
        }
    }
}

double fs_memory_plan_device(const fs_memory_plan *p)
{
    return p->adapters + p->optimizer + p->activations;
}

double fs_memory_plan_host(const fs_memory_plan *p) { return p->clients + p->results; }

double fs_memory_plan_total(const fs_memory_plan *p)
{
    return p->weights + p->features + p->buffers + p->runtime + fs_memory_plan_device(p) +
           fs_memory_plan_host(p);
}

/* ---- limits ---- */

/* The first number in file path after key (NULL: the file's first number). */
static bool read_number(const char *path, const char *key, double *v)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    bool found = false;
    size_t n = key ? strlen(key) : 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (key && (strncmp(line, key, n) || line[n] != ' ')) continue;
        char *end;
        double x = strtod(line + n, &end);
        found = end != line + n; /* "max" (no limit) is not a number */
        if (found) *v = x;
        if (!key) break;
    }
    fclose(f);
    return found;
}

/* A cgroup's room: limit - usage + reclaimable page cache, when it has a
 * limit. dir is the cgroup's directory; v2 or v1 file names. */
static bool cgroup_room(const char *dir, bool v2, double *room, double *limit, double *used)
{
    char p[8300];
    snprintf(p, sizeof p, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    if (!read_number(p, NULL, limit) || *limit >= 1e18) return false; /* no limit */
    snprintf(p, sizeof p, "%s/%s", dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    if (!read_number(p, NULL, used)) return false;
    double cache = 0;
    snprintf(p, sizeof p, "%s/memory.stat", dir);
    read_number(p, v2 ? "inactive_file" : "total_inactive_file", &cache);
    *room = *limit - *used + cache;
    return true;
}

/* The tightest cgroup memory limit over this process's cgroup and its
 * ancestors (v2: the unified hierarchy; v1: the memory controller), as
 * mounted in this namespace. */
static bool cgroup_limit(double *room, double *limit, double *used)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return false;
    char line[4096], v2path[4096] = "", v1path[4096] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "0::", 3)) snprintf(v2path, sizeof v2path, "%s", line + 3);
        char *c = strstr(line, ":memory:");
        if (c) snprintf(v1path, sizeof v1path, "%s", c + 8);
    }
    fclose(f);
    bool any = false;
    for (int v2 = 1; v2 >= 0; v2--) {
        const char *base = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
        char rel[4096];
        snprintf(rel, sizeof rel, "%s", v2 ? v2path : v1path);
        if (!v2 && !v1path[0]) continue;
        for (;;) { /* this cgroup, then each ancestor up to the mount's root */
            char dir[8200];
            snprintf(dir, sizeof dir, "%s%s", base, rel);
            double r, l, u;
            if (cgroup_room(dir, v2, &r, &l, &u) && (!any || r < *room))
                *room = r, *limit = l, *used = u, any = true;
            char *slash = strrchr(rel, '/');
            if (!slash || !rel[0] || !strcmp(rel, "/")) break;
            *slash = 0;
        }
    }
    return any;
}

double fs_memory_host_available(char *why, size_t cap)
{
    char a[32], b[32];
    double avail = INFINITY, total = 0;
    why[0] = 0;
    if (read_number("/proc/meminfo", "MemAvailable:", &avail)) {
        avail *= 1024;
        read_number("/proc/meminfo", "MemTotal:", &total);
        snprintf(why, cap, "MemAvailable %s of %s", fs_human_bytes(avail, a, sizeof a),
                 fs_human_bytes(total * 1024, b, sizeof b));
    }
    double room, limit, used;
    if (cgroup_limit(&room, &limit, &used) && room < avail) {
        avail = room > 0 ? room : 0;
        snprintf(why, cap, "the cgroup's memory limit %s, of which %s is in use",
                 fs_human_bytes(limit, a, sizeof a), fs_human_bytes(used, b, sizeof b));
    }
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        double mapped = statm_bytes(0);
        double left = (double)lim.rlim_cur - mapped;
        if (left < avail) {
            avail = left > 0 ? left : 0;
            snprintf(why, cap, "the address-space limit (ulimit -v) %s, of which %s is mapped",
                     fs_human_bytes((double)lim.rlim_cur, a, sizeof a), fs_human_bytes(mapped, b, sizeof b));
        }
    }
    return avail;
}

/* FEDSIM_MEMORY_LIMIT: -1 unset, 0 off, else bytes; -2 malformed. */
static double limit_override(const char **text)
{
    const char *s = getenv("FEDSIM_MEMORY_LIMIT");
    *text = s;
    if (!s || !*s) return -1;
    if (!strcmp(s, "off")) return 0;
    char *end;
    double v = strtod(s, &end);
    const char *units = "KMGTP";
    const char *u = *end ? strchr(units, *end) : NULL;
    if (u) v *= pow(1000, (double)(u - units) + 1), end++;
    if (u && *end == 'B') end++;
    return *end || !(v > 0) || !isfinite(v) ? -2 : v;
}

int fs_memory_plan_check(const fs_config *cfg, const fs_task *task, const fs_mllm *m, bool verbose)
{
    const char *text;
    double forced = limit_override(&text);
    if (forced == -2)
        return fs_fail("FEDSIM_MEMORY_LIMIT='%s': expected a size such as 64G or 500M (decimal "
                       "units), or off", text);
    if (forced == 0) return 0;
    fs_memory_plan p;
    fs_memory_plan_estimate(cfg, task, m, cfg->model_path, &p);
    bool gpu = m->ops != fs_backend_cpu();
    double dev = fs_memory_plan_device(&p), host = fs_memory_plan_host(&p);
    double need_host = gpu ? host : dev + host, host_room = forced, dev_room = forced;
    double loaded = p.weights + p.features + p.buffers + p.runtime;
    char why_host[200], why_dev[200];
    /* FEDSIM_MEMORY_LIMIT bounds the whole run, what is loaded included */
    snprintf(why_host, sizeof why_host, "FEDSIM_MEMORY_LIMIT=%s, less what is loaded", text);
    snprintf(why_dev, sizeof why_dev, "FEDSIM_MEMORY_LIMIT=%s", text);
    if (forced > 0 && !gpu) host_room = forced - loaded;
    if (forced < 0) host_room = fs_memory_host_available(why_host, sizeof why_host);
    size_t free_b = 0, total_b = 0;
    if (gpu && forced < 0) {
        dev_room = INFINITY;
        if (m->ops->mem_info && m->ops->mem_info(&free_b, &total_b) == 0) {
            dev_room = (double)free_b;
            char t[32];
            snprintf(why_dev, sizeof why_dev, "%s memory: %s total", m->ops->name,
                     fs_human_bytes((double)total_b, t, sizeof t));
        }
    }
    char s[10][32];
    bool host_short = need_host > host_room, dev_short = gpu && dev > dev_room;
    if (verbose && !host_short && !dev_short)
        fprintf(stderr, "fedsim: memory plan: about %s for this cell (%s on top of the %s loaded; "
                        "%s available)\n",
                fs_human_bytes(fs_memory_plan_total(&p), s[0], 32), fs_human_bytes(dev + host, s[1], 32),
                fs_human_bytes(loaded, s[2], 32), fs_human_bytes(host_room, s[3], 32));
    if (!host_short && !dev_short) return 0;
    return fs_fail(
        "not enough memory for this run: it needs about %s more%s (adapters %s, optimizer state "
        "%s, adapter activations %s, per-client tables and aggregation %s, results rows %s) on top of the %s "
        "already loaded (model weights, image features, buffers), but %s is available (%s). Use "
        "fewer clients (data.partition.clients) or a smaller adapter.rank; if you know the "
        "estimate is wrong, set FEDSIM_MEMORY_LIMIT=SIZE (e.g. 64G) or FEDSIM_MEMORY_LIMIT=off",
        fs_human_bytes(dev_short ? dev : need_host, s[0], 32), dev_short ? " on the GPU" : "",
        fs_human_bytes(p.adapters, s[1], 32), fs_human_bytes(p.optimizer, s[2], 32), fs_human_bytes(p.activations, s[3], 32),
        fs_human_bytes(p.clients, s[4], 32), fs_human_bytes(p.results, s[5], 32),
        fs_human_bytes(loaded, s[6], 32),
        fs_human_bytes(fmax(dev_short ? dev_room : host_room, 0), s[7], 32), dev_short ? why_dev : why_host);
}
