/* fedsim demo: the model end to end on one synthetic sample — load (or create
 * and save) a LLaVA checkpoint, encode an image, run the decoder, backpropagate
 * to the input embeddings (federated path) and to every weight (pretraining path). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/cli/commands.h"
#include "sim/io/error.h"
#include "sim/io/progress.h"
#include "sim/io/rng.h"
#include "sim/model/batch.h"
#include "sim/model/mllm.h"
#include "sim/model/presets.h"

static double host_norm(const fs_ops *o, const float *dev, size_t n)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return NAN;
    o->to_host(h, dev, n * sizeof *h);
    o->synchronize();
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)h[i] * h[i];
    free(h);
    return sqrt(s);
}

static void demo_usage(FILE *f)
{
    fprintf(f, "usage: fedsim demo [--model DIR] [--save DIR] [--backend cpu|cuda|auto] [--threads N]\n"
               "\n"
               "  --model DIR   a Hugging Face LLaVA directory (config.json + safetensors); without it a\n"
               "                tiny random model is created, saved to --save and loaded back\n"
               "  --save DIR    where the created model goes (default results/demo-model)\n");
}

int fs_cmd_demo(int argc, char **argv)
{
    const char *model_dir = NULL, *save_dir = "results/demo-model", *backend = "auto";
    int threads = 0;
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"save", required_argument, NULL, 's'},
                                         {"backend", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {0}};
    for (int c; (c = fs_cli_getopt(argc, argv, "demo", "h", opts)) != -1;) {
        switch (c) {
        case 'h': demo_usage(stdout); return 0;
        case 'm': model_dir = optarg; break;
        case 's': save_dir = optarg; break;
        case 'b': backend = optarg; break;
        case 't': if ((threads = fs_cli_int("--threads", optarg, 0)) < 0) return 2; break;
        default: demo_usage(stderr); return 2;
        }
    }
    if (fs_cli_operand(argc, argv, "demo", NULL)) {
        demo_usage(stderr);
        return 2;
    }
    const fs_ops *o = fs_cli_backend(backend, threads);
    if (!o) return 2;

    if (!model_dir) {
        fs_llava_config cfg = fs_llava_config_tiny();
        fs_mllm *fresh = fs_mllm_new_random(&cfg, o, 1234);
        if (!fresh || fs_mllm_save(fresh, save_dir)) {
            fprintf(stderr, "fedsim demo: %s\n", fs_last_error());
            fs_mllm_free(fresh);
            return 1;
        }
        fs_mllm_free(fresh);
        printf("created a tiny random LLaVA model in %s\n", save_dir);
        model_dir = save_dir;
    }
    double t0 = fs_now();
    fs_mllm *m = fs_mllm_load(model_dir, o);
    if (!m) {
        fprintf(stderr, "fedsim demo: %s\n", fs_last_error());
        return 1;
    }
    const fs_llava_config *c = &m->cfg;
    printf("loaded %s on the %s backend: %.2fM parameters in %.2f s\n", model_dir, o->name,
           m->nparams / 1e6, fs_now() - t0);

    /* One image per sequence: 4 text tokens, the image tokens, 6 question
     * tokens, then a 3-token answer that carries the labels. */
    const int B = 2, ntok = m->n_image_tokens, T = 4 + ntok + 6 + 3;
    const int S = c->v_image_size, C = c->v_channels;
    fs_rng rng = fs_rng_seed(7);
    float *pixels = malloc((size_t)B * C * S * S * sizeof *pixels);
    int32_t *ids = malloc((size_t)B * T * sizeof *ids), *labels = malloc((size_t)B * T * sizeof *labels);
    if (!pixels || !ids || !labels) return fprintf(stderr, "fedsim demo: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)B * C * S * S; i++) pixels[i] = (float)fs_rng_normal(&rng);
    int text_vocab = c->image_token_index > 1 ? c->image_token_index : c->t_vocab;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int r = b * T + t;
            int is_image = t >= 4 && t < 4 + ntok;
            ids[r] = is_image ? c->image_token_index : 1 + (int32_t)fs_rng_below(&rng, text_vocab - 1);
            labels[r] = t >= T - 3 ? ids[r] : FS_IGNORE_LABEL;
        }
    fs_batch_buf bb = {0};
    int start_rows[8];
    fs_vision_acts *va = fs_vision_acts_new(m, B);
    fs_llm_acts *la = fs_llm_acts_new(m, B * T, B * T);
    float *features = o->alloc((size_t)B * ntok * c->t_hidden * sizeof(float));
    float *embeds = o->alloc((size_t)B * T * c->t_hidden * sizeof(float));
    float *dembeds = o->alloc((size_t)B * T * c->t_hidden * sizeof(float));
    float *dfeatures = o->alloc((size_t)B * ntok * c->t_hidden * sizeof(float));
    int rc = 1;
    if (!va || !la || !features || !embeds || !dembeds || !dfeatures ||
        fs_batch_build(&bb, o, ids, labels, B, T, false) ||
        fs_mllm_image_rows(m, ids, B, T, start_rows, 8) != B) {
        fprintf(stderr, "fedsim demo: %s\n", fs_last_error());
        goto done;
    }
    t0 = fs_now();
    if (fs_mllm_encode_images(m, va, pixels, B, features)) {
        fprintf(stderr, "fedsim demo: %s\n", fs_last_error());
        goto done;
    }
    fs_mllm_embed_tokens(m, &bb.batch, embeds);
    fs_mllm_splice_images(m, embeds, features, B, start_rows);
    double loss = fs_llm_forward(m, la, &bb.batch, embeds);
    o->synchronize();
    double t_fwd = fs_now() - t0;
    printf("forward: %d sequences x %d tokens (%d image tokens each), loss %.4f (ln(vocab) = %.4f), %.3f s\n",
           B, T, ntok, loss, log((double)c->t_vocab), t_fwd);
    if (!isfinite(loss)) {
        fprintf(stderr, "fedsim demo: the loss is %g, not a finite number: the model's weights hold "
                        "NaN or infinite values, or values so large that the forward overflows "
                        "(check them with 'fedsim info MODEL_DIR --check-values')\n", loss);
        goto done;
    }

    t0 = fs_now();
    fs_llm_backward(m, la, &bb.batch, dembeds, NULL);
    o->synchronize();
    printf("input-backward (frozen weights): |dL/d embeds| = %.4e, %.3f s\n",
           host_norm(o, dembeds, (size_t)B * T * c->t_hidden), fs_now() - t0);

    if (fs_mllm_enable_grads(m)) {
        fprintf(stderr, "fedsim demo: %s\n", fs_last_error());
        goto done;
    }
    t0 = fs_now();
    o->zero(dembeds, (size_t)B * T * c->t_hidden * sizeof(float));
    fs_llm_backward(m, la, &bb.batch, dembeds, NULL);
    fs_mllm_gather_image_grads(m, dfeatures, dembeds, B, start_rows);
    fs_mllm_encode_images_backward(m, va, dfeatures, B);
    o->synchronize();
    printf("full backward (all weights): |dL/d theta| = %.4e over %zu parameters, %.3f s\n",
           host_norm(o, m->grads, m->nparams), m->nparams, fs_now() - t0);
    rc = 0;
done:
    if (features) o->free(features);
    if (embeds) o->free(embeds);
    if (dembeds) o->free(dembeds);
    if (dfeatures) o->free(dfeatures);
    fs_batch_free(&bb);
    fs_vision_acts_free(m, va);
    fs_llm_acts_free(m, la);
    fs_mllm_free(m);
    free(pixels);
    free(ids);
    free(labels);
    return rc;
}
