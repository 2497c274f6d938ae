"""Seed 003's way of describing a network: a list of dicts (``input_dim``, ``output_dim``,
``activation``), initialised as its ``init_layers(nn_architecture, seed)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .layers import ActivationLayer, FCLayer


def layers_from_architecture(nn_architecture: Sequence[dict], seed: int = 99) -> list[Any]:
    """Dense and activation layers with ``W = randn(out, in) * 0.1``, ``b = randn(out, 1) * 0.1``
    drawn in the seed's order from ``np.random.seed(seed)``'s stream (stored transposed, as fastnn's
    dense layers hold (in, out))."""
    rs = np.random.RandomState(seed)
    layers: list[Any] = []
    previous = None
    for i, spec in enumerate(nn_architecture):
        try:
            n_in, n_out, act = spec["input_dim"], spec["output_dim"], spec["activation"]
        except (KeyError, TypeError):
            raise ValueError(
                f"layer {i} must be a dict with input_dim, output_dim and activation; got {spec!r}"
            ) from None
        if previous is not None and n_in != previous:
            raise ValueError(f"layer {i} input_dim must equal layer {i - 1} output_dim {previous}; got {n_in}")
        layer = FCLayer(n_in, n_out, initializer=np.zeros)
        layer.weights = np.ascontiguousarray((rs.randn(n_out, n_in) * 0.1).T)
        layer.bias = np.ascontiguousarray((rs.randn(n_out, 1) * 0.1).T)
        layers += [layer, ActivationLayer(act)]
        previous = n_out
    return layers
