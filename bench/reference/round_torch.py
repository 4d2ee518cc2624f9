"""One federated round of FedAvg with NanoAdapters, written the way a researcher
would in PyTorch + transformers: the reference for bench/bench_round.c.

The model is a transformers LlavaForConditionalGeneration built from the
config.json that `bench_round --shape S --write-config DIR` writes (same
shapes, random init), frozen (requires_grad False). Image features are
computed once (vision tower + projector, as a run caches them). Each client
then, in turn, copies the global NanoAdapters (image and text: h' = h +
(alpha/r) B(A h), A: r x d, B: d x r), trains them for E local epochs of
AdamW on mini-batches of its own samples (cross entropy of the answer letter
at the last position, logits for that row only), and the server averages the
adapters weighted by sample counts.

Samples match bench_round's: one text token, the image's tokens, then text up
to --text-tokens text tokens in all; every sample the same length, no
padding. Timing: one warm-up round, then the median of --rounds rounds, in
wall seconds (round_s) and this process's CPU seconds (cpu_s: the work done,
where the wall time of a machine shared with other jobs also counts waiting).
Prints one JSON line per entry of --clients (the keys bench_round --json
prints: samples_per_s counts every sample of every local epoch).

  python bench/reference/round_torch.py --config DIR/config.json --text-tokens 32 \
      --clients 1,8 --total-samples 32 [--device cpu|cuda] [--dtype fp32|bf16] [--threads N]
"""
import argparse
import json
import statistics
import sys
import time

import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration
from transformers.utils import logging as hf_logging

MAX_IMAGES = 64  # distinct images, as bench_round (samples share them round-robin)
IMAGE_POS = 1
IMAGE_BATCH = 32


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="config.json written by bench_round --write-config")
    p.add_argument("--shape", default="", help="label echoed in the JSON")
    p.add_argument("--text-tokens", type=int, required=True)
    p.add_argument("--clients", default="1,8,64")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--total-samples", type=int)
    g.add_argument("--samples-per-client", type=int)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()
    a.clients = [int(c) for c in a.clients.split(",")]
    if not a.total_samples and not a.samples_per_client:
        a.total_samples = 64
    for k in a.clients:
        if k < 1:
            p.error(f"--clients: {k} is not a positive number of clients")
        if a.total_samples and a.total_samples % k:
            p.error(f"--total-samples {a.total_samples} is not a multiple of {k} clients "
                    "(every client holds the same number of samples)")
    return a


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


class Task:
    """Synthetic samples (token ids, answer letter) and their cached image features."""

    def __init__(self, model, cfg, n, text_tokens, device, gen):
        tc, vc = cfg.text_config, cfg.vision_config
        n_img = (vc.image_size // vc.patch_size) ** 2 + (cfg.vision_feature_select_strategy == "full")
        self.img = slice(IMAGE_POS, IMAGE_POS + n_img)
        self.seq_len = n_img + text_tokens
        pad = cfg.pad_token_id if cfg.pad_token_id is not None else 0
        ids = torch.randint(1, tc.vocab_size, (n, self.seq_len), generator=gen)
        bad = (ids == cfg.image_token_index) | (ids == pad)
        ids[bad] = 1 if pad != 1 else 2
        ids[:, self.img] = cfg.image_token_index
        self.ids = ids.to(device)
        letters = torch.arange(4) + tc.vocab_size // 2  # answer letters, as bench_round's
        self.target = letters[torch.arange(n) % 4].to(device)
        n_images = min(n, MAX_IMAGES)
        self.image_of = (torch.arange(n) % n_images).to(device)
        pixels = torch.rand((n_images, vc.num_channels, vc.image_size, vc.image_size), generator=gen) * 2 - 1
        feats = []
        with torch.no_grad():
            for i in range(0, n_images, IMAGE_BATCH):
                px = pixels[i:i + IMAGE_BATCH].to(device, model.dtype)
                out = model.model.get_image_features(pixel_values=px, return_dict=True)
                feats.append(torch.stack(list(out.pooler_output)))
        self.features = torch.cat(feats)


def lora_init(d, r, gen, device):
    """A ~ U(-1/sqrt(d), 1/sqrt(d)) (PEFT's Kaiming-uniform), B = 0; image and text adapters."""
    bound = 1.0 / d ** 0.5
    return [t.to(device) for t in (
        (torch.rand((r, d), generator=gen) * 2 - 1) * bound, torch.zeros((d, r)),
        (torch.rand((r, d), generator=gen) * 2 - 1) * bound, torch.zeros((d, r)))]


def adapt(h, A, B, scale):
    return h + scale * (h @ A.T) @ B.T


def train_client(model, task, samples, global_params, a, gen):
    params = [p.clone().requires_grad_(True) for p in global_params]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    scale = a.alpha / a.rank
    embed = model.get_input_embeddings()
    img = task.img
    losses = []
    for _ in range(a.epochs):
        order = samples[torch.randperm(len(samples), generator=gen)]
        for s in range(0, len(order), a.batch):
            idx = order[s:s + a.batch]
            with torch.no_grad():
                h = embed(task.ids[idx]).float()
                h[:, img] = task.features[task.image_of[idx]].float()
            AI, BI, AT, BT = params
            x = torch.cat([adapt(h[:, :img.start], AT, BT, scale), adapt(h[:, img], AI, BI, scale),
                           adapt(h[:, img.stop:], AT, BT, scale)], dim=1)
            out = model(inputs_embeds=x.to(model.dtype), logits_to_keep=1, use_cache=False)
            loss = torch.nn.functional.cross_entropy(out.logits[:, -1].float(), task.target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return [p.detach() for p in params], sum(losses) / len(losses)


def fedavg_round(model, task, shards, global_params, a, gen):
    total = sum(len(s) for s in shards)
    new = [torch.zeros_like(p) for p in global_params]
    loss = 0.0
    for shard in shards:
        params, client_loss = train_client(model, task, shard, global_params, a, gen)
        for acc, p in zip(new, params):
            acc += p * (len(shard) / total)
        loss += client_loss / len(shards)
    return new, loss


def main():
    a = parse_args()
    hf_logging.set_verbosity_error()
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("round_torch: --device cuda but torch sees no CUDA device (torch.cuda.is_available() is False)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    cfg = LlavaConfig.from_json_file(a.config)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    with torch.device(a.device):
        model = LlavaForConditionalGeneration._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    model.eval().requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    n_max = max(a.total_samples or k * a.samples_per_client for k in a.clients)
    task = Task(model, cfg, n_max, a.text_tokens, a.device, gen)
    d = cfg.text_config.hidden_size
    for k in a.clients:
        n = a.total_samples // k if a.total_samples else a.samples_per_client
        shards = [torch.arange(c * n, (c + 1) * n) for c in range(k)]
        global_params = lora_init(d, a.rank, gen, a.device)
        times, cpu_times = [], []
        for r in range(a.rounds + 1):  # round 0 warms up
            sync(a.device)
            t0, c0 = time.perf_counter(), time.process_time()
            global_params, loss = fedavg_round(model, task, shards, global_params, a, gen)
            sync(a.device)
            if r:
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
        round_s = statistics.median(times)
        sps = k * n * a.epochs / round_s
        print(json.dumps({
            "impl": "torch", "shape": a.shape, "device": a.device, "dtype": a.dtype,
            "threads": torch.get_num_threads(), "params": n_params, "clients": k, "samples_per_client": n,
            "seq_len": task.seq_len, "batch": a.batch, "epochs": a.epochs, "round_s": round_s,
            "cpu_s": statistics.median(cpu_times),
            "samples_per_s": sps, "tokens_per_s": sps * task.seq_len, "loss": loss,
            "torch": torch.__version__,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
