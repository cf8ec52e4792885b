#!/bin/sh
# Install the R package into a temporary library and run its testthat tests.
# Usage (from anywhere): r-bridge/run-tests.sh   Exit status: 0 when every test passes.
# CNNSPEC_PYTHON defaults to the repo's .venv/bin/python; CNNSPEC_PYTHONPATH to the repo root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
: "${CNNSPEC_PYTHON:=$repo/.venv/bin/python}"
: "${CNNSPEC_PYTHONPATH:=$repo}"
: "${CNNSPEC_REPO:=$repo}"
export CNNSPEC_PYTHON CNNSPEC_PYTHONPATH CNNSPEC_REPO
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
if [ ! -x "$CNNSPEC_PYTHON" ]; then
  echo "run-tests.sh: CNNSPEC_PYTHON=$CNNSPEC_PYTHON is not an executable Python (create the venv or set CNNSPEC_PYTHON)" >&2
  exit 2
fi
lib=$(mktemp -d "${TMPDIR:-/tmp}/cnnspec-rlib.XXXXXX")
trap 'rm -rf "$lib"' EXIT
echo "== R CMD INSTALL -l $lib r-bridge"
R CMD INSTALL --no-multiarch -l "$lib" "$here" >"$lib/install.log" 2>&1 || { cat "$lib/install.log" >&2; exit 1; }
echo "== testthat (Python: $CNNSPEC_PYTHON)"
cd "$repo"
R_LIBS="$lib${R_LIBS:+:$R_LIBS}" Rscript --vanilla -e '
  library(testthat)
  library(cnnspec)
  res <- testthat::test_dir(file.path(Sys.getenv("CNNSPEC_REPO"), "r-bridge", "tests", "testthat"),
                            package = "cnnspec", reporter = testthat::SummaryReporter$new(), stop_on_failure = FALSE,
                            load_package = "installed")
  df <- as.data.frame(res)
  cat(sprintf("\ntestthat: %d tests, %d expectations passed, %d failed, %d skipped, %d errors\n",
              nrow(df), sum(df$passed), sum(df$failed), sum(df$skipped), sum(df$error)))
  quit(status = if (sum(df$failed) > 0 || any(df$error)) 1 else 0)
'
