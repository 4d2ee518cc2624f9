#!/usr/bin/env bash
# Nsight Systems timeline and Nsight Compute kernel reports of one FedAvg
# round on the GPU (bench/bench_round.c with the CUDA backend).
#
#   bash bench/profile.sh [--shape tiny|small|7b] [--clients K] [--total-samples N]
#       [--kernels REGEX] [--count N] [--out DIR] [--build DIR]
#
# Defaults: --shape small --clients 8 --total-samples 32 --count 20
# --out results/profile --build ${FEDSIM_BUILD_DIR:-build-cuda} (configured
# with -DFEDSIM_CUDA=ON and built, target bench_round, when needed).
# --kernels: the regex of the kernels Nsight Compute profiles (default: the
# five with the most GPU time in the Nsight Systems report; every fedsim op
# is also an NVTX range there).
#
# Writes OUT/round.nsys-rep (nsys profile -t cuda,nvtx,cublas), OUT/kernels.txt
# (nsys stats: GPU time per kernel) and OUT/kernels.ncu-rep (ncu --set full),
# then prints how to open them. Without a GPU, nsys or ncu it exits 1 saying
# which is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "profile: $*" >&2; exit 1; }

# The five kernels with the most GPU time in an nsys cuda_gpu_kern_sum CSV
# (rows sorted by time), as one regex of base names: "void ns::k<T>(args)"
# -> "k", the name Nsight Compute matches -k against.
top_kernels() {
    python3 - "$1" << 'PY'
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = []
for row in rows[:5]:
    base = re.split(r"[(<]", row["Name"])[0].split()[-1].split("::")[-1]
    if base not in names:
        names.append(base)
print("|".join(re.escape(n) for n in names))
PY
}

shape=small clients=8 total=32 kernels="" count=20 out=results/profile
build=${FEDSIM_BUILD_DIR:-build-cuda}
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || fail "$1 needs a value (see the top of $0)"
    case "$1" in
        --shape) shape=$2 ;;
        --clients) clients=$2 ;;
        --total-samples) total=$2 ;;
        --kernels) kernels=$2 ;;
        --count) count=$2 ;;
        --out) out=$2 ;;
        --build) build=$2 ;;
        *) fail "unknown option $1 (see the top of $0)" ;;
    esac
    shift 2
done

{ command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; } ||
    fail "no NVIDIA GPU here (nvidia-smi finds none): the profiles are of the CUDA backend; run this on a GPU machine"
for tool in nsys ncu; do
    command -v "$tool" > /dev/null || [ -x "/usr/local/cuda/bin/$tool" ] ||
        fail "$tool not found (Nsight Systems / Nsight Compute come with the CUDA toolkit; add /usr/local/cuda/bin to PATH)"
done
export PATH="$PATH:/usr/local/cuda/bin"

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DFEDSIM_CUDA=ON > /dev/null ||
        fail "cmake could not configure $build with -DFEDSIM_CUDA=ON"
fi
cmake --build "$build" -j"$(nproc)" --target bench_round > /dev/null || fail "could not build $build/bench_round"
mkdir -p "$out"
run=("$build/bench_round" --backend cuda --shape "$shape" --clients "$clients" --total-samples "$total" --rounds 1)

echo "profile: Nsight Systems of ${run[*]}" >&2
nsys profile -t cuda,nvtx,cublas --force-overwrite true -o "$out/round" "${run[@]}"
nsys stats --force-export true --report cuda_gpu_kern_sum --format csv --output "$out/kernels" \
    "$out/round.nsys-rep" > /dev/null
summary=$(find "$out" -maxdepth 1 -name 'kernels*cuda_gpu_kern_sum*.csv' | head -n 1)
[ -n "$summary" ] || fail "nsys stats wrote no kernel summary into $out"
nsys stats --report cuda_gpu_kern_sum "$out/round.nsys-rep" > "$out/kernels.txt"

if [ -z "$kernels" ]; then
    kernels=$(top_kernels "$summary")
fi
[ -n "$kernels" ] || fail "no kernels found in $summary"

echo "profile: Nsight Compute (--set full) of kernels matching: $kernels" >&2
ncu --set full -k "regex:$kernels" -c "$count" --force-overwrite -o "$out/kernels" "${run[@]}" > /dev/null

cat << EOF
Reports in $out:
  round.nsys-rep    timeline of one round (CUDA API, kernels, cuBLAS, NVTX ranges per op):
                    nsys-ui $out/round.nsys-rep   (or: nsys stats $out/round.nsys-rep)
  kernels.txt       GPU time per kernel (nsys stats --report cuda_gpu_kern_sum)
  kernels.ncu-rep   first $count launches of: $kernels
                    ncu-ui $out/kernels.ncu-rep   (or: ncu --import $out/kernels.ncu-rep --page details)
EOF
