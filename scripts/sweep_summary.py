#!/usr/bin/env python3
"""Method x Dirichlet-alpha summary of a `fedsim sweep` HDF5 file, as a
Markdown table (the top table of docs/RESULTS.md).

    $FEDSIM_VENV/bin/python scripts/sweep_summary.py results/paper-sweep.h5

Per run: the mean client accuracy at the last round (the `mean_acc` summary
attribute) and at round 0 (the untuned model: per-client rows of round 0 in
`rounds`). Each table entry is averaged over the finished runs of every cell;
+- is the standard deviation over those runs. `fedsim report` gives the per-cell
view (mean +- std over seeds).
"""
import math
import re
import statistics
import sys

import h5py


def alpha_of(cell):
    m = re.search(r"dirichlet_alpha=([^,]+)", cell)
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
    methods = []
    with h5py.File(path, "r") as f:
        for cell in f:
            for method, group in f[cell].items():
                if not group.attrs.get("complete", 0) or "mean_acc" not in group.attrs:
                    continue
                if method not in methods:
                    methods.append(method)
                acc = 100.0 * float(group.attrs["mean_acc"])
                final.setdefault(method, {}).setdefault(alpha_of(cell), []).append(acc)
                rows = group["rounds"][()]
                first = rows[(rows["round"] == 0) & (rows["client"] >= 0)]["test_acc"]
                if len(first):
                    round0.append(100.0 * float(first.mean()))
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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: sweep_summary.py RESULTS.h5")
    main(sys.argv[1])
