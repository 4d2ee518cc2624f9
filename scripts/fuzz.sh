#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang into build-fuzz/
# and runs each for SECONDS (default 20) from its seed corpus
# (tests/fuzz/corpus/<target>/). Fails when any target finds a crash, a
# sanitizer report (ASan/UBSan/LSan) or a timeout; the reproducer is kept in
# build-fuzz/findings/<target>/. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true

need=(clang libclang-rt-14-dev libomp-dev)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "fuzz: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

jobs="${FEDSIM_JOBS:-2}"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFEDSIM_FUZZ=ON -DFEDSIM_CUDA=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TMPDIR="$(mktemp -d)"
trap 'rm -rf "$TMPDIR"' EXIT
failed=()
for t in "${targets[@]}"; do
    seeds="tests/fuzz/corpus/$t"
    work="build-fuzz/corpus/$t"          # grows across runs; seeds stay untouched
    findings="build-fuzz/findings/$t"
    mkdir -p "$work" "$findings"
    echo "fuzz: $t for ${secs}s"
    start=$(date +%s)
    if ! "build-fuzz/$t" "$work" "$seeds" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 \
            > "build-fuzz/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see build-fuzz/$t.log and $findings/"
        grep -E "^==|ERROR|SUMMARY|runtime error|Test unit written" "build-fuzz/$t.log" | head -20 || true
        failed+=("$t")
    else
        echo "fuzz: $t ok ($(( $(date +%s) - start ))s, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$t.log" | grep -o '[0-9]*$') runs, corpus $(ls "$work" | wc -l) files)"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs}s each without a finding"
