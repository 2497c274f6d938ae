"""Pooling: ``MaxPoolLayer`` and ``AvgPoolLayer`` over non-overlapping windows, and
``GlobalAvgPoolLayer`` over whole images; their program rows and engine steps.

Row dimensions: F_D0 = which pooling (``MAX``, ``AVG``, ``GLOBAL``), F_D1..F_D3 = input height,
width, channels, F_D4 = window size (the image for GLOBAL). Max pooling keeps each window's argmax
in the integer workspace at F_IW; the averages need none.
"""

from __future__ import annotations

import numpy as np

import kernels as K
from kernels import _borrow as KB
from kernels import config
from kernels import pool as KP
from kernels._checks import positive_int
from kernels.config import jit

from . import split
from .base import Layer, image_batch
from .program import F_D0, F_D1, F_D2, F_D3, F_D4, F_IW, F_NEED_DX, Encoding

KIND = 3
MAX, AVG, GLOBAL = range(3)


class _WindowPool(Layer):
    """Pooling over non-overlapping size x size windows: (N, h, w, c) -> (N, h/size, w/size, c), or
    one unbatched image. Subclasses say which kernels (``_pool``, ``_unpool``) and which row code."""

    code = MAX

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = positive_int(size, "size")

    def forward(self, x, training=False):
        xb, self._unbatched = image_batch(x, type(self).__name__)
        self.input = x
        self._in_shape = xb.shape
        y = self._pool(xb)
        self.output = y[0] if self._unbatched else y
        return self.output

    def backward(self, dy):
        dy = np.asarray(dy)
        dx = self._unpool(dy[None] if self._unbatched else dy)
        return dx[0] if self._unbatched else dx

    def encode(self, shape):
        size = self.size
        if len(shape) != 3 or shape[0] % size or shape[1] % size:
            raise ValueError(f"{type(self).__name__}({size}) needs (h, w, c) divisible by {size}; got {shape}")
        h, w, c = shape
        out = (h // size, w // size, c)
        return Encoding(KIND, (self.code, h, w, c, size), out, int_work=int(np.prod(out)) if self.code == MAX else 0)

    def config(self):
        return {"size": self.size}


class MaxPoolLayer(_WindowPool):
    """Max over non-overlapping size x size windows: (N, h, w, c) -> (N, h/size, w/size, c)."""

    code = MAX

    def _pool(self, xb):
        y, self._argmax = K.maxpool2d_forward(xb, self.size)
        return y

    def _unpool(self, dy):
        return K.maxpool2d_backward(self._argmax, dy, self._in_shape)


class AvgPoolLayer(_WindowPool):
    """Mean over non-overlapping size x size windows: (N, h, w, c) -> (N, h/size, w/size, c), as
    PyTorch's ``AvgPool2d(size)`` (channels last)."""

    code = AVG

    def _pool(self, xb):
        return K.avgpool2d_forward(xb, self.size)

    def _unpool(self, dy):
        return K.avgpool2d_backward(dy, self.size)


class GlobalAvgPoolLayer(Layer):
    """Mean over each image's whole plane: (N, h, w, c) -> (N, c), as PyTorch's
    ``AdaptiveAvgPool2d(1)`` followed by flattening; one unbatched image (h, w, c) -> (1, c)."""

    def forward(self, x, training=False):
        xb, _ = image_batch(x, "GlobalAvgPoolLayer")
        self.input = x
        self._plane = xb.shape[1:3]
        self.output = K.global_avgpool2d_forward(xb)
        return self.output

    def backward(self, dy):
        dx = K.global_avgpool2d_backward(np.asarray(dy), self._plane)
        return dx[0] if np.ndim(self.input) == 3 else dx

    def encode(self, shape):
        if len(shape) != 3:
            raise ValueError(f"GlobalAvgPoolLayer needs images (h, w, c); got {shape}")
        h, w, c = shape
        return Encoding(KIND, (GLOBAL, h, w, c), (c,))

    def config(self):
        return {}


def _maxpool_parallel(backward, images, pooled, arg, size, parts):
    KP.maxpool2d_parallel(backward, images, pooled, arg, size, parts)  # from Python, as parallel kernels are started


@jit
def _maxpool(image_threads, backward, arrays, size):
    """Max pooling's forward step (``arrays`` = (x, y, argmax)) or backward step ((dx, dy, argmax)), on
    image_threads threads when large enough (fastnn.ops.split)."""
    images, pooled, arg = arrays
    parts = split.parts(image_threads, images.size)
    if parts > 1:
        with config.objmode():
            _maxpool_parallel(backward, images, pooled, arg, size, parts)
    elif backward:
        KP._maxpool2d_backward_into(arg, pooled, images.shape[2], images)
    else:
        KP._maxpool2d_forward_into(images, size, pooled, arg)


@jit
def forward(image_threads, program, i, params, work, nb):
    if image_threads is None:  # a network without image layers: typed away, nothing compiled
        return
    ops, offs = program.ops, program.offs
    h, w, c, size = ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4]
    x = KB.shaped(work.acts, offs[i], (nb, h, w, c))
    if ops[i, F_D0] == GLOBAL:
        KP._global_avgpool2d_forward_into(x, KB.shaped(work.acts, offs[i + 1], (nb, c)))
        return
    shape = (nb, h // size, w // size, c)
    y = KB.shaped(work.acts, offs[i + 1], shape)
    if ops[i, F_D0] == AVG:
        KP._avgpool2d_forward_into(x, size, y)
        return
    _maxpool(image_threads, False, (x, y, KB.shaped(work.iwork, ops[i, F_IW] * nb, shape)), size)


@jit
def backward(image_threads, program, i, state, work, nb):
    if image_threads is None:
        return
    ops, offs = program.ops, program.offs
    if not ops[i, F_NEED_DX]:
        return
    h, w, c, size = ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4]
    dx = KB.shaped(work.dacts, offs[i], (nb, h, w, c))
    if ops[i, F_D0] == GLOBAL:
        KP._global_avgpool2d_backward_into(KB.shaped(work.dacts, offs[i + 1], (nb, c)), dx)
        return
    shape = (nb, h // size, w // size, c)
    dy = KB.shaped(work.dacts, offs[i + 1], shape)
    if ops[i, F_D0] == AVG:
        KP._avgpool2d_backward_into(dy, size, dx)
        return
    _maxpool(image_threads, True, (dx, dy, KB.shaped(work.iwork, ops[i, F_IW] * nb, shape)), size)


__all__ = ["AvgPoolLayer", "GlobalAvgPoolLayer", "MaxPoolLayer"]
