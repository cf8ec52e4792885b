#!/bin/sh
# The R package's CI: man/ up to date with the roxygen comments, then `R CMD build` and
# `R CMD check --no-manual` in a temporary directory outside the repository (examples and testthat
# tests run against real Python/Keras). Fails on any ERROR or WARNING (NOTEs are listed in docs/r.md).
# Usage (from anywhere): r-bridge/run-tests.sh   Exit status: 0 when the check is clean.
# CNNSPEC_PYTHON defaults to the repo's .venv/bin/python; CNNSPEC_PYTHONPATH to the repo root (so the
# checkout's cnnspec is the one used). keras3 cannot be installed here (no CRAN), hence
# _R_CHECK_FORCE_SUGGESTS_=false.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
: "${CNNSPEC_PYTHON:=$repo/.venv/bin/python}"
: "${CNNSPEC_PYTHONPATH:=$repo}"
export CNNSPEC_PYTHON CNNSPEC_PYTHONPATH
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}" _R_CHECK_FORCE_SUGGESTS_=false
if [ ! -x "$CNNSPEC_PYTHON" ]; then
  echo "run-tests.sh: CNNSPEC_PYTHON=$CNNSPEC_PYTHON is not an executable Python (run scripts/setup.sh or set CNNSPEC_PYTHON)" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cnnspec-rcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== man/ generated from the roxygen comments"
cp -R "$here" "$work/src"
(cd "$work/src" && Rscript --vanilla -e 'suppressMessages(roxygen2::roxygenise())' >"$work/roxygen.log" 2>&1) \
  || { cat "$work/roxygen.log" >&2; exit 1; }
if ! diff -r "$here/man" "$work/src/man" >"$work/man.diff" || ! diff "$here/NAMESPACE" "$work/src/NAMESPACE" >>"$work/man.diff"; then
  cat "$work/man.diff" >&2
  echo "run-tests.sh: man/ or NAMESPACE is out of date: run Rscript -e 'roxygen2::roxygenise()' in r-bridge/" >&2
  exit 1
fi

echo "== R CMD build / R CMD check --no-manual (in $work; Python: $CNNSPEC_PYTHON)"
cd "$work"
R CMD build --no-build-vignettes "$here" >build.log 2>&1 || { cat build.log >&2; exit 1; }
status=0
R CMD check --no-manual cnnspec_*.tar.gz >check.log 2>&1 || status=$?
sed -n '/^\* checking/!p' check.log | grep -v '^$' | tail -40
grep -E '^\* checking .*(NOTE|WARNING|ERROR)$' check.log || true
if [ $status -ne 0 ] || grep -qE '^Status: .*(ERROR|WARNING)' check.log; then
  for f in cnnspec.Rcheck/tests/testthat.Rout.fail cnnspec.Rcheck/cnnspec-Ex.Rout; do
    [ -f "$f" ] && tail -60 "$f" >&2
  done
  echo "run-tests.sh: R CMD check found errors or warnings" >&2
  exit 1
fi
grep '^Status:' check.log
