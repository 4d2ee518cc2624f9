#!/usr/bin/env bash
# Set up, build, prepare the Python reference (transformers) virtualenv, and run
# the whole test suite: the Criterion suites (ctest), the same unit suites under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a short bounded fuzz run of
# every input parser, and (with a GPU) the CUDA suite under compute-sanitizer.
# In build/, CUDA tests skip with a message when no GPU is present; build-emu/
# runs them on the emulated CUDA backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-reference-venv.sh
export FEDSIM_VENV="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}"
export FEDSIM_KILLS="${FEDSIM_KILLS:-3}"
ctest --test-dir build --verbose --timeout 900 "$@"
# The CUDA backend on the emulator (FEDSIM_CUDA_EMU, README "CUDA emulator"):
# the same .cu sources (kernels/ops, kernels/backends/cuda) built by the host
# compiler against stand-in CUDA headers, so CUDA parity runs without a GPU
# (about a minute on 2 cores from scratch: build ~20 s, test ~40 s).
cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DFEDSIM_CUDA=OFF -DFEDSIM_CUDA_EMU=ON > /dev/null
cmake --build build-emu -j"$(nproc)" --target fedsim test_cuda_parity
ctest --test-dir build-emu --verbose --timeout 900 -R '^test_cuda_parity$'
# The end-to-end suites only fork the fedsim binary, which the suites above cover.
FEDSIM_ASAN_EXCLUDE="test_cli|test_bounds|test_interrupt|test_model_parity|test_mpi" bash scripts/test-sanitize.sh
bash scripts/fuzz.sh 10
bash scripts/cuda-sanitize.sh
