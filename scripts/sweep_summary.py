#!/usr/bin/env python3
"""Summary of a `fedsim sweep` HDF5 file as Markdown (the tables of
docs/RESULTS.md's sweep section): method x Dirichlet alpha, dataset x method
with each dataset's round 0, and each method's mean wall time per run.

    $FEDSIM_VENV/bin/python scripts/sweep_summary.py results/paper-sweep.h5

Per run: the mean client accuracy at the last round (the `mean_acc` summary
attribute) and at round 0 (the untuned model: per-client rows of round 0 in
`rounds`). Each table entry is averaged over the finished runs of every cell;
+- is the standard deviation over those runs. A run's time is its `seconds`
attribute. `fedsim report` gives the per-cell
view (mean +- 95 % CI over seeds, paired difference to fedavg with its
significance); `fedsim export --csv` gives every round row as a tidy table.
"""
import math
import re
import statistics
import sys

import h5py


def key_of(cell, key):
    m = re.search(key + r"=([^,]+)", cell)
    return m.group(1) if m else "-"


def alpha_order(alpha):
    return math.inf if alpha == "-" else float(alpha)


def fmt(values):
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def main(path):
    final = {}   # method -> alpha -> [mean client acc %]
    round0 = []
    by_dataset = {}  # dataset -> method -> [mean client acc %]
    round0_by_dataset = {}  # dataset -> [round-0 mean client acc %]
    seconds = {}  # method -> [wall seconds per run]
    methods = []
    with h5py.File(path, "r") as f:
        for cell in f:
            for method, group in f[cell].items():
                if not group.attrs.get("complete", 0) or "mean_acc" not in group.attrs:
                    continue
                if method not in methods:
                    methods.append(method)
                acc = 100.0 * float(group.attrs["mean_acc"])
                dataset = key_of(cell, "dataset")
                final.setdefault(method, {}).setdefault(key_of(cell, "dirichlet_alpha"), []).append(acc)
                by_dataset.setdefault(dataset, {}).setdefault(method, []).append(acc)
                seconds.setdefault(method, []).append(float(group.attrs["seconds"]))
                rows = group["rounds"][()]
                first = rows[(rows["round"] == 0) & (rows["client"] >= 0)]["test_acc"]
                if len(first):
                    round0.append(100.0 * float(first.mean()))
                    round0_by_dataset.setdefault(dataset, []).append(round0[-1])
    alphas = sorted({a for per in final.values() for a in per}, key=alpha_order)
    n_cells = max((len(v) for per in final.values() for v in per.values()), default=0)
    print(f"| method | all cells | " + " | ".join(f"alpha={a}" for a in alphas) + " |")
    print("|---|---:|" + "---:|" * len(alphas))
    for method in methods:
        per = final[method]
        everything = [x for a in alphas for x in per.get(a, [])]
        cells = [f"{statistics.mean(per[a]):.2f}" if per.get(a) else "-" for a in alphas]
        print(f"| {method} | {fmt(everything)} ({len(everything)}) | " + " | ".join(cells) + " |")
    print()
    print(f"round 0 (untuned) mean client accuracy over all runs: {fmt(round0)} ({len(round0)} runs);"
          f" at most {n_cells} runs per method and alpha")
    print()
    print("| dataset | round 0 | " + " | ".join(methods) + " |")
    print("|---|---:|" + "---:|" * len(methods))
    for dataset, per in by_dataset.items():
        r0 = round0_by_dataset.get(dataset)
        cells = [f"{statistics.mean(r0):.2f}" if r0 else "-"]
        cells += [f"{statistics.mean(per[m]):.2f}" if per.get(m) else "-" for m in methods]
        print(f"| {dataset} | " + " | ".join(cells) + " |")
    print()
    print("mean time per run: " + ", ".join(f"{m} {statistics.mean(seconds[m]):.1f} s" for m in methods))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: sweep_summary.py RESULTS.h5")
    main(sys.argv[1])
