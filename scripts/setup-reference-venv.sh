#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv that the transformers parity tests
# (tests/test_model_parity.c, tests/test_sentencepiece.c and
# tests/test_clip_image.c, via the scripts in tests/reference/) run in:
# ${FEDSIM_VENV:-$HOME/.cache/fedsim/venv} with torch, torchvision (the backend
# of transformers' default image processors), pillow, transformers,
# sentencepiece, safetensors, numpy and h5py from PyPI. An
# existing virtualenv that already imports them is left alone. Exits 0 on
# success, non-zero with a message on failure.
# Set FEDSIM_TORCH_INDEX (e.g. https://download.pytorch.org/whl/cpu) to take
# torch and torchvision from another index, such as the smaller CPU-only wheels.
set -euo pipefail

venv="${FEDSIM_VENV:-$HOME/.cache/fedsim/venv}"
py="$venv/bin/python"
modules="torch, torchvision, PIL, transformers, sentencepiece, safetensors, numpy, h5py"
packages=(torch torchvision pillow transformers sentencepiece safetensors numpy h5py)

fail() { echo "setup-reference-venv: $*" >&2; exit 1; }

has_modules() { [ -x "$py" ] && "$py" -c "import $modules" >/dev/null 2>&1; }

if has_modules; then
    echo "setup-reference-venv: reusing $venv"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || fail "python3 not found (install python3 and python3-venv)"

if [ ! -x "$py" ]; then
    mkdir -p "$(dirname "$venv")" || fail "cannot create $(dirname "$venv")"
    python3 -m venv "$venv" ||
        fail "'python3 -m venv $venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi

echo "setup-reference-venv: installing ${packages[*]} into $venv (from PyPI)"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
    fail "could not upgrade pip in $venv (is PyPI reachable?)"
if [ -n "${FEDSIM_TORCH_INDEX:-}" ]; then
    "$py" -m pip install --quiet --disable-pip-version-check --index-url "$FEDSIM_TORCH_INDEX" \
        torch torchvision || fail "pip could not install torch and torchvision from $FEDSIM_TORCH_INDEX"
fi
"$py" -m pip install --quiet --disable-pip-version-check "${packages[@]}" ||
    fail "pip install ${packages[*]} into $venv failed (is PyPI reachable?)"

err=$("$py" -c "import $modules" 2>&1) ||
    fail "the packages installed but do not import: ${err##*$'\n'}"
exit 0
