#!/usr/bin/env bash
# Installs the Debian packages fedsim needs (only those missing) and builds it
# into build/. Safe to re-run. The CUDA backend is built when nvcc is found.
set -euo pipefail
cd "$(dirname "$0")/.."

# g++ and libsentencepiece-dev: the LLaMA tokenizer.model reader (a small C++ shim).
# libopenmpi-dev and openmpi-bin: multi-process runs (mpirun -np N fedsim run).
# libdnnl-dev: oneDNN, the CPU backend's GEMM (kernels/backends/cpu/blas.c); libblis-dev
# and libxsmm-dev: only bench/bench_gemm_libs, which compares them with it.
packages=(cmake gcc g++ make pkg-config git libopenblas-dev libdnnl-dev libblis-dev libxsmm-dev
          libcjson-dev libcriterion-dev libhdf5-dev hdf5-tools libyaml-dev libstb-dev
          libsentencepiece-dev
          gnuplot-nox python3-venv libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${FEDSIM_CMAKE_ARGS:-} | { grep -E '^-- fedsim:' || true; }
cmake --build build -j"$(nproc)"
echo "setup: built build/fedsim"
