"""Layers that move values without arithmetic: ``FlattenLayer`` and ``DropoutLayer``, and the
engine's copy step they share with the linear activation. Rows have no dimensions of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._checks import real_scalar, result_dtype
from kernels.config import jit

from .base import Layer
from .program import F_NEED_DX, Encoding, NotCompiled

KIND = 5


class FlattenLayer(Layer):
    """(N, h, w, c) -> (N, h*w*c); one unbatched image (h, w, c) -> (1, h*w*c) as the seed's FlattenLayer."""

    def __init__(self, input_shape: Any = None, output_shape: Any = None) -> None:
        super().__init__()
        self.input_shape = input_shape
        if input_shape is not None:
            self.output_shape = (1, int(np.prod(input_shape)))
            if output_shape is not None and int(np.prod(output_shape)) != self.output_shape[1]:
                raise ValueError(
                    f"FlattenLayer output_shape {output_shape!r} must hold as many values as input_shape "
                    f"{input_shape!r} ({self.output_shape[1]})"
                )
        elif output_shape is not None:
            self.output_shape = output_shape

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.input = x
        self._in_shape = x.shape
        self.output = x.reshape(1, -1) if x.ndim == 3 else x.reshape(x.shape[0], -1)
        return self.output

    def backward(self, dy):
        return np.asarray(dy).reshape(self._in_shape)

    def encode(self, shape):
        return Encoding(KIND, (), (int(np.prod(shape)),))

    def config(self):
        return {}


class DropoutLayer(Layer):
    """Inverted dropout: while training, zero each element with probability ``rate`` and scale the
    rest by 1/(1-rate); at prediction time the identity. Random numbers come from ``self.rng``,
    which a Network sets to its own explicit generator (a standalone layer makes a private one)."""

    def __init__(self, rate: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        self.rate = real_scalar(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self._mask = None

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.input = x
        if not training or self.rate == 0.0:
            self._mask = None
            self.output = x
        else:
            keep = self.rng.random(x.shape) >= self.rate
            dtype = result_dtype(x)
            self._mask = keep.astype(dtype) / dtype.type(1.0 - self.rate)
            self.output = x * self._mask
        return self.output

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def encode(self, shape):
        if self.rate != 0.0:
            raise NotCompiled("DropoutLayer with rate > 0 is not compiled yet")
        return Encoding(KIND, (), shape)

    def config(self):
        return {"rate": self.rate}


@jit(inline=True)
def _copy(src, dst, n):
    (sb, so), (db, do) = src, dst
    so, do, n = np.uint64(so), np.uint64(do), np.uint64(n)
    for k in range(n):
        db[do + k] = sb[so + k]


@jit
def forward(program, i, params, work, nb):
    _copy((work.acts, program.offs[i]), (work.acts, program.offs[i + 1]), nb * program.sizes[i])


@jit
def backward(program, i, state, work, nb):
    if program.ops[i, F_NEED_DX]:
        _copy((work.dacts, program.offs[i + 1]), (work.dacts, program.offs[i]), nb * program.sizes[i])


__all__ = ["DropoutLayer", "FlattenLayer"]
