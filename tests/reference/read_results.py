#!/usr/bin/env python3
"""Cross-check a fedsim results file with h5py (run by tests/test_results.c).

Usage: read_results.py FILE

Checks what a pandas/h5py user relies on: the root attributes, every
/<cell>/<method> group's `rounds` and `final` tables reading as numpy
structured arrays with the documented field names and dtypes, the partition
as a 2-D int32 array with its category names and key, and the summary
attributes on finished methods. Exits non-zero with a message on the first
mismatch; prints one line per method otherwise.
"""
import sys

import h5py
import numpy as np

ROUNDS = [("round", "<i4"), ("client", "<i4"), ("train_loss", "<f8"), ("test_acc", "<f8"),
          ("global_acc", "<f8"), ("bytes_up", "<i8"), ("bytes_down", "<i8"), ("seconds", "<f8"),
          ("is_aggregate", "<i4")]
FINAL = [("client", "<i4"), ("n_train", "<i4"), ("n_test", "<i4"), ("test_acc", "<f8"),
         ("global_acc", "<f8")]
SUMMARY = ["mean_acc", "worst_acc", "global_acc", "upload_mb", "download_mb",
           "client_storage_mb", "seconds", "sample_weighted_acc"]


def fail(msg):
    print(f"read_results.py: {msg}", file=sys.stderr)
    sys.exit(1)


def check_fields(ds, want, where):
    arr = ds[()]
    if arr.dtype.names is None:
        fail(f"{where} is not a structured array")
    got = [(n, arr.dtype.fields[n][0].str) for n in arr.dtype.names]
    if got != want:
        fail(f"{where} fields {got} != {want}")
    return arr


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    if len(sys.argv) != 2:
        fail("usage: read_results.py FILE")
    with h5py.File(sys.argv[1], "r") as f:
        for key in ("fedsim_version", "git_sha", "created"):
            if key not in f.attrs:
                fail(f"root attribute {key} missing")
        created = as_str(f.attrs["created"])
        np.datetime64(created.rstrip("Z"))  # ISO 8601
        n = 0
        for cell, cg in f.items():
            for method, mg in cg.items():
                where = f"/{cell}/{method}"
                complete = int(mg.attrs["complete"])
                if not isinstance(as_str(mg.attrs["config_yaml"]), str):
                    fail(f"{where} config_yaml is not a string")
                rounds = check_fields(mg["rounds"], ROUNDS, where + "/rounds")
                if rounds.ndim != 1:
                    fail(f"{where}/rounds is not 1-D")
                if len(rounds) and not np.all(rounds["client"] >= -1):
                    fail(f"{where}/rounds has bad client ids")
                if not np.array_equal(rounds["is_aggregate"] == 1, rounds["client"] == -1):
                    fail(f"{where}/rounds: is_aggregate does not mark exactly the aggregate rows")
                part = mg["partition"]
                if part.dtype != np.dtype("<i4") or part.ndim != 2:
                    fail(f"{where}/partition is {part.dtype} {part.shape}")
                names = [as_str(x) for x in part.attrs["categories"]]
                if len(names) != part.shape[1]:
                    fail(f"{where}/partition has {part.shape[1]} columns, {len(names)} names")
                as_str(part.attrs["key"])
                if complete:
                    final = check_fields(mg["final"], FINAL, where + "/final")
                    for s in SUMMARY:
                        float(mg.attrs[s])
                    int(mg.attrs["clients_evaluated"])
                    if not np.all(final["n_train"] >= 0):
                        fail(f"{where}/final has negative n_train")
                print(f"{where}: {len(rounds)} round rows, complete={complete}, "
                      f"partition {part.shape}")
                n += 1
        if n == 0:
            fail("no /<cell>/<method> groups")


if __name__ == "__main__":
    main()
