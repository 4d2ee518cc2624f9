/* fs_pretrain_config from YAML: a table of dotted keys walked over the libyaml
 * document tree, every problem reported as file:line: key: what is wrong. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sim/io/pretrain_config.h"
#include "sim/io/error.h"
#include "sim/io/yaml_nesting.h"
#include "sim/model/presets.h"

typedef enum { PK_INT, PK_U64, PK_FLOAT, PK_PATH, PK_THREADS, PK_NAMES, PK_PROJECTOR, PK_ANSWERS, PK_TOWER_AFTER, PK_BOOL } pk_kind;

typedef struct {
    const char *key;
    pk_kind kind;
    size_t offset;
    double lo, hi; /* numeric bounds, inclusive */
} pkey;

#define F(field) offsetof(fs_pretrain_config, field)
static const pkey keys[] = {
    {"out", PK_PATH, F(out_buf), 0, 0},
    {"init", PK_PATH, F(init_buf), 0, 0},
    {"seed", PK_U64, F(seed), 0, 0},
    {"threads", PK_THREADS, F(threads), 0, 1024},
    {"model.image_size", PK_INT, F(model.v_image_size), 8, 1024},
    {"model.patch_size", PK_INT, F(model.v_patch_size), 1, 1024},
    {"model.projector", PK_PROJECTOR, F(model.projector_linear), 0, 0},
    {"model.vision.hidden", PK_INT, F(model.v_hidden), 4, 65536},
    {"model.vision.intermediate", PK_INT, F(model.v_intermediate), 4, 262144},
    {"model.vision.layers", PK_INT, F(model.v_layers), 2, 256},
    {"model.vision.heads", PK_INT, F(model.v_heads), 1, 256},
    {"model.llm.hidden", PK_INT, F(model.t_hidden), 4, 65536},
    {"model.llm.intermediate", PK_INT, F(model.t_intermediate), 4, 262144},
    {"model.llm.layers", PK_INT, F(model.t_layers), 1, 256},
    {"model.llm.heads", PK_INT, F(model.t_heads), 1, 256},
    {"model.llm.kv_heads", PK_INT, F(model.t_kv_heads), 1, 256},
    {"corpus.size", PK_INT, F(corpus), 1, 10000000},
    {"corpus.mix.captions", PK_FLOAT, F(mix.weight[FS_SOURCE_CAPTIONS]), 0, 1e6},
    {"corpus.mix.iconqa", PK_FLOAT, F(mix.weight[FS_SOURCE_ICONQA]), 0, 1e6},
    {"corpus.mix.scienceqa", PK_FLOAT, F(mix.weight[FS_SOURCE_SCIENCEQA]), 0, 1e6},
    {"corpus.mix.matching", PK_FLOAT, F(mix.weight[FS_SOURCE_MATCHING]), 0, 1e6},
    {"corpus.held_out", PK_NAMES, 0, 0, 0},
    {"corpus.answers", PK_ANSWERS, F(mix.answers), 0, 0},
    {"corpus.verdicts", PK_BOOL, F(mix.verdicts), 0, 0},
    {"train.steps", PK_INT, F(steps), 1, 100000000},
    {"train.batch", PK_INT, F(batch), 1, FS_PRETRAIN_MAX_BATCH},
    {"train.lr", PK_FLOAT, F(lr), 1e-12, 10},
    {"train.weight_decay", PK_FLOAT, F(weight_decay), 0, 10},
    {"train.eval_every", PK_INT, F(eval_every), 0, 100000000},
    {"vision.steps", PK_INT, F(vision_steps), 0, 100000000},
    {"vision.lr", PK_FLOAT, F(vision_lr), 1e-12, 10},
    {"vision.tower_after", PK_TOWER_AFTER, F(vision_trained_after), 0, 0},
};
#undef F
enum { NKEYS = sizeof keys / sizeof *keys };

typedef struct {
    const char *path;
    yaml_document_t *doc;
    fs_pretrain_config *pc;
} walker;

static int fail_at(const walker *w, const yaml_node_t *n, const char *key, const char *what)
{
    return fs_fail("%s:%lu: %s: %s (see configs/pretrain-tiny.yaml for every key)", w->path,
                   (unsigned long)n->start_mark.line + 1, key, what);
}

static int take_number(const walker *w, const yaml_node_t *n, const pkey *k, double *out)
{
    const char *s = (const char *)n->data.scalar.value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    bool integral = k->kind != PK_FLOAT;
    if (!*s || *end || errno || !isfinite(v) || (integral && v != floor(v)))
        return fail_at(w, n, k->key, integral ? "expected an integer" : "expected a number");
    if (k->kind != PK_U64 && (v < k->lo || v > k->hi)) {
        char what[128];
        snprintf(what, sizeof what, "%s is out of range [%g, %g]", s, k->lo, k->hi);
        return fail_at(w, n, k->key, what);
    }
    if (k->kind == PK_U64 && (v < 0 || v > 9007199254740992.0))
        return fail_at(w, n, k->key, "expected a non-negative integer");
    *out = v;
    return 0;
}

static int take_names(const walker *w, yaml_node_t *n, const pkey *k)
{
    fs_pretrain_config *pc = w->pc;
    if (n->type != YAML_SEQUENCE_NODE) return fail_at(w, n, k->key, "expected a list of category names");
    int count = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *e = yaml_document_get_node(w->doc, *i);
        if (e->type != YAML_SCALAR_NODE || !e->data.scalar.length)
            return fail_at(w, e, k->key, "expected a category name");
        if (count == FS_PRETRAIN_MAX_HELD_OUT || e->data.scalar.length >= sizeof pc->held_out_buf[0])
            return fail_at(w, e, k->key, "too many or too long category names");
        memcpy(pc->held_out_buf[count], e->data.scalar.value, e->data.scalar.length + 1);
        pc->held_out_ptr[count] = pc->held_out_buf[count];
        count++;
    }
    pc->mix.held_out = pc->held_out_ptr;
    pc->mix.n_held_out = count;
    return 0;
}

/* A boolean key spelled as one of two words: no (false) or yes (true). */
static int take_two_words(const walker *w, const yaml_node_t *n, const pkey *k, const char *no,
                          const char *yes, const char *expected)
{
    const char *s = (const char *)n->data.scalar.value;
    if (strcmp(s, no) && strcmp(s, yes)) return fail_at(w, n, k->key, expected);
    *(bool *)((char *)w->pc + k->offset) = !strcmp(s, yes);
    return 0;
}

static int take_leaf(const walker *w, yaml_node_t *n, const pkey *k)
{
    char *base = (char *)w->pc;
    if (k->kind == PK_NAMES) return take_names(w, n, k);
    if (n->type != YAML_SCALAR_NODE) return fail_at(w, n, k->key, "expected a single value");
    const char *s = (const char *)n->data.scalar.value;
    if (k->kind == PK_PATH) {
        if (!*s || n->data.scalar.length >= sizeof w->pc->out_buf)
            return fail_at(w, n, k->key, "expected a directory path");
        memcpy(base + k->offset, s, n->data.scalar.length + 1);
        if (k->offset == offsetof(fs_pretrain_config, out_buf)) w->pc->out = w->pc->out_buf;
        else w->pc->init = w->pc->init_buf;
        return 0;
    }
    if (k->kind == PK_PROJECTOR) /* LLaVA-1.5, or the MiniGPT-4-style preset */
        return take_two_words(w, n, k, "mlp2x_gelu", "linear",
                              "expected mlp2x_gelu (LLaVA-1.5) or linear (MiniGPT-4 style)");
    if (k->kind == PK_ANSWERS) {
        static const char *const answers[] = {"letters", "words", "both"};
        for (int a = 0; a < 3; a++)
            if (!strcmp(s, answers[a])) {
                *(int *)(base + k->offset) = a;
                return 0;
            }
        return fail_at(w, n, k->key, "expected letters (the option's letter), words (the option's "
                                     "text) or both (either, at random per item)");
    }
    if (k->kind == PK_TOWER_AFTER)
        return take_two_words(w, n, k, "frozen", "trained",
                              "expected frozen (LLaVA's recipe) or trained (with the LLM)");
    if (k->kind == PK_BOOL) return take_two_words(w, n, k, "false", "true", "expected true or false");
    if (k->kind == PK_THREADS && !strcmp(s, "auto")) {
        *(int *)(base + k->offset) = 0;
        return 0;
    }
    double v = 0;
    if (take_number(w, n, k, &v)) return -1;
    if (k->kind == PK_FLOAT) *(double *)(base + k->offset) = v;
    else if (k->kind == PK_U64) *(uint64_t *)(base + k->offset) = (uint64_t)v;
    else *(int *)(base + k->offset) = (int)v;
    return 0;
}

static int walk(const walker *w, yaml_node_t *map, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(w, map, *prefix ? prefix : "(top level)", "expected a mapping of keys");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(w->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE) return fail_at(w, kn, prefix, "keys must be plain words");
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", (const char *)kn->data.scalar.value);
        size_t len = strlen(full);
        const pkey *leaf = NULL;
        bool section = false;
        for (int i = 0; i < NKEYS; i++) {
            if (!strcmp(keys[i].key, full)) leaf = &keys[i];
            else if (!strncmp(keys[i].key, full, len) && keys[i].key[len] == '.') section = true;
        }
        int rc = leaf ? take_leaf(w, vn, leaf) : section ? walk(w, vn, full)
                                                         : fail_at(w, kn, full, "unknown key");
        if (rc) return rc;
    }
    return 0;
}

int fs_pretrain_config_load(const char *path, fs_pretrain_config *pc)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fs_fail("%s: cannot open (%s)", path, strerror(errno));
    if (fs_yaml_check_nesting(NULL, 0, f, path)) {
        fclose(f);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return fs_fail("%s: out of memory for the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    int rc;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = fs_fail("%s:%lu: YAML syntax error: %s", path, (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "unreadable");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        walker w = {path, &doc, pc};
        rc = root ? walk(&w, root, "") : fs_fail("%s: the file is empty", path);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
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
