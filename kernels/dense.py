"""Dense (fully connected) kernels: ``matmul``, ``dense_forward``, ``dense_backward``.

Shapes follow the seed tutorials: samples are rows. ``x`` (N, I), ``w`` (I, O), ``b`` (O,) or
(1, O), ``dy`` (N, O). Products use BLAS (``np.dot`` inside numba) once they are big enough to
amortise the call, and plain loops below that, where BLAS's own overhead dominates.
"""

from __future__ import annotations

import numpy as np

from ._checks import float_arrays
from .config import jit

# Below this many multiply-adds a triple loop beats a BLAS call (measured in benchmarks/).
SMALL_PRODUCT = 4096


# Every kernel writes into an output it is given (``*_into``); the allocating versions wrap them.
# The compiled training loop calls the ``*_into`` forms on its workspace, so both compute alike.


@jit(contract=True)
def _matmul_loops_into(a, b, out):
    # Row i of out accumulates a[i, p] * b[p, :] for p in order: with FMA this rounds exactly
    # as OpenBLAS's gemm kernels do for the small shapes sent here.
    m, k = a.shape
    n = b.shape[1]
    out[:] = 0
    for i in range(m):
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@jit
def _matmul_into(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL_PRODUCT:
        _matmul_loops_into(a, b, out)
    else:
        np.dot(a, b, out)  # transposed (Fortran-ordered) operands go to BLAS as they are


@jit
def _matmul(a, b):
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _matmul_into(a, b, out)
    return out


@jit
def _dense_forward_into(x, w, b, out):
    _matmul_into(x, w, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


@jit
def _dense_forward(x, w, b):
    out = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    _dense_forward_into(x, w, b, out)
    return out


@jit
def _column_sums_into(dy, db):
    db[:] = 0
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            db[j] += dy[i, j]


@jit
def _dense_backward(x, w, dy):
    dx = np.empty((dy.shape[0], w.shape[0]), dtype=dy.dtype)
    dw = np.empty_like(w)
    db = np.empty(w.shape[1], dtype=dy.dtype)
    _matmul_into(x.T, dy, dw)
    _column_sums_into(dy, db)
    _matmul_into(dy, w.T, dx)
    return dx, dw, db


def _bias(b: np.ndarray, width: int) -> np.ndarray:
    if b.shape not in ((width,), (1, width)):
        raise ValueError(f"b must have shape ({width},) or (1, {width}) to match w; got {b.shape}")
    return b.reshape(width)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays: a (M, K), b (K, N) -> (M, N)."""
    a, b = float_arrays({"a": a, "b": b}, {"a": 2, "b": 2})
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"b must have {a.shape[1]} rows to match a's columns (a is {a.shape}); got {b.shape}")
    return _matmul(a, b)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b``: x (N, I), w (I, O), b (O,) or (1, O) -> (N, O)."""
    x, w, b = float_arrays({"x": x, "w": w, "b": b}, {"x": 2, "w": 2, "b": (1, 2)})
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"w must have {x.shape[1]} rows to match x's features (x is {x.shape}); got {w.shape}")
    return _dense_forward(x, w, _bias(b, w.shape[1]))


def dense_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``x @ w + b``: returns ``(dx, dw, db)`` = ``(dy @ w.T, x.T @ dy, dy.sum(0))``.

    x (N, I), w (I, O), dy (N, O) -> dx (N, I), dw (I, O), db (O,).
    """
    x, w, dy = float_arrays({"x": x, "w": w, "dy": dy}, {"x": 2, "w": 2, "dy": 2})
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"w must have {x.shape[1]} rows to match x's features (x is {x.shape}); got {w.shape}")
    expected = (x.shape[0], w.shape[1])
    if dy.shape != expected:
        raise ValueError(f"dy must have shape {expected} (x rows, w columns); got {dy.shape}")
    return _dense_backward(x, w, dy)
