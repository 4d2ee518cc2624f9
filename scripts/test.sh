#!/usr/bin/env bash
# Set up, build, prepare the Python reference (transformers) virtualenv, and run
# the whole test suite. CUDA tests skip with a message when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-reference-venv.sh
export FEDSIM_VENV="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}"
ctest --test-dir build --verbose --timeout 900 "$@"
