#include "sim/model/presets.h"

#include <string.h>

#include "sim/io/error.h"

fs_llava_config fs_llava_config_tiny(void)
{
    return (fs_llava_config){
        .v_hidden = 64, .v_intermediate = 128, .v_layers = 3, .v_heads = 4, .v_image_size = 32,
        .v_patch_size = 8, .v_channels = 3, .v_layer_norm_eps = 1e-5f,
        .t_vocab = 512, .t_hidden = 96, .t_intermediate = 192, .t_layers = 2, .t_heads = 4,
        .t_kv_heads = 2, .t_head_dim = 24, .t_max_pos = 256, .t_rms_eps = 1e-5f,
        .t_rope_theta = 10000.0f, .tie_word_embeddings = false,
        .image_token_index = 511, .vision_feature_layer = -2, .projector_bias = true,
        .pad_token_id = 0, .v_select_full = false,
    };
}

fs_llava_config fs_llava_config_llava15_7b(void)
{
    return (fs_llava_config){
        .v_hidden = 1024, .v_intermediate = 4096, .v_layers = 24, .v_heads = 16,
        .v_image_size = 336, .v_patch_size = 14, .v_channels = 3, .v_layer_norm_eps = 1e-5f,
        .t_vocab = 32064, .t_hidden = 4096, .t_intermediate = 11008, .t_layers = 32,
        .t_heads = 32, .t_kv_heads = 32, .t_head_dim = 128, .t_max_pos = 4096,
        .t_rms_eps = 1e-5f, .t_rope_theta = 10000.0f, .tie_word_embeddings = false,
        .image_token_index = 32000, .vision_feature_layer = -2, .projector_bias = true,
        .pad_token_id = 32001, .v_select_full = false,
    };
}

fs_llava_config fs_llava_config_llava15_13b(void)
{
    fs_llava_config c = fs_llava_config_llava15_7b();
    c.t_hidden = 5120, c.t_intermediate = 13824, c.t_layers = 40;
    c.t_heads = c.t_kv_heads = 40;
    return c;
}

fs_llava_config fs_llava_config_minigpt4_style(void)
{
    fs_llava_config c = fs_llava_config_llava15_7b();
    c.projector_linear = true;
    return c;
}

fs_llava_config fs_llava_config_minigpt4_7b(void)
{
    return (fs_llava_config){
        .blip2 = true, .v_hidden = 1408, .v_intermediate = 6144, .v_layers = 39, .v_heads = 16,
        .v_image_size = 224, .v_patch_size = 14, .v_channels = 3, .v_layer_norm_eps = 1e-6f,
        .v_qkv_bias = true, .q_hidden = 768, .q_intermediate = 3072, .q_layers = 12,
        .q_heads = 12, .q_cross_freq = 2, .q_layer_norm_eps = 1e-12f, .n_query_tokens = 32,
        .t_vocab = 32002, .t_hidden = 4096, .t_intermediate = 11008, .t_layers = 32,
        .t_heads = 32, .t_kv_heads = 32, .t_head_dim = 128, .t_max_pos = 2048,
        .t_rms_eps = 1e-6f, .t_rope_theta = 10000.0f, .tie_word_embeddings = false,
        .image_token_index = 32000, .pad_token_id = 32001, .vision_feature_layer = -1,
        .projector_linear = true, .projector_bias = true, .v_select_full = true,
    };
}

int fs_llava_config_preset(const char *name, fs_llava_config *out)
{
    static const struct {
        const char *name;
        fs_llava_config (*make)(void);
    } presets[] = {
        {"tiny", fs_llava_config_tiny},
        {"llava-1.5-7b", fs_llava_config_llava15_7b},
        {"llava-1.5-13b", fs_llava_config_llava15_13b},
        {"minigpt4-style-7b", fs_llava_config_minigpt4_style},
        {"minigpt4-7b", fs_llava_config_minigpt4_7b},
    };
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(name, presets[i].name)) {
            *out = presets[i].make();
            return 0;
        }
    return fs_fail("unknown model preset '%s' (known: tiny, llava-1.5-7b, llava-1.5-13b, "
                   "minigpt4-style-7b, minigpt4-7b)", name);
}
