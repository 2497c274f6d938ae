"""The reference arithmetic of small networks on trusted arrays, in numpy alone.

:mod:`kernels.reference`'s twins of these ops check their arguments and then call these; fastnn's
numpy path (:mod:`fastnn.numpy_path`), which trains networks too small to repay compiling, calls
them directly on arrays it has checked once. Arrays are C-contiguous float32 or float64 of one
dtype, which every result keeps. The expressions are the seed tutorials' own where they have one
(``np.dot(x, w) + b``; ``1 - tanh**2`` from the saved output), so the numpy path reproduces the
seed's numbers bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

F64 = np.dtype(np.float64)

# --------------------------------------------------------------------------- dense


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, in) @ w (in, out) + b ((out,) or (1, out)) -> (N, out)."""
    return x @ w + b


def dense_backward(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, need_dx: bool = True, out: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dx (N, in) or None, dw (in, out), db (out,)) for y = x @ w + b and dy = dL/dy (N, out);
    ``out``: arrays (in, out) and (1, out) to write dw and db into (then returned)."""
    dx = dy @ w.T if need_dx else None
    if out is None:
        return dx, x.T @ dy, dy.sum(axis=0)
    dw, db = out
    np.matmul(x.T, dy, out=dw)
    if len(dy) == 1:  # one row: its sum is itself, without a reduction
        db[...] = dy
    else:
        np.add.reduce(dy, axis=0, keepdims=True, out=db)
    return dx, dw, db


# --------------------------------------------------------------------------- convolution
# Channels last. ``pads`` is (top, bottom, left, right) of zeros, ``stride`` (sh, sw): PyTorch's
# convolution. The products run as one matrix product over the im2col view of the batch; the
# scipy loops of kernels.reference.conv2d_* stay the specification these are tested against.


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, ...]) -> np.ndarray:
    """Every (kh, kw) window of x (N, h, w, c) padded, at the stride: a view (N, oh, ow, c, kh, kw)."""
    top, bottom, left, right = pads
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(1, 2))[:, :: stride[0], :: stride[1]]


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple[int, int] = (1, 1), pads: tuple[int, ...] = (0,) * 4
) -> np.ndarray:
    """x (N, h, w, c), w (kh, kw, c, f), b (f,) -> (N, oh, ow, f)."""
    return np.tensordot(_windows(x, w.shape[:2], stride, pads), w, axes=([3, 4, 5], [2, 0, 1])) + b


def conv2d_backward(
    x: np.ndarray,
    w: np.ndarray,
    dy: np.ndarray,
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, ...] = (0,) * 4,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dx (N, h, w, c) or None, dw (kh, kw, c, f), db (f,)) for dy (N, oh, ow, f)."""
    kh, kw = w.shape[:2]
    dw = np.tensordot(_windows(x, (kh, kw), stride, pads), dy, axes=([0, 1, 2], [0, 1, 2])).transpose(1, 2, 0, 3)
    db = dy.sum(axis=(0, 1, 2))
    if not need_dx:
        return None, dw, db
    n, h, wd, _ = x.shape
    top, bottom, left, right = pads
    full = dy
    if stride != (1, 1):  # dy back on the stride-1 grid, zeros where the stride skipped
        full = np.zeros((n, h + top + bottom - kh + 1, wd + left + right - kw + 1, dy.shape[3]), dtype=dy.dtype)
        full[:, :: stride[0], :: stride[1]] = dy
    # dx of the padded input: the full correlation of dy with the kernel turned by 180 degrees
    dxp = np.tensordot(
        _windows(full, (kh, kw), (1, 1), (kh - 1, kh - 1, kw - 1, kw - 1)), w[::-1, ::-1], axes=([3, 4, 5], [3, 0, 1])
    )
    return dxp[:, top : top + h, left : left + wd], dw, db


# --------------------------------------------------------------------------- pooling


def maxpool2d_forward(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(y (N, h/size, w/size, c), where (N, h/size, w/size, c): the first maximum's place in its
    window, row-major, as argmax gives it: a NaN counts as the maximum) for x (N, h, w, c) with h and
    w divisible by size. The window's size*size positions are strided views compared in turn: a
    few whole-array operations instead of a reshaped copy and an argmax over each window's values
    (the digits CNN's 32x6x6x16 forward + backward: ~150-250 -> ~97 us)."""
    views = [x[:, i::size, j::size] for i in range(size) for j in range(size)]
    y, where = views[0], np.zeros(views[0].shape, dtype=np.intp)
    nan = bool(np.isnan(x).any())
    for k, v in enumerate(views[1:], 1):
        later = v > y  # strictly: a tie keeps the first
        if nan:  # a NaN wins against a number, not against an earlier NaN
            later |= (v != v) & (y == y)
        y, where = np.where(later, v, y), np.where(later, k, where)
    return (y.copy() if size == 1 else y), where


def maxpool2d_backward(where: np.ndarray, dy: np.ndarray, size: int) -> np.ndarray:
    """dx (N, h, w, c): each dy at its window's maximum, zeros elsewhere."""
    n, oh, ow, c = dy.shape
    place = np.arange(size * size).reshape(1, 1, size, 1, size, 1)  # k = i*size + j at (i, j)
    at = where[:, :, None, :, None, :] == place  # (N, OH, size, OW, size, C) in one broadcast
    return np.where(at, dy[:, :, None, :, None, :], 0).reshape(n, oh * size, ow * size, c)


# --------------------------------------------------------------------------- activations
# Forward from the input, backward from the saved output y and the output's gradient dy.


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def tanh_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy * (1 - y * y)


def sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + e) where x >= 0, e / (1 + e) below, e = exp(-|x|): the numerator chosen first, one
    # division (the same bits; 7 numpy calls for 9 -- a per-sample step on 2 values is all calls).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def sigmoid_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy * y * (1 - y)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return np.where(y > 0, dy, 0).astype(dy.dtype)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x > 0, x, x * x.dtype.type(alpha))


def leaky_relu_backward(y: np.ndarray, dy: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(y > 0, dy, dy * dy.dtype.type(alpha))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- losses
# Scalar losses are summed in float64 and rounded once to the prediction's dtype, like the kernels.


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    d = np.subtract(y_true, y_pred, dtype=F64)
    # np.mean's own arithmetic (one pairwise sum, one division) without its Python-level overhead.
    return y_pred.dtype.type((d * d).sum() / d.size)


def mse_backward(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return 2 * (y_pred - y_true) / y_true.size


def mse_with_gradient(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """(mse, mse_backward) sharing one difference when it can (float64: (t - p)^2 is (p - t)^2)."""
    if y_pred.dtype != F64:
        return mse(y_true, y_pred), mse_backward(y_true, y_pred)
    d = y_pred - y_true
    return (d * d).sum() / d.size, 2 * d / d.size


def binary_cross_entropy(y_true: np.ndarray, y_pred: np.ndarray, eps: float) -> np.floating:
    """Mean of -(t log q + (1 - t) log(1 - q)), q = y_pred clipped to [eps, 1 - eps]."""
    dt = y_pred.dtype.type
    q = np.clip(y_pred, dt(eps), dt(1 - eps)).astype(F64)
    t = y_true.astype(F64)
    return dt(-np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)))


def binary_cross_entropy_backward(y_true: np.ndarray, y_pred: np.ndarray, eps: float) -> np.ndarray:
    e = y_pred.dtype.type(eps)
    q = np.clip(y_pred, e, 1 - e)
    return (q - y_true) / (q * (1 - q)) / y_pred.size


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """(mean cross-entropy of softmax(logits) (N, K) against int labels (N,), its gradient wrt the logits)."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(n), labels].astype(F64).mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1
    return logits.dtype.type(loss), grad / n


# --------------------------------------------------------------------------- optimizer steps, in place


def sgd_step(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    param -= param.dtype.type(lr) * grad


def outer_sgd_step(param: np.ndarray, x: np.ndarray, dy: np.ndarray, lr: float) -> None:
    param -= param.dtype.type(lr) * (np.outer(x, dy) + 0.0)  # zero gradients +0.0, as x.T @ dy gives them


def momentum_step(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float) -> None:
    t = param.dtype.type
    velocity[...] = t(momentum) * velocity + grad
    param -= t(lr) * velocity


def rmsprop_step(
    param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, lr: float, rho: float, eps: float
) -> None:
    t = param.dtype.type
    square_avg[...] = t(rho) * square_avg + t(1.0 - rho) * grad * grad
    param -= t(lr) * grad / (np.sqrt(square_avg) + t(eps))


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """Adam's step ``t`` (1, 2, ...) with moments m and v updated in place."""
    beta1, beta2 = betas
    c = param.dtype.type
    m[...] = c(beta1) * m + c(1.0 - beta1) * grad
    v[...] = c(beta2) * v + c(1.0 - beta2) * grad * grad
    step, r2 = lr / (1.0 - beta1**t), 1.0 / math.sqrt(1.0 - beta2**t)  # PyTorch's arrangement
    param -= c(step) * (m / (np.sqrt(v) * c(r2) + c(eps)))
