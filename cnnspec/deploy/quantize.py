"""INT8 quantization of an exported fp32 ONNX model, with an accuracy gate (TensorFlow-free).

:func:`quantize_model` (called by ``cnnspec export ... --quantize int8 --calibrate DATA``):

1. ``onnxruntime.quantization.quant_pre_process`` (shape inference, which needs sympy, and
   onnxruntime's basic graph optimisations);
2. static QDQ quantization: activations uint8 (asymmetric), weights int8 per output channel
   (``reduce_range`` on CPUs without VNNI, where 8-bit products could saturate), MinMax
   calibration on :data:`DEFAULT_CALIBRATION_SIZE` images drawn from the *training* split of
   ``DATA`` (a seeded random sample; never the test split the gate uses), preprocessed as the
   model's metadata says (``x * scale + offset``). Softmax stays in float;
3. the gate: fp32 and int8 models predict the whole test split of ``DATA``; top-1 agreement and
   both accuracies are measured. When int8 accuracy is more than ``max_accuracy_drop`` points
   (default :data:`DEFAULT_MAX_DROP_PT`) below fp32, :class:`GateError` is raised and the caller
   writes nothing under the output name;
4. the figures go into the metadata (``"quantization"`` key) with the calibration facts.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError
from cnnspec.runs.modelmeta import METADATA_KEY

QUANTIZE_TYPES = ("int8",)
DEFAULT_CALIBRATION_SIZE = 256
DEFAULT_MAX_DROP_PT = 0.5
CALIBRATION_SEED = 0


class GateError(CnnspecError):
    """A quantized model failed its accuracy gate (a check that failed: exit 1); nothing was written."""

    exit_code = 1

    def __init__(self, message: str, *, report: dict | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.report = report or {}


def _images(ds_x, shape) -> np.ndarray:
    x = np.asarray(ds_x)
    if x.ndim == len(shape) and shape[-1] == 1:
        x = x[..., None]
    return x


def load_split(name: str, split: str, shape, limit: int | None = None, seed: int = CALIBRATION_SEED):
    """Raw images (N, *shape) and labels of a dataset split; ``limit`` draws a seeded random sample."""
    from cnnspec.data import load_dataset

    ds = load_dataset(name)
    x = _images(ds.x_train if split == "train" else ds.x_test, tuple(shape))
    y = np.asarray(ds.y_train if split == "train" else ds.y_test)
    if tuple(x.shape[1:]) != tuple(shape):
        raise CnnspecError(f"dataset {name}: images have shape {list(x.shape[1:])}, the model expects {list(shape)}")
    if limit is not None and limit < len(x):
        idx = np.sort(np.random.default_rng(seed).choice(len(x), size=limit, replace=False))
        x, y = x[idx], y[idx]
    return x, y


class _Reader:
    """An onnxruntime CalibrationDataReader over scaled images, 32 at a time."""

    def __init__(self, x_scaled: np.ndarray, input_name: str) -> None:
        self.batches = [x_scaled[i:i + 32] for i in range(0, len(x_scaled), 32)]
        self.name = input_name
        self.i = 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.name: self.batches[self.i - 1]}

    def rewind(self):
        self.i = 0


def _quantize_static(src: Path, dst: Path, x_cal: np.ndarray, input_name: str, reduce_range: bool) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    work = Path(tempfile.mkdtemp(prefix="cnnspec-quant-"))
    try:
        pre = work / "pre.onnx"
        with _quiet():
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        softmax = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Softmax"]
        with _quiet():
            quantize_static(str(pre), str(dst), Reader(x_cal, input_name), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=reduce_range, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
                            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
    except CnnspecError:
        raise
    except Exception as exc:  # noqa: BLE001 - any quantizer failure is one line
        msg = " ".join(str(exc).split())[:200]
        raise CnnspecError(f"INT8 quantization failed ({type(exc).__name__}: {msg})") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _quiet():
    """Silence onnxruntime.quantization's logging and C++ chatter."""
    import logging

    from cnnspec.deploy.ort_engine import _captured_fds

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with _captured_fds():
            yield
    finally:
        logging.getLogger().setLevel(level)


def _embed(path: Path, meta: dict) -> None:
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    entry = m.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    m.producer_name = "cnnspec"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


def gate(fp32_path: Path, int8_path: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Top-1 agreement and test accuracies of the fp32 and int8 files (onnxruntime, CPU)."""
    from cnnspec.deploy.runtime import OnnxModel

    p32 = OnnxModel(fp32_path, device="cpu", engine="onnxruntime", on_notice=None).predict(x).argmax(1)
    p8 = OnnxModel(int8_path, device="cpu", engine="onnxruntime", on_notice=None).predict(x).argmax(1)
    acc32, acc8 = float(np.mean(p32 == y)), float(np.mean(p8 == y))
    return {"n": int(len(x)), "top1_agreement": float(np.mean(p32 == p8)), "accuracy_fp32": acc32,
            "accuracy_int8": acc8, "delta_pt": round((acc8 - acc32) * 100, 4)}


def quantize_model(src: str | Path, dst: str | Path, kind: str = "int8", *, calibrate: str | None,
                   calibration_size: int | None = None, max_accuracy_drop: float | None = None,
                   report: dict | None = None, output: str | None = None) -> dict:
    """Quantize the verified fp32 file ``src`` into ``dst`` and gate it; see the module docstring.

    ``output`` names the final file in error messages. Returns ``{"metadata": embedded metadata,
    "quantization": the facts and gate figures}``.
    """
    from cnnspec.deploy.engines import cpu_flags
    from cnnspec.deploy.runtime import read_onnx_info, validate_metadata

    if kind not in QUANTIZE_TYPES:
        raise CnnspecError(f"unknown quantization {kind!r} (choose from {', '.join(QUANTIZE_TYPES)})")
    if not calibrate:
        raise CnnspecError("--quantize int8 needs --calibrate DATA (a dataset whose training split "
                           "calibrates and whose test split gates the model)")
    size = DEFAULT_CALIBRATION_SIZE if calibration_size is None else int(calibration_size)
    if size < 1:
        raise CnnspecError(f"calibration size must be >= 1, got {size}")
    max_drop = DEFAULT_MAX_DROP_PT if max_accuracy_drop is None else float(max_accuracy_drop)
    src, dst = Path(src), Path(dst)
    info = read_onnx_info(src)
    meta, _ = validate_metadata(info["metadata"], info, str(src))
    shape = meta["input_shape"]
    x_cal, _ = load_split(calibrate, "train", shape, limit=size)
    x_cal = (x_cal.astype(np.float32) * np.float32(meta["scale"]) + np.float32(meta["offset"]))
    flags = cpu_flags()
    reduce_range = bool(flags) and not ({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)
    _quantize_static(src, dst, x_cal, info["input_name"], reduce_range)
    full = json.loads(info["metadata"] or "{}")
    q = {"type": "int8", "format": "QDQ", "activations": "uint8 asymmetric", "weights": "int8 per-channel",
         "reduce_range": reduce_range, "tool": "onnxruntime.quantization.quantize_static",
         "calibration": {"dataset": calibrate, "split": "train", "size": int(len(x_cal)), "method": "MinMax",
                         "sample": f"seeded random sample (seed {CALIBRATION_SEED})"}}
    _embed(dst, {**full, "quantization": q})
    x_test, y_test = load_split(calibrate, "test", shape)
    figures = gate(src, dst, x_test, y_test)
    q["gate"] = {"dataset": calibrate, "split": "test", **figures, "max_drop_pt": max_drop,
                 "passed": bool(-figures["delta_pt"] <= max_drop)}
    _embed(dst, {**full, "quantization": q})
    if not q["gate"]["passed"]:
        rep = dict(report or {}, quantization=q)
        raise GateError(f"INT8 accuracy gate failed: test accuracy {figures['accuracy_int8'] * 100:.2f}% vs "
                        f"fp32 {figures['accuracy_fp32'] * 100:.2f}% ({figures['delta_pt']:+.2f} pt, allowed "
                        f"drop {max_drop:g} pt), top-1 agreement {figures['top1_agreement'] * 100:.2f}%; "
                        "nothing written", file=output, report=rep)
    return {"metadata": {**full, "quantization": q}, "quantization": q}
