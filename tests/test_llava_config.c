/* LlavaConfig config.json: realistic HF files with defaults, round trip, and
 * a clear message naming the key for everything fedsim does not support. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/model/llava_config.h"
#include "sim/model/presets.h"
#include "tests/helpers/testutil.h"

static const char *write_config(const char *dir, const char *json)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(json, f);
    fclose(f);
    return path;
}

/* llava-hf/llava-1.5-7b-hf as published: text_config lacks most keys. */
static const char *llava15 =
    "{\n"
    "  \"architectures\": [\"LlavaForConditionalGeneration\"],\n"
    "  \"ignore_index\": -100,\n"
    "  \"image_token_index\": 32000,\n"
    "  \"model_type\": \"llava\",\n"
    "  \"pad_token_id\": 32001,\n"
    "  \"projector_hidden_act\": \"gelu\",\n"
    "  \"text_config\": {\n"
    "    \"_name_or_path\": \"lmsys/vicuna-7b-v1.5\",\n"
    "    \"architectures\": [\"LlamaForCausalLM\"],\n"
    "    \"max_position_embeddings\": 4096,\n"
    "    \"model_type\": \"llama\",\n"
    "    \"rms_norm_eps\": 1e-05,\n"
    "    \"torch_dtype\": \"float16\",\n"
    "    \"vocab_size\": 32064\n"
    "  },\n"
    "  \"tie_word_embeddings\": false,\n"
    "  \"torch_dtype\": \"float16\",\n"
    "  \"transformers_version\": \"4.36.0.dev0\",\n"
    "  \"vision_config\": {\n"
    "    \"hidden_size\": 1024,\n"
    "    \"image_size\": 336,\n"
    "    \"intermediate_size\": 4096,\n"
    "    \"model_type\": \"clip_vision_model\",\n"
    "    \"num_attention_heads\": 16,\n"
    "    \"num_hidden_layers\": 24,\n"
    "    \"patch_size\": 14,\n"
    "    \"projection_dim\": 768,\n"
    "    \"vocab_size\": 32000\n"
    "  },\n"
    "  \"vision_feature_layer\": -2,\n"
    "  \"vision_feature_select_strategy\": \"default\",\n"
    "  \"vocab_size\": 32064\n"
    "}\n";

static fs_llava_config load_ok(const char *json)
{
    const char *p = write_config(tu_tmpdir(), json);
    fs_llava_config c;
    cr_assert_eq(fs_llava_config_load(p, &c), 0, "%s", fs_last_error());
    return c;
}

Test(llava_config, llava15_7b_with_defaults)
{
    fs_llava_config c = load_ok(llava15);
    cr_assert_eq(c.v_hidden, 1024);
    cr_assert_eq(c.v_intermediate, 4096);
    cr_assert_eq(c.v_layers, 24);
    cr_assert_eq(c.v_heads, 16);
    cr_assert_eq(c.v_image_size, 336);
    cr_assert_eq(c.v_patch_size, 14);
    cr_assert_eq(c.v_channels, 3);
    cr_assert_eq(c.v_layer_norm_eps, 1e-5f);
    cr_assert_eq(c.t_vocab, 32064);
    cr_assert_eq(c.t_hidden, 4096);
    cr_assert_eq(c.t_intermediate, 11008);
    cr_assert_eq(c.t_layers, 32);
    cr_assert_eq(c.t_heads, 32);
    cr_assert_eq(c.t_kv_heads, 32);
    cr_assert_eq(c.t_head_dim, 128);
    cr_assert_eq(c.t_max_pos, 4096);
    cr_assert_eq(c.t_rms_eps, 1e-5f);
    cr_assert_eq(c.t_rope_theta, 10000.0f);
    cr_assert_eq(c.tie_word_embeddings, false);
    cr_assert_eq(c.image_token_index, 32000);
    cr_assert_eq(c.vision_feature_layer, -2);
    cr_assert_eq(c.projector_bias, true);
    cr_assert_eq(c.pad_token_id, 32001);
    cr_assert_eq(c.v_select_full, false);
}

Test(llava_config, hf_defaults_when_sections_or_keys_are_absent)
{
    /* No sub-configs: LlavaConfig's own CLIP ViT-L/14-336 and LlamaConfig(). */
    fs_llava_config c = load_ok("{\"model_type\": \"llava\"}");
    cr_assert(c.v_hidden == 1024 && c.v_layers == 24 && c.v_image_size == 336 &&
              c.v_patch_size == 14 && c.v_intermediate == 4096 && c.v_heads == 16);
    cr_assert(c.t_vocab == 32000 && c.t_max_pos == 2048 && c.t_rms_eps == 1e-6f);
    cr_assert(c.pad_token_id == -1 && c.image_token_index == 32000 && c.projector_bias);
    /* Empty vision_config: CLIPVisionConfig defaults. */
    c = load_ok("{\"model_type\": \"llava\", \"vision_config\": {}, \"text_config\": null}");
    cr_assert(c.v_hidden == 768 && c.v_intermediate == 3072 && c.v_layers == 12 &&
              c.v_heads == 12 && c.v_image_size == 224 && c.v_patch_size == 32);
}

Test(llava_config, newer_spellings_and_options)
{
    fs_llava_config c = load_ok(
        "{\"model_type\": \"llava\", \"image_token_id\": 151646,"
        " \"vision_feature_select_strategy\": \"full\", \"vision_feature_layer\": -1,"
        " \"multimodal_projector_bias\": false,"
        " \"text_config\": {\"model_type\": \"llama\", \"hidden_size\": 2048,"
        "   \"num_attention_heads\": 16, \"num_key_value_heads\": 4, \"head_dim\": 64,"
        "   \"vocab_size\": 152000, \"tie_word_embeddings\": true, \"pad_token_id\": null,"
        "   \"rope_scaling\": null,"
        "   \"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"default\"}}}");
    cr_assert_eq(c.image_token_index, 151646);
    cr_assert(c.v_select_full && c.vision_feature_layer == -1 && !c.projector_bias);
    cr_assert(c.t_kv_heads == 4 && c.t_head_dim == 64 && c.t_hidden == 2048);
    cr_assert_eq(c.t_rope_theta, 500000.0f);
    cr_assert(c.tie_word_embeddings && c.pad_token_id == -1);
    c = load_ok("{\"model_type\": \"llava\", \"text_config\": {\"rope_theta\": 1000000}}");
    cr_assert_eq(c.t_rope_theta, 1e6f);
}

Test(llava_config, save_load_round_trip)
{
    fs_llava_config c = {
        .v_hidden = 64, .v_intermediate = 128, .v_layers = 3, .v_heads = 4, .v_image_size = 32,
        .v_patch_size = 8, .v_channels = 3, .v_layer_norm_eps = 1e-5f,
        .t_vocab = 512, .t_hidden = 96, .t_intermediate = 192, .t_layers = 2, .t_heads = 4,
        .t_kv_heads = 2, .t_head_dim = 24, .t_max_pos = 256, .t_rms_eps = 1e-6f,
        .t_rope_theta = 10000.0f, .tie_word_embeddings = true, .image_token_index = 511,
        .vision_feature_layer = -3, .projector_bias = false, .pad_token_id = 0,
        .v_select_full = true,
    };
    const char *dir = tu_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    cr_assert_eq(fs_llava_config_save(p, &c), 0, "%s", fs_last_error());
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    cr_assert_neq(access(tmp, F_OK), 0, "tmp file left behind");
    fs_llava_config d;
    cr_assert_eq(fs_llava_config_load(p, &d), 0, "%s", fs_last_error());
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0, "round trip changed the config");
    /* What HF reads: the architecture, nested model types, activations, floats. */
    FILE *f = fopen(p, "rb");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    cr_assert(j);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "architectures"), 0)->valuestring,
                     "LlavaForConditionalGeneration");
    cJSON *vc = cJSON_GetObjectItem(j, "vision_config"), *tc = cJSON_GetObjectItem(j, "text_config");
    cr_assert_str_eq(cJSON_GetObjectItem(vc, "model_type")->valuestring, "clip_vision_model");
    cr_assert_str_eq(cJSON_GetObjectItem(vc, "hidden_act")->valuestring, "quick_gelu");
    cr_assert_str_eq(cJSON_GetObjectItem(tc, "model_type")->valuestring, "llama");
    cr_assert_str_eq(cJSON_GetObjectItem(tc, "hidden_act")->valuestring, "silu");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "vision_feature_select_strategy")->valuestring, "full");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "torch_dtype")->valuestring, "float32");
    cr_assert(strstr(buf, "1e-06"), "rms_norm_eps should print as 1e-06:\n%s", buf);
    cJSON_Delete(j);
    /* An invalid struct is refused before anything is written. */
    c.t_kv_heads = 3;
    cr_assert_eq(fs_llava_config_save(p, &c), -1);
    cr_assert(strstr(fs_last_error(), "text_config.num_key_value_heads"), "%s", fs_last_error());
}

typedef struct {
    const char *json, *key, *phrase;
} reject_case;

/* Each case fails to load with a message naming the file, the key and the phrase. */
static void expect_rejections(const char *dir, const reject_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = write_config(dir, cases[i].json);
        fs_llava_config c = {.t_vocab = 12345};
        fs_clear_error();
        cr_assert_eq(fs_llava_config_load(p, &c), -1, "case %zu loaded: %s", i, cases[i].json);
        cr_assert_eq(c.t_vocab, 12345, "case %zu: out written on failure", i);
        const char *m = fs_last_error();
        cr_log_info("case %zu -> %s", i, m); /* shown with --verbose */
        cr_assert(strstr(m, p), "case %zu: message does not name the file:\n  %s", i, m);
        cr_assert(strstr(m, cases[i].key), "case %zu: message lacks '%s':\n  %s", i,
                  cases[i].key, m);
        if (cases[i].phrase)
            cr_assert(strstr(m, cases[i].phrase), "case %zu: message lacks '%s':\n  %s", i,
                      cases[i].phrase, m);
    }
}

#define V(x) "{\"model_type\": \"llava\", \"vision_config\": {" x "}}"
#define TX(x) "{\"model_type\": \"llava\", \"text_config\": {" x "}}"
#define TOP(x) "{\"model_type\": \"llava\", " x "}"

Test(llava_config, rejections_name_the_key)
{
    const reject_case cases[] = {
        {"{\"model_type\": \"llava_next\"}", "\"model_type\" is \"llava_next\"", "\"llava\""},
        {"{\"vision_config\": {}}", "no \"model_type\"", "\"llava\""},
        {V("\"model_type\": \"siglip_vision_model\""), "vision_config.model_type", "clip_vision_model"},
        {TX("\"model_type\": \"mistral\""), "text_config.model_type", "\"llama\""},
        {V("\"hidden_act\": \"gelu\""), "vision_config.hidden_act", "quick_gelu"},
        {TX("\"hidden_act\": \"gelu\""), "text_config.hidden_act", "\"silu\""},
        {TOP("\"projector_hidden_act\": \"relu\""), "\"projector_hidden_act\" is \"relu\"", "gelu"},
        {TOP("\"mm_projector_type\": \"qformer\""), "\"mm_projector_type\" is \"qformer\"", "\"linear\""},
        {TOP("\"vision_feature_select_strategy\": \"cls\""), "vision_feature_select_strategy", "\"default\" or \"full\""},
        {TX("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"), "text_config.rope_scaling", "default"},
        {TX("\"rope_scaling\": {\"factor\": 2.0}"), "text_config.rope_scaling", "must be null"},
        {TX("\"rope_scaling\": \"yes\""), "text_config.rope_scaling", "expected an object or null"},
        {TX("\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 5e5}"), "text_config.rope_parameters", "rope_type \"default\""},
        {TX("\"rope_theta\": 1e4, \"rope_parameters\": {\"rope_theta\": 5e5}"), "text_config.rope_theta", "disagrees"},
        {TX("\"attention_bias\": true"), "text_config.attention_bias", "biases"},
        {TX("\"mlp_bias\": true"), "text_config.mlp_bias", "biases"},
        {TX("\"mlp_bias\": 1"), "text_config.mlp_bias", "expected true or false"},
        {TOP("\"vision_feature_layer\": [-2, -5, -8]"), "vision_feature_layer", "multi-layer"},
        {TOP("\"vision_feature_layer\": 30"), "vision_feature_layer", "outside"},
        {TOP("\"vision_feature_layer\": \"last\""), "vision_feature_layer", "expected an integer"},
        {V("\"hidden_size\": 1000, \"num_attention_heads\": 16"), "vision_config.hidden_size", "not divisible"},
        {TX("\"num_attention_heads\": 32, \"num_key_value_heads\": 5"), "text_config.num_key_value_heads", "not divisible"},
        {TX("\"hidden_size\": 4100"), "text_config.hidden_size", "not divisible"},
        {V("\"image_size\": 336, \"patch_size\": 15"), "vision_config.patch_size", "not divisible"},
        {TX("\"hidden_size\": 0"), "text_config.hidden_size", "between 1 and"},
        {TX("\"num_hidden_layers\": -4"), "text_config.num_hidden_layers", "between 1 and"},
        {TX("\"vocab_size\": 2000000000"), "text_config.vocab_size", "between 1 and"},
        {TX("\"hidden_size\": \"big\""), "text_config.hidden_size\" is \"big\"", "expected an integer"},
        {TX("\"hidden_size\": 4096.5"), "text_config.hidden_size", "expected an integer"},
        {TX("\"hidden_size\": 1e300"), "text_config.hidden_size", "expected an integer"},
        {TX("\"head_dim\": 127, \"num_attention_heads\": 32"), "text_config.head_dim", "even"},
        {TX("\"rms_norm_eps\": \"small\""), "text_config.rms_norm_eps", "expected a finite number"},
        {TX("\"rms_norm_eps\": 0"), "text_config.rms_norm_eps", "positive"},
        {V("\"layer_norm_eps\": -1e-5"), "vision_config.layer_norm_eps", "positive"},
        {"{\"model_type\": \"llava\", \"vision_config\": \"clip\"}", "\"vision_config\" is \"clip\"", "expected an object"},
        {"{\"model_type\": \"llava\", \"text_config\": [1]}", "\"text_config\"", "expected an object"},
        {TOP("\"multimodal_projector_bias\": \"yes\""), "multimodal_projector_bias", "expected true or false"},
        {TOP("\"tie_word_embeddings\": true, \"text_config\": {\"tie_word_embeddings\": false}"), "tie_word_embeddings", "disagrees"},
        {TOP("\"image_token_index\": 32000, \"image_token_id\": 5"), "image_token_index", "disagrees"},
        {TOP("\"image_token_index\": -7"), "image_token_index", ">= 0"},
        {TOP("\"pad_token_id\": \"<pad>\""), "pad_token_id", "token id"},
        {TX("\"pad_token_id\": -5"), "text_config.pad_token_id", "token id"},
        {"{\"model_type\": \"llava\",, }", "malformed JSON", "line 1, column"},
        {"{\"model_type\": \"llava\"}\n}", "malformed JSON", "trailing data"},
        {"{\n\"model_type\":\n \"llava\"\n", "malformed JSON", "line"},
        {"", "malformed JSON", "syntax error"},
        {"[1, 2]", "not a JSON object", NULL},
    };
    const char *dir = tu_tmpdir();
    expect_rejections(dir, cases, sizeof cases / sizeof *cases);
    fs_llava_config c;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    cr_assert_eq(fs_llava_config_load(missing, &c), -1);
    cr_assert(strstr(fs_last_error(), "nope.json: cannot open"), "%s", fs_last_error());
}

/* The two tie_word_embeddings disagree: the transformers version that wrote
 * the file decides, as it does (5.x: either true ties; 4.x: text_config). */
Test(llava_config, conflicting_tie_keys_follow_the_writing_version)
{
    static const struct {
        const char *json;
        bool tie;
    } cases[] = {
        {TOP("\"transformers_version\": \"5.25.0\", \"tie_word_embeddings\": true, "
             "\"text_config\": {\"tie_word_embeddings\": false}"), true},
        {TOP("\"transformers_version\": \"5.0.0\", \"tie_word_embeddings\": false, "
             "\"text_config\": {\"tie_word_embeddings\": true}"), true},
        {TOP("\"transformers_version\": \"4.46.3\", \"tie_word_embeddings\": true, "
             "\"text_config\": {\"tie_word_embeddings\": false}"), false},
        {TOP("\"transformers_version\": \"4.36.0.dev0\", \"tie_word_embeddings\": false, "
             "\"text_config\": {\"tie_word_embeddings\": true}"), true},
        {TOP("\"tie_word_embeddings\": true, \"text_config\": {\"tie_word_embeddings\": true}"), true},
        {TX("\"tie_word_embeddings\": true"), true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq(load_ok(cases[i].json).tie_word_embeddings, cases[i].tie, "case %zu: %s", i,
                     cases[i].json);
}

Test(llava_config, linear_projector_key_and_presets)
{
    cr_assert(!load_ok(llava15).projector_linear, "HF's default is the 2-layer projector");
    cr_assert(!load_ok(TOP("\"mm_projector_type\": \"mlp2x_gelu\"")).projector_linear);
    cr_assert(load_ok(TOP("\"mm_projector_type\": \"linear\"")).projector_linear);
    /* The hub file reads as the 7B preset; the MiniGPT-4-style one round-trips. */
    fs_llava_config want = fs_llava_config_llava15_7b(), got = load_ok(llava15);
    cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "llava-1.5-7b-hf != the 7B preset");
    want = fs_llava_config_minigpt4_style();
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", tu_tmpdir());
    cr_assert_eq(fs_llava_config_save(p, &want), 0, "%s", fs_last_error());
    cr_assert_eq(fs_llava_config_load(p, &got), 0, "%s", fs_last_error());
    cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "linear projector lost in the round trip");
    cr_assert_eq(fs_llava_config_preset("minigpt4", &got), -1);
    cr_assert(strstr(fs_last_error(), "minigpt4-style-7b"), "%s", fs_last_error());
}

/* Blip2Config (MiniGPT-4): transformers' defaults (EVA ViT-g, BERT-base
 * Q-Former), a round trip through fedsim's writer, and one message per
 * unsupported or inconsistent key. */
#define B2(x) "{\"model_type\": \"blip-2\", \"image_token_index\": 32000, " x "}"

Test(llava_config, blip2_defaults_round_trip_and_rejections)
{
    const char *dir = tu_tmpdir();
    fs_llava_config c = load_ok(B2("\"text_config\": {\"model_type\": \"llama\"}"));
    cr_assert(c.blip2 && c.v_qkv_bias);
    cr_assert(c.v_hidden == 1408 && c.v_intermediate == 6144 && c.v_layers == 39 &&
              c.v_heads == 16 && c.v_image_size == 224 && c.v_patch_size == 14);
    cr_assert(c.q_hidden == 768 && c.q_intermediate == 3072 && c.q_layers == 12 &&
              c.q_heads == 12 && c.q_cross_freq == 2 && c.n_query_tokens == 32);
    cr_assert_float_eq(c.v_layer_norm_eps, 1e-6f, 1e-12);
    cr_assert_float_eq(c.q_layer_norm_eps, 1e-12f, 1e-20);
    fs_llava_config m = fs_llava_config_minigpt4_7b(), back;
    const char *p = write_config(dir, "{}");
    cr_assert_eq(fs_llava_config_save(p, &m), 0, "%s", fs_last_error());
    cr_assert_eq(fs_llava_config_load(p, &back), 0, "%s", fs_last_error());
    cr_assert(back.blip2 && fs_llava_config_same_sizes(&back, &m) && back.q_layers == 12 &&
              back.n_query_tokens == 32 && back.image_token_index == 32000 &&
              back.pad_token_id == 32001);
    const reject_case cases[] = {
        {"{\"model_type\": \"blip-2\"}", "no \"image_token_index\"", "convert_minigpt4.py"},
        {B2("\"vision_config\": {\"model_type\": \"clip_vision_model\"}"), "vision_config.model_type", "blip_2_vision_model"},
        {B2("\"vision_config\": {\"hidden_act\": \"quick_gelu\"}"), "vision_config.hidden_act", "exact"},
        {B2("\"qformer_config\": {\"hidden_act\": \"relu\"}"), "qformer_config.hidden_act", "gelu"},
        {B2("\"qformer_config\": {\"encoder_hidden_size\": 1024}"), "qformer_config.encoder_hidden_size", "must equal vision_config.hidden_size"},
        {B2("\"qformer_config\": {\"cross_attention_frequency\": 0}"), "qformer_config.cross_attention_frequency", "between 1 and"},
        {B2("\"qformer_config\": {\"hidden_size\": 700}"), "qformer_config.hidden_size", "not divisible"},
        {B2("\"qformer_config\": {\"layer_norm_eps\": 0}"), "qformer_config.layer_norm_eps", "positive"},
        {B2("\"num_query_tokens\": 4096"), "num_query_tokens", "no room for text"},
        {B2("\"use_decoder_only_language_model\": false"), "use_decoder_only_language_model", "LLaMA decoder"},
        {B2("\"text_config\": {\"model_type\": \"opt\"}"), "text_config.model_type", "\"llama\""},
    };
    expect_rejections(dir, cases, sizeof cases / sizeof *cases);
}
