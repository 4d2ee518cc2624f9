#!/usr/bin/env bash
# How much NanoAdapter tuning gains over the untuned model (round 0) on each
# embedded dataset: centralized tuning, the upper bound of the federated methods.
# Prints round-0 and final test accuracy and the gap in points for each seed
# (the adapters' initialisation and the batch order), then the mean and the
# smallest gap per dataset.
# Centralized tuning on the whole training split (one client, all 3000 items),
# evaluated on the whole test split, with the quickstart's optimizer and
# adapters and a budget of 5 rounds of 5 epochs: the quickstart's own budget
# (1200 items, 1 epoch of an average client's share per round, 10 rounds)
# stops before tuning has undone the downstream cameras.
#   bash bench/tuning_gap.sh [extra fedsim run options, e.g. --set federation.rounds=30]
#   GAP_SEEDS="0 1 2" (default) picks the seeds; about 3 minutes per seed and dataset on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
fedsim=${FEDSIM:-./build/fedsim}
python=${FEDSIM_PYTHON:-${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-18s %6s %10s %10s %8s\n' dataset seed "round 0 %" "tuned %" "gap"
for ds in synth-iconqa synth-scienceqa; do
    for seed in ${GAP_SEEDS:-0 1 2}; do
        run="$out/$ds-$seed"
        "$fedsim" run configs/quickstart.yaml --quiet --set name=gap --set data.dataset="$ds" \
            --set methods=centralized --set output.dir="$run" --set seed="$seed" \
            --set data.max_train_samples=0 --set data.partition.clients=1 \
            --set federation.local_epochs=5 --set federation.rounds=5 --set federation.eval_every=5 "$@" > /dev/null
        "$python" - "$run/gap.h5" "$ds" "$seed" <<'PY' 2>/dev/null | tee -a "$out/$ds.gaps" || \
            h5dump -d /gap/centralized/rounds "$run/gap.h5" | tail -n 20
import sys, h5py, math
rows = h5py.File(sys.argv[1])["gap"]["centralized"]["rounds"][:]
agg = [r for r in rows if r["client"] == -1 and not math.isnan(r["test_acc"])]
first, last = 100 * agg[0]["test_acc"], 100 * agg[-1]["test_acc"]
print(f"{sys.argv[2]:<18} {sys.argv[3]:>6} {first:10.2f} {last:10.2f} {last - first:+8.2f}")
PY
    done
    if [ -s "$out/$ds.gaps" ]; then
        awk -v ds="$ds" '{ s += $5; if (NR == 1 || $5 < lo) lo = $5 }
            END { printf "%-18s %6s %21s %+8.2f (smallest %+.2f)\n", ds, "mean", "", s / NR, lo }' "$out/$ds.gaps"
    fi
done
