#!/usr/bin/env python3
"""Build a tiny random LLaVA (CLIP vision tower + 2-layer MLP projector + Llama)
with Hugging Face transformers and record reference tensors for fedsim's parity
test (tests/test_model_parity.c).

Usage:
    python tests/reference/make_tiny_llava.py OUT_DIR [--seed N] [--tie] [--strategy default|full]
                                              [--tie-conflict top|text]

Writes
    OUT_DIR/model/                  save_pretrained() output: config.json + model.safetensors
    OUT_DIR/reference.safetensors   float32 tensors (integers stored as exact float32 values):
        input_ids          [B, T]      text tokens with n_img copies of image_token_index per sample,
                                       contiguous, starting at a different position in each sample
        pixel_values       [B, 3, H, W]
        labels             [B, T]      -100 except a few "answer" positions at the end of each
                                       sequence (aligned with input_ids; the loss shifts internally)
        vision_hidden      [B, n_img, vision_hidden]  hidden_states[vision_feature_layer] of the CLIP
                                       tower (CLS dropped for strategy "default", kept for "full")
        image_features     [B, n_img, text_hidden]    multi-modal projector output
        inputs_embeds      [B, T, text_hidden]        token embeddings with the image features
                                       scattered into the image-token positions
        logits             [B, T, vocab]              full LlavaForConditionalGeneration forward
        loss               [1]         HF causal-LM loss: mean cross entropy over all non-ignored
                                       shifted positions of the whole batch (logits[:, t] vs labels[:, t+1])
        grad_inputs_embeds [B, T, text_hidden]        d loss / d inputs_embeds

The attention mask is all ones (no padding) and position ids are 0..T-1 for
every sequence; neither is stored. Everything runs in float32 on the CPU with
eager attention, in eval mode (no dropout), from a fixed seed.
"""

import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration
from transformers.utils import logging as hf_logging

IMAGE_TOKEN = 95
PAD_TOKEN = 0
BATCH = 2
SEQ = 40
IMAGE_STARTS = (3, 9)  # first image-token position of each sample
ANSWER_LENS = (6, 4)  # labelled positions at the end of each sample


def build_config(tie: bool, strategy: str) -> LlavaConfig:
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_channels=3,
        image_size=16,
        patch_size=4,
        layer_norm_eps=1e-5,
        hidden_act="quick_gelu",
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=96,
        hidden_size=48,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        hidden_act="silu",
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        max_position_embeddings=128,
        tie_word_embeddings=tie,
        pad_token_id=PAD_TOKEN,
        bos_token_id=1,
        eos_token_id=2,
    )
    n_patches = (16 // 4) ** 2
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN,
        image_seq_length=n_patches + (strategy == "full"),
        projector_hidden_act="gelu",
        vision_feature_select_strategy=strategy,
        vision_feature_layer=-2,
        multimodal_projector_bias=True,
        tie_word_embeddings=tie,
        pad_token_id=PAD_TOKEN,
    )


@torch.no_grad()
def randomise(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Replace the (tiny, std 0.02) default init with O(1)-scaled values, and move
    every norm weight/bias away from 1/0 so a dropped norm parameter shows up."""
    norm_types = (torch.nn.LayerNorm,)
    for mod_name, mod in model.named_modules():
        is_norm = isinstance(mod, norm_types) or type(mod).__name__.endswith("RMSNorm")
        for p_name, p in mod.named_parameters(recurse=False):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if is_norm:
                p.copy_((1.0 + 0.2 * noise) if p_name == "weight" else 0.1 * noise)
            elif isinstance(mod, torch.nn.Linear) and p_name == "weight":
                p.copy_(noise / p.shape[1] ** 0.5)
            elif isinstance(mod, torch.nn.Conv2d) and p_name == "weight":
                p.copy_(noise / (p[0].numel() ** 0.5))
            elif p_name == "bias":
                p.copy_(0.1 * noise)
            else:  # embeddings: tokens, CLS, positions
                p.copy_(0.5 * noise)


def make_batch(cfg: LlavaConfig, n_img: int, gen: torch.Generator):
    # ordinary text tokens avoid the pad token (0) and the image token (95)
    ids = torch.randint(1, IMAGE_TOKEN, (BATCH, SEQ), generator=gen)
    labels = torch.full((BATCH, SEQ), -100, dtype=torch.long)
    for b in range(BATCH):
        s = IMAGE_STARTS[b]
        assert s + n_img + ANSWER_LENS[b] < SEQ
        ids[b, s : s + n_img] = IMAGE_TOKEN
        labels[b, SEQ - ANSWER_LENS[b] :] = ids[b, SEQ - ANSWER_LENS[b] :]
    vc = cfg.vision_config
    pixels = torch.randn((BATCH, vc.num_channels, vc.image_size, vc.image_size), generator=gen)
    return ids, labels, pixels


def check_close(name, got, want, tol):
    err = (got - want).abs().max().item()
    if err > tol:
        raise SystemExit(f"make_tiny_llava: self-check failed: {name} differs by {err:.3g} (> {tol:g})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tie", action="store_true", help="tie lm_head to the token embeddings")
    ap.add_argument("--strategy", choices=("default", "full"), default="default",
                    help="vision_feature_select_strategy (default drops the CLS token)")
    ap.add_argument("--tie-conflict", choices=("top", "text"),
                    help="save untied, then write tie_word_embeddings true only at the top level "
                         "(top) or only in text_config (text) and false in the other, and take "
                         "every reference from the model transformers reloads from that file")
    args = ap.parse_args()
    hf_logging.disable_progress_bar()

    torch.manual_seed(args.seed)
    torch.set_num_threads(min(4, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(args.seed)

    cfg = build_config(args.tie, args.strategy)
    model = LlavaForConditionalGeneration._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    randomise(model, gen)
    if args.tie:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    model.eval()
    model_dir = os.path.join(args.out_dir, "model")
    if args.tie_conflict:
        # What transformers makes of a config whose two tie_word_embeddings disagree.
        os.makedirs(model_dir, exist_ok=True)
        model.save_pretrained(model_dir)
        path = os.path.join(model_dir, "config.json")
        with open(path) as f:
            saved = json.load(f)
        saved["tie_word_embeddings"] = args.tie_conflict == "top"
        saved["text_config"]["tie_word_embeddings"] = args.tie_conflict == "text"
        with open(path, "w") as f:
            json.dump(saved, f, indent=2)
        model = LlavaForConditionalGeneration.from_pretrained(
            model_dir, attn_implementation="eager", dtype=torch.float32).eval()
        tied = model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        print(f"make_tiny_llava: transformers {saved.get('transformers_version')} reloads the "
              f"conflicting config ({args.tie_conflict} says tie) {'tied' if tied else 'untied'}")

    vc, tc = cfg.vision_config, cfg.text_config
    n_img = (vc.image_size // vc.patch_size) ** 2 + (args.strategy == "full")
    ids, labels, pixels = make_batch(cfg, n_img, gen)
    mask = torch.ones_like(ids)

    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, labels=labels)
        logits, loss = out.logits, out.loss

        # vision tower hidden state selected by vision_feature_layer, then the projector
        vis = model.model.vision_tower(pixels, output_hidden_states=True, return_dict=True)
        assert len(vis.hidden_states) == vc.num_hidden_layers + 1
        vision_hidden = vis.hidden_states[cfg.vision_feature_layer]
        if args.strategy == "default":
            vision_hidden = vision_hidden[:, 1:]
        image_features = model.model.multi_modal_projector(vision_hidden)
        api = model.model.get_image_features(pixel_values=pixels, return_dict=True).pooler_output
        check_close("get_image_features", torch.stack(list(api)), image_features, 0.0)
        assert image_features.shape == (BATCH, n_img, tc.hidden_size)

        # splice: the k-th image-token position of sample b gets image_features[b, k]
        inputs_embeds = model.get_input_embeddings()(ids).clone()
        for b in range(BATCH):
            pos = (ids[b] == IMAGE_TOKEN).nonzero().squeeze(1)
            assert pos.numel() == n_img
            inputs_embeds[b, pos] = image_features[b]
        hf_embeds = model.get_input_embeddings()(ids).masked_scatter(
            (ids == IMAGE_TOKEN).unsqueeze(-1), image_features.reshape(-1, tc.hidden_size))
        check_close("inputs_embeds (masked_scatter)", hf_embeds, inputs_embeds, 0.0)

    # language-model path with inputs_embeds as a leaf: same logits and loss, then d loss/d embeds
    embeds = inputs_embeds.detach().clone().requires_grad_(True)
    out2 = model(inputs_embeds=embeds, attention_mask=mask, labels=labels)
    check_close("logits via inputs_embeds", out2.logits.detach(), logits, 1e-5)
    check_close("loss via inputs_embeds", out2.loss.detach(), loss, 1e-6)
    out2.loss.backward()
    grad = embeds.grad.detach()

    # the loss is a plain mean over the non-ignored shifted targets of the whole batch
    shift_logits = logits[:, :-1].reshape(-1, tc.vocab_size)
    shift_labels = labels[:, 1:].reshape(-1)
    manual = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    check_close("loss (manual mean)", manual / (shift_labels != -100).sum(), loss, 1e-5)

    if not args.tie_conflict:
        os.makedirs(model_dir, exist_ok=True)
        model.save_pretrained(model_dir)

    # reload what was written and make sure it reproduces the logits
    reloaded = LlavaForConditionalGeneration.from_pretrained(model_dir, attn_implementation="eager",
                                                             dtype=torch.float32).eval()
    with torch.no_grad():
        check_close("logits after reload", reloaded(input_ids=ids, pixel_values=pixels,
                                                    attention_mask=mask).logits, logits, 0.0)

    ref = {
        "input_ids": ids,
        "pixel_values": pixels,
        "labels": labels,
        "vision_hidden": vision_hidden,
        "image_features": image_features,
        "inputs_embeds": inputs_embeds,
        "logits": logits,
        "loss": loss.reshape(1),
        "grad_inputs_embeds": grad,
    }
    ref = {k: v.detach().to(torch.float32).contiguous() for k, v in ref.items()}
    ref_path = os.path.join(args.out_dir, "reference.safetensors")
    save_file(ref, ref_path, metadata={"seed": str(args.seed), "tie": str(args.tie),
                                       "strategy": args.strategy, "attention_mask": "all ones"})

    weights = os.path.join(model_dir, "model.safetensors")
    with safe_open(weights, "pt") as f:
        names = sorted(f.keys())
    print(f"make_tiny_llava: seed {args.seed}, tie {args.tie}, strategy {args.strategy}, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    print(f"wrote {os.path.join(model_dir, 'config.json')}")
    print(f"wrote {weights} ({len(names)} tensors)")
    print(f"wrote {ref_path}:")
    for k, v in ref.items():
        print(f"  {k:20s} {list(v.shape)}")
    print(f"loss {loss.item():.6f}, |logits| max {logits.abs().max().item():.3f}, "
          f"|grad_inputs_embeds| max {grad.abs().max().item():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
