"""Generate cnnspec/layers/bases/<Base>.json.gz: each keras.applications base's architecture as
cnnspec rows, so `cnnspec check` counts a base and computes its output shape without TensorFlow.

Every base is built with Keras (weights=None: no download) without its top, with its top and with
each pooling; every row's output shape and weights are compared with cnnspec's rules before a file
is written, and Keras's totals are stored for tests/test_applications.py.

Run: python scripts/gen_applications.py [NAME ...]   (all bases when no name is given)
     python scripts/gen_applications.py --sizes-only [NAME ...]   (only the sizes read from the source)
     python scripts/gen_applications.py --names-only [NAME ...]   (only the model name Keras gives the base)
"""
from __future__ import annotations

import gzip
import inspect
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SKIP = ("name", "trainable", "dtype", "seed")


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _options(layer, cls) -> dict:
    """The layer's config restricted to what changes shapes or counts, minus cnnspec's defaults."""
    cfg = layer.get_config()
    out = {}
    for key in cls.option_names():
        if key in SKIP or key.endswith(("_initializer", "_regularizer", "_constraint")) or key not in cfg:
            continue
        info = next(i for f, i in cls.model_fields.items() if (i.alias or f) == key)
        value = _plain(cfg[key])
        default = _plain(info.default) if not info.is_required() else object()
        if value != default and not (key == "data_format" and value == "channels_last"):
            out[key] = value
    return out


def _ops(model):
    """(type, name, options, inputs, keras layer or op) in topological order, nested Sequentials flattened."""
    import keras

    from cnnspec.layers import BY_TYPE
    from cnnspec.layers.internal import INTERNAL_CLASSES

    types = {**BY_TYPE, **{c.keras_class: c for c in INTERNAL_CLASSES}}
    alias: dict[str, str] = {}
    rows = []
    for op in model.operations:
        if isinstance(op, keras.layers.InputLayer):
            alias[op.name] = "input"
            continue
        node = op._inbound_nodes[0]
        inputs = [alias.get(t._keras_history.operation.name, t._keras_history.operation.name)
                  for t in node.input_tensors]
        if isinstance(op, keras.Sequential):
            prev = inputs
            for inner in op.layers:
                rows.append(_row(inner, types, prev))
                prev = [inner.name]
            alias[op.name] = op.layers[-1].name
            continue
        rows.append(_row(op, types, inputs))
    return rows


def _row(op, types, inputs):
    import keras

    kind = type(op).__name__
    if not isinstance(op, keras.layers.Layer):
        return ["Operation", op.name, {"op": kind}, inputs, op]
    cls = types.get(kind)
    if cls is None:
        raise SystemExit(f"{op.name}: layer type {kind} is not supported by cnnspec")
    opts = _options(op, cls)
    if kind == "LayerScale":
        opts = {"projection_dim": int(op.gamma.shape[0])}
    if kind == "CustomScaleLayer":
        opts = {"scale": float(op.scale)}
    return [kind, op.name, opts, inputs, op]


def _verify(rows, keras_model) -> None:
    """cnnspec's rules give Keras's output shape and weights for every row."""
    from cnnspec.layers import BY_TYPE
    from cnnspec.layers.internal import INTERNAL_CLASSES

    types = {**BY_TYPE, **{c.keras_class: c for c in INTERNAL_CLASSES}}
    shapes = {"input": tuple(int(d) for d in keras_model.inputs[0].shape[1:])}
    for kind, name, opts, inputs, op in rows:
        layer = types[kind].model_validate({"type": kind, **opts})
        out, cnt = layer.infer([shapes[i] for i in inputs])
        kout = tuple(int(d) for d in op._inbound_nodes[0].output_tensors[0].shape[1:])
        assert out == kout, f"{name} ({kind}): output {out} != Keras {kout}"
        ours = sorted((w.shape, w.size) for w in cnt.weights)
        theirs = sorted((tuple(int(d) for d in w.shape), int(w.numpy().size) if False else _n(w.shape))
                        for w in getattr(op, "weights", []))
        assert ours == theirs, f"{name} ({kind}): weights {ours} != Keras {theirs}"
        shapes[name] = out


def _n(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _counts(model) -> dict:
    import numpy as np

    tr = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    nt = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"output": [int(d) for d in model.output.shape[1:]], "trainable": tr, "non_trainable": nt}


def _source_sizes(name: str) -> tuple[list[str], list[str]]:
    """default_size and min_size values in the base's Keras source (keras.src, not the API shim)."""
    import importlib

    from cnnspec.layers.applications import BASES

    src = inspect.getsource(importlib.import_module(f"keras.src.applications.{BASES[name][0]}"))
    return re.findall(r"default_size\s*=\s*(\d+)", src), re.findall(r"min_size\s*=\s*(\d+)", src)


def update_sizes(name: str) -> None:
    """Rewrite only the sizes read from the Keras source in an existing data file (no rebuild)."""
    from cnnspec.layers.applications import DATA

    path = DATA / f"{name}.json.gz"
    data = json.loads(gzip.decompress(path.read_bytes()))
    sizes, mins = _source_sizes(name)
    data["min_size"] = int(min(map(int, mins))) if mins else 32
    data["sizes_in_source"] = sorted(set(map(int, sizes)))
    path.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=9, mtime=0))
    print(f"{name}: min_size {data['min_size']}")


def keras_name(name: str) -> str:
    """The name Keras gives the base's model, as a regular expression: built at two input sizes, the
    size in a name that depends on it (mobilenetv2_1.00_224) becomes ``\\d+`` (import reads summaries
    and saved models by it)."""
    import keras

    names = []
    for size in (75, 96):  # above every base's minimum size
        keras.backend.clear_session()
        model = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(size, size, 3))
        names.append(model.name)
    pattern = re.escape(names[0])
    if names[0] != names[1]:
        pattern = re.sub(r"(?<![0-9])75(?![0-9])", r"\\d+", pattern)
        assert re.fullmatch(pattern, names[1]), (name, names)
    return pattern


def update_names(name: str) -> None:
    """Write only the Keras model name into an existing data file (no rebuild of the rows)."""
    from cnnspec.layers.applications import DATA

    path = DATA / f"{name}.json.gz"
    data = json.loads(gzip.decompress(path.read_bytes()))
    data["keras_name"] = keras_name(name)
    path.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=9, mtime=0))
    print(f"{name}: {data['keras_name']}", flush=True)


def generate(name: str) -> dict:
    """Build the base's variants with Keras and return its data."""
    import keras

    from cnnspec.layers.applications import BASES

    sizes, mins = _source_sizes(name)
    fn = getattr(keras.applications, name)
    variants = {}
    default = None
    for head, kw in (("top", {"include_top": True}), ("none", {"include_top": False}),
                     ("avg", {"include_top": False, "pooling": "avg"}),
                     ("max", {"include_top": False, "pooling": "max"})):
        keras.backend.clear_session()
        if default is not None:
            kw["input_shape"] = (default, default, 3)
        model = fn(weights=None, **kw)
        if default is None:
            default = model.inputs[0].shape[1] or (int(sizes[0]) if sizes else 224)
            keras.backend.clear_session()
            model = fn(weights=None, input_shape=(default, default, 3), **kw)
        rows = _ops(model)
        _verify(rows, model)
        variants[head] = (rows, _counts(model), model)
    all_rows = {h: [r[:4] for r in v[0]] for h, v in variants.items()}
    n = 0  # the rows every variant shares
    while all(n < len(r) for r in all_rows.values()) and len({json.dumps(r[n]) for r in all_rows.values()}) == 1:
        n += 1
    base = all_rows["none"][:n]
    heads = {h: r[n:] for h, r in all_rows.items()}
    classifier = next(([r[1], k] for r in heads["top"] for k in ("units", "filters") if r[2].get(k) == 1000), None)
    return {"name": name, "keras_version": keras.__version__, "default_size": default,
            "min_size": int(min(map(int, mins))) if mins else 32, "rows": base, "heads": heads,
            "classifier": classifier,
            "keras": {h: {**v[1], "input": [int(d) for d in v[2].inputs[0].shape[1:]]} for h, v in variants.items()},
            "sizes_in_source": sorted(set(map(int, sizes))), "keras_name": keras_name(name)}


def main(names: list[str]) -> None:
    from cnnspec.layers.applications import BASES, DATA

    DATA.mkdir(exist_ok=True)
    for name in names or list(BASES):
        t0 = time.time()
        data = generate(name)
        blob = json.dumps(data, separators=(",", ":")).encode()
        (DATA / f"{name}.json.gz").write_bytes(gzip.compress(blob, compresslevel=9, mtime=0))
        print(f"{name}: {len(data['rows'])} rows, {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--names-only"]:
        from cnnspec.layers.applications import BASES

        for n in sys.argv[2:] or list(BASES):
            update_names(n)
    elif sys.argv[1:2] == ["--sizes-only"]:
        from cnnspec.layers.applications import BASES, DATA

        for n in sys.argv[2:] or [b for b in BASES if (DATA / f"{b}.json.gz").exists()]:
            update_sizes(n)
    else:
        main(sys.argv[1:])
