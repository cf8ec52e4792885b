"""Pure integer shape rules, transcribed from Keras 3 (keras/src/ops/operation_utils.py and
keras/src/backend/common/backend_utils.py). ``None`` dimensions pass through.

Each function raises :class:`ShapeError` with Keras's own wording when Keras would refuse
the configuration; the checker attaches the spec's file, line and field.
"""
from __future__ import annotations

from typing import Sequence

Dim = int | None
Shape = tuple[Dim, ...]

#: Largest size accepted for any dimension or option (TensorFlow indexes with int32).
MAX_DIM = 2**31 - 1


class ShapeError(ValueError):
    """Keras would reject this configuration. ``field`` names the option at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def as_tuple(value: int | Sequence[int], n: int, field: str) -> tuple[int, ...]:
    """Keras's ``standardize_tuple``: an int is repeated ``n`` times, a sequence must have length ``n``."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ShapeError(f"`{field}` must be an int or a list of {n} ints, received {list(value)}", field)
    return value


def conv_output_length(size: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """One spatial dimension of ``compute_conv_output_shape``.

    valid: floor((size - dilation*(kernel-1) - 1) / stride) + 1
    same / causal: floor((size - 1) / stride) + 1
    """
    if size is None:
        return None
    if padding == "valid":
        return (size - dilation * (kernel - 1) - 1) // stride + 1
    return (size - 1) // stride + 1


def pool_output_length(size: Dim, pool: int, stride: int, padding: str) -> Dim:
    """One spatial dimension of ``compute_pooling_output_shape``.

    valid: floor((size - pool_size) / strides) + 1;  same: floor((size - 1) / strides) + 1
    """
    if size is None:
        return None
    if padding == "valid":
        return (size - pool) // stride + 1
    return (size - 1) // stride + 1


def deconv_output_length(size: Dim, kernel: int, stride: int, padding: str,
                         output_padding: int | None = None, dilation: int = 1) -> Dim:
    """One spatial dimension of ``compute_conv_transpose_output_shape``."""
    if size is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(kernel, stride) - kernel
        return (size - 1) * stride + kernel + output_padding
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + kernel % 2 + output_padding


def product(dims: Sequence[Dim]) -> Dim:
    """Flatten's rule: the product of the dimensions, ``None`` if any is unknown."""
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= d
    return out


def broadcast(shapes: Sequence[Shape], layer: str) -> Shape:
    """The element-wise merge rule (Add, Multiply, Average), Keras's
    ``Merge._compute_elemwise_op_output_shape`` folded over the inputs: shapes align on the right
    (a lower-rank input gets leading axes), a None on either side gives None, 1 broadcasts, other
    sizes must be equal."""
    out: Shape = tuple(shapes[0])
    for s in shapes[1:]:
        a, b = (out, tuple(s)) if len(out) >= len(s) else (tuple(s), out)
        if not b:
            continue
        merged: list[Dim] = list(a[: len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                merged.append(None)
            elif i == 1:
                merged.append(j)
            elif j == 1 or i == j:
                merged.append(i)
            else:
                raise ShapeError(f"{layer}: Inputs have incompatible shapes. Received shapes "
                                 f"{format_shape(a, batch=False)} and {format_shape(b, batch=False)}", "inputs")
        out = tuple(merged)
    return out


def format_shape(shape: Sequence[Dim], batch: bool = True, batch_size: int | None = None) -> str:
    """Keras's printed form: ``(None, 26, 26, 32)``; ``(1, 184, 32)`` with a fixed batch size."""
    first = "None" if batch_size is None else str(batch_size)
    dims = ([first] if batch else []) + ["None" if d is None else str(d) for d in shape]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"
