"""Layers that move values: ``FlattenLayer`` and ``DropoutLayer``, and the engine's copy step they
share with the linear activation.

Row dimensions: F_D0 = ``COPY`` or ``DROP``. Dropout keeps each element's keep flag (0/1) in the
integer workspace at F_IW between forward and backward, its rate in the program's alphas. Its
uniform numbers come from a counter-based stream (:func:`keep_flags`) keyed by one draw from the
network's generator per batch, in the same order as the layer draws it, so the compiled loop and
the layer path drop the same elements (and the flags cost ~0.2 ns each, not a generator call).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._checks import real_scalar, result_dtype
from kernels.config import jit

from .base import Layer
from .program import F_D0, F_IW, F_NEED_DX, Encoding

KIND = 5
COPY, DROP = range(2)


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
        return Encoding(KIND, (COPY,), (int(np.prod(shape)),))

    def config(self):
        return {}


class DropoutLayer(Layer):
    """Inverted dropout: while training, zero each element with probability ``rate`` and scale the
    rest by 1/(1-rate); at prediction time the identity. Each training forward takes one uniform from
    ``self.rng`` -- which a Network sets to its own explicit generator (a standalone layer makes a
    private one) -- as the key of the counter-based stream its keep flags come from (keep_flags)."""

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
            keep = np.empty(x.size, dtype=np.int64)
            keep_flags(stream_key(self.rng.random()), keep, self.rate)
            dtype = result_dtype(x)
            self._mask = keep.reshape(x.shape).astype(dtype) / dtype.type(1.0 - self.rate)
            self.output = x * self._mask
        return self.output

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def encode(self, shape):
        if self.rate == 0.0:
            return Encoding(KIND, (COPY,), shape)
        return Encoding(KIND, (DROP,), shape, int_work=int(np.prod(shape)), alpha=self.rate, random=True)

    def config(self):
        return {"rate": self.rate}


# splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014): the
# k-th value of the stream keyed by ``key`` is the finaliser of key + (k + 1) * golden ratio.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@jit
def stream_key(u):
    """The stream key from one uniform draw u in [0, 1) (53 random bits): u * 2**53, exact."""
    return np.int64(u * 9007199254740992.0)


@jit
def keep_flags(key, keep, rate):
    """keep[k] = 1 where the k-th uniform of the stream keyed by ``key`` is >= rate, else 0 (the
    uniform: the top 53 bits of the k-th splitmix64 value over 2**53, as numpy's ``random()``)."""
    base = np.uint64(key)
    for k in range(keep.size):
        z = base + np.uint64(k + 1) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        keep[k] = 1 if np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0) >= rate else 0


@jit(inline=True)
def _copy(src, dst, n):
    (sb, so), (db, do) = src, dst
    so, do, n = np.uint64(so), np.uint64(do), np.uint64(n)
    for k in range(n):
        db[do + k] = sb[so + k]


@jit
def _drop(src, dst, keep, rate):
    """dst = src * mask with mask = keep / (1 - rate) in src's dtype (0 where dropped), as the layer
    (1 / (1 - rate) divided once: the same bits as dividing each flag)."""
    (sb, so), (db, do) = src, dst
    t = sb.dtype.type
    kept, dropped = t(1.0) / t(1.0 - rate), t(0.0)
    for k in range(keep.size):
        db[do + k] = sb[so + k] * (kept if keep[k] else dropped)


@jit
def forward(program, i, work, nb, rng):
    """``rng`` None: inference (dropout is the identity); typed away when compiled."""
    offs, n = program.offs, nb * program.sizes[i]
    if rng is None or program.ops[i, F_D0] == COPY:
        _copy((work.acts, offs[i]), (work.acts, offs[i + 1]), n)
        return
    rate = program.alphas[i]
    keep = work.iwork[program.ops[i, F_IW] * nb : program.ops[i, F_IW] * nb + n]
    keep_flags(stream_key(rng.random()), keep, rate)  # one draw per batch, as the layer
    _drop((work.acts, offs[i]), (work.acts, offs[i + 1]), keep, rate)


@jit
def backward(program, i, state, work, nb):
    ops, offs, n = program.ops, program.offs, nb * program.sizes[i]
    if not ops[i, F_NEED_DX]:
        return
    if ops[i, F_D0] == COPY:
        _copy((work.dacts, offs[i + 1]), (work.dacts, offs[i]), n)
        return
    keep = work.iwork[ops[i, F_IW] * nb : ops[i, F_IW] * nb + n]
    _drop((work.dacts, offs[i + 1]), (work.dacts, offs[i]), keep, program.alphas[i])


__all__ = ["DropoutLayer", "FlattenLayer"]
