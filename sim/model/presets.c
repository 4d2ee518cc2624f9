#include "sim/model/presets.h"

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
