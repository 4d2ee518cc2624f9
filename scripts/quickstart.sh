#!/usr/bin/env bash
# The main job: set up, build, and run the quickstart study (all seven methods
# on the shipped tiny pretrained model and synthetic data), ending with the
# results table, results/quickstart.h5 and results/quickstart.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/fedsim run configs/quickstart.yaml "$@"
