"""The reference arithmetic of dense networks on trusted arrays, in numpy alone.

:mod:`kernels.reference`'s twins of these ops check their arguments and then call these; fastnn's
numpy path (:mod:`fastnn.numpy_path`), which trains networks too small to repay compiling, calls
them directly on arrays it has checked once. Arrays are C-contiguous float32 or float64 of one
dtype, which every result keeps. The expressions are the seed tutorials' own where they have one
(``np.dot(x, w) + b``; ``1 - tanh**2`` from the saved output), so the numpy path reproduces the
seed's numbers bit for bit.
"""

from __future__ import annotations

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


# --------------------------------------------------------------------------- activations
# Forward from the input, backward from the saved output y and the output's gradient dy.


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def tanh_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy * (1 - y * y)


def sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


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


# --------------------------------------------------------------------------- optimizer


def sgd_step(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    param -= param.dtype.type(lr) * grad
