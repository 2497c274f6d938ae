"""Losses, each a scalar mean and its gradient with respect to the prediction.

Sums accumulate in float64 whatever the input dtype (then round once to that dtype), so a
float32 loss over many elements is as accurate as float32 can hold.
"""

from __future__ import annotations

import numpy as np

from . import _scalar
from ._checks import float_array, float_arrays, real_array, same_shape
from .config import jit

# Predictions are clipped to [eps, 1 - eps] before log() so the loss and its gradient stay finite.
u64 = np.uint64

BCE_EPS = {np.dtype(np.float32): 1e-7, np.dtype(np.float64): 1e-12}


def _pair(y_true, y_pred):
    y_true, y_pred = float_arrays({"y_true": y_true, "y_pred": y_pred})
    same_shape(y_true, "y_true", y_pred, "y_pred")
    return y_true.reshape(-1), y_pred.reshape(-1), y_pred.shape


# The MSE kernels work on spans (a buffer and an offset) as kernels.dense's do: the training
# loop's targets and predictions sit at offsets in its workspaces.


@jit(inline=True)
def _mse_span(tb, to, pb, po, n):
    to, po, n = u64(to), u64(po), u64(n)
    s = 0.0
    for i in range(n):
        d = np.float64(tb[to + i]) - np.float64(pb[po + i])
        s += d * d
    return s / n


@jit(inline=True)
def _mse_backward_span(tb, to, pb, po, ob, oo, n):
    to, po, oo, n = u64(to), u64(po), u64(oo), u64(n)
    two = pb.dtype.type(2)
    size = pb.dtype.type(n)
    for i in range(n):
        ob[oo + i] = two * (pb[po + i] - tb[to + i]) / size


@jit
def _mse(t, p):
    return _mse_span(t, 0, p, 0, t.size)


@jit
def _mse_backward(t, p):
    out = np.empty_like(p)
    _mse_backward_span(t, 0, p, 0, out, 0, p.size)
    return out


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    """Mean of ``(y_true - y_pred)**2`` over all elements (the seed's ``mse``)."""
    t, p, _ = _pair(y_true, y_pred)
    return p.dtype.type(_mse(t, p))


def mse_backward(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``2 * (y_pred - y_true) / y_true.size``, shaped like ``y_pred`` (the seed's ``mse_prime``)."""
    t, p, shape = _pair(y_true, y_pred)
    return _mse_backward(t, p).reshape(shape)


@jit
def _bce(t, p, eps):
    s = 0.0
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1) - lo  # clip in the input's dtype, as the gradient does; log in float64
    for i in range(t.size):
        q = np.float64(min(max(p[i], lo), hi))
        y = np.float64(t[i])
        s -= y * np.log(q) + (1.0 - y) * np.log(1.0 - q)
    return s / t.size


@jit
def _bce_backward(t, p, eps):
    out = np.empty_like(p)
    _bce_backward_into(t, p, eps, out)
    return out


@jit
def _bce_backward_into(t, p, eps, out):
    one = p.dtype.type(1)
    lo = p.dtype.type(eps)
    hi = one - lo
    n = p.dtype.type(p.size)
    for i in range(p.size):
        q = min(max(p[i], lo), hi)
        out[i] = (q - t[i]) / (q * (one - q)) / n


def binary_cross_entropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    """Mean of ``-(y log p + (1-y) log(1-p))`` with p clipped to [eps, 1-eps] (see ``BCE_EPS``)."""
    t, p, _ = _pair(y_true, y_pred)
    return p.dtype.type(_bce(t, p, BCE_EPS[p.dtype]))


def binary_cross_entropy_backward(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` with respect to y_pred: ``(p - y) / (p (1-p)) / size``."""
    t, p, shape = _pair(y_true, y_pred)
    return _bce_backward(t, p, BCE_EPS[p.dtype]).reshape(shape)


@jit
def _softmax_cross_entropy(z, labels):
    dz = np.empty_like(z)
    return _softmax_cross_entropy_into(z, labels, dz), dz


@jit
def _softmax_cross_entropy_into(z, labels, dz):
    """Mean loss (float64); the gradient goes into dz."""
    n, k = z.shape
    inv_n = z.dtype.type(1) / z.dtype.type(n)
    total = 0.0
    for r in range(n):
        m = z[r, 0]
        for j in range(1, k):
            if z[r, j] > m or z[r, j] != z[r, j]:
                m = z[r, j]
        s = z.dtype.type(0)
        for j in range(k):
            e = _scalar.exp_nonpos(z[r, j] - m)
            dz[r, j] = e
            s += e
        total += np.float64(np.log(s)) - (np.float64(z[r, labels[r]]) - np.float64(m))
        for j in range(k):
            dz[r, j] = dz[r, j] / s * inv_n
        dz[r, labels[r]] -= inv_n
    return total / n


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Softmax over classes fused with cross-entropy: logits (N, K), labels (N,) ints in [0, K).

    Returns ``(loss, dlogits)``: the mean over N of ``-log softmax(logits)[label]`` and its
    gradient ``(softmax(logits) - onehot(labels)) / N``.
    """
    z = float_array(logits, "logits", ndim=2)
    lab = real_array(labels, "labels")
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices; got dtype {lab.dtype}")
    if lab.shape != (z.shape[0],):
        raise ValueError(
            f"labels must have shape ({z.shape[0]},), one class per row of logits {z.shape}; got {lab.shape}"
        )
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}) for {z.shape[1]} classes; got range [{lo}, {hi}]")
    loss, dz = _softmax_cross_entropy(z, np.ascontiguousarray(lab, dtype=np.int64))
    return z.dtype.type(loss), dz


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["binary_cross_entropy", "binary_cross_entropy_backward", "mse", "mse_backward", "softmax_cross_entropy"]
