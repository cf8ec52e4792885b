#!/usr/bin/env bash
# Set up cnnspec on a fresh Debian machine: system packages (when root), a virtualenv in .venv
# with cnnspec and its dependencies. Re-running is cheap (pip skips what is installed).
#   scripts/setup.sh          the runtime + training install (TensorFlow, ONNX, onnxruntime)
#   scripts/setup.sh --dev    also test tools, R and the R bridge's packages
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

apt_pkgs=(python3 python3-venv python3-pip)
[ -d /usr/share/datasets/fashion-mnist ] || apt_pkgs+=(dataset-fashion-mnist)
# R, and what the R package (r-bridge/) imports, tests with and builds its man/ pages with
[ "$DEV" = 1 ] && apt_pkgs+=(r-base-core r-cran-reticulate r-cran-generics r-cran-jsonlite r-cran-testthat r-cran-roxygen2 chromium)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=$(command -v sudo || true)
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "setup: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
      || echo "setup: warning: could not install ${missing[*]} (continuing; the embedded sample needs none)"
  else
    echo "setup: warning: not root and no sudo: install these Debian packages first: ${missing[*]}"
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
extra=train
[ "$DEV" = 1 ] && extra=dev
.venv/bin/python -m pip install -q -e ".[$extra]"
.venv/bin/cnnspec --help >/dev/null
echo "setup: ok (.venv/bin/cnnspec; extra [$extra])"
