#!/usr/bin/env bash
# Full training runs (slow: ~15-20 minutes each on 2 CPU cores). Usage:
#   benchmarks/full_runs.sh [RUNS_DIR]          (default runs/full)
# table6 (seed 000, Table 6) on the full Fashion-MNIST: 12 epochs, batch 128, validation_split 0.2,
# Adadelta with learning_rate 1.0 (Keras 2's default, as in Keras's R mnist_cnn example); the best
# epoch by val_loss is model.keras and is evaluated on the 10000 test images. Goal: test accuracy >= 0.915.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RUNS=${1:-runs/full}
mkdir -p "$RUNS"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
OUT="$RUNS/table6_fashion_mnist"
if [ -f "$OUT/state.json" ]; then
  "$PY" -m cnnspec train --resume "$OUT" || true      # continue an interrupted run
else
  "$PY" -m cnnspec train specs/table6.yaml --data fashion_mnist --out "$OUT"
fi
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"table6 test accuracy {m['accuracy']:.4f} (best epoch {m['best_epoch']}, {m['train_images_per_second']} train images/s)\")" "$OUT/metrics.json"
