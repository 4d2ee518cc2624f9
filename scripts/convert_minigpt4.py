#!/usr/bin/env python3
"""Turn the published MiniGPT-4 pieces into one directory fedsim (and
transformers' Blip2ForConditionalGeneration) loads: config.json (model_type
"blip-2" with a LLaMA text_config), model.safetensors, the LLaMA tokenizer
with <image> and <pad> added, and preprocessor_config.json.

Pieces (nothing is downloaded):
  --blip2 PATH      LAVIS BLIP-2 checkpoint (.pth; e.g. blip2_pretrained_flant5xxl.pth, which
                    MiniGPT-4 loads its Q-Former from): query_tokens, Qformer.bert.*,
                    ln_vision.*, and visual_encoder.* when it carries the EVA ViT
  --eva-vit PATH    EVA ViT-g checkpoint (.pth; eva_vit_g.pth) for the vision tower when
                    --blip2 lacks visual_encoder.* (when both have it, --blip2 wins, as
                    MiniGPT-4 loads the BLIP-2 checkpoint last)
  --minigpt4 PATH   MiniGPT-4's projection checkpoint (.pth; pretrained_minigpt4.pth):
                    llama_proj.weight / llama_proj.bias
  --llama DIR       the Vicuna / LLaMA Hugging Face directory (config.json, *.safetensors or
                    pytorch_model*.bin, tokenizer.model)
  --out DIR         written atomically (a temporary directory renamed at the end)

Names, following transformers' own BLIP-2 conversion:
  visual_encoder.cls_token / pos_embed        -> vision_model.embeddings.class_embedding /
                                                 position_embedding
  visual_encoder.patch_embed.proj.*           -> vision_model.embeddings.patch_embedding.*
  visual_encoder.blocks.N.norm1/norm2         -> vision_model.encoder.layers.N.layer_norm1/2
  visual_encoder.blocks.N.attn.qkv.weight     -> ...self_attn.qkv.weight
  visual_encoder.blocks.N.attn.q_bias, v_bias -> ...self_attn.qkv.bias = [q_bias, 0, v_bias]
  visual_encoder.blocks.N.attn.proj.*         -> ...self_attn.projection.*
  visual_encoder.blocks.N.mlp.fc1/fc2         -> ...mlp.fc1/fc2
  ln_vision.*                                 -> vision_model.post_layernorm.*
  Qformer.bert.embeddings.LayerNorm.*         -> qformer.layernorm.*
  Qformer.bert.encoder.layer.N.{attention,crossattention}.self.* -> qformer.encoder.layer.N.
                                                 {attention,crossattention}.attention.*
  (the rest of Qformer.bert.encoder.* keeps its name under qformer.encoder.*; the text-side
   intermediate/output FFN, word/position embeddings and Qformer.cls.* are dropped:
   MiniGPT-4 never runs them)
  query_tokens -> query_tokens;  llama_proj.* -> language_projection.*
  LLaMA model.* / lm_head.*                   -> language_model.model.* / language_model.lm_head.*
BLIP-2 uses the first 39 of EVA ViT-g's 40 blocks (--vision-layers, default min(39, blocks)).
Sizes come from the tensors; head counts cannot (--vision-heads 16, --qformer-heads 12).
One difference from LAVIS stays, as in transformers' own conversion: post_layernorm
(LAVIS's ln_vision, eps 1e-5) uses vision_config.layer_norm_eps, 1e-6.

Vocabulary: when the tokenizer lacks <image> (and <pad>), they are added after the last id,
and the embedding and lm_head get one row each, the mean of the existing rows (what
transformers' resize_token_embeddings centres its new rows on). The <image> row is never
read (the projected queries replace it); <pad> only pads.

Usage:
  python scripts/convert_minigpt4.py --blip2 blip2_pretrained_flant5xxl.pth \\
      --eva-vit eva_vit_g.pth --minigpt4 pretrained_minigpt4.pth --llama vicuna-7b \\
      --out models/minigpt4-7b [--dtype bf16|f16|f32]
"""

import argparse
import glob
import json
import os
import re
import shutil
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

N_VISION_LAYERS_BLIP2 = 39
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


class ConvertError(Exception):
    pass


TRUST_PICKLE = False  # --trust-pickle


def load_pth(path, what):
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file ({what})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not TRUST_PICKLE)
    except Exception as e:  # a truncated download, not a torch file, or pickled objects
        raise ConvertError(f"{path}: cannot be read as a PyTorch checkpoint ({what}): {e}; if "
                           "it is intact and from a source you trust, --trust-pickle reads "
                           "the Python objects it pickles besides the tensors")
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # LAVIS and MiniGPT-4 save {"model": state_dict, ...}
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ConvertError(f"{path}: not a state dict of tensors ({what})")
    return obj


def need(sd, key, path):
    if key not in sd:
        raise ConvertError(f"{path}: tensor '{key}' is missing; is this the right checkpoint?")
    return sd[key]


def vision_tensors(sd, prefix, path, n_layers):
    """EVA ViT tensors (names under prefix) -> HF Blip2VisionModel names."""
    blocks = sorted({int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + r"blocks\.(\d+)\.", k)] if m})
    if not blocks:
        raise ConvertError(f"{path}: no '{prefix}blocks.N.*' tensors (EVA ViT blocks)")
    n = min(N_VISION_LAYERS_BLIP2, len(blocks)) if n_layers is None else n_layers
    if n > len(blocks) or blocks != list(range(len(blocks))):
        raise ConvertError(f"{path}: {len(blocks)} EVA blocks (need blocks 0..{n - 1})")
    for k in sd:
        if k.startswith(prefix) and re.search(r"gamma_[12]$|rel_pos_bias|relative_position", k):
            raise ConvertError(f"{path}: '{k}': layer scale and relative position biases are "
                               "not part of BLIP-2's EVA ViT-g; fedsim does not implement them")
    g = lambda k: need(sd, prefix + k, path)
    out = {
        "vision_model.embeddings.class_embedding": g("cls_token"),
        "vision_model.embeddings.position_embedding": g("pos_embed"),
        "vision_model.embeddings.patch_embedding.weight": g("patch_embed.proj.weight"),
        "vision_model.embeddings.patch_embedding.bias": g("patch_embed.proj.bias"),
    }
    qkv_bias = prefix + "blocks.0.attn.q_bias" in sd
    for i in range(n):
        b, o = f"blocks.{i}.", f"vision_model.encoder.layers.{i}."
        for src, dst in (("norm1", "layer_norm1"), ("norm2", "layer_norm2"),
                         ("attn.proj", "self_attn.projection"), ("mlp.fc1", "mlp.fc1"),
                         ("mlp.fc2", "mlp.fc2")):
            out[o + dst + ".weight"] = g(b + src + ".weight")
            out[o + dst + ".bias"] = g(b + src + ".bias")
        out[o + "self_attn.qkv.weight"] = g(b + "attn.qkv.weight")
        if qkv_bias:
            q, v = g(b + "attn.q_bias"), g(b + "attn.v_bias")
            out[o + "self_attn.qkv.bias"] = torch.cat((q, torch.zeros_like(v), v))
    return out, n, qkv_bias


def qformer_tensors(sd, path):
    out = {"query_tokens": need(sd, "query_tokens", path),
           "qformer.layernorm.weight": need(sd, "Qformer.bert.embeddings.LayerNorm.weight", path),
           "qformer.layernorm.bias": need(sd, "Qformer.bert.embeddings.LayerNorm.bias", path)}
    pre = "Qformer.bert.encoder.layer."
    for k, t in sd.items():
        if not k.startswith(pre):
            continue
        rest = k[len(pre):]
        if re.match(r"\d+\.(intermediate|output)\.", rest):
            continue  # the text FFN: MiniGPT-4 sets it to None
        rest = re.sub(r"^(\d+\.(?:attention|crossattention))\.self\.", r"\1.attention.", rest)
        out["qformer.encoder.layer." + rest] = t
    layers = sorted({int(k.split(".")[3]) for k in out if k.startswith("qformer.encoder.layer.")})
    if not layers or layers != list(range(len(layers))):
        raise ConvertError(f"{path}: no Q-Former layers 0..N under '{pre}'")
    cross = [i for i in layers if f"qformer.encoder.layer.{i}.crossattention.attention.query.weight" in out]
    freq = cross[1] - cross[0] if len(cross) > 1 else len(layers)
    if not cross or cross[0] != 0 or cross != list(range(0, len(layers), freq)):
        raise ConvertError(f"{path}: cross-attention in Q-Former layers {cross}; BLIP-2 has it "
                           "in every k-th layer from layer 0")
    return out, len(layers), freq


def llama_tensors(llama_dir):
    files = sorted(glob.glob(os.path.join(llama_dir, "*.safetensors")))
    sd = {}
    if files:
        for f in files:
            sd.update(load_file(f))
    else:
        files = sorted(glob.glob(os.path.join(llama_dir, "pytorch_model*.bin")))
        for f in files:
            sd.update(load_pth(f, "LLaMA weights"))
    if not files:
        raise ConvertError(f"{llama_dir}: no *.safetensors or pytorch_model*.bin weights")
    out = {}
    for k, t in sd.items():
        if k.startswith("model.") or k.startswith("lm_head."):
            out["language_model." + k] = t
        elif "rotary_emb" not in k:
            raise ConvertError(f"{llama_dir}: unexpected tensor '{k}' (not a LlamaForCausalLM?)")
    if "language_model.model.embed_tokens.weight" not in out:
        raise ConvertError(f"{llama_dir}: no model.embed_tokens.weight")
    return out


def add_tokens(llama_dir, out_dir, vocab):
    """Copies the tokenizer, adding <image> and <pad> when absent; returns their ids."""
    if not os.path.isfile(os.path.join(llama_dir, "tokenizer.model")):
        raise ConvertError(f"{llama_dir}: no tokenizer.model (the LLaMA SentencePiece model)")
    shutil.copy(os.path.join(llama_dir, "tokenizer.model"), out_dir)
    cfg_path = os.path.join(llama_dir, "tokenizer_config.json")
    tcfg = json.load(open(cfg_path)) if os.path.isfile(cfg_path) else {}
    added = tcfg.setdefault("added_tokens_decoder", {})
    ids = {v["content"]: int(k) for k, v in added.items()}
    new = []
    for tok in ("<image>", "<pad>"):
        if tok not in ids:
            ids[tok] = vocab + len(new)
            new.append(tok)
            added[str(ids[tok])] = {"content": tok, "lstrip": False, "rstrip": False,
                                    "normalized": False, "single_word": False, "special": True}
    tcfg["pad_token"] = "<pad>"
    tcfg.pop("tokenizer_file", None)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2)
    return ids["<image>"], ids["<pad>"], len(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blip2", required=True)
    ap.add_argument("--eva-vit")
    ap.add_argument("--minigpt4", required=True)
    ap.add_argument("--llama", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=DTYPES, default="bf16")
    ap.add_argument("--vision-layers", type=int)
    ap.add_argument("--vision-heads", type=int, default=16)
    ap.add_argument("--qformer-heads", type=int, default=12)
    ap.add_argument("--trust-pickle", action="store_true",
                    help="load .pth files with weights_only=False (runs their pickled code)")
    a = ap.parse_args()
    global TRUST_PICKLE
    TRUST_PICKLE = a.trust_pickle

    blip2 = load_pth(a.blip2, "BLIP-2 checkpoint")
    if any(k.startswith("visual_encoder.") for k in blip2):
        vis, n_vis, qkv_bias = vision_tensors(blip2, "visual_encoder.", a.blip2, a.vision_layers)
    elif a.eva_vit:
        eva = load_pth(a.eva_vit, "EVA ViT checkpoint")
        vis, n_vis, qkv_bias = vision_tensors(eva, "", a.eva_vit, a.vision_layers)
    else:
        raise ConvertError(f"{a.blip2} holds no visual_encoder.* tensors; give the EVA ViT-g "
                           "weights with --eva-vit eva_vit_g.pth")
    vis["vision_model.post_layernorm.weight"] = need(blip2, "ln_vision.weight", a.blip2)
    vis["vision_model.post_layernorm.bias"] = need(blip2, "ln_vision.bias", a.blip2)
    qf, n_q, freq = qformer_tensors(blip2, a.blip2)
    proj = load_pth(a.minigpt4, "MiniGPT-4 projection checkpoint")
    lang = llama_tensors(a.llama)
    lcfg_path = os.path.join(a.llama, "config.json")
    if not os.path.isfile(lcfg_path):
        raise ConvertError(f"{a.llama}: no config.json")
    text = json.load(open(lcfg_path))
    if text.get("model_type") != "llama":
        raise ConvertError(f"{lcfg_path}: model_type is {text.get('model_type')!r}; expected \"llama\"")

    vh = vis["vision_model.embeddings.patch_embedding.weight"].shape[0]
    patch = vis["vision_model.embeddings.patch_embedding.weight"].shape[-1]
    n_pos = vis["vision_model.embeddings.position_embedding"].shape[1]
    grid = int(round((n_pos - 1) ** 0.5))
    if grid * grid != n_pos - 1:
        raise ConvertError(f"pos_embed has {n_pos} positions, not 1 + a square grid")
    qh = qf["query_tokens"].shape[-1]
    th = lang["language_model.model.embed_tokens.weight"].shape[1]
    w = need(proj, "llama_proj.weight", a.minigpt4)
    if tuple(w.shape) != (th, qh):
        raise ConvertError(f"{a.minigpt4}: llama_proj.weight is {list(w.shape)}, but the LLaMA "
                           f"width is {th} and the Q-Former's {qh}: the pieces do not belong together")
    if qf["qformer.encoder.layer.0.crossattention.attention.key.weight"].shape[1] != vh:
        raise ConvertError(f"{a.blip2}: the Q-Former cross-attends to width "
                           f"{qf['qformer.encoder.layer.0.crossattention.attention.key.weight'].shape[1]}, "
                           f"the vision tower is {vh} wide")
    if vh % a.vision_heads or qh % a.qformer_heads:
        raise ConvertError("--vision-heads / --qformer-heads must divide the widths "
                           f"({vh}, {qh})")
    tensors = {**vis, **qf, "language_projection.weight": w,
               "language_projection.bias": need(proj, "llama_proj.bias", a.minigpt4), **lang}

    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=os.path.dirname(os.path.abspath(a.out)))
    try:
        vocab = tensors["language_model.model.embed_tokens.weight"].shape[0]
        image_id, pad_id, n_new = add_tokens(a.llama, tmp, vocab)
        for name in ("language_model.model.embed_tokens.weight", "language_model.lm_head.weight"):
            if name in tensors and n_new:
                t = tensors[name].float()
                tensors[name] = torch.cat((t, t.mean(0, keepdim=True).expand(n_new, -1)))
        text["vocab_size"] = vocab + n_new
        text["pad_token_id"] = pad_id
        tie = bool(text.get("tie_word_embeddings", False))
        cfg = {
            "architectures": ["Blip2ForConditionalGeneration"],
            "model_type": "blip-2",
            "num_query_tokens": qf["query_tokens"].shape[1],
            "image_token_index": image_id,
            "use_decoder_only_language_model": True,
            "tie_word_embeddings": tie,
            "vision_config": {
                "model_type": "blip_2_vision_model", "hidden_size": vh,
                "intermediate_size": vis["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
                "num_hidden_layers": n_vis, "num_attention_heads": a.vision_heads,
                "image_size": grid * patch, "patch_size": patch, "layer_norm_eps": 1e-6,
                "qkv_bias": qkv_bias, "hidden_act": "gelu"},
            "qformer_config": {
                "model_type": "blip_2_qformer", "hidden_size": qh,
                "intermediate_size": qf["qformer.encoder.layer.0.intermediate_query.dense.weight"].shape[0],
                "num_hidden_layers": n_q, "num_attention_heads": a.qformer_heads,
                "cross_attention_frequency": freq, "encoder_hidden_size": vh,
                "layer_norm_eps": 1e-12, "hidden_act": "gelu"},
            "text_config": text,
            "torch_dtype": {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[a.dtype],
        }
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        # MiniGPT-4's Blip2ImageEvalProcessor: bicubic resize of the whole image to the
        # square input (no crop), OpenAI CLIP's statistics.
        side = grid * patch
        pre = {"image_processor_type": "CLIPImageProcessor", "do_resize": True,
               "size": {"height": side, "width": side}, "resample": 3, "do_center_crop": False,
               "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
               "image_mean": [0.48145466, 0.4578275, 0.40821073],
               "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True}
        with open(os.path.join(tmp, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)
        dt = DTYPES[a.dtype]
        save_file({k: v.to(dt).contiguous() for k, v in tensors.items()},
                  os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        if os.path.exists(a.out):
            raise ConvertError(f"{a.out} exists; remove it or choose another --out")
        os.rename(tmp, a.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n = sum(t.numel() for t in tensors.values())
    print(f"convert_minigpt4: wrote {a.out}: {len(tensors)} tensors, {n / 1e9:.3f} B parameters "
          f"({a.dtype}); EVA ViT {n_vis} layers x {vh}, Q-Former {n_q} layers x {qh} "
          f"(cross-attention every {freq}), LLaMA width {th}, vocab {vocab} + {n_new} added "
          f"(<image> {image_id}, <pad> {pad_id})")


if __name__ == "__main__":
    try:
        main()
    except ConvertError as e:
        print(f"convert_minigpt4: {e}", file=sys.stderr)
        sys.exit(1)
