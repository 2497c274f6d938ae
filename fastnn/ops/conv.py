"""2-D convolution: ``ConvLayer``, its program row and engine steps.

Row dimensions: F_D0..F_D2 = input height, width, channels; F_D3, F_D4 = kernel height, width;
F_D5 = filters. Parameters: ``weights`` (kh, kw, c, filters) at F_PW, ``bias`` (filters,) at F_PB.
The engine runs the serial kernels of :mod:`kernels.conv` (numba's parallel ones may only be
called from Python, see :func:`kernels.config.jit`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kernels as K
from kernels import conv as KC
from kernels._checks import positive_int
from kernels.config import jit

from .base import Initializer, Layer, image_batch
from .program import F_D0, F_D1, F_D2, F_D3, F_D4, F_D5, F_NEED_DX, F_PB, F_PW, Encoding

KIND = 2


class ConvLayer(Layer):
    """2-D convolution (cross-correlation), stride 1, no padding, channels last.

    ``ConvLayer(input_shape=(h, w, d), kernel_shape=(m, n), layer_depth)`` as in seed 000: x (N, h, w, d)
    or one image (h, w, d) -> (N, h-m+1, w-n+1, layer_depth). ``weights`` (m, n, d, layer_depth),
    ``bias`` (layer_depth,). The seed's two bias bugs are fixed: the bias is added once per output
    channel (not once per input channel) and its gradient is not multiplied by ``layer_depth``.
    """

    param_names = ("weights", "bias")

    def __init__(
        self, input_shape: Any, kernel_shape: Any, layer_depth: int, *, initializer: Initializer = None, rng: Any = None
    ) -> None:
        super().__init__()
        try:
            h, w, d = (positive_int(v, "input_shape") for v in input_shape)
            m, n = (positive_int(v, "kernel_shape") for v in kernel_shape)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"input_shape must be (height, width, depth) and kernel_shape (m, n) of positive ints; "
                f"got {input_shape!r}, {kernel_shape!r} ({exc})"
            ) from None
        depth = positive_int(layer_depth, "layer_depth")
        if m > h or n > w:
            raise ValueError(f"kernel_shape {(m, n)} must fit inside input_shape {(h, w, d)}")
        self.input_shape, self.kernel_shape, self.layer_depth, self.input_depth = (h, w, d), (m, n), depth, d
        self.output_shape = (h - m + 1, w - n + 1, depth)
        self.initialize(((m, n, d, depth), (depth,)), m * n * d, m * n * depth, initializer, rng)

    def forward(self, x, training=False):
        xb, self._unbatched = image_batch(x, "ConvLayer")
        if xb.shape[1:] != self.input_shape:
            raise ValueError(f"ConvLayer input images must have shape {self.input_shape}; got {xb.shape[1:]}")
        self.input, self._xb = x, xb
        y = K.conv2d_forward(xb, self.weights, self.bias)
        self.output = y[0] if self._unbatched else y
        return self.output

    def backward(self, dy):
        dy = np.asarray(dy)
        dx, dw, db = K.conv2d_backward(self._xb, self.weights, dy[None] if self._unbatched else dy)
        self.grads = {"weights": dw, "bias": db}
        return dx[0] if self._unbatched else dx

    def encode(self, shape):
        if shape != self.input_shape:
            raise ValueError(f"ConvLayer expects images {self.input_shape}; got {shape}")
        (h, w, c), (kh, kw) = self.input_shape, self.kernel_shape
        return Encoding(KIND, (h, w, c, kh, kw, self.layer_depth), self.output_shape)

    def config(self):
        return {
            "input_shape": list(self.input_shape),
            "kernel_shape": list(self.kernel_shape),
            "layer_depth": self.layer_depth,
        }


@jit
def forward(program, i, params, work, nb):
    ops, offs, acts = program.ops, program.offs, work.acts
    h, wd, c, kh, kw, f = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4], ops[i, F_D5]
    w = params[ops[i, F_PW] : ops[i, F_PW] + kh * kw * c * f].reshape(kh, kw, c, f)
    b = params[ops[i, F_PB] : ops[i, F_PB] + f]
    x = acts[offs[i] : offs[i] + nb * h * wd * c].reshape(nb, h, wd, c)
    y = acts[offs[i + 1] : offs[i + 1] + nb * program.sizes[i + 1]]
    if KC.use_gemm_path(nb, h, wd, c, kh, kw, f):
        y[:] = KC._conv2d_forward_gemm(x, w, b).reshape(-1)
    else:
        KC._conv2d_forward_serial_into(x, w, b, y.reshape(nb, h - kh + 1, wd - kw + 1, f))


@jit
def backward(program, i, state, work, nb):
    ops, offs, params, grads = program.ops, program.offs, state.params, state.grads
    h, wd, c, kh, kw, f = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4], ops[i, F_D5]
    pw, pb, need_dx = ops[i, F_PW], ops[i, F_PB], ops[i, F_NEED_DX] != 0
    w = params[pw : pw + kh * kw * c * f].reshape(kh, kw, c, f)
    gw = grads[pw : pw + w.size].reshape(kh, kw, c, f)
    x = work.acts[offs[i] : offs[i] + nb * h * wd * c].reshape(nb, h, wd, c)
    dx = work.dacts[offs[i] : offs[i] + x.size]
    dy = work.dacts[offs[i + 1] : offs[i + 1] + nb * program.sizes[i + 1]].reshape(nb, h - kh + 1, wd - kw + 1, f)
    if KC.use_gemm_path(nb, h, wd, c, kh, kw, f):
        gx, gw2, gb = KC._conv2d_backward_gemm(x, w, dy, need_dx)
        gw[:] = gw2
        grads[pb : pb + f] = gb
        if need_dx:
            dx[:] = gx.reshape(-1)
    else:
        KC._conv2d_backward_serial_into(x, w, dy, dx.reshape(nb, h, wd, c), gw, grads[pb : pb + f], need_dx)


__all__ = ["ConvLayer"]
