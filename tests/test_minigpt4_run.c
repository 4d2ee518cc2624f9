/* MiniGPT-4 end to end: a tiny Blip2-architecture model saved by fedsim
 * itself (random EVA ViT + Q-Former + projection around the LLaMA of the
 * suite's pretrained model) loads frozen, `fedsim run` trains NanoAdapters on
 * it with MiniGPT-4's prompt template, and `fedsim info` accounts for the
 * Q-Former. */
#include <stdio.h>
#include <string.h>

#include "datasets/task_builder.h"
#include "sim/io/error.h"
#include "sim/io/results.h"
#include "sim/model/mllm.h"
#include "sim/model/tokenizer.h"
#include "tests/helpers/cli_helpers.h"
#include "tests/helpers/testutil.h"

static char mgpt_dir[400];

/* The suite's pretrained LLaVA supplies the LLaMA (weights and vocab.txt); the
 * vision side is a tiny random EVA ViT + Q-Former with 6 query tokens. */
static void make_minigpt4(void)
{
    cli_setup();
    const fs_ops *o = fs_backend_cpu();
    fs_mllm *llava = fs_mllm_load(cli_model, o);
    cr_assert(llava, "%s", fs_last_error());
    fs_llava_config c = llava->cfg;
    c.blip2 = true;
    c.v_hidden = 32, c.v_intermediate = 64, c.v_layers = 2, c.v_heads = 4;
    c.v_image_size = 32, c.v_patch_size = 8, c.v_channels = 3, c.v_layer_norm_eps = 1e-6f;
    c.v_qkv_bias = true;
    c.q_hidden = 24, c.q_intermediate = 48, c.q_layers = 2, c.q_heads = 4, c.q_cross_freq = 2;
    c.q_layer_norm_eps = 1e-12f, c.n_query_tokens = 6;
    fs_mllm *m = fs_mllm_new_random(&c, o, 7);
    cr_assert(m, "%s", fs_last_error());
    int na, nb;
    fs_param_ref *a = fs_mllm_param_list(llava, &na), *b = fs_mllm_param_list(m, &nb);
    int copied = 0;
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < na && !strncmp(b[i].name, "language_model.", 15); j++)
            if (!strcmp(a[j].name, b[i].name)) {
                memcpy(b[i].slot->data, a[j].slot->data,
                       (size_t)fs_tensor_numel(b[i].slot) * sizeof(float));
                copied++;
            }
    cr_assert_eq(copied, 3 + 9 * c.t_layers - c.tie_word_embeddings, "LLaMA tensors copied");
    snprintf(mgpt_dir, sizeof mgpt_dir, "%s/minigpt4", cli_dir);
    cr_assert_eq(fs_mllm_save(m, mgpt_dir), 0, "%s", fs_last_error());
    cr_assert_eq(cli_sh("cp '%s/vocab.txt' '%s/'", cli_model, mgpt_dir), 0);
    free(a), free(b);
    fs_mllm_free(m);
    fs_mllm_free(llava);
}

TestSuite(minigpt4, .init = make_minigpt4, .timeout = 600);

Test(minigpt4, saved_model_is_a_blip2_checkpoint_that_loads_frozen)
{
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", mgpt_dir);
    const char *cfg = cli_slurp(path);
    cr_assert(strstr(cfg, "\"model_type\":\t\"blip-2\""), "%s", cfg);
    cr_assert(strstr(cfg, "Blip2ForConditionalGeneration"), "%s", cfg);
    fs_mllm *m = fs_mllm_load_frozen(mgpt_dir, fs_backend_cpu());
    cr_assert(m, "%s", fs_last_error());
    cr_assert(m->cfg.blip2);
    cr_assert_eq(m->n_image_tokens, 6);
    fs_mllm_free(m);
}

Test(minigpt4, run_trains_nanoadapters_and_info_accounts_for_it)
{
    char log[700], h5[700];
    snprintf(log, sizeof log, "%s/info.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' info '%s' > '%s' 2>&1", cli_fedsim, mgpt_dir, log), 0, "%s",
                 cli_slurp(log));
    const char *info = cli_slurp(log);
    cr_assert(strstr(info, "MiniGPT-4 / BLIP-2 (EVA ViT 2 layers x 32, Q-Former 2 layers x 24 "
                           "with 6 query tokens"), "%s", info);
    cr_assert(strstr(info, "Q-Former (with its query tokens)"), "%s", info);
    cr_assert(strstr(info, "encoder + Q-Former + projector + embeddings + adapters"), "%s", info);

    snprintf(cli_model, sizeof cli_model, "%s", mgpt_dir); /* the runs below use MiniGPT-4 */
    cli_write_config("mgpt", "mgpt", " [fedavg, fednano]", "out", "");
    snprintf(log, sizeof log, "%s/run.txt", cli_dir);
    cr_assert_eq(cli_sh("'%s' run %s/mgpt.yaml --quiet > '%s' 2>&1", cli_fedsim, cli_dir, log), 0,
                 "%s", cli_slurp(log));
    snprintf(h5, sizeof h5, "%s/out/mgpt.h5", cli_dir);
    fs_result_entry *e;
    int n;
    cr_assert_eq(fs_results_list(h5, &e, &n), 0, "%s", fs_last_error());
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++) {
        cr_assert(e[i].complete, "%s incomplete", e[i].method);
        cr_assert(e[i].summary.mean_acc >= 0 && e[i].summary.mean_acc <= 1);
        cr_assert(e[i].summary.upload_mb > 0, "%s uploaded nothing", e[i].method);
        fs_round_row *rows;
        int nrows;
        cr_assert_eq(fs_results_read_rounds(h5, e[i].cell, e[i].method, &rows, &nrows), 0);
        int trained = 0;
        for (int r = 0; r < nrows; r++)
            trained += rows[r].round > 0 && rows[r].client >= 0 && rows[r].train_loss > 0;
        cr_assert(trained > 0, "%s: no client reports a training loss", e[i].method);
        free(rows);
    }
    fs_results_list_free(e, n);
}

/* MiniGPT-4's template, and <image> found inside "<Img><image></Img>" by the
 * word-level tokenizer (SentencePiece splits on added tokens anyway). */
Test(minigpt4, prompt_template_and_its_image_token)
{
    const char *choices[] = {"red", "blue"};
    char text[256];
    fs_prompt_format(text, sizeof text, FS_PROMPT_MINIGPT4, "", "What color?", choices, 2, 1);
    cr_assert_str_eq(text, "###Human: <Img><image></Img> What color? Options: (A) red (B) blue "
                           "###Assistant: Answer:");
    fs_prompt_format(text, sizeof text, FS_PROMPT_LLAVA, "", "What color?", choices, 2, 1);
    cr_assert_str_eq(text, "USER: <image>\nWhat color? Options: (A) red (B) blue ASSISTANT: Answer:");
    fs_tokenizer *tok = fs_tokenizer_load(mgpt_dir);
    cr_assert(tok, "%s", fs_last_error());
    int32_t ids[16];
    int n = fs_tokenizer_encode(tok, "<Img><image></Img>", ids, 16);
    int img = fs_tokenizer_id(tok, FS_TOK_IMAGE), hits = 0;
    for (int i = 0; i < n; i++) hits += ids[i] == img;
    cr_assert_eq(hits, 1, "<image> inside <Img>...</Img> is one image token (%d tokens)", n);
    cr_assert(n >= 3 && ids[0] != img && ids[n - 1] != img, "the tags around it stay tokens");
    fs_tokenizer_free(tok);
}
