"""Which options explain a printed summary row. For a row's layer class, input shape(s), printed
output shape and count, candidate option sets are generated from the class's own fields (filters
and units from the output, kernels, strides, padding, bias ...), each is checked with the class's
own shape and count rules, and the conventional one among those that agree is chosen (defaults
first, square 3x3 kernels, common input sizes). Pure Python."""
from __future__ import annotations

import itertools
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cnnspec.layers import Layer
from cnnspec.layers.shapes import Shape, ShapeError

MAX_TRIES = 40_000
#: Image sizes datasets and papers use: preferred when the input shape must be inferred.
COMMON_SIZES = {8, 16, 28, 32, 48, 64, 96, 100, 112, 128, 150, 160, 180, 192, 224, 227, 256, 299, 300, 331, 512}
_KERNELS = (3, 1, 5, 7, 2, 4, 6, 9, 11, 8, 10)
_POOLS = (2, 3, 1, 4, 5, 6, 7, 8)
_TOGGLE = ("use_bias", "center", "scale", "return_sequences", "keepdims", "reset_after")
#: Options a summary does not print: the conventional value and what the comment says.
_UNPRINTED = {"rate": (0.5, "rate not printed in a summary: 0.5 assumed"),
              "activation": ("relu", "activation not printed in a summary: relu assumed"),
              "scale": (1 / 255, "scale not printed in a summary: 1/255 assumed")}


@dataclass
class Explained:
    """The chosen options for a row, how they were found, and what else would fit."""

    cls: type[Layer]
    options: dict[str, Any]
    input_shape: Shape | None = None
    exact: bool = True
    alternatives: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Try:
    cls: type[Layer]
    options: dict[str, Any]
    cost: float
    ins: list[Shape]
    shape_ok: bool = False
    count_ok: bool = False
    output: Shape = ()
    given: tuple = ()
    notes: list[str] = field(default_factory=list)


def _axes(in_shape: Shape, out: Shape) -> list[tuple[int | None, int | None]]:
    return list(zip(in_shape[:-1], out[:-1])) if len(in_shape) == len(out) else []


def _int_or_tuple(vals: list[int]) -> Any:
    return vals[0] if len(set(vals)) == 1 else tuple(vals)


def _literal_values(info) -> list | None:
    ann = info.annotation
    for a in (ann, *typing.get_args(ann)):
        if typing.get_origin(a) is typing.Literal:
            return list(typing.get_args(a))
    return None


def _extended_values(cls: type[Layer], name: str, info, ins: list[Shape], out: Shape, widen: str) -> list | None:
    """A wider search when nothing fit. ``widen="shape"``: non-square kernels and pools, the wrapped
    layer of Bidirectional/TimeDistributed. ``widen=<option>``: that integer option from the shapes'
    sizes and their divisors (RepeatVector n, GroupNormalization groups)."""
    if widen == "shape":
        if name == "layer":
            return _inner_layers(out)
        if name in ("kernel_size", "pool_size") and len(ins[0] if ins else ()) == 3:
            return [((a, b), 5, "") for a in range(1, 8) for b in range(1, 8) if a != b]
        return None
    if name != widen:
        return None
    default = None if info.is_required() else info.default
    sizes = {d for shape in [out, *ins] for d in shape if d}
    last = out[-1] if out and out[-1] else 1
    sizes |= {d for d in range(1, min(last, 64) + 1) if last % d == 0}
    return _dedupe(([(default, 0, "")] if default is not None else []) + [(v, 3, "") for v in sorted(sizes)])


def _int_options(classes: list[type[Layer]]) -> list[str]:
    """Integer options a wider search may vary one at a time."""
    names = []
    for cls in classes:
        for name, info in cls.model_fields.items():
            ann = str(info.annotation)
            default = None if info.is_required() else info.default
            if name in Layer.META or name in ("axis", "seed", "filters", "units") or isinstance(default, bool):
                continue
            if "int" in ann and "bool" not in ann and "float" not in ann:
                names.append(name)
    return list(dict.fromkeys(names))


def _inner_layers(out: Shape) -> list:
    """Recurrent or Dense layers a wrapper could hold, sized from the output."""
    from cnnspec.layers import LAYER_CLASSES

    vals = []
    for i, c in enumerate(c for c in LAYER_CLASSES if "units" in c.model_fields and c.arity == 1):
        for units in {out[-1], (out[-1] or 0) // 2} - {0, None}:
            for rs in ((False, True) if "return_sequences" in c.model_fields else (None,)):
                inner = {"type": c.keras_class, "units": units}
                if rs:
                    inner["return_sequences"] = True
                vals.append((inner, i, ""))
    return vals


def _field_values(cls: type[Layer], name: str, info, ins: list[Shape], out: Shape, params: int) -> list | None:
    """[(value, cost, note)] for one option, or None to leave the option at its default."""
    default = None if info.is_required() else info.default
    ann = str(info.annotation)
    x = ins[0] if ins else ()
    axes = _axes(x, out)
    if name in ("filters", "units", "output_dim") and out:
        return [(out[-1], 0, "")]
    if name == "input_dim" and "output_dim" in cls.model_fields and out and out[-1] and params % out[-1] == 0:
        return [(params // out[-1], 0, "")]
    if name in _TOGGLE and isinstance(default, bool):
        return [(default, 0, ""), (not default, 3, "")]
    if name in ("kernel_size", "pool_size"):
        pref = _KERNELS if name == "kernel_size" else _POOLS
        vals = [(k, 2 * i, "") for i, k in enumerate(pref)]
        derived = [i - o + 1 for i, o in axes if i and o] if name == "kernel_size" else \
            [i // o for i, o in axes if i and o]
        if derived and all(d >= 1 for d in derived) and len(derived) == len(axes):
            vals.append((_int_or_tuple(derived), 1, ""))
        return _dedupe(vals)
    if name == "strides":
        vals = [(default, 0, "")] + [(s, 2 + s, "") for s in (1, 2, 3, 4) if s != default]
        ratio = [-(-i // o) for i, o in axes if i and o]
        if ratio and len(ratio) == len(axes) and len(set(ratio)) > 1:
            vals.append((tuple(ratio), 4, ""))
        return _dedupe(vals)
    if name in ("padding", "cropping") and _literal_values(info) is None:
        return _pad_values(axes, name)
    lit = _literal_values(info)
    if name == "padding" and lit:
        return [(v, 0 if v == default else 1 + i, "") for i, v in enumerate(lit)]
    if name == "depth_multiplier" and x and out and x[-1] and out[-1] and out[-1] % x[-1] == 0:
        return _dedupe([(default, 0, ""), (out[-1] // x[-1], 1, "")])
    if name == "target_shape":
        return [(tuple(out), 0, "")]
    if name == "dims" and x and len(x) <= 5:  # Permute: the axes in their new order
        return [(p, 0, "") for p in itertools.permutations(range(1, len(x) + 1))
                if tuple(x[i - 1] for i in p) == tuple(out)]
    if name == "size" and axes and all(i and o and o % i == 0 for i, o in axes):
        return [(_int_or_tuple([o // i for i, o in axes]), 0, "")]
    if name == "axis" and "int" in ann and cls.arity is None:
        return _dedupe([(default, 0, "")] + [(a, 1, "") for a in range(1, len(out) + 1)])
    if info.is_required():
        if name in _UNPRINTED:
            value, note = _UNPRINTED[name]
            return [(value, 0, note)]
        if "float" in ann:
            return [(0.1, 0, f"{name} not printed in a summary: 0.1 assumed")]
    return None


def _pad_values(axes, name: str) -> list:
    diffs = [(o - i) if name == "padding" else (i - o) for i, o in axes if i and o]
    if not axes or len(diffs) != len(axes) or any(d < 0 for d in diffs):
        return []
    if len(set(diffs)) == 1 and diffs[0] % 2 == 0:
        return [(diffs[0] // 2, 0, "")]
    even = [(d // 2, d - d // 2) for d in diffs]
    other = [(d - d // 2, d // 2) for d in diffs]
    vals = [(even if len(even) > 1 else even[0], 0, "")]
    if other != even:
        vals.append((other if len(other) > 1 else other[0], 1, ""))
    return vals


def _dedupe(vals: list) -> list:
    seen, out = set(), []
    for v, c, n in vals:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            out.append((v, c, n))
    return out


def _tries(cls: type[Layer], ins: list[Shape], out: Shape, params: int, extra_cost: float = 0,
           given: dict | None = None, widen: str | None = None):
    fixed: dict[str, Any] = {}
    notes: list[str] = []
    varying: list[tuple[str, list]] = []
    for name, info in cls.model_fields.items():
        if name in Layer.META:
            continue
        vals = [(given[name], 0, "")] if given and name in given else \
            _field_values(cls, name, info, ins, out, params)
        if widen and not (given and name in given):
            more = _extended_values(cls, name, info, ins, out, widen) or []
            vals = _dedupe((vals or []) + more) if more else vals
        if vals is None:
            if info.is_required():
                return
            continue
        if not vals:
            return
        if len(vals) == 1:
            fixed[name] = vals[0][0]
            notes += [vals[0][2]] if vals[0][2] else []
        else:
            varying.append((name, vals))
    defaults = {n: i.default for n, i in cls.model_fields.items() if not i.is_required()}
    for combo in itertools.product(*[v for _, v in varying]):
        opts = dict(fixed)
        cost = extra_cost
        for (name, _), (value, c, _) in zip(varying, combo):
            opts[name] = value
            cost += c
        opts = {k: v for k, v in opts.items() if k not in defaults or defaults[k] != v}
        yield _Try(cls, opts, cost, ins, notes=list(notes), given=tuple(given or ()))


def _verify(t: _Try, out: Shape, params: int | None) -> _Try | None:
    try:
        layer = t.cls.model_validate({**t.options, "type": t.cls.keras_class})
        got, cnt = layer.infer(t.ins)
    except (ValidationError, ShapeError, ValueError, TypeError, ZeroDivisionError):
        return None
    t.output = tuple(got)
    t.shape_ok = tuple(got) == tuple(out)
    t.count_ok = params is None or cnt.total == params
    return t


def explain(classes: list[type[Layer]], ins: list[Shape] | None, out: Shape, params: int | None,
            given: dict | None = None) -> Explained | None:
    """The conventional options that explain the row (``ins`` None: the model input, to infer too;
    ``given``: options the table itself states)."""
    if [c.keras_class for c in classes] == ["TimeDistributed"] and len(out) >= 2 and not given:
        return _explain_steps(classes[0], ins, out, params)
    inputs = [(list(ins), 0)] if ins is not None else _input_guesses(classes, out, params or 0)
    good, partial = _search(classes, inputs, out, params, given, None)
    for widen in ["shape", *_int_options(classes)]:
        if good:
            break
        good, wider = _search(classes, inputs, out, params, given, widen)
        partial = partial or wider
    if good:
        good = [_canonical(t, out, params) for t in good]
        good.sort(key=lambda t: t.cost)
        best = good[0]
        alts = [_describe(t, ins is None) for t in good[1:] if _describe(t, ins is None) != _describe(best, ins is None)]
        return Explained(best.cls, best.options, None if ins is not None else best.ins[0], True,
                         list(dict.fromkeys(alts))[:3], best.notes)
    if partial:
        partial.sort(key=lambda t: (not t.shape_ok, not t.count_ok, t.cost))
        best = partial[0]
        return Explained(best.cls, best.options, None if ins is not None else best.ins[0], False, [], best.notes)
    return None


#: What TimeDistributed usually wraps, most conventional first; the other single-input layers are
#: tried only when none of these explains the row.
_STEP_PREFERRED = ("Conv2D", "Conv1D", "Conv3D", "MaxPooling2D", "MaxPooling1D", "AveragePooling2D",
                   "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                   "Flatten", "Dense", "LSTM", "GRU", "SimpleRNN", "BatchNormalization", "Dropout", "Activation")


def _explain_steps(wrapper: type[Layer], ins: list[Shape] | None, out: Shape, params: int | None) -> Explained | None:
    """A TimeDistributed row, whose summary line does not print the layer inside: the layer that explains
    one step (the shapes without the steps axis) with its own rules, Conv2D(16, 3) for (15, 15, 8) ->
    (13, 13, 16)."""
    from cnnspec.layers import LAYER_CLASSES, lookup
    from cnnspec.layers.applications import Application

    if ins is not None and (len(ins[0]) < 2 or ins[0][0] != out[0]):
        return None
    preferred = [lookup(n) for n in _STEP_PREFERRED]
    rest = [c for c in LAYER_CLASSES if c.arity == 1 and c not in preferred and "layer" not in c.model_fields
            and not issubclass(c, Application)]
    step_ins = None if ins is None else [tuple(ins[0][1:])]
    inner = explain(preferred, step_ins, tuple(out[1:]), params) or explain(rest, step_ins, tuple(out[1:]), params)
    if inner is None:
        return None
    layer = {"type": inner.cls.keras_class, **inner.options}
    shape = None if inner.input_shape is None else (out[0], *inner.input_shape)
    return Explained(wrapper, {"layer": layer}, shape, inner.exact,
                     [f"TimeDistributed({a})" for a in inner.alternatives], inner.notes)


def _search(classes, inputs, out: Shape, params: int | None, given, widen: str | None) -> tuple[list, list]:
    """(option sets that explain the row, those that explain part of it), conventional first."""
    tries = list(itertools.islice((t for cls in classes for shapes, icost in inputs
                                   for t in _tries(cls, shapes, out, params or 0, icost, given, widen)),
                                  MAX_TRIES * 4))
    tries.sort(key=lambda t: t.cost)
    good, partial = [], []
    for t in tries[:MAX_TRIES]:
        if good and t.cost > good[0].cost + 8:
            break
        v = _verify(t, out, params)
        if v is not None:
            (good if v.shape_ok and v.count_ok else partial).append(v)
    return good, partial


def by_count(cls: type[Layer], ins: list[Shape], out: Shape, params: int) -> list[tuple[dict, Shape]]:
    """Option sets that give the printed count whatever their output shape (a misprinted shape),
    conventional first, with the output each computes."""
    found: list[tuple[dict, Shape]] = []
    for t in sorted(_tries(cls, ins, out, params), key=lambda t: t.cost)[:MAX_TRIES]:
        v = _verify(t, out, params)
        if v is not None and v.count_ok and all(v.output != o for _, o in found):
            found.append((_canonical(v, v.output, params).options, v.output))
    return found


def _canonical(t: _Try, out: Shape, params: int | None) -> _Try:
    """Drop options that change nothing here (padding 'same' on a 1x1 kernel, pooling strides equal to
    the pool size, axis 3 for -1): an option whose default gives the same shape and count."""
    for k in [k for k in t.options if not t.cls.model_fields[k].is_required() and k not in t.given]:
        trial = _Try(t.cls, {o: v for o, v in t.options.items() if o != k}, t.cost, t.ins)
        v = _verify(trial, out, params)
        if v is not None and v.shape_ok and v.count_ok:
            t.options = trial.options
    return t


def _describe(t: _Try, with_input: bool) -> str:
    parts = [f"{k} {v}" for k, v in t.options.items() if k not in ("filters", "units")]
    if with_input:
        parts.insert(0, f"input {tuple(t.ins[0])}")
    return (t.cls.keras_class + " " if t.cls is not None else "") + ", ".join(parts or ["defaults"])


def _input_guesses(classes: list[type[Layer]], out: Shape, params: int) -> list[tuple[list[Shape], float]]:
    """Input shapes a first row could have had (the summary does not print the input); for several
    candidate classes, each class's own guesses."""
    if len(classes) > 1:
        merged: dict[tuple, float] = {}
        for c in classes:
            for shapes, cost in _input_guesses([c], out, params):
                key = tuple(shapes)
                merged[key] = min(merged.get(key, cost), cost)
        return [(list(k), c) for k, c in merged.items()]
    guesses: list[tuple[Shape, float]] = [(tuple(out), 0)]
    fields = set().union(*[set(c.model_fields) for c in classes])
    if "output_dim" in fields and "input_dim" in fields:
        return [([tuple(out[:-1])], 0)]
    if "units" in fields and out and out[-1]:
        u = out[-1]
        guesses = [(tuple(out[:-1]) + (n,), c) for n, c in (((params - u) // u, 0), (params // u, 3))
                   if n >= 1 and n * u in (params - u, params)]
    elif ("kernel_size" in fields or "pool_size" in fields) and len(out) >= 2:
        guesses = []
        for chans, ccost in _channel_guesses(fields, out, params):
            for s, d in itertools.product((1, 2), range(0, 11)):
                sp = tuple(None if o is None else o * s + d for o in out[:-1])
                cost = ccost + (0 if all(v in COMMON_SIZES for v in sp if v is not None) else 2) + s - 1
                guesses.append((sp + (chans,), cost))
    return [([g], c) for g, c in guesses]


def _channel_guesses(fields: set, out: Shape, params: int) -> list[tuple[int, float]]:
    f = out[-1] or 1
    if "filters" not in fields:
        return [(f, 0)]
    found = {}
    rank = len(out) - 1
    for k in _KERNELS:
        for bias in (f, 0):
            num = params - bias
            if num > 0 and num % (k ** rank * f) == 0:
                c = num // (k ** rank * f)
                found.setdefault(c, 0 if c in (1, 3) else 1)
    return sorted(found.items(), key=lambda kv: kv[1])[:4] or [(1, 0), (3, 0)]
