"""Elementwise activations and their backward passes, any shape (softmax: over the last axis).

Each backward takes the forward *output* ``y`` (as scikit-learn does), so a layer keeps one
array: ``tanh_backward(y, dy) = dy * (1 - y*y)``.

tanh, sigmoid and softmax use the vectorisable exp/tanh of :mod:`kernels._scalar` (numba's own
``np.tanh``/``np.exp`` are scalar libm calls, ~10x slower than numpy's SIMD ufuncs); they agree
with numpy to within 2-3 ulp.

The elementwise kernels work on *spans*: a 1-D buffer, an offset into it, and a count. Layers pass
their arrays with offset 0; the compiled training loop (:mod:`fastnn.ops.activation`) passes
offsets into its flat workspace, so both run the same loop. Offsets are cast to unsigned integers
so that numba needs no negative-index wraparound and LLVM vectorises the loop.
"""

from __future__ import annotations

import numpy as np

from . import _runs, _scalar, config
from ._checks import float_array, float_arrays, real_scalar, same_shape
from .config import jit

u64 = np.uint64


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1)


def _pair(y, dy, min_ndim: int = 0):
    y, dy = float_arrays({"y": y, "dy": dy}, min_ndim=min_ndim)
    same_shape(y, "y", dy, "dy")
    return y, dy


def _alpha(alpha) -> float:
    return real_scalar(alpha, "alpha", low=0.0)


# --------------------------------------------------------------------------- tanh


@jit(inline=True)
def _tanh_span(xb, xo, yb, yo, n):
    xo, yo, n = u64(xo), u64(yo), u64(n)
    for k in range(n):
        yb[yo + k] = _scalar.tanh(xb[xo + k])


@jit
def _tanh(x):
    out = np.empty_like(x)
    _tanh_span(x, 0, out, 0, x.size)
    return out


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, elementwise."""
    x = float_array(x, "x")
    return _tanh(_flat(x)).reshape(x.shape)


@jit(inline=True)
def _tanh_backward_span(yb, yo, gb, go, xb, xo, n):
    yo, go, xo, n = u64(yo), u64(go), u64(xo), u64(n)
    one = yb.dtype.type(1)
    for k in range(n):
        v = yb[yo + k]
        xb[xo + k] = gb[go + k] * (one - v * v)


@jit
def _tanh_backward(y, dy):
    out = np.empty_like(dy)
    _tanh_backward_span(y, 0, dy, 0, out, 0, y.size)
    return out


def tanh_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy * (1 - y**2)`` where ``y = tanh(x)``."""
    y, dy = _pair(y, dy)
    return _tanh_backward(_flat(y), _flat(dy)).reshape(y.shape)


# --------------------------------------------------------------------------- sigmoid


@jit(inline=True)
def _sigmoid_span(xb, xo, yb, yo, n):
    xo, yo, n = u64(xo), u64(yo), u64(n)
    for k in range(n):
        yb[yo + k] = _scalar.sigmoid(xb[xo + k])


@jit
def _sigmoid(x):
    out = np.empty_like(x)
    _sigmoid_span(x, 0, out, 0, x.size)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, elementwise, without overflow for large |x|."""
    x = float_array(x, "x")
    return _sigmoid(_flat(x)).reshape(x.shape)


@jit(inline=True)
def _sigmoid_backward_span(yb, yo, gb, go, xb, xo, n):
    yo, go, xo, n = u64(yo), u64(go), u64(xo), u64(n)
    one = yb.dtype.type(1)
    for k in range(n):
        v = yb[yo + k]
        xb[xo + k] = gb[go + k] * v * (one - v)


@jit
def _sigmoid_backward(y, dy):
    out = np.empty_like(dy)
    _sigmoid_backward_span(y, 0, dy, 0, out, 0, y.size)
    return out


def sigmoid_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy * y * (1 - y)`` where ``y = sigmoid(x)``."""
    y, dy = _pair(y, dy)
    return _sigmoid_backward(_flat(y), _flat(dy)).reshape(y.shape)


# --------------------------------------------------------------------------- relu, leaky relu


@jit(inline=True)
def same_place(ab, ao, bb, bo):
    """Whether (buffer, offset) pairs ``a`` and ``b`` name one place: a step written over its input
    (fastnn's engine shares slots, fastnn.plan.shared_slots). Such a step's loop then reads and
    writes through one index: through two, LLVM's overlap check fails and the loop runs scalar (a
    ReLU over 2.4M floats: 0.49 ms in place, 0.88 ms out of place, ~0.75 ms through two indices)."""
    return ab.ctypes.data == bb.ctypes.data and ao == bo


@jit(inline=True)
def _relu_span(xb, xo, yb, yo, n):
    in_place = same_place(xb, xo, yb, yo)
    xo, yo, n = u64(xo), u64(yo), u64(n)
    zero = xb.dtype.type(0)
    if in_place:
        for k in range(n):
            v = yb[yo + k]
            yb[yo + k] = v if not v <= zero else zero
        return
    for k in range(n):
        v = xb[xo + k]
        yb[yo + k] = v if not v <= zero else zero  # NaN passes through, as in np.maximum(x, 0)


@jit
def _relu(x):
    out = np.empty_like(x)
    _relu_span(x, 0, out, 0, x.size)
    return out


@jit(inline=True)
def _leaky_relu_span(xb, xo, yb, yo, n, alpha):
    in_place = same_place(xb, xo, yb, yo)
    xo, yo, n = u64(xo), u64(yo), u64(n)
    a = xb.dtype.type(alpha)
    if in_place:
        for k in range(n):
            v = yb[yo + k]
            yb[yo + k] = v if not v <= 0 else v * a
        return
    for k in range(n):
        v = xb[xo + k]
        yb[yo + k] = v if not v <= 0 else v * a


@jit
def _leaky_relu(x, alpha):
    out = np.empty_like(x)
    _leaky_relu_span(x, 0, out, 0, x.size, alpha)
    return out


@jit(inline=True)
def _leaky_relu_backward_span(yb, yo, gb, go, xb, xo, n, alpha):
    """Also ReLU's backward (alpha 0): the gradient passes where the output is positive."""
    in_place = same_place(gb, go, xb, xo)
    yo, go, xo, n = u64(yo), u64(go), u64(xo), u64(n)
    a = gb.dtype.type(alpha)
    if in_place:
        for k in range(n):
            g = xb[xo + k]
            xb[xo + k] = g if yb[yo + k] > 0 else g * a
        return
    for k in range(n):
        g = gb[go + k]
        xb[xo + k] = g if yb[yo + k] > 0 else g * a


@jit
def _leaky_relu_backward(y, dy, alpha):
    out = np.empty_like(dy)
    _leaky_relu_backward_span(y, 0, dy, 0, out, 0, y.size, alpha)
    return out


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``, elementwise (NaN propagates)."""
    x = float_array(x, "x")
    return _relu(_flat(x)).reshape(x.shape)


def relu_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy * (y > 0)`` where ``y = relu(x)``."""
    y, dy = _pair(y, dy)
    return _leaky_relu_backward(_flat(y), _flat(dy), dy.dtype.type(0)).reshape(y.shape)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """``x if x > 0 else alpha * x``, elementwise; alpha >= 0."""
    alpha = _alpha(alpha)
    x = float_array(x, "x")
    return _leaky_relu(_flat(x), x.dtype.type(alpha)).reshape(x.shape)


def leaky_relu_backward(y: np.ndarray, dy: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """``dy if y > 0 else alpha * dy`` where ``y = leaky_relu(x, alpha)`` (alpha >= 0 keeps y's sign)."""
    alpha = _alpha(alpha)
    y, dy = _pair(y, dy)
    return _leaky_relu_backward(_flat(y), _flat(dy), dy.dtype.type(alpha)).reshape(y.shape)


# --------------------------------------------------------------------------- by code, on threads

# The element-wise activations by code, for a caller that picks one at run time (fastnn's engine).
TANH, SIGMOID, RELU, LEAKY = range(4)


@jit(inline=True)
def forward_span(fn, alpha, x, y, n):
    """The activation ``fn`` (a code above) of n values; ``x``, ``y`` = (buffer, offset) of the input
    and the output. ``alpha``: leaky ReLU's slope."""
    xb, xo = x
    yb, yo = y
    if fn == TANH:
        _tanh_span(xb, xo, yb, yo, n)
    elif fn == SIGMOID:
        _sigmoid_span(xb, xo, yb, yo, n)
    elif fn == RELU:
        _relu_span(xb, xo, yb, yo, n)
    else:
        _leaky_relu_span(xb, xo, yb, yo, n, alpha)


@jit(inline=True)
def backward_span(fn, alpha, y, dy, dx, n):
    """The backward pass of ``fn`` from its output: dx from y and dy, each (buffer, offset)."""
    (yb, yo), (gb, go), (xb, xo) = y, dy, dx
    if fn == TANH:
        _tanh_backward_span(yb, yo, gb, go, xb, xo, n)
    elif fn == SIGMOID:
        _sigmoid_backward_span(yb, yo, gb, go, xb, xo, n)
    elif fn == RELU:
        _leaky_relu_backward_span(yb, yo, gb, go, xb, xo, n, 0.0)
    else:
        _leaky_relu_backward_span(yb, yo, gb, go, xb, xo, n, alpha)


@jit(parallel=True)
def spans_parallel(code, buffers, offsets, n, parts):
    """forward_span or backward_span over n values cut into ``parts`` runs (starting at multiples of 16
    values) on numba's threads; ``code`` = (fn, backward, alpha). Forward: ``buffers`` = (xb, yb, any),
    ``offsets`` = (xo, yo, any); backward: (yb, gb, xb) and (yo, go, xo). Value by value, so the same
    numbers as one run. Call from Python."""
    fn, backward, alpha = code
    b0, b1, b2 = buffers
    o0, o1, o2 = offsets
    for t in config.prange(parts):
        lo, hi = _runs.run(t, parts, n, 16)
        if backward:
            backward_span(fn, alpha, (b0, o0 + lo), (b1, o1 + lo), (b2, o2 + lo), hi - lo)
        else:
            forward_span(fn, alpha, (b0, o0 + lo), (b1, o1 + lo), hi - lo)


# --------------------------------------------------------------------------- softmax


@jit
def _softmax_row(x, out):
    """out = softmax(x) for one row; the shift by the row maximum keeps every exp argument <= 0."""
    m = x[0]
    for k in range(1, x.size):
        if x[k] > m or x[k] != x[k]:
            m = x[k]
    s = x.dtype.type(0)
    for k in range(x.size):
        out[k] = _scalar.exp_nonpos(x[k] - m)
        s += out[k]
    for k in range(x.size):
        out[k] /= s


@jit
def _softmax_into(x, out):
    for r in range(x.shape[0]):
        _softmax_row(x[r], out[r])


@jit
def _softmax(x):
    out = np.empty_like(x)
    _softmax_into(x, out)
    return out


def _rows(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row maximum so no exp overflows."""
    x = float_array(x, "x", min_ndim=1)
    return _softmax(_rows(x)).reshape(x.shape)


@jit
def _softmax_backward(y, dy):
    out = np.empty_like(dy)
    _softmax_backward_into(y, dy, out)
    return out


@jit
def _softmax_backward_into(y, dy, out):
    for r in range(y.shape[0]):
        dot = y[r, 0] * dy[r, 0]
        for k in range(1, y.shape[1]):
            dot += y[r, k] * dy[r, k]
        for k in range(y.shape[1]):
            out[r, k] = y[r, k] * (dy[r, k] - dot)


def softmax_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``y * (dy - sum(dy * y, axis=-1))`` where ``y = softmax(x)`` (the Jacobian-vector product)."""
    y, dy = _pair(y, dy, min_ndim=1)
    return _softmax_backward(_rows(y), _rows(dy)).reshape(y.shape)


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = [
    "leaky_relu",
    "leaky_relu_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]
