#!/usr/bin/env bash
# Everything a GPU session should check, in one go, within 8 minutes of an
# H100: builds fedsim for the device, runs the CUDA parity suite
# (tests/test_cuda_parity.c) on the real GPU, compute-sanitizer over it
# (scripts/cuda-sanitize.sh), the FedAvg round against PyTorch at the 7B
# shape (bench/round_vs_torch.sh) plus fedsim's round time from 1 to 1,024
# clients (bench/bench_round.c), and the Nsight Systems / Compute profiles
# (bench/profile.sh). Each step runs under its own time limit and the script
# goes on when one fails; REPORT.md in the output folder lists each step's
# status and time, and every step's log lies beside it.
#
#   bash bench/gpu-check.sh            # output in $OUT if set, else results/gpu-check
#
# Time slices (seconds; FEDSIM_GPU_CHECK_SCALE=2 doubles them all): build 150,
# parity 60, sanitizers 90, 7B vs torch 100, client scaling 30, profiles 50.
# At 7B a round of fp32 weights costs ~0.5 s a sample, so the torch
# comparison runs 1, 8 and 64 clients over 64 samples; 1,024 clients need
# 1,024 samples, so the 1..1,024 sweep is fedsim's alone, at the small shape.
# Without a GPU it says so and exits 1 having run nothing.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-results/gpu-check}
build=${FEDSIM_GPU_CHECK_BUILD:-build-gpu}
scale=${FEDSIM_GPU_CHECK_SCALE:-1}
mkdir -p "$out"
report="$out/REPORT.md"

if ! nvidia-smi -L > /dev/null 2>&1; then
    msg="gpu-check: no usable NVIDIA GPU here (nvidia-smi -L failed): nothing was run. Run this on a GPU machine; the CPU-side check of the CUDA code is the emulated build (README, 'CUDA emulator')."
    echo "$msg" >&2
    printf '# fedsim GPU check\n\n%s\n' "$msg" > "$report"
    exit 1
fi
export PATH="/usr/local/cuda/bin:$PATH"
export FEDSIM_VENV="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}"

{
    echo "# fedsim GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
    echo "- nvcc: $(nvcc --version 2>/dev/null | tail -n 1)"
    echo
    echo "| step | status | seconds | log |"
    echo "|---|---|---|---|"
} > "$report"

failed=0
# step NAME SECONDS COMMAND...: runs it under timeout, logs to OUT/NAME.log.
step() {
    local name=$1 limit=$(( $2 * scale )) status t0=$SECONDS
    shift 2
    echo "gpu-check: $name (at most ${limit}s)" >&2
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="timed out after ${limit}s"; failed=1 ;;
        *) status="failed (exit $rc)"; failed=1 ;;
    esac
    echo "| $name | $status | $(( SECONDS - t0 )) | $name.log |" >> "$report"
    echo "gpu-check: $name: $status" >&2
}

# One build for every step: Release with line info, so compute-sanitizer
# reports name source lines and the benchmarks run optimised code.
build_all() {
    cmake -S . -B "$build" -DFEDSIM_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS=-lineinfo &&
        cmake --build "$build" -j"$(nproc)" --target fedsim test_cuda_parity bench_round
}
step build 150 build_all
step parity 60 env FEDSIM_SOURCE_DIR="$PWD" FEDSIM_BUILD_DIR="$PWD/$build" \
    "$build/test_cuda_parity" --jobs 1 --verbose
# The end-to-end run forks fedsim, which the sanitizer would not follow: kernels only.
step sanitize 90 env FEDSIM_CUDA_SANITIZE_BUILD="$build" bash scripts/cuda-sanitize.sh --filter 'cuda_parity/*'
step round-7b-vs-torch 100 env FEDSIM_BUILD_DIR="$build" bash bench/round_vs_torch.sh --device cuda \
    --shape 7b --clients 1,8,64 --total-samples 64
step round-clients-1-1024 30 "$build/bench_round" --backend cuda --shape small \
    --clients 1,4,16,64,256,1024 --total-samples 1024
step profile 50 env FEDSIM_BUILD_DIR="$build" bash bench/profile.sh --shape small --out "$out/profile"

{
    echo
    echo "Logs and profiles: $out. The last lines of each step:"
    for log in "$out"/*.log; do
        echo
        echo "## $(basename "$log" .log)"
        echo
        echo '```'
        tail -n 15 "$log"
        echo '```'
    done
} >> "$report"
echo "gpu-check: report in $report" >&2
exit $failed
