#!/usr/bin/env python3
"""Build a tiny random Blip2ForConditionalGeneration with a LLaMA text_config
(MiniGPT-4's architecture: EVA ViT + Q-Former + linear language_projection +
LLaMA) with Hugging Face transformers and record reference tensors for
fedsim's parity test (tests/test_blip2_parity.c).

Usage:
    python tests/reference/make_tiny_blip2.py OUT_DIR [--seed N] [--tie] [--no-qkv-bias]

Writes
    OUT_DIR/model/                  save_pretrained() output: config.json + model.safetensors
    OUT_DIR/reference.safetensors   float32 tensors (integers stored as exact float32 values):
        input_ids          [B, T]      text tokens with num_query_tokens copies of
                                       image_token_index per sample, contiguous, at a different
                                       position in each sample
        pixel_values       [B, 3, H, W]
        labels             [B, T]      -100 except a few "answer" positions at the end
        vision_hidden      [B, S, vision_hidden]   vision_model last_hidden_state
                                       (post_layernorm'd, CLS included: what the Q-Former reads)
        qformer_output     [B, Q, qformer_hidden]  Q-Former last_hidden_state
        image_features     [B, Q, text_hidden]     language_projection output
        inputs_embeds      [B, T, text_hidden]     token embeddings with the image features
                                       scattered into the image-token positions
        logits             [B, T, vocab]           full Blip2ForConditionalGeneration forward
        loss               [1]         mean cross entropy over the shifted labelled positions
        grad_inputs_embeds [B, T, text_hidden]     d loss / d inputs_embeds

Every parameter (the fused qkv bias's k block included) is random and O(1),
so a dropped term shows. The attention mask is all ones; float32, eager
attention, eval mode, fixed seed.
"""

import argparse
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2QFormerConfig,
                          Blip2VisionConfig, LlamaConfig)
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_llava import randomise  # noqa: E402  O(1) values, norms away from 1/0

IMAGE_TOKEN = 95
PAD_TOKEN = 0
BATCH = 2
SEQ = 30
N_QUERY = 8
IMAGE_STARTS = (2, 7)
ANSWER_LENS = (6, 4)


def build_config(tie: bool, qkv_bias: bool) -> Blip2Config:
    vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                               num_attention_heads=4, image_size=16, patch_size=4,
                               layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=qkv_bias)
    qformer = Blip2QFormerConfig(hidden_size=24, intermediate_size=40, num_hidden_layers=3,
                                 num_attention_heads=4, cross_attention_frequency=2,
                                 layer_norm_eps=1e-12, hidden_act="gelu")
    text = LlamaConfig(vocab_size=96, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                       rms_norm_eps=1e-5,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                       max_position_embeddings=128, tie_word_embeddings=tie,
                       pad_token_id=PAD_TOKEN, bos_token_id=1, eos_token_id=2)
    return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                       text_config=text.to_dict(), num_query_tokens=N_QUERY,
                       image_token_index=IMAGE_TOKEN, tie_word_embeddings=tie)


def check_close(name, got, want, tol):
    err = (got - want).abs().max().item()
    if err > tol:
        raise SystemExit(f"make_tiny_blip2: self-check failed: {name} differs by {err:.3g} (> {tol:g})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tie", action="store_true", help="tie lm_head to the token embeddings")
    ap.add_argument("--no-qkv-bias", action="store_true", help="vision_config.qkv_bias false")
    args = ap.parse_args()
    hf_logging.disable_progress_bar()
    torch.manual_seed(args.seed)
    torch.set_num_threads(min(4, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(args.seed)

    cfg = build_config(args.tie, not args.no_qkv_bias)
    model = Blip2ForConditionalGeneration._from_config(cfg, attn_implementation="eager",
                                                       dtype=torch.float32)
    randomise(model, gen)
    if args.tie:
        model.tie_weights()
        assert (model.language_model.lm_head.weight.data_ptr()
                == model.get_input_embeddings().weight.data_ptr())
    model.eval()

    vc, tc = cfg.vision_config, cfg.text_config
    ids = torch.randint(1, IMAGE_TOKEN, (BATCH, SEQ), generator=gen)
    labels = torch.full((BATCH, SEQ), -100, dtype=torch.long)
    for b in range(BATCH):
        s = IMAGE_STARTS[b]
        assert s + N_QUERY + ANSWER_LENS[b] < SEQ
        ids[b, s:s + N_QUERY] = IMAGE_TOKEN
        labels[b, SEQ - ANSWER_LENS[b]:] = ids[b, SEQ - ANSWER_LENS[b]:]
    pixels = torch.randn((BATCH, 3, vc.image_size, vc.image_size), generator=gen)
    mask = torch.ones_like(ids)

    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, labels=labels)
        logits, loss = out.logits, out.loss
        feats = model.get_image_features(pixel_values=pixels, return_dict=True)
        vision_hidden = feats.vision_outputs.last_hidden_state
        qformer_output = feats.qformer_outputs.last_hidden_state
        image_features = feats.pooler_output
        check_close("language_projection", model.language_projection(qformer_output),
                    image_features, 0.0)
        assert vision_hidden.shape == (BATCH, (vc.image_size // vc.patch_size) ** 2 + 1,
                                       vc.hidden_size)
        assert image_features.shape == (BATCH, N_QUERY, tc.hidden_size)
        inputs_embeds = model.get_input_embeddings()(ids).clone()
        for b in range(BATCH):
            pos = (ids[b] == IMAGE_TOKEN).nonzero().squeeze(1)
            assert pos.numel() == N_QUERY
            inputs_embeds[b, pos] = image_features[b]

    # the language model on inputs_embeds as a leaf: same logits, then d loss / d embeds
    embeds = inputs_embeds.detach().clone().requires_grad_(True)
    out2 = model.language_model(inputs_embeds=embeds, attention_mask=mask)
    check_close("logits via inputs_embeds", out2.logits.detach(), logits, 1e-5)
    shift_logits = out2.logits[:, :-1].reshape(-1, tc.vocab_size)
    shift_labels = labels[:, 1:].reshape(-1)
    loss2 = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    check_close("loss (manual mean)", loss2.detach(), loss, 1e-5)
    loss2.backward()
    grad = embeds.grad.detach()

    model_dir = os.path.join(args.out_dir, "model")
    os.makedirs(model_dir, exist_ok=True)
    model.save_pretrained(model_dir)
    reloaded = Blip2ForConditionalGeneration.from_pretrained(
        model_dir, attn_implementation="eager", dtype=torch.float32).eval()
    with torch.no_grad():
        check_close("logits after reload", reloaded(input_ids=ids, pixel_values=pixels,
                                                    attention_mask=mask).logits, logits, 0.0)

    ref = {
        "input_ids": ids, "pixel_values": pixels, "labels": labels,
        "vision_hidden": vision_hidden, "qformer_output": qformer_output,
        "image_features": image_features, "inputs_embeds": inputs_embeds,
        "logits": logits, "loss": loss.reshape(1), "grad_inputs_embeds": grad,
    }
    ref = {k: v.detach().to(torch.float32).contiguous() for k, v in ref.items()}
    ref_path = os.path.join(args.out_dir, "reference.safetensors")
    save_file(ref, ref_path, metadata={"seed": str(args.seed), "tie": str(args.tie)})
    with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
        n_tensors = len(list(f.keys()))
    print(f"make_tiny_blip2: seed {args.seed}, tie {args.tie}, qkv_bias {not args.no_qkv_bias}, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {n_tensors} tensors")
    print(f"loss {loss.item():.6f}, |logits| max {logits.abs().max().item():.3f}, "
          f"|grad_inputs_embeds| max {grad.abs().max().item():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
