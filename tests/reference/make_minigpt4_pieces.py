#!/usr/bin/env python3
"""Size-faithful random stand-ins of the published MiniGPT-4 pieces, for the
converter test (tests/test_convert_minigpt4.c), and the reference the
converted directory must reproduce.

    python tests/reference/make_minigpt4_pieces.py pieces OUT_DIR
writes OUT_DIR/
    eva_vit_g.pth        EVA ViT-g at its real width (1408, 16 heads, MLP 6144, 224 px,
                         patch 14: 257 tokens), 2 blocks instead of 40, fp32, the names of
                         LAVIS's eva_vit.py (cls_token, pos_embed, patch_embed.proj,
                         blocks.N.{norm1, attn.qkv, attn.q_bias, attn.v_bias, attn.proj,
                         norm2, mlp.fc1, mlp.fc2}) plus a final norm BLIP-2 drops
    blip2.pth            {"model": ...} as LAVIS saves it: query_tokens [1, 32, 768],
                         ln_vision, Qformer.bert.* (BERT-base width 768, 12 heads, FFN
                         3072; 2 layers instead of 12, cross-attention in layer 0) including
                         the text-side pieces MiniGPT-4 drops, and a t5_proj it ignores
    minigpt4.pth         {"model": {llama_proj.weight [64, 768], llama_proj.bias}}
    vicuna/              a LlamaForCausalLM (width 64, 1 layer: the LLM is reduced) saved
                         with save_pretrained, and a trained SentencePiece tokenizer.model

    python tests/reference/make_minigpt4_pieces.py reference OUT_DIR CONVERTED_DIR [--layers N]
computes MiniGPT-4's image path directly from the raw pieces (EVA blocks with
qkv bias [q_bias, 0, v_bias], ln_vision, the Q-Former's query path with BERT
post-norm layers, llama_proj), checks that transformers'
Blip2ForConditionalGeneration loaded from CONVERTED_DIR gives the same
projected queries, and writes OUT_DIR/reference.safetensors:
    pixel_values [2, 3, 224, 224], image_features [2, 32, 64].
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

VH, VI, VHEADS, PATCH, IMG, VBLOCKS = 1408, 6144, 16, 14, 224, 2
QH, QI, QHEADS, QLAYERS, NQ = 768, 3072, 12, 2, 32
TH = 64


def rnd(gen, *shape, scale=1.0):
    return torch.randn(shape, generator=gen) * scale


def ln_params(gen, d):
    return 1.0 + 0.2 * rnd(gen, d), 0.1 * rnd(gen, d)


def make_pieces(out, seed):
    gen = torch.Generator().manual_seed(seed)
    os.makedirs(out, exist_ok=True)
    n_tok = (IMG // PATCH) ** 2 + 1
    eva = {"cls_token": rnd(gen, 1, 1, VH, scale=0.5), "pos_embed": rnd(gen, 1, n_tok, VH, scale=0.5),
           "patch_embed.proj.weight": rnd(gen, VH, 3, PATCH, PATCH, scale=1 / math.sqrt(3 * PATCH * PATCH)),
           "patch_embed.proj.bias": rnd(gen, VH, scale=0.1)}
    for i in range(VBLOCKS):
        b = f"blocks.{i}."
        eva[b + "norm1.weight"], eva[b + "norm1.bias"] = ln_params(gen, VH)
        eva[b + "norm2.weight"], eva[b + "norm2.bias"] = ln_params(gen, VH)
        eva[b + "attn.qkv.weight"] = rnd(gen, 3 * VH, VH, scale=1 / math.sqrt(VH))
        eva[b + "attn.q_bias"] = rnd(gen, VH, scale=0.1)
        eva[b + "attn.v_bias"] = rnd(gen, VH, scale=0.1)
        eva[b + "attn.proj.weight"] = rnd(gen, VH, VH, scale=1 / math.sqrt(VH))
        eva[b + "attn.proj.bias"] = rnd(gen, VH, scale=0.1)
        eva[b + "mlp.fc1.weight"] = rnd(gen, VI, VH, scale=1 / math.sqrt(VH))
        eva[b + "mlp.fc1.bias"] = rnd(gen, VI, scale=0.1)
        eva[b + "mlp.fc2.weight"] = rnd(gen, VH, VI, scale=1 / math.sqrt(VI))
        eva[b + "mlp.fc2.bias"] = rnd(gen, VH, scale=0.1)
    eva["norm.weight"], eva["norm.bias"] = ln_params(gen, VH)
    torch.save(eva, os.path.join(out, "eva_vit_g.pth"))

    q = {"query_tokens": rnd(gen, 1, NQ, QH, scale=0.5), "t5_proj.weight": rnd(gen, 8, QH)}
    q["ln_vision.weight"], q["ln_vision.bias"] = ln_params(gen, VH)
    p = "Qformer.bert."
    q[p + "embeddings.LayerNorm.weight"], q[p + "embeddings.LayerNorm.bias"] = ln_params(gen, QH)
    q[p + "embeddings.word_embeddings.weight"] = rnd(gen, 16, QH)
    q["Qformer.cls.predictions.bias"] = rnd(gen, 16)

    def attn(prefix, kv_in):
        for n, d_in in (("query", QH), ("key", kv_in), ("value", kv_in)):
            q[f"{prefix}.self.{n}.weight"] = rnd(gen, QH, d_in, scale=1 / math.sqrt(d_in))
            q[f"{prefix}.self.{n}.bias"] = rnd(gen, QH, scale=0.1)
        q[f"{prefix}.output.dense.weight"] = rnd(gen, QH, QH, scale=1 / math.sqrt(QH))
        q[f"{prefix}.output.dense.bias"] = rnd(gen, QH, scale=0.1)
        q[f"{prefix}.output.LayerNorm.weight"], q[f"{prefix}.output.LayerNorm.bias"] = ln_params(gen, QH)

    for i in range(QLAYERS):
        L = f"{p}encoder.layer.{i}"
        attn(f"{L}.attention", QH)
        if i % 2 == 0:
            attn(f"{L}.crossattention", VH)
        for side in ("", "_query"):  # the text FFN (dropped) and the query FFN
            q[f"{L}.intermediate{side}.dense.weight"] = rnd(gen, QI, QH, scale=1 / math.sqrt(QH))
            q[f"{L}.intermediate{side}.dense.bias"] = rnd(gen, QI, scale=0.1)
            q[f"{L}.output{side}.dense.weight"] = rnd(gen, QH, QI, scale=1 / math.sqrt(QI))
            q[f"{L}.output{side}.dense.bias"] = rnd(gen, QH, scale=0.1)
            q[f"{L}.output{side}.LayerNorm.weight"], q[f"{L}.output{side}.LayerNorm.bias"] = ln_params(gen, QH)
    torch.save({"model": q, "epoch": 0}, os.path.join(out, "blip2.pth"))
    torch.save({"model": {"llama_proj.weight": rnd(gen, TH, QH, scale=1 / math.sqrt(QH)),
                          "llama_proj.bias": rnd(gen, TH, scale=0.1)}},
               os.path.join(out, "minigpt4.pth"))

    import make_sp_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM
    vicuna = os.path.join(out, "vicuna")
    os.makedirs(vicuna, exist_ok=True)
    make_sp_tokenizer.train(vicuna, seed)
    cfg = LlamaConfig(vocab_size=make_sp_tokenizer.VOCAB, hidden_size=TH, intermediate_size=128,
                      num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(vicuna)


def layer_norm(x, sd, key, eps):
    return F.layer_norm(x, x.shape[-1:], sd[key + ".weight"], sd[key + ".bias"], eps)


def mha(xq, xkv, wq, bq, wk, bk, wv, bv, heads):
    B, Tq, D = xq.shape
    hd = D // heads
    split = lambda t: t.view(B, -1, heads, hd).transpose(1, 2)
    qh, kh, vh = split(F.linear(xq, wq, bq)), split(F.linear(xkv, wk, bk)), split(F.linear(xkv, wv, bv))
    att = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(hd), dim=-1)
    return (att @ vh).transpose(1, 2).reshape(B, Tq, D)


def original_forward(pieces, pixels, n_layers):
    """MiniGPT-4's encode_img from the raw pieces (LAVIS eva_vit.py + Qformer.py)."""
    eva = torch.load(os.path.join(pieces, "eva_vit_g.pth"), weights_only=True)
    sd = torch.load(os.path.join(pieces, "blip2.pth"), weights_only=True)["model"]
    proj = torch.load(os.path.join(pieces, "minigpt4.pth"), weights_only=True)["model"]
    x = F.conv2d(pixels, eva["patch_embed.proj.weight"], eva["patch_embed.proj.bias"], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat((eva["cls_token"].expand(x.shape[0], -1, -1), x), 1) + eva["pos_embed"]
    for i in range(n_layers):
        b = f"blocks.{i}."
        h = layer_norm(x, eva, b + "norm1", 1e-6)
        bias = torch.cat((eva[b + "attn.q_bias"], torch.zeros(VH), eva[b + "attn.v_bias"]))
        qkv = F.linear(h, eva[b + "attn.qkv.weight"], bias).view(x.shape[0], -1, 3, VHEADS, VH // VHEADS)
        qh, kh, vh = qkv.permute(2, 0, 3, 1, 4)
        att = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(VH // VHEADS), -1)
        o = (att @ vh).transpose(1, 2).reshape(x.shape)
        x = x + F.linear(o, eva[b + "attn.proj.weight"], eva[b + "attn.proj.bias"])
        h = layer_norm(x, eva, b + "norm2", 1e-6)
        h = F.gelu(F.linear(h, eva[b + "mlp.fc1.weight"], eva[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, eva[b + "mlp.fc2.weight"], eva[b + "mlp.fc2.bias"])
    img = layer_norm(x, sd, "ln_vision", 1e-5)  # LAVIS's LayerNorm subclass, eps 1e-5
    p = "Qformer.bert."
    y = layer_norm(sd["query_tokens"].expand(x.shape[0], -1, -1), sd, p + "embeddings.LayerNorm", 1e-12)

    def block(y, src, pre):
        g = lambda n: sd[f"{pre}.self.{n}"]
        a = mha(y, src, g("query.weight"), g("query.bias"), g("key.weight"), g("key.bias"),
                g("value.weight"), g("value.bias"), QHEADS)
        a = F.linear(a, sd[pre + ".output.dense.weight"], sd[pre + ".output.dense.bias"])
        return layer_norm(a + y, sd, pre + ".output.LayerNorm", 1e-12)

    for i in range(QLAYERS):
        L = f"{p}encoder.layer.{i}"
        y = block(y, y, L + ".attention")
        if i % 2 == 0:
            y = block(y, img, L + ".crossattention")
        h = F.gelu(F.linear(y, sd[L + ".intermediate_query.dense.weight"], sd[L + ".intermediate_query.dense.bias"]))
        h = F.linear(h, sd[L + ".output_query.dense.weight"], sd[L + ".output_query.dense.bias"])
        y = layer_norm(h + y, sd, L + ".output_query.LayerNorm", 1e-12)
    return F.linear(y, proj["llama_proj.weight"], proj["llama_proj.bias"])


def make_reference(out, converted, n_layers, seed):
    from safetensors.torch import save_file
    from transformers import Blip2ForConditionalGeneration
    gen = torch.Generator().manual_seed(seed + 1)
    pixels = torch.randn((2, 3, IMG, IMG), generator=gen)
    with torch.no_grad():
        want = original_forward(os.path.join(out, "pieces"), pixels, n_layers)
        model = Blip2ForConditionalGeneration.from_pretrained(converted, dtype=torch.float32).eval()
        got = model.get_image_features(pixel_values=pixels, return_dict=True).pooler_output
    err = (got - want).abs().max().item()
    print(f"make_minigpt4_pieces: transformers on the converted directory vs MiniGPT-4 from the "
          f"raw pieces: max |diff| {err:.3g} (|features| max {want.abs().max().item():.3g})")
    if err > 1e-3 * max(1.0, want.abs().max().item()):
        raise SystemExit("make_minigpt4_pieces: the converted model computes something else")
    save_file({"pixel_values": pixels.contiguous(), "image_features": want.contiguous()},
              os.path.join(out, "reference.safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("pieces", "reference"))
    ap.add_argument("out_dir")
    ap.add_argument("converted", nargs="?")
    ap.add_argument("--layers", type=int, default=VBLOCKS, help="EVA blocks the conversion kept")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(min(4, torch.get_num_threads()))
    if a.mode == "pieces":
        make_pieces(os.path.join(a.out_dir, "pieces"), a.seed)
    else:
        make_reference(a.out_dir, a.converted, a.layers, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
