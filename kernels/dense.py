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


@jit(contract=True)
def _matmul_loops(a, b):
    # Row i of out accumulates a[i, p] * b[p, :] for p in order: with FMA this rounds exactly
    # as OpenBLAS's gemm kernels do for the small shapes sent here.
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), dtype=a.dtype)
    for i in range(m):
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]
    return out


@jit
def _matmul(a, b):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL_PRODUCT:
        return _matmul_loops(a, b)
    return np.dot(a, b)


@jit
def _dense_forward(x, w, b):
    out = _matmul(x, w)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]
    return out


@jit
def _column_sums(dy):
    db = np.zeros(dy.shape[1], dtype=dy.dtype)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            db[j] += dy[i, j]
    return db


@jit
def _dense_backward(x, w, dy):
    # The transposes are free (Fortran-ordered views) and BLAS reads them directly.
    return _matmul(dy, w.T), _matmul(x.T, dy), _column_sums(dy)


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
