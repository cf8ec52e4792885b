"""Functional graphs with several inputs and outputs, as the code importers follow them.

Each ``keras.Input(...)`` / ``keras_input(...)`` starts its own :class:`ImportedModel` (one input);
a layer applied to tensors of several such models (``Concatenate()([a, b])``) joins them into one
model with several inputs, and ``keras.Model(inputs=[a, b], outputs=[x, y])`` names the inputs and
outputs in order. The spec writer then writes one ``Input`` row per input and ``outputs:`` (or, for
one input and one output, the classic ``input:`` and last row). Pure Python.
"""
from __future__ import annotations

from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import ImportedInput, ImportedModel, Tensor
from cnnspec.spec.loader import INPUT


def new_input(functional: bool, shape: tuple | None, dtype: str | None, name: Any, taken: set[str],
              line: int) -> Tensor:
    """The tensor of a new model input: its own model, named as given (else Keras's ``input_layer``,
    ``input_layer_1``...; ``taken``: the names the importer gave so far, updated)."""
    if not isinstance(name, str) or not name:
        k, name = 0, "input_layer"
        while name in taken:
            k += 1
            name = f"input_layer_{k}"
    taken.add(name)
    m = ImportedModel(functional=functional)
    m.input_shape, m.input_dtype = shape, dtype
    m.inputs = [ImportedInput(name, shape, dtype, line)]
    return Tensor(m, name)


def root(model: ImportedModel) -> ImportedModel:
    """The model a (possibly joined) model now belongs to."""
    while model.joined is not None:
        model = model.joined
    return model


def join(tensors: list[Tensor], file: str, line: int) -> ImportedModel:
    """The one model the tensors belong to: models started by different inputs are merged into the
    first (inputs and rows kept in source order); a layer name used in two of them is an error."""
    models: list[ImportedModel] = []
    for t in tensors:
        m = root(t.model)
        if not any(m is x for x in models):
            models.append(m)
    main = models[0]
    for other in models[1:]:
        names = {r.name for r in main.rows} | {i.name for i in main.inputs}
        clash = next((r.name for r in other.rows if r.name in names), None)
        if clash is not None:
            raise SpecError(f"layer name '{clash}' is used in two branches of the graph: give the layers distinct "
                            "names (name = ...)", file=file, line=line)
        main.inputs += other.inputs
        main.rows = sorted(main.rows + other.rows, key=lambda r: r.line)
        other.rows, other.inputs, other.joined = [], [], main
    return main


def set_io(inputs: Any, outputs: Any, what: str, file: str, line: int) -> ImportedModel:
    """``Model(inputs, outputs)``: each a tensor or a list of tensors built above; the model they form,
    with its inputs in the given order and its outputs recorded."""
    ins = inputs if isinstance(inputs, list) else [inputs]
    outs = outputs if isinstance(outputs, list) else [outputs]
    if not ins or not outs or not all(isinstance(t, Tensor) for t in ins + outs):
        raise SpecError(f"{what}: inputs and outputs must be tensors built above (a tensor or a list of tensors)",
                        file=file, line=line)
    m = join(ins + outs, file, line)
    by_name = {i.name: i for i in m.inputs}
    wanted = [t.ref for t in ins]
    bad = next((n for n in wanted if n not in by_name), None)
    if bad is not None:
        raise SpecError(f"{what}: inputs must be Input tensors ('{bad}' is a layer output)", file=file, line=line)
    missing = [n for n in by_name if n not in wanted]
    if missing:
        raise SpecError(f"{what}: the outputs need input '{missing[0]}', which is not in inputs", file=file, line=line)
    m.inputs = [by_name[n] for n in wanted]
    m.input_shape, m.input_dtype = m.inputs[0].shape, m.inputs[0].dtype
    m.output = outs[0]
    m.outputs = [t.ref for t in outs]
    return m


def single_input_refs(model: ImportedModel) -> None:
    """A model with one input: rows name it ``input`` (the spec's top-level ``input``)."""
    if len(model.inputs) != 1:
        return
    ref = model.inputs[0].name
    for r in model.rows:
        if r.inputs is not None:
            r.inputs = [INPUT if x == ref else x for x in r.inputs]
    if model.output is not None and model.output.ref == ref:
        model.output = Tensor(model, INPUT)
