"""Layers that move values: ``FlattenLayer`` and ``DropoutLayer``, and the engine's copy step they
share with the linear activation.

Row dimensions: F_D0 = ``COPY`` or ``DROP``. Dropout's uniform numbers come from a counter-based
stream keyed by one draw from the network's generator per batch, in the same order as the layer
draws it, so the compiled loop and the layer path drop the same elements; each element's flag is
drawn where it is used (:func:`drop_span`, ~0.2 ns, not a generator call), so the backward pass
needs only the key (kept in the integer workspace at F_IW) and any number of threads draws the
same flags. The rate is in the program's alphas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels import _runs, config
from kernels import activations as KA
from kernels._checks import real_scalar, result_dtype
from kernels.config import jit

from . import split
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
        return Encoding(KIND, (COPY,), (int(np.prod(shape)),), copies=True)

    def config(self):
        return {}


class DropoutLayer(Layer):
    """Inverted dropout: while training, zero each element with probability ``rate`` and scale the
    rest by 1/(1-rate); at prediction time the identity. Each training forward takes one uniform from
    ``self.rng`` -- which a Network sets to its own explicit generator (a standalone layer makes a
    private one) -- as the key of the counter-based stream its keep flags come from (drop_span)."""

    def __init__(self, rate: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        self.rate = real_scalar(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self._key = None  # the stream key of the last training forward
        self._dtype = None  # and its mask's dtype (its input's: result_dtype)

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.input = x
        if not training or self.rate == 0.0:
            self._key = None
            self.output = x
        else:
            self._key, self._dtype = stream_key(self.rng.random()), result_dtype(x)
            self.output = self._dropped(x)
        return self.output

    def backward(self, dy):
        if self._key is None:
            return dy
        dy = np.asarray(dy)
        if result_dtype(dy) != self._dtype:  # dy * the forward's mask, as numpy promotes them
            return dy * self._dropped(np.ones(dy.shape, self._dtype))
        return self._dropped(dy)

    def _dropped(self, a):
        a = np.ascontiguousarray(a, dtype=result_dtype(a))
        out = np.empty_like(a)
        drop_span(self._key, self.rate, (a.reshape(-1), 0), (out.reshape(-1), 0), (0, a.size))
        return out

    def encode(self, shape):
        if self.rate == 0.0:
            return Encoding(KIND, (COPY,), shape, copies=True)
        return Encoding(KIND, (DROP,), shape, int_work=1, alpha=self.rate, random=True, elementwise=True)

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


@jit(inline=True)
def _uniform(base, k):
    """The k-th uniform of the stream keyed by ``base``: the top 53 bits of its k-th splitmix64 value
    over 2**53, as numpy's ``random()``."""
    z = base + (k + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@jit
def drop_span(key, rate, src, dst, span):
    """dst[k] = src[k] * mask_k for the elements k of ``span`` = (first, stop): mask_k = 1 / (1 - rate)
    in src's dtype (divided once: the bits of each kept flag divided alone) where the stream's k-th
    uniform is >= rate, else 0. ``src``, ``dst`` = (buffer, offset of element 0). The flags are drawn
    where they are used -- forward and backward alike, from the key alone -- so none is stored, and
    any cut of the elements into spans gives the same numbers."""
    (sb, so), (db, do) = src, dst
    t = sb.dtype.type
    kept, dropped = t(1.0) / t(1.0 - rate), t(0.0)
    in_place = KA.same_place(sb, so, db, do)
    base, so, do = np.uint64(key), np.uint64(so), np.uint64(do)  # unsigned: the loop vectorises
    if in_place:
        for k in range(np.uint64(span[0]), np.uint64(span[1])):
            db[do + k] *= kept if _uniform(base, k) >= rate else dropped
        return
    for k in range(np.uint64(span[0]), np.uint64(span[1])):
        db[do + k] = sb[so + k] * (kept if _uniform(base, k) >= rate else dropped)


@jit(parallel=True)
def drop_parallel(key, rate, src, dst, n, parts):
    """:func:`drop_span` over elements 0..n-1 cut into ``parts`` runs on numba's threads (the same
    numbers as one run). Call from Python."""
    for t in config.prange(parts):
        drop_span(key, rate, src, dst, _runs.run(t, parts, n, 16))


def _drop_parallel(key, rate, src, dst, n, parts):
    drop_parallel(key, rate, src, dst, n, parts)  # from Python, as parallel kernels are started


@jit(inline=True)
def _copy(src, dst, n):
    """n values from one slot of a workspace to another; none when the layer shares its input's
    slot (fastnn.plan.shared_slots): they are there already."""
    (sb, so), (db, do) = src, dst
    if KA.same_place(sb, so, db, do):
        return
    so, do, n = np.uint64(so), np.uint64(do), np.uint64(n)
    for k in range(n):
        db[do + k] = sb[so + k]


@jit
def _drop(image_threads, key, rate, src, dst, n):
    """drop_span over n elements, on image_threads threads when the step is large enough
    (``image_threads`` None: a network without image layers, one thread, typed away)."""
    if image_threads is not None:
        parts = split.parts(image_threads, n)
        if parts > 1:
            with config.objmode():
                _drop_parallel(key, rate, src, dst, n, parts)
            return
    drop_span(key, rate, src, dst, (0, n))


@jit
def forward(image_threads, program, i, work, nb, rng):
    """``rng`` None: inference (dropout is the identity); typed away when compiled. Dropout keeps its
    batch's stream key in the integer workspace for the backward pass."""
    offs, n = program.offs, nb * program.sizes[i]
    if rng is None or program.ops[i, F_D0] == COPY:
        _copy((work.acts, offs[i]), (work.acts, offs[i + 1]), n)
        return
    key = stream_key(rng.random())  # one draw per batch, as the layer
    work.iwork[program.ops[i, F_IW] * nb] = key
    _drop(image_threads, key, program.alphas[i], (work.acts, offs[i]), (work.acts, offs[i + 1]), n)


@jit
def backward(image_threads, program, i, state, work, nb):
    ops, offs, n = program.ops, program.offs, nb * program.sizes[i]
    if not ops[i, F_NEED_DX]:
        return
    if ops[i, F_D0] == COPY:
        _copy((work.dacts, offs[i + 1]), (work.dacts, offs[i]), n)
        return
    key = work.iwork[ops[i, F_IW] * nb]
    _drop(image_threads, key, program.alphas[i], (work.dacts, offs[i + 1]), (work.dacts, offs[i]), n)


__all__ = ["DropoutLayer", "FlattenLayer"]
