/* fs_pretrain_config from YAML through the run configuration's key-table
 * walk (sim/io/config_yaml.c): the same leaf kinds, value checks and
 * file:line: key: messages (with "did you mean"), stored straight into the
 * fields at the table's offsets. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/pretrain_config.h"
#include "sim/io/config_internal.h"
#include "sim/io/error.h"
#include "sim/model/presets.h"

static const char *const word_auto[] = {"auto", NULL};
static const char *const projectors[] = {"mlp2x_gelu", "linear", NULL}; /* true: linear */
static const char *const answers[] = {"letters", "words", "both", NULL}; /* fs_answer_style order */
static const char *const booleans[] = {"false", "true", NULL};
static const char *const tower_after[] = {"frozen", "trained", NULL}; /* true: trained */

#define TEXT(x) #x /* after expansion: FS_PRETRAIN_MAX_BATCH -> "256" */
#define BOUNDS(lo, hi) " in [" TEXT(lo) ", " TEXT(hi) "]"
#define OFF(f) offsetof(fs_pretrain_config, f)
#define PATH(k, f, w) {.key = k, .kind = K_STR, .what = w, .max_len = sizeof(((fs_pretrain_config *)0)->f) - 1, .offset = OFF(f)}
#define INT(k, f, lo, hi) {.key = k, .kind = K_INT, .what = "an integer" BOUNDS(lo, hi), .imin = lo, .imax = hi, .offset = OFF(f)}
#define FLT(k, f, lo, hi) {.key = k, .kind = K_FLOAT, .what = "a number" BOUNDS(lo, hi), .fmin = lo, .fmax = hi, .offset = OFF(f)}
#define WORDS(k, f, ch, kd, w) {.key = k, .kind = kd, .what = w, .choices = ch, .offset = OFF(f)}

/* The defaults are fs_pretrain_config_defaults' (the tiny preset's). */
static const cfg_leaf keys[] = {
    PATH("out", out_buf, "the output model directory"),
    PATH("init", init_buf, "a model directory to continue from"),
    {.key = "seed", .kind = K_U64, .what = "a non-negative integer", .offset = OFF(seed)},
    {.key = "threads", .kind = K_WORDINT, .what = "auto or an integer in [0, 1024] (0 = auto)",
     .choices = word_auto, .imin = 0, .imax = 1024, .offset = OFF(threads)},
    INT("model.image_size", model.v_image_size, 8, 1024),
    INT("model.patch_size", model.v_patch_size, 1, 1024),
    WORDS("model.projector", model.projector_linear, projectors, K_BOOLWORD,
          "mlp2x_gelu (LLaVA-1.5) or linear (MiniGPT-4 style)"),
    INT("model.vision.hidden", model.v_hidden, 4, 65536),
    INT("model.vision.intermediate", model.v_intermediate, 4, 262144),
    INT("model.vision.layers", model.v_layers, 2, 256),
    INT("model.vision.heads", model.v_heads, 1, 256),
    INT("model.llm.hidden", model.t_hidden, 4, 65536),
    INT("model.llm.intermediate", model.t_intermediate, 4, 262144),
    INT("model.llm.layers", model.t_layers, 1, 256),
    INT("model.llm.heads", model.t_heads, 1, 256),
    INT("model.llm.kv_heads", model.t_kv_heads, 1, 256),
    INT("corpus.size", corpus, 1, 10000000),
    FLT("corpus.mix.captions", mix.weight[FS_SOURCE_CAPTIONS], 0, 1e6),
    FLT("corpus.mix.iconqa", mix.weight[FS_SOURCE_ICONQA], 0, 1e6),
    FLT("corpus.mix.scienceqa", mix.weight[FS_SOURCE_SCIENCEQA], 0, 1e6),
    FLT("corpus.mix.matching", mix.weight[FS_SOURCE_MATCHING], 0, 1e6),
    {.key = "corpus.held_out", .kind = K_NAMES, .what = "a list of category names",
     .max_len = sizeof(((fs_pretrain_config *)0)->held_out_buf[0]) - 1, .imax = FS_PRETRAIN_MAX_HELD_OUT,
     .offset = OFF(held_out_buf)},
    WORDS("corpus.answers", mix.answers, answers, K_CHOICE,
          "letters (the option's letter), words (the option's text) or both (either, at random per item)"),
    WORDS("corpus.verdicts", mix.verdicts, booleans, K_BOOLWORD, "true or false"),
    INT("train.steps", steps, 1, 100000000),
    INT("train.batch", batch, 1, FS_PRETRAIN_MAX_BATCH),
    FLT("train.lr", lr, 1e-12, 10),
    FLT("train.weight_decay", weight_decay, 0, 10),
    INT("train.eval_every", eval_every, 0, 100000000),
    INT("vision.steps", vision_steps, 0, 100000000),
    FLT("vision.lr", vision_lr, 1e-12, 10),
    WORDS("vision.tower_after", vision_trained_after, tower_after, K_BOOLWORD,
          "frozen (LLaVA's recipe) or trained (with the LLM)"),
};
enum { NKEYS = sizeof keys / sizeof *keys };
static const cfg_table table = {keys, NKEYS, "a mapping of keys (see configs/pretrain-tiny.yaml)"};

/* corpus.held_out's canonical comma list into the config's own storage. */
static void store_held_out(fs_pretrain_config *pc, const char *list)
{
    int n = 0;
    for (const char *s = list; *s && n < FS_PRETRAIN_MAX_HELD_OUT; n++) { /* bounds checked by the walk */
        size_t len = strcspn(s, ",");
        snprintf(pc->held_out_buf[n], sizeof pc->held_out_buf[n], "%.*s", (int)len, s);
        pc->held_out_ptr[n] = pc->held_out_buf[n];
        s += len + (s[len] == ',');
    }
    pc->mix.held_out = pc->held_out_ptr;
    pc->mix.n_held_out = n;
}

int fs_pretrain_config_load(const char *path, fs_pretrain_config *pc)
{
    size_t len;
    char *text = cfg_read_file(path, &len), *texts[NKEYS] = {0};
    int lines[NKEYS];
    if (!text) return -1;
    int rc = cfg_walk_table(text, len, path, &table, NULL, texts, lines);
    for (int i = 0; i < NKEYS; i++) {
        if (!rc && texts[i]) {
            cfg_store(&keys[i], texts[i], pc);
            if (keys[i].kind == K_NAMES) store_held_out(pc, texts[i]);
            if (keys[i].offset == OFF(out_buf)) pc->out = pc->out_buf;
            if (keys[i].offset == OFF(init_buf)) pc->init = pc->init_buf;
        }
        free(texts[i]);
    }
    free(text);
    return rc;
}

void fs_pretrain_config_defaults(fs_pretrain_config *pc)
{
    memset(pc, 0, sizeof *pc);
    pc->model = fs_llava_config_tiny();
    pc->corpus = 20000;
    pc->mix = fs_source_mix_default();
    pc->steps = 1500, pc->batch = 32, pc->eval_every = 250;
    pc->lr = 3e-3, pc->weight_decay = 0.01;
    pc->vision_lr = 3e-3;
}

int fs_pretrain_config_check(fs_pretrain_config *pc)
{
    fs_llava_config *m = &pc->model;
    if (!pc->out || !pc->out[0]) return fs_fail("no output directory: give --out DIR or `out:` in the config");
    if (pc->steps <= 0 || pc->batch <= 0 || pc->batch > FS_PRETRAIN_MAX_BATCH || pc->corpus <= 0 ||
        pc->threads < 0 || !(pc->lr > 0) || pc->vision_steps < 0 || !(pc->vision_lr > 0))
        return fs_fail("bad training settings (steps %d, batch %d (1..%d), corpus %d, lr %g)", pc->steps,
                       pc->batch, FS_PRETRAIN_MAX_BATCH, pc->corpus, pc->lr);
    if (m->v_image_size % m->v_patch_size || m->v_hidden % m->v_heads || m->t_hidden % m->t_heads ||
        m->t_heads % m->t_kv_heads || (m->t_hidden / m->t_heads) % 2)
        return fs_fail("model: the patch size must divide the image size, the heads each hidden size, "
                       "the kv_heads the heads, and the LLM head size must be even (image %d, patch %d, "
                       "vision %d/%d heads, llm %d/%d heads/%d kv)", m->v_image_size, m->v_patch_size,
                       m->v_hidden, m->v_heads, m->t_hidden, m->t_heads, m->t_kv_heads);
    int grid = m->v_image_size / m->v_patch_size;
    if (pc->vision_steps > 0 && (grid % FS_SYNTH_GRID || m->v_select_full))
        return fs_fail("vision.steps: the vision stage labels each patch with the object of its "
                       "scene cell, so the patch grid (%d x %d) must be a multiple of %d and the "
                       "features must not include the CLS token; set vision.steps: 0 or change "
                       "model.image_size / model.patch_size", grid, grid, FS_SYNTH_GRID);
    m->t_head_dim = m->t_hidden / m->t_heads;
    return fs_llava_config_validate(m, "pretrain config: model");
}
