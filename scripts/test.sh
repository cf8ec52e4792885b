#!/usr/bin/env bash
# The project's test command: the Python suite, then the R bridge's testthat suite.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ -x r-bridge/run-tests.sh ]; then
  if command -v Rscript >/dev/null; then
    CNNSPEC_PYTHON="$PWD/.venv/bin/python" r-bridge/run-tests.sh || status=$?
  else
    echo "test: Rscript not found: run scripts/setup.sh --dev as root to install R"; status=1
  fi
fi
exit $status
