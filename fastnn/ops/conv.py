"""2-D convolution: ``ConvLayer``, its program row and engine steps.

Row dimensions: F_D0..F_D2 = input height, width, channels; F_D3, F_D4 = kernel height, width;
F_D5 = filters; F_D6, F_D7 = stride; F_D8..F_D11 = padding (top, bottom, left, right).
Parameters: ``weights`` (kh, kw, c, filters) at F_PW, ``bias`` (filters,) at F_PB. Float scratch
at F_FW for kernels.conv's IM2COL, PLANAR and WINOGRAD (patches, transforms and partial gradients:
nothing is allocated per batch). The engine asks :func:`kernels.conv.algorithm` which algorithm a batch takes, as the
layer path does, and runs its serial kernel, or, with several threads allowed, its parallel twin
from an object-mode block (a parallel kernel may only be called from Python, see
:func:`kernels.config.jit`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import kernels as K
from kernels import _borrow as KB
from kernels import config
from kernels import conv as KC
from kernels._checks import conv_geometry, positive_int
from kernels.config import jit

from .base import Initializer, Layer, image_batch
from .program import (
    F_D0,
    F_D1,
    F_D2,
    F_D3,
    F_D4,
    F_D5,
    F_D6,
    F_D7,
    F_D8,
    F_D9,
    F_D10,
    F_D11,
    F_FW,
    F_NEED_DX,
    F_PB,
    F_PW,
    Encoding,
)

KIND = 2


def _padding(padding: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for ``padding``: "valid" (none), "same" (stride 1 only; an even
    kernel's extra row/column of padding goes bottom/right, as PyTorch does) or what
    :func:`kernels._checks.conv_geometry` takes."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode != "same":
            raise ValueError(f"padding must be 'valid', 'same', an int or a tuple of ints; got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in PyTorch); got stride {stride}")
        (kh, kw) = kernel
        return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2, (kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    return conv_geometry(stride, padding)[1]


def channels_first_hint(shape: tuple[int, ...], name: str) -> str:
    """A hint when an image shape (h, w, c) looks like PyTorch's channels-first (c, h, w) -- few
    "rows", as many "columns" as "channels" -- else ""."""
    c, h, w = shape
    if c in (1, 2, 3, 4) and h == w and h >= 8:
        return (
            f": fastnn is channels-last, (height, width, channels), and {tuple(shape)} looks like PyTorch's "
            f"(channels, height, width); use {name} ({h}, {w}, {c}) and images x.transpose(0, 2, 3, 1)"
        )
    return ""


class ConvLayer(Layer):
    """2-D convolution (cross-correlation), channels last, with PyTorch's stride and zero padding.

    ``ConvLayer(input_shape=(h, w, d), kernel_shape=(m, n), layer_depth)`` as in seed 000 (stride 1,
    no padding): x (N, h, w, d) or one image (h, w, d) -> (N, h-m+1, w-n+1, layer_depth).
    ``stride``: an int or (sh, sw); ``padding``: an int, (ph, pw), "valid" (= 0) or "same" (stride
    1; the output keeps the input's height and width). Output height (h + 2*ph - m) // sh + 1.
    ``weights`` (m, n, d, layer_depth), ``bias`` (layer_depth,). The seed's two bias bugs are fixed:
    the bias is added once per output channel (not once per input channel) and its gradient is not
    multiplied by ``layer_depth``.
    """

    param_names = ("weights", "bias")

    def __init__(
        self,
        input_shape: Any,
        kernel_shape: Any,
        layer_depth: int,
        stride: Any = 1,
        padding: Any = 0,
        *,
        initializer: Initializer = None,
        rng: Any = None,
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
        self.stride = conv_geometry(stride, 0)[0]
        self.padding = _padding(padding, (m, n), self.stride)
        top, bottom, left, right = self.padding
        hp, wp = h + top + bottom, w + left + right
        hint = channels_first_hint((h, w, d), "input_shape")
        if m > hp or n > wp:
            padded = f" padded to {hp}x{wp}" if any(self.padding) else ""
            raise ValueError(f"kernel_shape {(m, n)} must fit inside input_shape {(h, w, d)}{padded}{hint}")
        if hint:
            warnings.warn(f"ConvLayer input_shape {(h, w, d)}{hint}", stacklevel=2)
        self.input_shape, self.kernel_shape, self.layer_depth, self.input_depth = (h, w, d), (m, n), depth, d
        oh, ow = (hp - m) // self.stride[0] + 1, (wp - n) // self.stride[1] + 1
        self.output_shape = (oh, ow, depth)
        self.initialize(((m, n, d, depth), (depth,)), m * n * d, m * n * depth, initializer, rng)

    def forward(self, x, training=False):
        xb, self._unbatched = image_batch(x, "ConvLayer")
        if xb.shape[1:] != self.input_shape:
            raise ValueError(f"ConvLayer input images must have shape {self.input_shape}; got {xb.shape[1:]}")
        self.input, self._xb = x, xb
        y = K.conv2d_forward(xb, self.weights, self.bias, self.stride, self.padding)
        self.output = y[0] if self._unbatched else y
        return self.output

    def backward(self, dy):
        dy = np.asarray(dy)
        dy = dy[None] if self._unbatched else dy
        dx, dw, db = K.conv2d_backward(self._xb, self.weights, dy, self.stride, self.padding)
        self.grads = {"weights": dw, "bias": db}
        return dx[0] if self._unbatched else dx

    def encode(self, shape):
        if shape != self.input_shape:
            raise ValueError(f"ConvLayer expects images {self.input_shape}; got {shape}")
        (h, w, c), (kh, kw) = self.input_shape, self.kernel_shape
        f = self.layer_depth
        # the jitted function's Python source: encoding a network must not start numba (the numpy path)
        scratch = KC.scratch_size(((h, w, c), (kh, kw), f, self.stride, self.padding), KC.MAX_PARTS)
        dims = (h, w, c, kh, kw, f, *self.stride, *self.padding)
        return Encoding(KIND, dims, self.output_shape, float_work=scratch)

    def config(self):
        cfg: dict[str, Any] = {
            "input_shape": list(self.input_shape),
            "kernel_shape": list(self.kernel_shape),
            "layer_depth": self.layer_depth,
        }
        if self.stride != (1, 1):
            cfg["stride"] = list(self.stride)
        if any(self.padding):
            cfg["padding"] = list(self.padding)
        return cfg


@jit
def layer_of(ops, i):
    """Row i as kernels.conv's ``layer``: ((h, w, c), (kh, kw), filters, stride, pads)."""
    image = (ops[i, F_D0], ops[i, F_D1], ops[i, F_D2])
    stride = (ops[i, F_D6], ops[i, F_D7])
    pads = (ops[i, F_D8], ops[i, F_D9], ops[i, F_D10], ops[i, F_D11])
    return image, (ops[i, F_D3], ops[i, F_D4]), ops[i, F_D5], stride, pads


@jit
def _scratch(program, i, work):
    """The layer's scratch, from its offset on (the kernels take the prefix their layer needs)."""
    return work.fwork[program.ops[i, F_FW] :]


# ``image_threads`` in the steps below: None for a network without image layers (typed away,
# nothing compiled), else how many threads IM2COL, PLANAR and WINOGRAD may split a batch over (1:
# this thread). More than one runs the parallel kernel from an object-mode block -- from Python, as
# parallel kernels must be called (config.jit) -- with BLAS held at one thread; the numbers are the
# same. The algorithm is kernels.conv.algorithm's choice, as on the layer path.


def _forward_parallel(algo, x, w, b, geometry, y, split):
    KC.forward_parallel(algo, x, w, b, geometry, y, split)


def _backward_parallel(algo, x, w, dy, geometry, outs, need_dx, split):
    KC.backward_parallel(algo, x, w, dy, geometry, outs, need_dx, split)


@jit
def _plan(image_threads, program, i, work, nb):
    """Row i for a batch of ``nb``: (layer, geometry, output size, algorithm, threads, scratch)."""
    layer = layer_of(program.ops, i)
    (h, wd, _), kernel, _, stride, pads = layer
    out_size = KC.output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], kernel, stride)
    algo = KC.algorithm(nb, layer)
    parts = image_threads if algo != KC.DIRECT else 1
    return layer, (kernel, stride, pads), out_size, algo, parts, _scratch(program, i, work)


@jit
def forward(image_threads, program, i, params, work, nb):
    if image_threads is None:
        return
    ops, offs = program.ops, program.offs
    layer, geometry, (oh, ow), algo, parts, scratch = _plan(image_threads, program, i, work, nb)
    (h, wd, c), kernel, f = layer[0], layer[1], layer[2]
    w = KB.shaped(params, ops[i, F_PW], (kernel[0], kernel[1], c, f))
    b = params[ops[i, F_PB] : ops[i, F_PB] + f]
    x = KB.shaped(work.acts, offs[i], (nb, h, wd, c))
    y = KB.shaped(work.acts, offs[i + 1], (nb, oh, ow, f))
    if parts > 1:
        with config.objmode():
            _forward_parallel(algo, x, w, b, geometry, y, (scratch, parts))
    else:
        KC.forward_serial(algo, x, w, b, geometry, y, scratch)


@jit
def backward(image_threads, program, i, state, work, nb):
    if image_threads is None:
        return
    ops, offs, grads = program.ops, program.offs, state.grads
    layer, geometry, (oh, ow), algo, parts, scratch = _plan(image_threads, program, i, work, nb)
    (h, wd, c), kernel, f = layer[0], layer[1], layer[2]
    pw, pb, need_dx = ops[i, F_PW], ops[i, F_PB], ops[i, F_NEED_DX] != 0
    w = KB.shaped(state.params, pw, (kernel[0], kernel[1], c, f))
    x = KB.shaped(work.acts, offs[i], (nb, h, wd, c))
    outs = (
        KB.shaped(work.dacts, offs[i], (nb, h, wd, c)),
        KB.shaped(grads, pw, (kernel[0], kernel[1], c, f)),
        grads[pb : pb + f],
    )
    dy = KB.shaped(work.dacts, offs[i + 1], (nb, oh, ow, f))
    if parts > 1:
        with config.objmode():
            _backward_parallel(algo, x, w, dy, geometry, outs, need_dx, (scratch, parts))
    else:
        KC.backward_serial(algo, x, w, dy, geometry, outs, need_dx, scratch)


__all__ = ["ConvLayer"]
