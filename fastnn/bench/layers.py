"""Bench rows for the layers real CNNs need: each layer's forward + backward (training mode) on a
batch of 64 MNIST-sized activations, against the same layer on the reference twins and PyTorch's
equivalent module (channels first, same dtype)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..layers import AvgPoolLayer, BatchNormLayer, ConvLayer, GlobalAvgPoolLayer
from ..refpath import reference_path
from .common import Row, torch

BATCH = 64

# name, fastnn layer, per-sample input shape (h, w, c), PyTorch module (given torch)
CASES: list[tuple[str, Callable[[], Any], tuple[int, int, int], Callable[[Any], Any]]] = [
    (
        "ConvLayer 28x28x8 * 3x3x16 stride 2 padding 1",
        lambda: ConvLayer((28, 28, 8), (3, 3), 16, 2, 1, rng=0),
        (28, 28, 8),
        lambda torch: torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
    ),
    (
        "ConvLayer 28x28x8 * 4x4x16 padding same",
        lambda: ConvLayer((28, 28, 8), (4, 4), 16, padding="same", rng=0),
        (28, 28, 8),
        lambda torch: torch.nn.Conv2d(8, 16, 4, padding="same"),
    ),
    ("AvgPoolLayer 2 on 24x24x16", lambda: AvgPoolLayer(2), (24, 24, 16), lambda torch: torch.nn.AvgPool2d(2)),
    (
        "GlobalAvgPoolLayer on 8x8x64",
        GlobalAvgPoolLayer,
        (8, 8, 64),
        lambda torch: torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()),
    ),
    (
        "BatchNormLayer on 24x24x16, training",
        lambda: BatchNormLayer(16),
        (24, 24, 16),
        lambda torch: torch.nn.BatchNorm2d(16),
    ),
]


def _inputs(shape: tuple[int, int, int], dtype: np.dtype, layer: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *shape)).astype(dtype)
    y = layer.forward(x, training=True)
    return x, rng.standard_normal(y.shape).astype(dtype)


def _fastnn(make_layer: Callable[[], Any], shape: tuple[int, int, int], dtype: np.dtype, reference: bool):
    def make():
        layer = make_layer().astype(dtype)
        x, dy = _inputs(shape, dtype, layer)

        def run():
            layer.forward(x, training=True)
            layer.backward(dy)

        if not reference:
            return run

        def on_twins():
            with reference_path():
                run()

        return on_twins

    return make


def _torch(module: Callable[[Any], Any], make_layer: Callable[[], Any], shape: tuple[int, int, int], dtype: np.dtype):
    def make():
        x, dy = _inputs(shape, dtype, make_layer().astype(dtype))
        tdt = torch.float64 if dtype == np.float64 else torch.float32
        mod = module(torch).to(tdt)
        xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
        dyt = torch.tensor(dy.transpose(0, 3, 1, 2).copy() if dy.ndim == 4 else dy)

        def run():
            out = mod(xt)
            out.backward(dyt)
            xt.grad = None
            mod.zero_grad(set_to_none=True)

        return run

    return make


def rows(dtype: np.dtype) -> list[Row]:
    """One bench row per case: fastnn, the reference path and PyTorch (when installed)."""
    return [
        Row(
            f"layer fwd+bwd {name} batch {BATCH}",
            str(dtype),
            _fastnn(make_layer, shape, dtype, reference=False),
            _fastnn(make_layer, shape, dtype, reference=True),
            _torch(module, make_layer, shape, dtype) if torch is not None else None,
        )
        for name, make_layer, shape, module in CASES
    ]
