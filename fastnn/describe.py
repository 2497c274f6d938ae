"""What a network looks like to its user: per-sample shapes through the layers (which also finds a
layer that cannot take what the one before it gives, before anything compiles), Keras's
``summary()`` table and PyTorch's ``print(model)`` listing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .layers import ActivationLayer, ConvLayer, FCLayer, is_builtin
from .ops.program import NotCompiled


def own_input_shape(layer: Any) -> tuple[int, ...] | None:
    """The per-sample input shape a layer fixes by itself (a dense layer's features, a conv layer's
    image), else None."""
    if isinstance(layer, FCLayer):
        return (int(layer.weights.shape[0]),)
    if isinstance(layer, ConvLayer):
        return tuple(layer.input_shape)
    return None


def output_shapes(layers: Sequence[Any], shape: tuple[int, ...] | None) -> list[tuple[int, ...] | None]:
    """Each layer's per-sample output shape for per-sample inputs of ``shape`` (None: unknown, where
    the first layer does not fix it or a user's layer does not say). ValueError names the first
    layer, by index, that cannot take the shape the layers before it give."""
    shape = own_input_shape(layers[0]) if shape is None and layers else shape
    shapes: list[tuple[int, ...] | None] = []
    for i, layer in enumerate(layers):
        fixed = own_input_shape(layer)
        if shape is not None and fixed is not None and tuple(shape) != fixed:
            raise ValueError(_mismatch(i, layer, tuple(shape), fixed))
        shape = _output_shape(layer, shape, i)
        shapes.append(shape)
    return shapes


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def _mismatch(i: int, layer: Any, shape: tuple[int, ...], fixed: tuple[int, ...]) -> str:
    what = f"{_size(fixed)} features" if isinstance(layer, FCLayer) else f"images of shape {fixed}"
    hint = ""
    if isinstance(layer, FCLayer) and len(shape) > 1:
        hint = ": put a FlattenLayer() before it"
        hint += "" if _size(shape) == _size(fixed) else f" and give it input_size={_size(shape)}"
    elif isinstance(layer, FCLayer):
        hint = f": give it input_size={_size(shape)}"
    return f"layer {i} ({layer!r}) takes {what} per sample, but gets {shape} per sample{hint}"


def _output_shape(layer: Any, shape: tuple[int, ...] | None, i: int) -> tuple[int, ...] | None:
    if shape is not None and is_builtin(layer):
        try:
            return tuple(layer.encode(shape).output_shape)
        except NotCompiled:
            return shape if isinstance(layer, ActivationLayer) else None
        except ValueError as exc:
            raise ValueError(f"layer {i} ({layer!r}) cannot take {shape} per sample: {exc}") from None
    if isinstance(layer, FCLayer):
        return (int(layer.weights.shape[1]),)
    if isinstance(layer, ConvLayer):
        return tuple(layer.output_shape)
    return None


def _counts(layer: Any) -> tuple[int, int]:
    """(trained parameters, other state such as batch norm's running statistics)."""
    if not is_builtin(layer):
        return 0, 0
    return (
        sum(int(np.size(getattr(layer, n))) for n in layer.param_names),
        sum(int(np.size(getattr(layer, n))) for n in layer.buffer_names),
    )


def summary_lines(net: Any) -> list[str]:
    """Keras's ``model.summary()``: one row per layer with its output shape (batch first, None) and
    parameter count, then the totals."""
    try:
        shapes = output_shapes(net.layers, None)
    except ValueError:
        shapes = [None] * len(net.layers)
    rows = [("#", "layer", "output shape", "params")]
    trained = other = 0
    for i, (layer, shape) in enumerate(zip(net.layers, shapes, strict=True)):
        p, b = _counts(layer)
        trained, other = trained + p, other + b
        out = "?" if shape is None else str((None, *shape))
        rows.append((str(i), repr(layer), out, f"{p + b:,d}"))
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    lines = [f"Network: {len(net.layers)} layers, computes in {net.dtype or 'the dtype of its first data'}"]
    for r in rows:
        lines.append(f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}")
    lines.insert(2, "-" * len(lines[1]))
    lines.append("-" * len(lines[1]))
    lines.append(f"Total params: {trained + other:,d} (trainable {trained:,d}, non-trainable {other:,d})")
    return lines


def summary(net: Any, print_fn: Callable[[str], Any] | None = None) -> None:
    """Print :func:`summary_lines` line by line with ``print_fn`` (``print`` by default), as Keras does."""
    emit = print if print_fn is None else print_fn
    for line in summary_lines(net):
        emit(line)


def listing(net: Any) -> str:
    """PyTorch's ``print(model)``: the class, then each layer by index."""
    if not net.layers:
        return "Network()"
    return "Network(\n" + "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(net.layers)) + ")"
