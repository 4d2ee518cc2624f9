#!/usr/bin/env bash
# Runs the CUDA parity suite (tests/test_cuda_parity.c) under NVIDIA's
# compute-sanitizer: memcheck (out-of-bounds and misaligned device accesses,
# leaks), racecheck (shared-memory races) and synccheck (illegal barriers).
# Any report fails. Needs a GPU; without one it says so and exits 0, so the
# test command can always call it. Extra arguments go to the test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if ! nvidia-smi -L > /dev/null 2>&1; then
    echo "cuda-sanitize: skipped: no usable NVIDIA GPU (nvidia-smi -L failed)"
    exit 0
fi
if [ ! -x "$sanitizer" ]; then
    echo "cuda-sanitize: compute-sanitizer not found (it ships with the CUDA toolkit in /usr/local/cuda/bin)" >&2
    exit 1
fi
export PATH="/usr/local/cuda/bin:$PATH"
# FEDSIM_CUDA_SANITIZE_BUILD: an existing CUDA build to reuse (bench/gpu-check.sh
# passes its own); otherwise build-cuda-sanitize, configured here.
build=${FEDSIM_CUDA_SANITIZE_BUILD:-build-cuda-sanitize}
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DFEDSIM_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CUDA_FLAGS="-lineinfo" > /dev/null
fi
cmake --build "$build" -j"${FEDSIM_JOBS:-$(nproc)}" --target test_cuda_parity
for tool in memcheck racecheck synccheck; do
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    echo "cuda-sanitize: $tool"
    "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 1 \
        "$build/test_cuda_parity" --jobs 1 "$@"
done
echo "cuda-sanitize: memcheck, racecheck and synccheck found nothing"
