#!/usr/bin/env bash
# The main job: set up, build, and run the demo on the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/fedsim demo "$@"
