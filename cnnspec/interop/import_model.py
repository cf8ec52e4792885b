"""A saved Keras model -> an :class:`ImportedModel`, read as data: the ``config.json`` inside a
``.keras`` zip, the ``model_config`` attribute of a ``.h5`` file, or a ``model.to_json()`` file.
Nothing is unpickled or executed (a Lambda layer is refused by name); every supported layer
becomes a row with its non-default options, graphs included, and the imported spec's counts are
verified against the weights stored in the file. Pure Python (h5py for .h5, no TensorFlow)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import ImportedInput, ImportedModel, ImportedRow, layer_class, validate_options
from cnnspec.interop.import_train import TrainRecorder, loss_value, optimizer_value
from cnnspec.interop.model_bases import NestedModels, preprocess_chains
from cnnspec.interop.model_config import layer_options
from cnnspec.spec.loader import INPUT

MAX_CONFIG = 50_000_000  # bytes of JSON configuration: far above any real model
_CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer")
_NESTED = ("Sequential", "Functional", "Model")


def import_model_file(path: str) -> ImportedModel:
    """The model a .keras / .h5 / config .json file holds, its counts checked against its weights."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("no such file" if not p.exists() else "not a file", file=path)
    ext = p.suffix.lower()
    try:
        if ext == ".keras" or zipfile.is_zipfile(p):
            config, training, weights = _read_keras(p)
        elif ext in (".h5", ".hdf5"):
            config, training, weights = _read_h5(p)
        else:
            config, training, weights = _json(p.read_bytes(), path), None, None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SpecError(f"cannot read the model file: {exc}", file=path) from exc
    model = _Reader(config, path).model()
    if training:
        _fill_train(model, training)
    if weights is not None:
        _verify_counts(model, weights, path)
    else:
        model.notes.append("a configuration without weights: counts not verified against a file")
    return model


def _json(data: bytes, path: str) -> dict:
    if len(data) > MAX_CONFIG:
        raise SpecError(f"the model configuration is over {MAX_CONFIG} bytes", file=path)
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"the model configuration is not JSON: {exc}", file=path) from exc
    except RecursionError as exc:
        raise SpecError("the model configuration is nested too deeply", file=path) from exc
    if not isinstance(obj, dict) or "class_name" not in obj:
        raise SpecError("not a Keras model configuration (no class_name at the top)", file=path)
    return obj


def _read_keras(p: Path) -> tuple[dict, dict | None, int | None]:
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
        if "config.json" not in names:
            raise SpecError("a .keras file holds config.json: this zip does not", file=str(p))
        info = zf.getinfo("config.json")
        if info.file_size > MAX_CONFIG:
            raise SpecError(f"config.json is over {MAX_CONFIG} bytes", file=str(p))
        config = _json(zf.read("config.json"), str(p))
        weights = None
        if "model.weights.h5" in names:
            with zf.open("model.weights.h5") as fh:
                weights = _count_h5(fh, "layers")
    return config, config.get("compile_config"), weights


def _read_h5(p: Path) -> tuple[dict, dict | None, int | None]:
    h5py = _h5py(str(p))
    with h5py.File(p, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise SpecError("this .h5 file holds weights only (no model_config): save the whole model",
                            file=str(p))
        config = _json(raw if isinstance(raw, bytes) else str(raw).encode(), str(p))
        training = f.attrs.get("training_config")
        training = json.loads(training) if training is not None else None
        weights = _count_group(f["model_weights"]) if "model_weights" in f else None
    return config, training, weights


def _h5py(file: str):
    try:
        import h5py
    except ImportError as exc:
        raise SpecError("reading .h5 files needs h5py: pip install h5py", file=file) from exc
    return h5py


def _count_h5(fh, root: str) -> int:
    h5py = _h5py("model.weights.h5")
    with h5py.File(fh, "r") as f:
        return _count_group(f[root]) if root in f else 0


def _count_group(group) -> int:
    """Parameters stored under a group (seed-generator states are not parameters)."""
    import h5py

    total = 0

    def visit(name: str, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset) and "seed_generator" not in name:
            n = 1
            for d in obj.shape:
                n *= d
            total += n

    group.visititems(visit)
    return total


def _verify_counts(model: ImportedModel, weights: int, path: str) -> None:
    model.expect = {"total": weights}
    model.notes.append(f"the file's weights hold {weights:,} parameters (kept as the expected total)")


def _fill_train(model: ImportedModel, training: dict) -> None:
    rec = TrainRecorder()
    opt = training.get("optimizer") or training.get("optimizer_config")
    if isinstance(opt, dict):
        cfg = opt.get("config") or {}
        kw = {k: (float(f"{v:.7g}") if isinstance(v, float) else v) for k, v in cfg.items()
              if k in ("learning_rate", "momentum", "nesterov", "rho", "epsilon", "beta_1", "beta_2", "amsgrad",
                       "weight_decay") and v is not None and not isinstance(v, dict)}
        rec.compile["optimizer"] = (optimizer_value(opt.get("class_name", "adam"), kw), 0)
    elif isinstance(opt, str):
        rec.compile["optimizer"] = (opt, 0)
    loss = training.get("loss")
    if isinstance(loss, dict):
        loss = loss.get("class_name") or (loss.get("config") or {}).get("name")
    if isinstance(loss, str):
        rec.compile["loss"] = (loss_value(loss), 0)
    mets = training.get("metrics")
    if isinstance(mets, list):
        names = [m if isinstance(m, str) else (m or {}).get("config", {}).get("name") for m in _flat(mets)]
        rec.compile["metrics"] = ([n for n in names if isinstance(n, str)], 0)
    train, notes = rec.section()
    model.train = train
    model.notes += [n.replace(" (line 0)", "") for n in notes]


def _flat(items: list) -> list:
    out = []
    for m in items:
        out.extend(_flat(m) if isinstance(m, list) else [m])
    return out


class _Reader(NestedModels):
    """Walks a Keras model configuration (Keras 3 or Keras 2 / tf.keras layout)."""

    def __init__(self, config: dict, file: str) -> None:
        self.root = config
        self.file = file
        self.names: dict[str, str] = {}
        self.dropped: list[str] = []
        self.prefix: str | None = None  # a nested model read in place: its name, for names taken already
        self.preprocessed: dict[str, str] = {}  # a base's traced preprocess_input: layer -> what it takes
        self.history = _history

    def err(self, msg: str) -> SpecError:
        """A one-line error naming the model file."""
        return SpecError(msg, file=self.file)

    def model(self) -> ImportedModel:
        """The imported model of the whole configuration."""
        kind = self.root.get("class_name")
        cfg = self.root.get("config") or {}
        if kind not in ("Sequential", "Functional", "Model"):
            raise self.err(f"a {kind} model (subclassed or custom) has no layer graph in its configuration: "
                           "save a Sequential or functional model")
        layers = cfg.get("layers") if isinstance(cfg, dict) else cfg  # Keras <= 2.2: a Sequential's list
        cfg = cfg if isinstance(cfg, dict) else {}
        if not isinstance(layers, list):
            raise self.err("the model configuration has no layer list")
        m = ImportedModel(name=cfg.get("name"), functional=(kind != "Sequential"))
        if kind == "Sequential" and cfg.get("build_input_shape"):
            m.input_shape = tuple(cfg["build_input_shape"][1:])
        prev = INPUT
        if kind != "Sequential":
            self.preprocessed = preprocess_chains([x for x in layers if isinstance(x, dict)], _history)
        for i, layer in enumerate(layers):
            row = self.layer(m, layer, i, prev, kind == "Sequential")
            if row is not None:
                prev = row.name
        if m.input_shape is None:
            raise self.err("the configuration does not give the input shape (an unbuilt model): build or save "
                           "it after calling it on data")
        if m.functional:
            self.output(m, cfg)
        if len(m.inputs) > 1:
            _order_inputs(m, cfg)
        if self.dropped:
            m.notes.append("settings cnnspec does not model, dropped (they change no shape or count; the counts "
                           "are checked against the file's weights): " + _grouped(self.dropped))
        return m

    def layer(self, m: ImportedModel, layer: dict, i: int, prev: str, sequential: bool) -> ImportedRow | None:
        """One saved layer as a row (None for the input layer)."""
        cname = layer.get("class_name")
        cfg = layer.get("config") or {}
        name = cfg.get("name") or layer.get("name") or f"layer_{i}"
        if cname == "InputLayer":
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            if not shape:
                raise self.err(f"input layer '{name}' has no shape")
            dtype = cfg.get("dtype")
            dtype = dtype if isinstance(dtype, str) else None
            if m.inputs or (m.input_shape is not None and m.rows):  # a second input: an Input row each
                if sequential:
                    raise self.err(f"a second model input '{name}' in a Sequential model")
                m.inputs.append(ImportedInput(name, tuple(shape[1:]), dtype))
                self.names[name] = name
                return None
            m.input_shape, m.input_dtype = tuple(shape[1:]), dtype
            m.inputs.append(ImportedInput(name, m.input_shape, dtype))
            self.names[name] = INPUT
            return None
        if cname in _CODE_LAYERS:
            raise self.err(f"layer '{name}' is a {cname}: it runs Python code, which cnnspec never executes; "
                           "replace it by Keras layers")
        if name in self.preprocessed:
            self.names[name] = self.names.get(self.preprocessed[name], self.preprocessed[name])
            return None
        if cname in _NESTED:
            return self.nested(m, layer, name, prev, sequential)
        cls = layer_class(str(cname))
        if cls is None:
            raise self.err(f"layer '{name}' is a {cname}, which cnnspec does not model")
        if sequential and not m.rows and m.input_shape is None:
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or \
                (layer.get("build_config") or {}).get("input_shape")
            if shape:
                m.input_shape = tuple(shape[1:])
        options = layer_options(cls, cfg, self.file, name, self.dropped)
        validate_options(cls, options, self.file, 0, {}, f"layer '{name}' ({cname})")
        inputs = [prev] if sequential else self.inbound(layer, name)
        taken = self.prefix is not None and any(r.name == name for r in m.rows)
        row = ImportedRow(cls, options, 0, f"{self.prefix}_{name}" if taken else name, inputs,
                          cfg.get("trainable", True) is not False)
        m.rows.append(row)
        self.names[name] = row.name
        return row

    def inbound(self, layer: dict, name: str) -> list[str]:
        """The rows a functional layer takes, from its call node."""
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise self.err(f"layer '{name}' is called {len(nodes)} times: shared layers are not supported"
                           if nodes else f"layer '{name}' is not connected to anything")
        refs = _history(nodes[0])
        out = []
        for ref in refs:
            if ref not in self.names:
                raise self.err(f"layer '{name}' takes '{ref}', which no earlier layer defines")
            out.append(self.names[ref])
        return out

    def output(self, m: ImportedModel, cfg: dict) -> None:
        """The output rows of a functional model, in order."""
        outs = cfg.get("output_layers") or []
        if outs and isinstance(outs[0], str):
            outs = [outs]
        if not outs:
            raise self.err("the model configuration names no output")
        from cnnspec.interop.import_common import Tensor

        m.outputs = [self.names.get(o[0], o[0]) for o in outs]
        m.output = Tensor(m, m.outputs[0])


def _order_inputs(m: ImportedModel, cfg: dict) -> None:
    """Several inputs: in the model's order (``input_layers``), rows naming the first by its row name
    (it was read as the model input, ``input``)."""
    order = cfg.get("input_layers") or []
    order = [o[0] for o in order if isinstance(o, list) and o] if order and isinstance(order[0], list) else []
    rank = {n: i for i, n in enumerate(order)}
    was_first = m.inputs[0].name
    m.inputs.sort(key=lambda i: rank.get(i.name, len(rank)))
    for r in m.rows:
        r.inputs = [was_first if x == INPUT else x for x in (r.inputs or [])]
    m.input_shape, m.input_dtype = m.inputs[0].shape, m.inputs[0].dtype


def _grouped(dropped: list[str]) -> str:
    """``renorm_momentum = 0.99 (bn_Conv1 and 51 more)`` from ``layer.setting = value`` entries."""
    groups: dict[str, list[str]] = {}
    for entry in dict.fromkeys(dropped):
        layer, _, setting = entry.partition(".")
        groups.setdefault(setting, []).append(layer)
    return ", ".join(f"{setting} ({names[0]}" + (f" and {len(names) - 1} more)" if len(names) > 1 else ")")
                     for setting, names in groups.items())


def _history(node: Any) -> list[str]:
    """Layer names a call node takes: Keras 3 ``{"args": [keras tensors]}`` or Keras 2 ``[[name, 0, 0, {}]]``."""
    if isinstance(node, dict):
        found: list[str] = []

        def walk(v: Any) -> None:
            if isinstance(v, dict):
                hist = (v.get("config") or {}).get("keras_history") if v.get("class_name") == "__keras_tensor__" \
                    else None
                if hist:
                    found.append(hist[0])
                    return
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        walk(node.get("args", []))
        return found
    return [entry[0] for entry in node if isinstance(entry, list) and entry and isinstance(entry[0], str)]
