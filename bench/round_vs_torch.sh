#!/usr/bin/env bash
# One FedAvg round in fedsim (bench/bench_round.c) and in PyTorch + transformers
# (bench/reference/round_torch.py) at the same shape, samples, clients and
# thread count, on this machine; prints both and the ratio fedsim / torch.
#
#   bash bench/round_vs_torch.sh [--device cpu|cuda] [--shape quickstart|tiny|small|7b]
#       [--clients 1,8,32] [--total-samples N | --samples-per-client N]
#       [--text-tokens N] [--batch B] [--epochs E] [--rounds R]
#       [--threads N] [--dtype fp32|bf16] [--build DIR]
#
# Defaults: --device cpu --shape small --clients 1,4,16 --total-samples 16
# --rounds 1 --threads $(nproc) --dtype fp32 (fedsim's weights are fp32; bf16
# applies to the torch side only) --build ${FEDSIM_BUILD_DIR:-build}, which
# is configured and built (target bench_round) when needed; with
# --device cuda the build must have the CUDA backend. The GPU measurement:
#   bash bench/round_vs_torch.sh --device cuda --shape 7b --clients 1,8,64 --total-samples 64
# Needs the reference virtualenv (scripts/setup-reference-venv.sh; FEDSIM_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "round_vs_torch: $*" >&2; exit 1; }

device=cpu shape=small clients=1,4,16 rounds=1 threads=$(nproc) dtype=fp32
build=${FEDSIM_BUILD_DIR:-build}
samples=(--total-samples 16)
common=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || fail "$1 needs a value (see the top of $0)"
    case "$1" in
        --device) device=$2 ;;
        --shape) shape=$2 ;;
        --clients) clients=$2 ;;
        --rounds) rounds=$2 ;;
        --threads) threads=$2 ;;
        --dtype) dtype=$2 ;;
        --build) build=$2 ;;
        --total-samples | --samples-per-client) samples=("$1" "$2") ;;
        --batch | --epochs) common+=("$1" "$2") ;;
        --text-tokens) text_tokens=$2 ;;
        *) fail "unknown option $1 (see the top of $0)" ;;
    esac
    shift 2
done
case "$device" in cpu) backend=cpu ;; cuda) backend=cuda ;; *) fail "--device $device: cpu or cuda" ;; esac

py="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}/bin/python"
"$py" -c "import torch, transformers" 2>/dev/null ||
    fail "no reference virtualenv with torch and transformers at ${py%/bin/python} (run scripts/setup-reference-venv.sh, or set FEDSIM_VENV)"

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null || fail "cmake could not configure $build"
fi
cmake --build "$build" -j"$(nproc)" --target bench_round > /dev/null || fail "could not build $build/bench_round"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=$("$build/bench_round" --shape "$shape" ${text_tokens:+--text-tokens "$text_tokens"} --write-config "$out/model")
text_tokens=$("$py" -c 'import json, sys; print(json.loads(sys.argv[1])["text_tokens"])' "$config")

echo "fedsim ($build/bench_round, backend $backend, $threads threads) ..." >&2
"$build/bench_round" --json --shape "$shape" --backend "$backend" --threads "$threads" \
    --clients "$clients" "${samples[@]}" --text-tokens "$text_tokens" --rounds "$rounds" \
    ${common[@]+"${common[@]}"} > "$out/fedsim.jsonl"
echo "torch (bench/reference/round_torch.py, $device, $dtype, $threads threads) ..." >&2
"$py" bench/reference/round_torch.py --config "$out/model/config.json" --shape "$shape" \
    --device "$device" --dtype "$dtype" --threads "$threads" --clients "$clients" \
    "${samples[@]}" --text-tokens "$text_tokens" --rounds "$rounds" \
    ${common[@]+"${common[@]}"} > "$out/torch.jsonl"

"$py" - "$out/fedsim.jsonl" "$out/torch.jsonl" <<'PY'
import json, sys
fs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
th = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
f0 = fs[0]
print(f"shape {f0['shape']}, {f0['seq_len']} tokens/sample, batch {f0['batch']}, "
      f"{f0['epochs']} epoch(s), {f0['threads']} threads; fedsim {f0['device']} fp32 weights, "
      f"torch {th[0]['device']} {th[0]['dtype']} (torch {th[0]['torch']})")
print(f"{'clients':>8} {'samp/cl':>8} | {'fedsim/s':>9} {'torch/s':>9} {'ratio':>7} | "
      f"{'fedsim CPU s':>12} {'torch CPU s':>11} {'ratio':>7} | {'fedsim MFU':>10}")
for f, t in zip(fs, th):
    assert (f["clients"], f["samples_per_client"]) == (t["clients"], t["samples_per_client"])
    print(f"{f['clients']:>8} {f['samples_per_client']:>8} | {f['samples_per_s']:>9.2f} "
          f"{t['samples_per_s']:>9.2f} {f['samples_per_s'] / t['samples_per_s']:>6.2f}x | "
          f"{f['cpu_s']:>12.3f} {t['cpu_s']:>11.3f} {t['cpu_s'] / f['cpu_s']:>6.2f}x | "
          f"{100 * f['mfu']:>9.1f}%")
print("samples/s: wall clock, median round; ratio = fedsim / torch. CPU s: each process's CPU "
      "seconds per round; ratio = torch / fedsim (the work done, robust when other jobs share "
      "the cores). MFU against the peak bench_round reports.")
PY
