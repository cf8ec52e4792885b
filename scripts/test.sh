#!/usr/bin/env bash
# The project's test command: the Python suite, then the R bridge's testthat suite.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
# The R package: man/ up to date, R CMD build + R CMD check --no-manual outside the repository
# (examples and testthat against this checkout's Python side).
if [ -x r-bridge/run-tests.sh ]; then
  if command -v Rscript >/dev/null; then
    CNNSPEC_PYTHON="$PWD/.venv/bin/python" CNNSPEC_PYTHONPATH="$PWD" r-bridge/run-tests.sh || status=$?
  else
    echo "test: Rscript not found: run scripts/setup.sh --dev as root to install R"; status=1
  fi
fi
exit $status
