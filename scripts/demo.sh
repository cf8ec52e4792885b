#!/usr/bin/env bash
# The main job, end to end, on the embedded default data (a real Fashion-MNIST sample shipped in the
# package: 3,000 training and 1,000 test images): check the paper's table, train it, evaluate,
# export to ONNX with verified parity, and predict a PNG without TensorFlow.
#   scripts/demo.sh [RUN_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
C=.venv/bin/cnnspec
PY=.venv/bin/python
RUN=${1:-runs/demo-$(date +%Y%m%d-%H%M%S)}
EPOCHS=${2:-5}
export TF_CPP_MIN_LOG_LEVEL=3

echo "== 1. check seed 000's Table 6 against Keras's rules (pure Python, no TensorFlow)"
$C check specs/table6.yaml
echo "== 2. the checker flags what seed 003's tables print wrong (exit 1 is expected here)"
$C check -q specs/table3_2.yaml specs/lenet5.yaml || true
echo "== 3. train table6 on the embedded sample ($EPOCHS epochs, the paper's batch 128 and validation split 0.2)"
$C train specs/table6.yaml --data sample --epochs "$EPOCHS" --out "$RUN"
echo "== 4. evaluate the best checkpoint on the sample's test split"
$C evaluate "$RUN" --data sample
echo "== 5. export to ONNX and verify parity with Keras on the test images"
$C export "$RUN" -o "$RUN/model.onnx" --data sample
echo "== 6. predict a PNG with the ONNX runtime (TensorFlow not imported)"
$PY - "$RUN/example.png" <<'PYEOF'
import sys
from PIL import Image
from cnnspec.data import load_dataset
d = load_dataset("sample")
i = int((d.y_test == d.class_names.index("Trouser")).nonzero()[0][0])   # an ordinary photo-sized PNG
Image.fromarray(d.x_test[i, :, :, 0]).resize((112, 112)).save(sys.argv[1])
print(f"wrote {sys.argv[1]} (true class: {d.class_names[int(d.y_test[i])]})")
PYEOF
$C predict "$RUN/model.onnx" "$RUN/example.png" --top 3
echo "== done: $RUN (history.csv, metrics.json, learning_curves.png, confusion_matrix.png, model.keras, model.onnx)"
