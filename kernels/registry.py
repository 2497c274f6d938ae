"""The one list of kernels: each public kernel, its reference twin, and generators of valid inputs.

Tests, ``python -m fastnn validate`` and ``benchmarks/`` all iterate :data:`REGISTRY`, so a kernel
added here is validated and timed everywhere at once.

``make(rng, dtype)`` draws one random valid call ``(args, kwargs)``: random shapes with the edge
cases mixed in (1x1 kernels, kernels as large as the input, batch 1, ties, clipped values).
``bench`` lists named fixed-shape calls (the seeds' shapes and larger ones) for timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kernels as K
from kernels import reference as R

Call = tuple[tuple[Any, ...], dict[str, Any]]
Maker = Callable[[np.random.Generator, np.dtype], Call]


@dataclass(frozen=True)
class Entry:
    name: str  # the kernel's name, or "kernel/variant" for one more way of calling it (a boundary, say)
    kernel: Callable[..., Any]
    reference: Callable[..., Any]
    make: Maker
    bench: dict[str, Maker] = field(default_factory=dict)
    inplace: tuple[int, ...] = ()  # positions of arguments the call updates in place

    @property
    def kernel_name(self) -> str:
        return self.name.split("/")[0]


def _normal(rng: np.random.Generator, shape, dtype, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _dim(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _any_shape(rng: np.random.Generator, max_ndim: int = 3, min_ndim: int = 1) -> tuple[int, ...]:
    ndim = _dim(rng, min_ndim, max_ndim)
    return tuple(_dim(rng, 1, 9) for _ in range(ndim))


# --------------------------------------------------------------------------- dense


def _make_matmul(rng, dtype):
    big = rng.random() < 0.3  # past the loop/BLAS switch
    m, k, n = (_dim(rng, 20, 70) for _ in range(3)) if big else (_dim(rng, 1, 9) for _ in range(3))
    return (_normal(rng, (m, k), dtype), _normal(rng, (k, n), dtype)), {}


def _make_dense(rng, dtype):
    (x, w), _ = _make_matmul(rng, dtype)
    b_shape = (w.shape[1],) if rng.random() < 0.5 else (1, w.shape[1])
    return (x, w, _normal(rng, b_shape, dtype)), {}


def _make_dense_backward(rng, dtype):
    (x, w), _ = _make_matmul(rng, dtype)
    return (x, w, _normal(rng, (x.shape[0], w.shape[1]), dtype)), {}


def _dense_at(n, i, o):
    def make(rng, dtype):
        return (_normal(rng, (n, i), dtype), _normal(rng, (i, o), dtype), _normal(rng, (o,), dtype)), {}

    return make


def _dense_backward_at(n, i, o):
    def make(rng, dtype):
        return (_normal(rng, (n, i), dtype), _normal(rng, (i, o), dtype), _normal(rng, (n, o), dtype)), {}

    return make


# --------------------------------------------------------------------------- convolution


def _single_channel_maker(boundary: str) -> Maker:
    """Random calls with ``boundary``: every mode, kernels of 1x1, as large as the image, larger than
    it (scipy swaps the operands in valid mode; "wrap"/"symm" then extend the image more than once),
    and for "fill" a random fill value (zero for the plain entries)."""

    def make(rng, dtype):
        h, w = _dim(rng, 1, 12), _dim(rng, 1, 12)
        mode = ("valid", "full", "same")[_dim(rng, 0, 2)]
        pick = rng.random()
        if pick < 0.15:
            kh, kw = 1, 1
        elif pick < 0.3:
            kh, kw = h, w
        elif pick < 0.45 and mode == "valid":
            kh, kw = h + _dim(rng, 0, 3), w + _dim(rng, 0, 3)
        elif pick < 0.45:
            kh, kw = h + _dim(rng, 0, 9), w + _dim(rng, 0, 9)
        elif mode == "valid":
            kh, kw = _dim(rng, 1, h), _dim(rng, 1, w)
        else:
            kh, kw = _dim(rng, 1, 7), _dim(rng, 1, 7)
        kwargs: dict[str, Any] = {"mode": mode}
        if boundary != "zero":
            kwargs["boundary"] = boundary
        if boundary == "fill":
            kwargs["fillvalue"] = float(rng.standard_normal() * 3)
        return (_normal(rng, (h, w), dtype), _normal(rng, (kh, kw), dtype)), kwargs

    return make


def _single_channel_at(h, kh, mode, boundary="fill", fillvalue=0.0):
    def make(rng, dtype):
        kwargs = {"mode": mode, "boundary": boundary, "fillvalue": fillvalue}
        return (_normal(rng, (h, h), dtype), _normal(rng, (kh, kh), dtype)), kwargs

    return make


def _conv_shapes(rng):
    n, h, w, c, f = _dim(rng, 1, 3), _dim(rng, 1, 9), _dim(rng, 1, 9), _dim(rng, 1, 3), _dim(rng, 1, 4)
    pick = rng.random()
    kh, kw = (1, 1) if pick < 0.15 else (h, w) if pick < 0.3 else (_dim(rng, 1, h), _dim(rng, 1, w))
    if rng.random() < 0.15:  # large enough for the im2col path at every stride and padding drawn
        n, h, w, c, f, kh, kw = 20, 20, 20, 3, 8, 3, 3
    return n, h, w, c, f, kh, kw


def _conv_geometry(rng, h, w, kh, kw):
    """Half the calls keep the seed's stride 1 without padding; the rest draw a stride and a
    padding (an int, a pair or four sides) as PyTorch allows. Returns (kwargs, output height, width)."""
    if rng.random() < 0.5:
        return {}, h - kh + 1, w - kw + 1
    stride = (_dim(rng, 1, 3), _dim(rng, 1, 3))
    pick = rng.random()
    pads = (_dim(rng, 0, 2),) * 4 if pick < 0.3 else tuple(_dim(rng, 0, 2) for _ in range(4))
    padding = pads[0] if pick < 0.3 else (pads if pick < 0.7 else (pads[0], pads[2]))
    if isinstance(padding, tuple) and len(padding) == 2:
        pads = (padding[0], padding[0], padding[1], padding[1])
    oh = (h + pads[0] + pads[1] - kh) // stride[0] + 1
    ow = (w + pads[2] + pads[3] - kw) // stride[1] + 1
    return {"stride": stride, "padding": padding}, oh, ow


def _make_conv_forward(rng, dtype):
    n, h, w, c, f, kh, kw = _conv_shapes(rng)
    kwargs, _, _ = _conv_geometry(rng, h, w, kh, kw)
    x, wt = _normal(rng, (n, h, w, c), dtype), _normal(rng, (kh, kw, c, f), dtype)
    return (x, wt, _normal(rng, (f,), dtype)), kwargs


def _make_conv_backward(rng, dtype):
    n, h, w, c, f, kh, kw = _conv_shapes(rng)
    kwargs, oh, ow = _conv_geometry(rng, h, w, kh, kw)
    dy = _normal(rng, (n, oh, ow, f), dtype)
    return (_normal(rng, (n, h, w, c), dtype), _normal(rng, (kh, kw, c, f), dtype), dy), kwargs


def _conv_at(n, h, c, k, f, backward, algorithm=None):
    def make(rng, dtype):
        x, w = _normal(rng, (n, h, h, c), dtype), _normal(rng, (k, k, c, f), dtype)
        last = _normal(rng, (n, h - k + 1, h - k + 1, f), dtype) if backward else _normal(rng, (f,), dtype)
        return (x, w, last), ({"algorithm": algorithm} if algorithm else {})

    return make


def _forcing(make: Maker, algorithm: str) -> Maker:
    """``make``'s calls with ``algorithm`` forced (kernels.conv's DIRECT, IM2COL): every algorithm
    meets its twin at every shape, stride and padding, not only where the chooser sends it."""

    def forced(rng, dtype):
        args, kwargs = make(rng, dtype)
        return args, {**kwargs, "algorithm": algorithm}

    return forced


def _make_winograd(backward: bool) -> Maker:
    """WINOGRAD's calls: 3x3 kernels at stride 1, odd and even sizes, padding up to 2 on any side."""

    def make(rng, dtype):
        n, c, f = _dim(rng, 1, 3), _dim(rng, 1, 5), _dim(rng, 1, 5)
        pads = (0, 0, 0, 0) if rng.random() < 0.3 else tuple(_dim(rng, 0, 2) for _ in range(4))
        h, w = _dim(rng, max(1, 3 - pads[0] - pads[1]), 11), _dim(rng, max(1, 3 - pads[2] - pads[3]), 11)
        x, wt = _normal(rng, (n, h, w, c), dtype), _normal(rng, (3, 3, c, f), dtype)
        oh, ow = h + pads[0] + pads[1] - 2, w + pads[2] + pads[3] - 2
        last = _normal(rng, (n, oh, ow, f), dtype) if backward else _normal(rng, (f,), dtype)
        return (x, wt, last), {"padding": pads, "algorithm": "winograd"}

    return make


def _make_planar(backward: bool) -> Maker:
    """PLANAR's calls: one input channel, stride 1, no padding, any number of filters."""

    def make(rng, dtype):
        n, h, w, _, f, kh, kw = _conv_shapes(rng)
        x, wt = _normal(rng, (n, h, w, 1), dtype), _normal(rng, (kh, kw, 1, f), dtype)
        last = _normal(rng, (n, h - kh + 1, w - kw + 1, f), dtype) if backward else _normal(rng, (f,), dtype)
        return (x, wt, last), {"algorithm": "planar"}

    return make


# --------------------------------------------------------------------------- pooling


def _pool_input(rng, dtype, n, h, w, c, size):
    x = _normal(rng, (n, h * size, w * size, c), dtype)
    if rng.random() < 0.3:  # few distinct values: ties inside windows
        x = np.round(x).astype(dtype)
    return x


def _make_pool_forward(rng, dtype):
    size = _dim(rng, 1, 3)
    return (_pool_input(rng, dtype, _dim(rng, 1, 3), _dim(rng, 1, 4), _dim(rng, 1, 4), _dim(rng, 1, 4), size), size), {}


def _make_pool_backward(rng, dtype):
    (x, size), _ = _make_pool_forward(rng, dtype)
    y, arg = R.maxpool2d_forward(x, size)
    return (arg, _normal(rng, y.shape, dtype), x.shape), {}


def _pool_at(n, h, c, size, backward):
    def make(rng, dtype):
        x = _normal(rng, (n, h, h, c), dtype)
        if not backward:
            return (x, size), {}
        y, arg = R.maxpool2d_forward(x, size)
        return (arg, _normal(rng, y.shape, dtype), x.shape), {}

    return make


def _make_avgpool_backward(rng, dtype):
    (x, size), _ = _make_pool_forward(rng, dtype)
    return (_normal(rng, (x.shape[0], x.shape[1] // size, x.shape[2] // size, x.shape[3]), dtype), size), {}


def _avgpool_at(n, h, c, size, backward):
    def make(rng, dtype):
        shape = (n, h // size, h // size, c) if backward else (n, h, h, c)
        return (_normal(rng, shape, dtype), size), {}

    return make


def _make_global_pool_forward(rng, dtype):
    return (_pool_input(rng, dtype, _dim(rng, 1, 3), _dim(rng, 1, 6), _dim(rng, 1, 6), _dim(rng, 1, 4), 1),), {}


def _make_global_pool_backward(rng, dtype):
    n, c = _dim(rng, 1, 3), _dim(rng, 1, 4)
    return (_normal(rng, (n, c), dtype), (_dim(rng, 1, 6), _dim(rng, 1, 6))), {}


def _global_pool_at(n, h, c, backward):
    def make(rng, dtype):
        return ((_normal(rng, (n, c), dtype), (h, h)) if backward else (_normal(rng, (n, h, h, c), dtype),)), {}

    return make


# --------------------------------------------------------------------------- batch norm


def _norm_shape(rng):
    """(N, C), or (N, H, W, C) images; at least 2 values per channel."""
    c = _dim(rng, 1, 5)
    if rng.random() < 0.5:
        return (_dim(rng, 2, 9), c)
    return (_dim(rng, 1, 3), _dim(rng, 1, 4), _dim(rng, 2, 4), c)


def _norm_params(rng, dtype, c):
    gamma = _normal(rng, (c,), dtype)
    var = np.abs(_normal(rng, (c,), dtype)) + dtype.type(0.1)
    return gamma, _normal(rng, (c,), dtype), _normal(rng, (c,), dtype), var.astype(dtype)


def _make_bn_forward(rng, dtype):
    shape = _norm_shape(rng)
    gamma, beta, _, _ = _norm_params(rng, np.dtype(dtype), shape[-1])
    return (_normal(rng, shape, dtype, scale=3.0), gamma, beta), {"eps": float(rng.choice([1e-5, 1e-3]))}


def _make_bn_backward(rng, dtype):
    (x, gamma, _), kw = _make_bn_forward(rng, dtype)
    _, mean, var = R.batchnorm_forward(x, gamma, gamma, **kw)
    return (x, gamma, mean, var, _normal(rng, x.shape, dtype)), kw


def _make_bn_inference(rng, dtype):
    shape = _norm_shape(rng)
    gamma, beta, mean, var = _norm_params(rng, np.dtype(dtype), shape[-1])
    return (_normal(rng, shape, dtype), gamma, beta, mean, var), {}


def _make_bn_inference_backward(rng, dtype):
    shape = _norm_shape(rng)
    gamma, _, mean, var = _norm_params(rng, np.dtype(dtype), shape[-1])
    return (_normal(rng, shape, dtype), _normal(rng, shape, dtype), gamma, mean, var), {}


def _make_bn_running(rng, dtype):
    c = _dim(rng, 1, 6)
    gamma, beta, mean, var = _norm_params(rng, np.dtype(dtype), c)
    return (gamma.copy(), np.abs(beta), mean, var, float(rng.uniform(0, 1)), _dim(rng, 2, 50)), {}


def _bn_at(n, h, c, kind):
    def make(rng, dtype):
        x = _normal(rng, (n, h, h, c), dtype)
        gamma, beta, mean, var = _norm_params(rng, np.dtype(dtype), c)
        if kind == "forward":
            return (x, gamma, beta), {}
        if kind == "inference":
            return (x, gamma, beta, mean, var), {}
        if kind == "inference_backward":
            return (x, _normal(rng, x.shape, dtype), gamma, mean, var), {}
        if kind == "running":
            return (gamma.copy(), np.abs(beta), mean, var, 0.1, n * h * h), {}
        return (x, gamma, mean, var, _normal(rng, x.shape, dtype)), {}

    return make


# --------------------------------------------------------------------------- activations


def _make_unary(rng, dtype, min_ndim=1):
    return (_normal(rng, _any_shape(rng, min_ndim=min_ndim), dtype, scale=3.0),), {}


def _make_backward_of(forward, **fixed):
    def make(rng, dtype):
        (x,), _ = _make_unary(rng, dtype)
        y = forward(x, **fixed)
        return (y, _normal(rng, x.shape, dtype)), dict(fixed)

    return make


def _make_leaky(rng, dtype):
    (x,), _ = _make_unary(rng, dtype)
    return (x,), {"alpha": float(rng.uniform(0, 0.3))}


def _make_leaky_backward(rng, dtype):
    (x,), kw = _make_leaky(rng, dtype)
    return (R.leaky_relu(x, **kw), _normal(rng, x.shape, dtype)), kw


def _unary_at(size):
    def make(rng, dtype):
        return (_normal(rng, (size,), dtype, scale=3.0),), {}

    return make


def _backward_at(size, forward):
    def make(rng, dtype):
        return (forward(_normal(rng, (size,), dtype, scale=3.0)), _normal(rng, (size,), dtype)), {}

    return make


# --------------------------------------------------------------------------- losses


def _make_regression(rng, dtype):
    shape = _any_shape(rng, max_ndim=2)
    return (_normal(rng, shape, dtype), _normal(rng, shape, dtype)), {}


def _make_binary(rng, dtype):
    shape = _any_shape(rng, max_ndim=2)
    y_true = (rng.random(shape) < 0.5).astype(dtype)
    y_pred = rng.random(shape).astype(dtype)
    y_pred.flat[rng.integers(0, y_pred.size)] = 1.0 if rng.random() < 0.5 else 0.0  # clipped
    return (y_true, y_pred), {}


def _make_softmax_ce(rng, dtype):
    n, k = _dim(rng, 1, 9), _dim(rng, 1, 9)
    return (_normal(rng, (n, k), dtype, scale=3.0), rng.integers(0, k, size=n)), {}


def _loss_at(n, make_pair):
    def make(rng, dtype):
        return make_pair(rng, dtype, n), {}

    return make


def _regression_pair(rng, dtype, n):
    return _normal(rng, (n, 1), dtype), _normal(rng, (n, 1), dtype)


def _binary_pair(rng, dtype, n):
    return (rng.random((n, 1)) < 0.5).astype(dtype), rng.random((n, 1)).astype(dtype)


def _softmax_ce_at(n, k):
    def make(rng, dtype):
        return (_normal(rng, (n, k), dtype), rng.integers(0, k, size=n)), {}

    return make


# --------------------------------------------------------------------------- optimizer steps


def _make_step(states: int, positive_states: bool = False, adam: bool = False):
    def make(rng, dtype, shape=None):
        shape = shape or _any_shape(rng)
        param, grad = _normal(rng, shape, dtype), _normal(rng, shape, dtype)
        state = [
            np.abs(_normal(rng, shape, dtype)) if positive_states or (adam and i == 1) else _normal(rng, shape, dtype)
            for i in range(states)
        ]
        lr = float(rng.uniform(1e-4, 0.5))
        if adam:
            return (param, grad, *state, _dim(rng, 1, 50), lr), {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
        if states == 0:
            return (param, grad, lr), {}
        if positive_states:
            return (param, grad, *state, lr), {"rho": float(rng.uniform(0, 0.99)), "eps": 1e-8}
        return (param, grad, *state, lr, float(rng.uniform(0, 0.99))), {}

    return make


def _outer_step(rng, dtype, shape=None):
    m, n = shape or (_dim(rng, 1, 40), _dim(rng, 1, 40))
    x = _normal(rng, m, dtype)
    x[rng.random(m) < 0.4] = 0  # rows the kernel skips (an image's blank pixels, ReLU's zeros)
    return (_normal(rng, (m, n), dtype), x, _normal(rng, n, dtype), float(rng.uniform(1e-4, 0.5))), {}


def _outer_step_at(m, n):
    def make(rng, dtype):
        return _outer_step(rng, dtype, (m, n))

    return make


def _step_at(size, maker):
    def make(rng, dtype):
        return maker(rng, dtype, shape=(size,))

    return make


_sgd, _momentum, _rmsprop, _adam = (
    _make_step(0),
    _make_step(1),
    _make_step(1, positive_states=True),
    _make_step(2, adam=True),
)


# --------------------------------------------------------------------------- the registry

_SIZES = ((8, 3), (28, 5), (256, 7))
_SINGLE = {f"{h}x{h}*{k}x{k} {mode}": _single_channel_at(h, k, mode) for h, k in _SIZES for mode in ("valid", "full")}
# The boundary variants at the sizes where they differ from zero fill: "same" and "full".
_BOUNDARY_BENCH = {
    boundary: {
        f"{h}x{h}*{k}x{k} {mode}": _single_channel_at(h, k, mode, *args) for h, k in _SIZES for mode in ("same", "full")
    }
    for boundary, args in (("fill", ("fill", 0.5)), ("wrap", ("wrap",)), ("symm", ("symm",)))
}
_SINGLE_CHANNEL = tuple(
    Entry(f"{name}/{boundary}", getattr(K, name), getattr(R, name), _single_channel_maker(boundary), bench)
    for name in ("correlate2d", "convolve2d")
    for boundary, bench in _BOUNDARY_BENCH.items()
)
_ELEMENTS = 100_000

REGISTRY: tuple[Entry, ...] = (
    Entry("matmul", K.matmul, R.matmul, _make_matmul),
    Entry(
        "dense_forward",
        K.dense_forward,
        R.dense_forward,
        _make_dense,
        {"1x784->128": _dense_at(1, 784, 128), "256x784->128": _dense_at(256, 784, 128), "1x2->3": _dense_at(1, 2, 3)},
    ),
    Entry(
        "dense_backward",
        K.dense_backward,
        R.dense_backward,
        _make_dense_backward,
        {
            "1x784->128": _dense_backward_at(1, 784, 128),
            "256x784->128": _dense_backward_at(256, 784, 128),
            "1x2->3": _dense_backward_at(1, 2, 3),
        },
    ),
    Entry("correlate2d", K.correlate2d, R.correlate2d, _single_channel_maker("zero"), _SINGLE),
    Entry("convolve2d", K.convolve2d, R.convolve2d, _single_channel_maker("zero"), _SINGLE),
    *_SINGLE_CHANNEL,
    Entry(
        "conv2d_forward",
        K.conv2d_forward,
        R.conv2d_forward,
        _make_conv_forward,
        {"1x8x8x1*3x3x8": _conv_at(1, 8, 1, 3, 8, False), "64x26x26x8*3x3x16": _conv_at(64, 26, 8, 3, 16, False)},
    ),
    Entry(
        "conv2d_backward",
        K.conv2d_backward,
        R.conv2d_backward,
        _make_conv_backward,
        {"1x8x8x1*3x3x8": _conv_at(1, 8, 1, 3, 8, True), "64x26x26x8*3x3x16": _conv_at(64, 26, 8, 3, 16, True)},
    ),
    *(
        Entry(
            f"{name}/{algorithm}",
            getattr(K, name),
            getattr(R, name),
            _forcing(make, algorithm),
            {"64x26x26x8*3x3x16": _conv_at(64, 26, 8, 3, 16, backward, algorithm)},
        )
        for name, make, backward in (
            ("conv2d_forward", _make_conv_forward, False),
            ("conv2d_backward", _make_conv_backward, True),
        )
        for algorithm in ("direct", "im2col")
    ),
    *(
        Entry(
            f"{name}/{algorithm}",
            getattr(K, name),
            getattr(R, name),
            make(backward),
            {label: _conv_at(*shape, backward, algorithm)},
        )
        for algorithm, make, label, shape in (
            ("planar", _make_planar, "64x28x28x1*5x5x6", (64, 28, 1, 5, 6)),
            ("winograd", _make_winograd, "64x26x26x32*3x3x64", (64, 26, 32, 3, 64)),
        )
        for name, backward in (("conv2d_forward", False), ("conv2d_backward", True))
    ),
    Entry(
        "maxpool2d_forward",
        K.maxpool2d_forward,
        R.maxpool2d_forward,
        _make_pool_forward,
        {"64x24x24x16/2": _pool_at(64, 24, 16, 2, False)},
    ),
    Entry(
        "maxpool2d_backward",
        K.maxpool2d_backward,
        R.maxpool2d_backward,
        _make_pool_backward,
        {"64x24x24x16/2": _pool_at(64, 24, 16, 2, True)},
    ),
    Entry(
        "avgpool2d_forward",
        K.avgpool2d_forward,
        R.avgpool2d_forward,
        _make_pool_forward,
        {"64x24x24x16/2": _avgpool_at(64, 24, 16, 2, False)},
    ),
    Entry(
        "avgpool2d_backward",
        K.avgpool2d_backward,
        R.avgpool2d_backward,
        _make_avgpool_backward,
        {"64x24x24x16/2": _avgpool_at(64, 24, 16, 2, True)},
    ),
    Entry(
        "global_avgpool2d_forward",
        K.global_avgpool2d_forward,
        R.global_avgpool2d_forward,
        _make_global_pool_forward,
        {"64x8x8x64": _global_pool_at(64, 8, 64, False)},
    ),
    Entry(
        "global_avgpool2d_backward",
        K.global_avgpool2d_backward,
        R.global_avgpool2d_backward,
        _make_global_pool_backward,
        {"64x8x8x64": _global_pool_at(64, 8, 64, True)},
    ),
    Entry(
        "batchnorm_forward",
        K.batchnorm_forward,
        R.batchnorm_forward,
        _make_bn_forward,
        {"64x24x24x16": _bn_at(64, 24, 16, "forward")},
    ),
    Entry(
        "batchnorm_backward",
        K.batchnorm_backward,
        R.batchnorm_backward,
        _make_bn_backward,
        {"64x24x24x16": _bn_at(64, 24, 16, "backward")},
    ),
    Entry(
        "batchnorm_inference",
        K.batchnorm_inference,
        R.batchnorm_inference,
        _make_bn_inference,
        {"64x24x24x16": _bn_at(64, 24, 16, "inference")},
    ),
    Entry(
        "batchnorm_inference_backward",
        K.batchnorm_inference_backward,
        R.batchnorm_inference_backward,
        _make_bn_inference_backward,
        {"64x24x24x16": _bn_at(64, 24, 16, "inference_backward")},
    ),
    Entry(
        "batchnorm_update_running",
        K.batchnorm_update_running,
        R.batchnorm_update_running,
        _make_bn_running,
        {"C=256": _bn_at(1, 16, 256, "running")},
        inplace=(0, 1),
    ),
    Entry("tanh", K.tanh, R.tanh, _make_unary, {"1e5": _unary_at(_ELEMENTS)}),
    Entry(
        "tanh_backward",
        K.tanh_backward,
        R.tanh_backward,
        _make_backward_of(R.tanh),
        {"1e5": _backward_at(_ELEMENTS, R.tanh)},
    ),
    Entry("sigmoid", K.sigmoid, R.sigmoid, _make_unary, {"1e5": _unary_at(_ELEMENTS)}),
    Entry(
        "sigmoid_backward",
        K.sigmoid_backward,
        R.sigmoid_backward,
        _make_backward_of(R.sigmoid),
        {"1e5": _backward_at(_ELEMENTS, R.sigmoid)},
    ),
    Entry("relu", K.relu, R.relu, _make_unary, {"1e5": _unary_at(_ELEMENTS)}),
    Entry(
        "relu_backward",
        K.relu_backward,
        R.relu_backward,
        _make_backward_of(R.relu),
        {"1e5": _backward_at(_ELEMENTS, R.relu)},
    ),
    Entry("leaky_relu", K.leaky_relu, R.leaky_relu, _make_leaky, {"1e5": _unary_at(_ELEMENTS)}),
    Entry(
        "leaky_relu_backward",
        K.leaky_relu_backward,
        R.leaky_relu_backward,
        _make_leaky_backward,
        {"1e5": _backward_at(_ELEMENTS, R.leaky_relu)},
    ),
    Entry(
        "softmax", K.softmax, R.softmax, _make_unary, {"1000x10": lambda rng, dt: ((_normal(rng, (1000, 10), dt),), {})}
    ),
    Entry(
        "softmax_backward",
        K.softmax_backward,
        R.softmax_backward,
        _make_backward_of(R.softmax),
        {"1000x10": lambda rng, dt: ((R.softmax(_normal(rng, (1000, 10), dt)), _normal(rng, (1000, 10), dt)), {})},
    ),
    Entry(
        "mse",
        K.mse,
        R.mse,
        _make_regression,
        {"1x1": _loss_at(1, _regression_pair), "1e5": _loss_at(_ELEMENTS, _regression_pair)},
    ),
    Entry(
        "mse_backward",
        K.mse_backward,
        R.mse_backward,
        _make_regression,
        {"1x1": _loss_at(1, _regression_pair), "1e5": _loss_at(_ELEMENTS, _regression_pair)},
    ),
    Entry(
        "binary_cross_entropy",
        K.binary_cross_entropy,
        R.binary_cross_entropy,
        _make_binary,
        {"1e5": _loss_at(_ELEMENTS, _binary_pair)},
    ),
    Entry(
        "binary_cross_entropy_backward",
        K.binary_cross_entropy_backward,
        R.binary_cross_entropy_backward,
        _make_binary,
        {"1e5": _loss_at(_ELEMENTS, _binary_pair)},
    ),
    Entry(
        "softmax_cross_entropy",
        K.softmax_cross_entropy,
        R.softmax_cross_entropy,
        _make_softmax_ce,
        {"1x10": _softmax_ce_at(1, 10), "256x10": _softmax_ce_at(256, 10)},
    ),
    Entry("sgd_step", K.sgd_step, R.sgd_step, _sgd, {"1e5": _step_at(_ELEMENTS, _sgd)}, inplace=(0,)),
    Entry(
        "outer_sgd_step",
        K.outer_sgd_step,
        R.outer_sgd_step,
        _outer_step,
        {"784x256": _outer_step_at(784, 256)},
        inplace=(0,),
    ),
    Entry(
        "momentum_step",
        K.momentum_step,
        R.momentum_step,
        _momentum,
        {"1e5": _step_at(_ELEMENTS, _momentum)},
        inplace=(0, 2),
    ),
    Entry(
        "rmsprop_step", K.rmsprop_step, R.rmsprop_step, _rmsprop, {"1e5": _step_at(_ELEMENTS, _rmsprop)}, inplace=(0, 2)
    ),
    Entry("adam_step", K.adam_step, R.adam_step, _adam, {"1e5": _step_at(_ELEMENTS, _adam)}, inplace=(0, 2, 3)),
)

BY_NAME: dict[str, Entry] = {e.name: e for e in REGISTRY}
