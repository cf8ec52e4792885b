"""A nested model in a printed summary (``vgg19 (Functional)  (None, 7, 7, 512)  20,024,384``) -> a
keras.applications base row. The base is found from the row's name (the names Keras gives these
models, read from the bases' generated data) — or, for a renamed base, from its count — and verified
with the printed output shape and count; ``include_top``, ``pooling``, ``classes`` and the input
size follow from them, and what a summary cannot tell (avg or max pooling, an input size among several
that give the same output) is said in the row's comment. Pure Python."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from cnnspec.layers.applications import BASES, application_class, architecture, keras_name
from cnnspec.layers.shapes import Shape, ShapeError, format_shape

#: printed types of a nested model
NESTED = ("Functional", "Model", "Sequential")
MAX_SIZE = 4096
#: sizes preferred when several input sizes give the printed output
_COMMON = (32, 64, 96, 128, 160, 192, 224, 256, 299, 320, 331, 384, 448, 480, 512, 600)


#: the operations Keras prints for a base's preprocess_input traced on a model input, by style (Keras 3)
PREPROCESS_OPS = {"caffe": ("Add", "GetItem", "GetItem", "GetItem", "Stack"), "tf": ("Subtract", "TrueDivide"),
                  "torch": ("Add", "TrueDivide", "TrueDivide")}


def preprocess_run(types: list[str], params: list[str], base: str) -> int:
    """How many rows just before a base row are its ``preprocess_input`` as Keras prints it (0 if none):
    the operations of the base's own preprocessing style, holding no weights."""
    style = application_class(base).preprocessing
    want = PREPROCESS_OPS.get(style)
    if not want:
        return 0
    n = len(want)
    run, counts = types[-n:], params[-n:]
    if len(run) == n and tuple(sorted(run)) == want and all(re.sub(r"\D", "", c) == "0" for c in counts):
        return n
    return 0


@dataclass
class Identified:
    """The base a nested row is, with its options, its input shape and what could not be told."""

    name: str
    options: dict[str, Any]
    input_shape: Shape
    notes: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def by_name(printed: str) -> list[str]:
    """The bases a printed model name denotes: Keras's own name (``mobilenetv2_1.00_224``, ``vgg19_1``
    for a second one), the class name in any spelling (``MobilenetV3small``), or a prefix of it."""
    exact = [b for b in BASES if re.fullmatch(f"(?:{keras_name(b)})(?:_\\d+)?", printed)]
    if exact:
        return exact
    n = _norm(re.sub(r"_\d+$", "", printed))
    same = [b for b in BASES if _norm(b) == n or _norm(keras_name(b).replace("\\", "")) == n]
    if same or len(n) < 5:
        return same
    return [b for b in BASES if _norm(b).startswith(n)]


def _total(counts: dict) -> int:
    return counts["trainable"] + counts["non_trainable"]


def by_count(params: int) -> list[str]:
    """Bases whose count without top (any pooling) or with the ImageNet top equals ``params``."""
    return [b for b in BASES if params in {_total(c) for c in architecture(b)["keras"].values()}]


def _layer(name: str, **opts):
    return application_class(name).model_validate({"type": name, "weights": None, **opts})


@functools.lru_cache(maxsize=4096)
def _side(name: str, size: int) -> int:
    """Rows of the base's feature map for a square input (0 where Keras refuses the size)."""
    try:
        return _layer(name, include_top=False).output_shape((size, size, 3))[0] or 0
    except (ShapeError, KeyError, ValueError, ZeroDivisionError):
        return 0


def sizes_for(name: str, rows: int) -> list[int]:
    """The input sizes whose feature map has ``rows`` rows, near where the base's overall stride puts
    them (Keras refuses some sizes of some bases, so the map is not searched by bisection)."""
    arch = architecture(name)
    stride = arch["default_size"] / max(_side(name, arch["default_size"]), 1)
    lo = max(arch["min_size"], int(stride * (rows - 1.5)))
    hi = min(MAX_SIZE, int(stride * (rows + 1.5)) + 2)
    return [s for s in range(lo, hi + 1) if _side(name, s) == rows]


def _pick(name: str, sizes: list[int]) -> int:
    default = architecture(name)["default_size"]
    if default in sizes:
        return default
    return next((s for s in _COMMON if s in sizes), sizes[0])


def _input_for(name: str, out: Shape, notes: list[str]) -> Shape | None:
    """The input an unprinted model input most likely had, for a printed feature map."""
    dims = []
    for d in out[:2]:
        sizes = sizes_for(name, d) if d is not None else [None]
        if not sizes:
            return None
        s = _pick(name, sizes) if d is not None else None
        note = (f"input size: any of {sizes[0]}..{sizes[-1]} gives a {d}x.. feature map; {s} chosen (the summary "
                "does not print the input: give it with --input if it differs)")
        if len(sizes) > 1 and note not in notes:
            notes.append(note)
        dims.append(s)
    return (dims[0], dims[1], 3)


def _fits(name: str, opts: dict, shape: Shape, out: Shape, params: int) -> bool:
    try:
        got, cnt = _layer(name, **opts).infer([shape])
    except (ShapeError, KeyError, ValueError):
        return False
    return tuple(got) == tuple(out) and cnt.total == params


def _try(name: str, out: Shape, params: int, shape: Shape | None) -> Identified | None:
    """The options of base ``name`` that give the printed output and count, or None."""
    arch = architecture(name)
    notes: list[str] = []
    default = (arch["default_size"], arch["default_size"], 3)
    if len(out) == 3:
        opts: dict[str, Any] = {"include_top": False}
        shape = shape or _input_for(name, out, notes)
    elif len(out) == 1 and out[0] == arch["keras"]["avg"]["output"][0] and params == _total(arch["keras"]["avg"]):
        opts = {"include_top": False, "pooling": "avg"}
        notes.append("pooling avg or max: a summary does not tell them apart; avg chosen")
    elif len(out) == 1:
        opts = {"include_top": True, "classes": out[0]}
    else:
        return None
    if len(out) == 1 and shape is None:
        shape = default
    if shape is None or not _fits(name, opts, shape, out, params):
        return None
    if opts.get("classes") == 1000:
        del opts["classes"]
    return Identified(name, opts, tuple(shape), notes)


def _weights(found: Identified) -> None:
    """``weights: imagenet`` (Keras's default) where Keras accepts it for this input, else none."""
    try:
        application_class(found.name).model_validate({"type": found.name, **found.options}).infer([found.input_shape])
        found.notes.append("weights not printed in a summary: imagenet assumed (Keras's default)")
    except (ShapeError, ValueError):
        found.options["weights"] = None
        found.notes.append("weights not printed in a summary: none (imagenet does not fit this input)")


def identify(printed: str, out: Shape, params: int, shape: Shape | None, kind: str | None = None) -> Identified:
    """The base a nested model row is (``kind``: the printed type, a base's name in cnnspec's own
    tables); ValueError with the reason when none fits."""
    from cnnspec.layers.applications import TYPE_NAMES

    named = [TYPE_NAMES[kind]] if kind in TYPE_NAMES else by_name(printed)
    pool = named or by_count(params)
    if not pool:
        raise ValueError(f"'{printed}' is a nested model cnnspec does not know (no keras.applications base has "
                         f"this name or {params:,} parameters)")
    found = [f for f in (_try(b, out, params, shape) for b in pool) if f is not None]
    if not found:
        have = ", ".join(f"{b}: {_total(architecture(b)['keras']['none']):,} without top" for b in pool[:3])
        given = f" for input {format_shape(shape)}" if shape else ""
        raise ValueError(f"'{printed}' ({pool[0] if named else 'by its count'}) does not give output "
                         f"{format_shape(out)} with {params:,} parameters{given} ({have})")
    best = found[0]
    if not named:
        best.notes.insert(0, f"'{printed}' identified as {best.name} by its parameter count")
    if len(found) > 1:
        best.notes.append("also fits: " + ", ".join(f.name for f in found[1:4]))
    if shape is None and len(out) == 1:
        best.notes.append(f"input size not printed: {best.input_shape[0]}x{best.input_shape[1]} assumed (give "
                          "--input if it differs)")
    _weights(best)
    return best


def fine_tune_from(row, inputs: list | None, diff: int) -> str | None:
    """The layer of a base row from which it trains, when freezing every layer before it makes
    ``diff`` more parameters non-trainable (the last such layer: the first one with weights that trains)."""
    if not hasattr(row.cls, "keras_summary_type") or not inputs or diff <= 0:
        return None
    try:
        layer = row.cls.model_validate({**row.options, "type": row.cls.keras_class})
        inner = layer.expand(inputs[0])
    except (ShapeError, ValueError):
        return None
    frozen, found = 0, None
    for i in inner:
        if frozen == diff:
            found = i.name
        frozen += i.count.trainable
        if frozen > diff:
            break
    return found
