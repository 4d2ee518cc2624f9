#!/usr/bin/env bash
# Remakes the embedded default model: runs the pieces of
# configs/pretrain-default/ in order, each continuing the one before it
# (`init:`), under build/pretrain-default/, then copies the last into OUT
# (default models/tiny-llava). About 90 minutes on a 2-core CPU.
#   bash scripts/pretrain-default.sh [OUT] [FIRST-PIECE, e.g. 09 to resume]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/tiny-llava}
first=${2:-01}
fedsim=${FEDSIM:-./build/fedsim}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p build/pretrain-default
last=
for piece in configs/pretrain-default/[0-9][0-9]-*.yaml; do
    name=$(basename "$piece" .yaml)
    last=build/pretrain-default/$name
    [[ "$name" < "$first" ]] && continue
    echo "== piece $name ($(date +%T))"
    "$fedsim" pretrain "$piece"
done
mkdir -p "$out"
cp "$last"/config.json "$last"/model.safetensors "$last"/vocab.txt "$out"/
echo "model written to $out (from $last)"
