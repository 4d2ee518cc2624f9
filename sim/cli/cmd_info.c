/* fedsim info: what a model costs — parameters by part, the NanoAdapter
 * fraction, and what a FedNano client stores and sends compared with the full
 * MLLM — after checking its weights, when the directory has them, against
 * config.json (headers only: milliseconds even at 7B); with --check-values,
 * also every weight's value. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/cli/commands.h"
#include "sim/fed/method.h"
#include "sim/io/error.h"
#include "sim/model/mllm.h"
#include "sim/model/safetensors.h"
#include "sim/model/tensor_values.h"

static void info_usage(FILE *f)
{
    fprintf(f, "usage: fedsim info MODEL_DIR [--rank R] [--bytes-per-param B] [--check-values]\n"
               "\n"
               "  MODEL_DIR            a Hugging Face LLaVA or BLIP-2 (MiniGPT-4) directory:\n"
               "                       config.json, and the weights\n"
               "                       (model.safetensors or a sharded index) when present, whose\n"
               "                       tensor names, shapes and dtypes are checked (no weight is read)\n"
               "  --rank R             NanoAdapter rank (default 16)\n"
               "  --bytes-per-param B  storage width of frozen weights (default 2: bf16)\n"
               "  --check-values       also read every weight and report NaN or infinite values\n"
               "                       (exit 1 when there are any; reads the whole checkpoint)\n");
}

/* Reports the tensors holding NaN or infinite values; 0 when none, 1 when
 * some, -1 when the weights cannot be opened. */
static int report_nonfinite(const char *dir)
{
    fs_st_archive *a = fs_st_open(dir);
    if (!a) return -1;
    size_t bad_values = 0;
    int bad_tensors = 0;
    for (int i = 0; i < fs_st_count(a); i++) {
        const fs_st_tensor *t = fs_st_at(a, i);
        size_t bad = fs_tensor_count_nonfinite(t);
        if (!bad) continue;
        if (bad_tensors++ < 5)
            printf("  non-finite: %zu of the values of '%s' (%s) are NaN or infinite\n", bad, t->name,
                   t->file);
        bad_values += bad;
    }
    fs_st_close(a);
    if (bad_tensors)
        printf("values: %zu NaN or infinite in %d tensor%s%s: this model gives non-finite losses; "
               "re-export or re-download it\n", bad_values, bad_tensors, bad_tensors > 1 ? "s" : "",
               bad_tensors > 5 ? " (the first 5 listed)" : "");
    else
        printf("values: every weight is finite\n");
    return bad_tensors ? 1 : 0;
}

static void row(const char *what, double params, double total, int bpp)
{
    printf("  %-34s %14.0f  %9.4f%%  %10.2f MB\n", what, params, 100.0 * params / total,
           params * bpp / 1e6);
}

int fs_cmd_info(int argc, char **argv)
{
    const char *dir;
    int rank = 16, bpp = 2;
    bool check_values = false;
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"rank", required_argument, NULL, 'r'},
                                         {"bytes-per-param", required_argument, NULL, 'b'},
                                         {"check-values", no_argument, NULL, 'c'},
                                         {0}};
    for (int c; (c = fs_cli_getopt(argc, argv, "info", "h", opts)) != -1;) {
        switch (c) {
        case 'h': info_usage(stdout); return 0;
        case 'r': if ((rank = fs_cli_int("--rank", optarg, 1)) < 0) return 2; break;
        case 'b': if ((bpp = fs_cli_int("--bytes-per-param", optarg, 1)) < 0) return 2; break;
        case 'c': check_values = true; break;
        default: info_usage(stderr); return 2;
        }
    }
    if (fs_cli_operand(argc, argv, "info", &dir) || !dir) {
        info_usage(stderr);
        return 2;
    }
    char path[4096], index[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    struct stat st;
    bool weights = !stat(path, &st) || !stat(index, &st);
    snprintf(path, sizeof path, "%s/config.json", dir);
    fs_llava_config cfg;
    fs_param_counts pc;
    fs_checkpoint_summary ws;
    if ((weights ? fs_mllm_check_checkpoint(dir, &cfg, &ws) : fs_llava_config_load(path, &cfg)) ||
        fs_mllm_count_params(&cfg, &pc)) {
        fprintf(stderr, "fedsim info: %s\n", fs_last_error());
        return 1;
    }
    /* NanoAdapter-I and -T: each A (r x d) + B (d x r) on the LLM hidden size. */
    double adapter = 2.0 * 2.0 * rank * cfg.t_hidden;
    double total = (double)pc.total;
    if (cfg.blip2)
        printf("%s: MiniGPT-4 / BLIP-2 (EVA ViT %d layers x %d, Q-Former %d layers x %d with %d "
               "query tokens, linear projection, LLaMA %d layers x %d, vocab %d)\n", dir,
               cfg.v_layers, cfg.v_hidden, cfg.q_layers, cfg.q_hidden, cfg.n_query_tokens,
               cfg.t_layers, cfg.t_hidden, cfg.t_vocab);
    else
        printf("%s: LLaVA (CLIP ViT %d layers x %d, %s projector, LLaMA %d layers x %d, vocab "
               "%d)\n", dir, cfg.v_layers, cfg.v_hidden,
               cfg.projector_linear ? "linear (MiniGPT-4 style)" : "2-layer GELU", cfg.t_layers,
               cfg.t_hidden, cfg.t_vocab);
    if (!weights)
        printf("weights: none in the directory; the counts below come from config.json\n");
    else
        printf("weights: %d tensors in %d file%s (F32 %d, BF16 %d, F16 %d), %.2f MB; names, shapes "
               "and dtypes match config.json\n", ws.n_tensors, ws.n_files, ws.n_files > 1 ? "s" : "",
               ws.n_by_dtype[FS_F32], ws.n_by_dtype[FS_BF16], ws.n_by_dtype[FS_F16], ws.bytes / 1e6);
    if (weights && ws.n_unused)
        printf("  (%d tensor%s in the files fedsim does not use, e.g. '%s')\n", ws.n_unused,
               ws.n_unused > 1 ? "s" : "", ws.first_unused);
    int values = 0;
    if (check_values && !weights)
        printf("values: not checked, the directory holds no weights\n");
    else if (check_values && (values = report_nonfinite(dir)) < 0) {
        fprintf(stderr, "fedsim info: %s\n", fs_last_error());
        return 1;
    }
    printf("  %-34s %14s  %10s  %13s\n", "part", "parameters", "of model", "bytes");
    row("vision tower", (double)pc.vision, total, bpp);
    if (cfg.blip2) row("Q-Former (with its query tokens)", (double)pc.qformer, total, bpp);
    row("projector", (double)pc.projector, total, bpp);
    row("language model", (double)pc.llm, total, bpp);
    row("  of which token embeddings", (double)pc.embed, total, bpp);
    row("total MLLM", total, total, bpp);
    printf("  %-34s %14.0f  %9.4f%%  %10.4f MB (fp32)\n", "NanoAdapters (I + T), trained", adapter,
           100.0 * adapter / total, adapter * 4 / 1e6);
    /* NanoEdge: the client keeps the frozen modality side (for MiniGPT-4 the
     * Q-Former too), the token embeddings and its adapters; the LLM stays
     * on the server. */
    double client = (double)pc.client * bpp + adapter * 4;
    double full = total * bpp;
    printf("\nclient storage (NanoEdge: encoder%s + projector + embeddings + adapters): %.2f MB, "
           "%.1f%% less than the full MLLM (%.2f MB)\n", cfg.blip2 ? " + Q-Former" : "",
           client / 1e6, 100.0 * (1 - client / full), full / 1e6);
    printf("upload per client per round (fp32):");
    for (int copies = 1; copies <= 4; copies++) {
        int listed = 0;
        for (int i = 0; i < fs_method_count(); i++)
            if (fs_method_at(i)->upload_copies == copies)
                printf("%s%s", listed++ ? "/" : copies > 1 ? ", " : " ", fs_method_at(i)->name);
        if (listed) printf(" %.4f MB", copies * adapter * 4 / 1e6);
    }
    printf(" (the adapters, and the Fisher or control variates of the methods that send two); "
           "the adapters are %.4f%% of the MLLM's parameters\n", 100.0 * adapter / total);
    return values;
}
