#!/usr/bin/env bash
# Set up, build, prepare the Python reference (transformers) virtualenv, and run
# the whole test suite: the Criterion suites (ctest), the same unit suites under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a short bounded fuzz run of
# every input parser, and (with a GPU) the CUDA suite under compute-sanitizer.
# CUDA tests skip with a message when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-reference-venv.sh
export FEDSIM_VENV="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}"
export FEDSIM_KILLS="${FEDSIM_KILLS:-3}"
ctest --test-dir build --verbose --timeout 900 "$@"
# The end-to-end suites only fork the fedsim binary, which the suites above cover.
FEDSIM_ASAN_EXCLUDE="test_cli|test_bounds|test_interrupt|test_model_parity|test_mpi" bash scripts/test-sanitize.sh
bash scripts/fuzz.sh 10
bash scripts/cuda-sanitize.sh
