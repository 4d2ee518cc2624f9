#!/usr/bin/env bash
# Builds fedsim with AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer)
# into build-asan/ (CPU only, RelWithDebInfo) and runs the ctest suites there.
# Any sanitizer report fails the suite that triggered it. Extra arguments go
# to ctest (e.g. -R test_safetensors). FEDSIM_ASAN_EXCLUDE: a ctest -E regex
# of suites to leave out (default: none).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${FEDSIM_JOBS:-2}"
cmake -S . -B build-asan -DFEDSIM_SANITIZE=ON -DFEDSIM_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$jobs"

supp="$PWD/tests/lsan.supp"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The end-to-end suites fork fedsim; under ASan it runs ~3x slower.
export FEDSIM_KILLS="${FEDSIM_KILLS:-2}"
exclude=()
[ -n "${FEDSIM_ASAN_EXCLUDE:-}" ] && exclude=(-E "$FEDSIM_ASAN_EXCLUDE")
start=$(date +%s)
ctest --test-dir build-asan --output-on-failure --timeout 900 "${exclude[@]}" "$@"
echo "test-sanitize: suites passed under ASan+UBSan+LSan in $(( $(date +%s) - start ))s"
