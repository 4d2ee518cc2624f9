/* Blip2Config (config.json of Blip2ForConditionalGeneration with a LLaMA
 * text_config): the MiniGPT-4 architecture. Absent keys take transformers'
 * defaults (Blip2VisionConfig: EVA ViT-g/14 at 224 px; Blip2QFormerConfig:
 * BERT-base with cross-attention every other layer); what fedsim does not
 * implement is refused naming the file, the key and the value. */
#include <math.h>
#include <string.h>

#include "sim/model/config_json_internal.h"

int fs_blip2_config_load_vision(const fs_cj_section *top, fs_llava_config *c)
{
    static const char *const type[] = {"blip_2_vision_model", NULL};
    static const char *const gelu[] = {"gelu", NULL};
    fs_cj_section s;
    if (fs_cj_sub(top, "vision_config", "vision_config.", &s) ||
        fs_cj_want_str(&s, "model_type", type, "only BLIP-2's EVA ViT (\"blip_2_vision_model\")",
                       NULL) ||
        fs_cj_want_str(&s, "hidden_act", gelu, "only \"gelu\" (exact, as EVA ViT-g uses)", NULL) ||
        fs_cj_get_int(&s, "hidden_size", false, 1408, &c->v_hidden) ||
        fs_cj_get_int(&s, "intermediate_size", false, 6144, &c->v_intermediate) ||
        fs_cj_get_int(&s, "num_hidden_layers", false, 39, &c->v_layers) ||
        fs_cj_get_int(&s, "num_attention_heads", false, 16, &c->v_heads) ||
        fs_cj_get_int(&s, "image_size", false, 224, &c->v_image_size) ||
        fs_cj_get_int(&s, "patch_size", false, 14, &c->v_patch_size) ||
        fs_cj_get_float(&s, "layer_norm_eps", 1e-6f, &c->v_layer_norm_eps) ||
        fs_cj_get_bool(&s, "qkv_bias", true, &c->v_qkv_bias))
        return -1;
    c->v_channels = 3; /* Blip2VisionEmbeddings' conv takes RGB, whatever the config says */
    return 0;
}

static int load_qformer(const fs_cj_section *top, fs_llava_config *c)
{
    static const char *const type[] = {"blip_2_qformer", NULL};
    static const char *const gelu[] = {"gelu", NULL};
    fs_cj_section s;
    int enc = 0;
    if (fs_cj_sub(top, "qformer_config", "qformer_config.", &s) ||
        fs_cj_want_str(&s, "model_type", type, "only BLIP-2's Q-Former (\"blip_2_qformer\")",
                       NULL) ||
        fs_cj_want_str(&s, "hidden_act", gelu, "only \"gelu\" for the Q-Former", NULL) ||
        fs_cj_get_int(&s, "hidden_size", false, 768, &c->q_hidden) ||
        fs_cj_get_int(&s, "intermediate_size", false, 3072, &c->q_intermediate) ||
        fs_cj_get_int(&s, "num_hidden_layers", false, 12, &c->q_layers) ||
        fs_cj_get_int(&s, "num_attention_heads", false, 12, &c->q_heads) ||
        fs_cj_get_int(&s, "cross_attention_frequency", false, 2, &c->q_cross_freq) ||
        fs_cj_get_float(&s, "layer_norm_eps", 1e-12f, &c->q_layer_norm_eps) ||
        fs_cj_get_int(&s, "encoder_hidden_size", false, c->v_hidden, &enc))
        return -1;
    /* Blip2Config overwrites it with the vision width; a file that disagrees
     * was edited by hand or pairs the wrong pieces. */
    if (enc != c->v_hidden)
        return fs_cj_bad(&s, "encoder_hidden_size", fs_cj_item(&s, "encoder_hidden_size", false),
                         "it must equal vision_config.hidden_size (%d): the Q-Former "
                         "cross-attends to the vision tower's output", c->v_hidden);
    return 0;
}

int fs_blip2_config_load_top(const fs_cj_section *top, const fs_cj_section *text,
                             fs_llava_config *c)
{
    bool decoder_only = true;
    if (load_qformer(top, c) ||
        fs_cj_get_int(top, "num_query_tokens", false, 32, &c->n_query_tokens) ||
        fs_cj_get_bool(top, "use_decoder_only_language_model", true, &decoder_only))
        return -1;
    if (!decoder_only)
        return fs_cj_bad(top, "use_decoder_only_language_model",
                         fs_cj_item(top, "use_decoder_only_language_model", false),
                         "fedsim's language model is a LLaMA decoder");
    if (fs_cj_load_token_ids(top, text, -1, c)) return -1;
    if (c->image_token_index < 0)
        return fs_fail("%s: no \"image_token_index\"; Blip2ForConditionalGeneration puts the %d "
                       "projected query outputs at the positions of that token in the prompt, so "
                       "config.json must name it (scripts/convert_minigpt4.py writes it)", top->path,
                       c->n_query_tokens);
    /* The LLaVA-only keys take fixed values: the features are the Q-Former's. */
    c->vision_feature_layer = -1;
    c->v_select_full = true;
    c->projector_linear = true;
    c->projector_bias = true;
    return 0;
}

int fs_blip2_config_validate(const fs_llava_config *c, const char *where)
{
    const fs_cj_size sizes[] = {
        {c->q_hidden, "qformer_config.hidden_size"},
        {c->q_intermediate, "qformer_config.intermediate_size"},
        {c->q_layers, "qformer_config.num_hidden_layers"},
        {c->q_heads, "qformer_config.num_attention_heads"},
        {c->q_cross_freq, "qformer_config.cross_attention_frequency"},
        {c->n_query_tokens, "num_query_tokens"},
    };
    if (fs_cj_check_sizes(where, sizes, sizeof sizes / sizeof *sizes)) return -1;
    if (c->q_hidden % c->q_heads)
        return fs_fail("%s: \"qformer_config.hidden_size\" (%d) is not divisible by "
                       "\"qformer_config.num_attention_heads\" (%d)", where, c->q_hidden,
                       c->q_heads);
    if (!(c->q_layer_norm_eps > 0) || !isfinite(c->q_layer_norm_eps))
        return fs_fail("%s: \"qformer_config.layer_norm_eps\" is %g; it must be a positive number",
                       where, (double)c->q_layer_norm_eps);
    if (c->n_query_tokens >= c->t_max_pos)
        return fs_fail("%s: \"num_query_tokens\" (%d) leaves no room for text in the model's %d "
                       "positions (text_config.max_position_embeddings)", where,
                       c->n_query_tokens, c->t_max_pos);
    return 0;
}

cJSON *fs_blip2_config_json(const fs_llava_config *c)
{
    cJSON *root = cJSON_CreateObject(), *vc = cJSON_CreateObject(), *qc = cJSON_CreateObject();
    cJSON *tc = fs_cj_text_config_json(c), *arch = cJSON_CreateArray();
    if (!root || !vc || !qc || !tc || !arch) {
        cJSON_Delete(root);
        cJSON_Delete(vc);
        cJSON_Delete(qc);
        cJSON_Delete(tc);
        cJSON_Delete(arch);
        return NULL;
    }
    cJSON_AddItemToArray(arch, cJSON_CreateString("Blip2ForConditionalGeneration"));
    cJSON_AddItemToObject(root, "architectures", arch);
    cJSON_AddStringToObject(root, "model_type", "blip-2");
    fs_cj_put_num(root, "num_query_tokens", c->n_query_tokens);
    fs_cj_put_num(root, "image_token_index", c->image_token_index);
    cJSON_AddBoolToObject(root, "use_decoder_only_language_model", true);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->pad_token_id >= 0) fs_cj_put_num(root, "pad_token_id", c->pad_token_id);

    cJSON_AddStringToObject(vc, "model_type", "blip_2_vision_model");
    fs_cj_put_vision_sizes(vc, c);
    fs_cj_put_num(vc, "layer_norm_eps", fs_cj_short_float(c->v_layer_norm_eps));
    cJSON_AddBoolToObject(vc, "qkv_bias", c->v_qkv_bias);
    cJSON_AddStringToObject(vc, "hidden_act", "gelu");
    cJSON_AddItemToObject(root, "vision_config", vc);

    cJSON_AddStringToObject(qc, "model_type", "blip_2_qformer");
    fs_cj_put_num(qc, "hidden_size", c->q_hidden);
    fs_cj_put_num(qc, "intermediate_size", c->q_intermediate);
    fs_cj_put_num(qc, "num_hidden_layers", c->q_layers);
    fs_cj_put_num(qc, "num_attention_heads", c->q_heads);
    fs_cj_put_num(qc, "cross_attention_frequency", c->q_cross_freq);
    fs_cj_put_num(qc, "encoder_hidden_size", c->v_hidden);
    fs_cj_put_num(qc, "layer_norm_eps", fs_cj_short_float(c->q_layer_norm_eps));
    cJSON_AddStringToObject(qc, "hidden_act", "gelu");
    cJSON_AddItemToObject(root, "qformer_config", qc);

    cJSON_AddItemToObject(root, "text_config", tc);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    return root;
}
