"""Dense (fully connected) kernels: ``matmul``, ``dense_forward``, ``dense_backward``.

Shapes follow the seed tutorials: samples are rows. ``x`` (N, I), ``w`` (I, O), ``b`` (O,) or
(1, O), ``dy`` (N, O). Products use BLAS (``np.dot`` inside numba) once they are big enough to
amortise the call (``SMALL_PRODUCT`` multiply-adds), and plain loops below that, where BLAS's own
overhead dominates.

The loops are written once (``_nn_loops``, ``_tn_loops``, ``_nt_loops``) over 1-D buffers and
offsets, and compiled twice: with unsigned offsets numba needs no negative-index wraparound and
LLVM vectorises the inner loop (the ``*_into`` kernels on arrays, which layers call); with signed
offsets the loop stays scalar, which is faster for the few elements of a per-sample tutorial
layer (``dense_*_flat``, which the compiled training loop calls on its flat workspace up to
``TINY_PRODUCT`` multiply-adds, where creating array views would cost more than the arithmetic).
Both round alike: every output element accumulates its products in the same order, with FMA.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from . import _blas, _runs, cache, config
from ._checks import float_arrays
from .config import jit

SMALL_PRODUCT = 4096  # up to this many multiply-adds loops beat a BLAS call (measured in benchmarks/)
TINY_PRODUCT = 256  # up to this many the training loop runs the flat, scalar loops

u64 = np.uint64


@jit(inline=True)
def _nn_loops(ab, bb, ob, at):
    # out (m, n) = a (m, k) @ b (k, n). Row i of out accumulates a[i, p] * b[p, :] for p in order:
    # with FMA this rounds exactly as OpenBLAS's gemm kernels do for the shapes sent here.
    ao, bo, oo, m, k, n = at
    for i in range(m):
        oi = oo + i * n
        for j in range(n):
            ob[oi + j] = 0.0
        for p in range(k):
            aip = ab[ao + i * k + p]
            bp = bo + p * n
            for j in range(n):
                ob[oi + j] += aip * bb[bp + j]


@jit(inline=True)
def _tn_loops(ab, bb, ob, at):
    # out (m, n) = a.T @ b for a (k, m), b (k, n): the weight gradient x.T @ dy.
    ao, bo, oo, m, k, n = at
    for t in range(m * n):
        ob[oo + t] = 0.0
    for i in range(m):
        oi = oo + i * n
        for p in range(k):
            aip = ab[ao + p * m + i]
            bp = bo + p * n
            for j in range(n):
                ob[oi + j] += aip * bb[bp + j]


@jit(inline=True)
def _nt_loops(ab, bb, ob, at):
    # out (m, n) = a @ b.T for a (m, k), b (n, k): the input gradient dy @ w.T.
    ao, bo, oo, m, k, n = at
    for i in range(m):
        ai = ao + i * k
        for j in range(n):
            bj = bo + j * k
            s = ob.dtype.type(0.0)
            for p in range(k):
                s += ab[ai + p] * bb[bj + p]
            ob[oo + i * n + j] = s


@jit(inline=True)
def _unsigned(at):
    ao, bo, oo, m, k, n = at
    return u64(ao), u64(bo), u64(oo), u64(m), u64(k), u64(n)


@jit(inline=True)
def _add_row(bb, bo, ob, oo, m, n):
    # out (m, n) += b (n,) on every row.
    for i in range(m):
        for j in range(n):
            ob[oo + i * n + j] += bb[bo + j]


@jit(inline=True)
def _column_sums(ab, ao, ob, oo, m, n):
    # out (n,) = a (m, n).sum(axis=0), rows added in order.
    for j in range(n):
        ob[oo + j] = 0.0
    for i in range(m):
        for j in range(n):
            ob[oo + j] += ab[ao + i * n + j]


@jit
def add_column_sums(rows2d, acc):
    """acc (F,) float64 += the columns' sums of rows2d (R, F). Bias gradients add thousands of dy
    values: in float64 they lose nothing that float32 would in a running sum (one large value and
    many below its ulp lost ~3e-5 of the sum), and a float64 network's sums are as before."""
    for r in range(rows2d.shape[0]):
        for q in range(rows2d.shape[1]):
            acc[q] += rows2d[r, q]


# -- flat: offsets into shared buffers (the training loop's workspace and parameters) ------------
# forward ``at`` = (xo, wo, bo, yo, rows, inputs, outputs);
# backward ``at`` = (xo, wo, dyo, dwo, dbo, dxo, rows, inputs, outputs, need_dx, need_dw).


@jit(inline=True)
def is_tiny(rows, inputs, outputs):
    return rows * inputs * outputs <= TINY_PRODUCT


@jit(contract=True)
def dense_forward_flat(acts, params, at):
    """y = x @ w + b with x and y in ``acts``, w and b in ``params``, at the offsets in ``at``."""
    xo, wo, bo, yo, nb, n_in, n_out = at
    _nn_loops(acts, params, acts, (xo, wo, yo, nb, n_in, n_out))
    _add_row(params, bo, acts, yo, nb, n_out)


@jit(contract=True)
def dense_backward_flat(acts, dacts, params, grads, at):
    """dw = x.T @ dy (if ``need_dw``) and db = dy summed over rows, into ``grads``; dx = dy @ w.T if
    ``need_dx``. x in ``acts``, dy and dx in ``dacts``, w in ``params``."""
    xo, wo, dyo, dwo, dbo, dxo, nb, n_in, n_out, need_dx, need_dw = at
    if need_dw:
        _tn_loops(acts, dacts, grads, (xo, dyo, dwo, n_in, nb, n_out))
    _column_sums(dacts, dyo, grads, dbo, nb, n_out)
    if need_dx:
        _nt_loops(dacts, params, dacts, (dyo, wo, dxo, nb, n_out, n_in))


# -- arrays: what the layers call (and the training loop above TINY_PRODUCT) ---------------------


# Large products are cut into fixed blocks, one BLAS call each with BLAS at one thread. The blocks
# depend on the shapes and the machine's cores alone, so threads that take runs of whole blocks
# (products_parallel) give the numbers one thread gives: a product's bits do not depend on the thread
# count. Each block re-reads (packs) the operand it does not cut. Three cuts (CUT_*):
# - COLUMNS of x @ w and dy @ w.T, rows of x.T @ dy (the inputs): each block packs the batch's side.
#   Wide, large products (W1's and W3's hidden layers) cut this way: at least BLOCK_MACS
#   multiply-adds and MIN_BLOCK_COLUMNS wide a block (W3 on two cores: 4 blocks cost 3% on one thread
#   and 5% on two against 2).
# - ROWS (samples) of x @ w and dy @ w.T, where the output is too narrow for columns: each block packs
#   only the weights, so much smaller products pay (ROW_BLOCK_MACS, MIN_BLOCK_ROWS): a full batch of
#   900 through 50-wide layers (seed 003's moons, float64) ran its forward products in 112 -> 57 us on
#   two threads and 112 -> 111 on one, as two blocks.
# - SAMPLES of x.T @ dy, which sums over them: each block's partial product apart, then added to the
#   first in block order (the same thresholds as ROWS).
# No more blocks than the machine has cores, up to 4. The count is part of the cache key (kernels.cache).
BLOCK_MACS = 1 << 22
MIN_BLOCK_COLUMNS = 32
ROW_BLOCK_MACS = 1 << 18
MIN_BLOCK_ROWS = 32
MAX_BLOCKS = cache.split_cores()
FORWARD, WEIGHT_GRADIENT, INPUT_GRADIENT = range(3)  # out = a @ b, a.T @ b, a @ b.T
CUT_COLUMNS, CUT_ROWS, CUT_SAMPLES = range(3)


@jit
def split_of(kind, macs, width, samples):
    """(blocks, CUT_*) of the product ``kind`` of ``macs`` multiply-adds whose output is ``width`` wide
    where columns are cut, over ``samples`` samples: columns when they make blocks, else the samples.
    Builtins only: Python calls its py_func."""
    blocks = max(1, min(MAX_BLOCKS, macs // BLOCK_MACS, width // MIN_BLOCK_COLUMNS))
    if blocks > 1:
        return blocks, CUT_COLUMNS
    blocks = max(1, min(MAX_BLOCKS, macs // ROW_BLOCK_MACS, samples // MIN_BLOCK_ROWS))
    return blocks, CUT_SAMPLES if kind == WEIGHT_GRADIENT else CUT_ROWS


@jit
def _product_shape(kind, a, out):
    """(multiply-adds, the width the output is cut along) of one of the three products."""
    if kind == WEIGHT_GRADIENT:
        return out.shape[0] * out.shape[1] * a.shape[0], out.shape[0]
    return out.shape[0] * out.shape[1] * a.shape[1], out.shape[1]


@jit
def blocks_of(kind, a, out):
    """(blocks, CUT_*) of the product ``kind`` of ``a`` (whose rows are the samples) into ``out``."""
    macs, width = _product_shape(kind, a, out)
    return split_of(kind, macs, width, a.shape[0])


@jit
def _partials(kind, a, out):
    """Room for the partial products of blocks 1, 2, ... of a CUT_SAMPLES product (none otherwise)."""
    blocks, cut = blocks_of(kind, a, out)
    return np.empty((blocks - 1 if cut == CUT_SAMPLES else 0, out.shape[0], out.shape[1]), dtype=out.dtype)


@jit
def _product_part(kind, a, b, out, part, partials):
    """Part t of ``part`` = (t, parts) of the product ``kind`` (FORWARD, ...): its run of the blocks,
    one BLAS call each; (0, 1) for the whole product. A CUT_SAMPLES product's blocks after the first
    go to ``partials`` (see :func:`_add_partials`)."""
    t, parts = part
    blocks, cut = blocks_of(kind, a, out)
    first, stop = _runs.run(t, parts, blocks, 1)
    if blocks == 1 and first < stop:  # numba's np.dot, as before blocks: it sends one-row products to gemv
        if kind == FORWARD:
            np.dot(a, b, out)
        elif kind == WEIGHT_GRADIENT:
            np.dot(a.T, b, out)
        else:
            np.dot(a, b.T, out)
        return
    width = a.shape[0] if cut != CUT_COLUMNS else _product_shape(kind, a, out)[1]
    for q in range(first, stop):
        c0, c1 = q * width // blocks, (q + 1) * width // blocks
        if cut == CUT_SAMPLES and q == 0:
            _blas.gemm(a[c0:c1], b[c0:c1], out, True, False)
        elif cut == CUT_SAMPLES:
            _blas.gemm(a[c0:c1], b[c0:c1], partials[q - 1], True, False)
        elif cut == CUT_ROWS:
            _blas.gemm(a[c0:c1], b, out[c0:c1], False, kind == INPUT_GRADIENT)
        elif kind == FORWARD:
            _blas.gemm(a, b[:, c0:c1], out[:, c0:c1], False, False)
        elif kind == WEIGHT_GRADIENT:
            _blas.gemm(a[:, c0:c1], b, out[c0:c1], True, False)
        else:
            _blas.gemm(a, b[c0:c1], out[:, c0:c1], False, True)


@jit
def _add_partials(out, partials):
    """out += the partial products, in block order."""
    for q in range(partials.shape[0]):
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] += partials[q, i, j]


@jit
def _product_whole(kind, a, b, out):
    """The product ``kind`` on this thread, block after block."""
    partials = _partials(kind, a, out)
    _product_part(kind, a, b, out, (0, 1), partials)
    _add_partials(out, partials)


@jit
def is_blocked(kind, a, out):
    """The product goes to BLAS in more than one block (so may be shared out over threads)."""
    return blocks_of(kind, a, out)[0] > 1


@jit(parallel=True)
def products_parallel(kind, a, b, out, parts):
    """The product ``kind`` (FORWARD: out = a @ b, WEIGHT_GRADIENT: a.T @ b, INPUT_GRADIENT: a @ b.T)
    with runs of its blocks on ``parts`` threads: the numbers of one thread. Call from Python with
    BLAS at one thread."""
    partials = _partials(kind, a, out)
    for t in config.prange(parts):
        _product_part(kind, a, b, out, (t, parts), partials)
    _add_partials(out, partials)


@jit(contract=True)
def _product_into(a, b, out, b_transposed):
    """out = a @ b, or a @ b.T: a (m, k), b (k, n) or (n, k), out (m, n), all C-contiguous."""
    m, k, n = a.shape[0], a.shape[1], out.shape[1]
    kind = INPUT_GRADIENT if b_transposed else FORWARD
    if m * k * n > SMALL_PRODUCT:
        _product_whole(kind, a, b, out)
    elif b_transposed:
        _nt_loops(a.reshape(-1), b.reshape(-1), out.reshape(-1), _unsigned((0, 0, 0, m, k, n)))
    else:
        _nn_loops(a.reshape(-1), b.reshape(-1), out.reshape(-1), _unsigned((0, 0, 0, m, k, n)))


@jit(contract=True)
def _weight_gradient_into(x, dy, dw):
    """dw = x.T @ dy: x (N, I), dy (N, O), dw (I, O); nothing when dw has no rows."""
    nb, n_in, n_out = x.shape[0], dw.shape[0], dy.shape[1]
    if n_in == 0:
        return
    if nb * n_in * n_out > SMALL_PRODUCT:
        _product_whole(WEIGHT_GRADIENT, x, dy, dw)
    else:
        _tn_loops(x.reshape(-1), dy.reshape(-1), dw.reshape(-1), _unsigned((0, 0, 0, n_in, nb, n_out)))


@jit
def add_bias(b, y):
    """y (N, O) += b (O,) on every row."""
    _add_row(b, 0, y.reshape(-1), 0, y.shape[0], y.shape[1])


@jit
def bias_gradient(dy, db):
    """db (O,) = dy (N, O) summed over rows, in order."""
    _column_sums(dy.reshape(-1), 0, db, 0, dy.shape[0], dy.shape[1])


@jit
def _dense_forward_into(x, w, b, y):
    _product_into(x, w, y, False)
    add_bias(b, y)


@jit
def _dense_backward_into(x, w, dy, dw, db, dx):
    """dw, db and dx of a dense layer, into the arrays given (dw or dx without rows: not computed)."""
    _weight_gradient_into(x, dy, dw)
    bias_gradient(dy, db)
    if dx.shape[0]:
        _product_into(dy, w, dx, True)


@jit
def _matmul(a, b):
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _product_into(a, b, out, False)
    return out


@jit
def _dense_forward(x, w, b):
    out = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    _dense_forward_into(x, w, b, out)
    return out


@jit
def _dense_backward(x, w, dy):
    dx = np.empty((dy.shape[0], w.shape[0]), dtype=dy.dtype)
    dw = np.empty_like(w)
    db = np.empty(w.shape[1], dtype=dy.dtype)
    _dense_backward_into(x, w, dy, dw, db, dx)
    return dx, dw, db


def _bias(b: np.ndarray, width: int) -> np.ndarray:
    if b.shape not in ((width,), (1, width)):
        raise ValueError(f"b must have shape ({width},) or (1, {width}) to match w; got {b.shape}")
    return b.reshape(width)


def _blocked(kind: int, macs: int, out_shape: tuple[int, int], samples: int) -> bool:
    """:func:`is_blocked` in Python, for a product of ``macs`` multiply-adds over ``samples`` samples
    into ``out_shape``."""
    width = out_shape[0] if kind == WEIGHT_GRADIENT else out_shape[1]
    return split_of.py_func(kind, macs, width, samples)[0] > 1


def _one_thread(macs: int) -> Any:
    """BLAS held at one thread around a product it computes (as everywhere in fastnn: OpenBLAS's own
    threads change the last bits of gemm and gemv with their count); nothing for the loops."""
    return config.blas_single_thread(kernels_only=True) if macs > SMALL_PRODUCT else contextlib.nullcontext()


def _products(jobs: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Blocked products (kind, a, b, out) on numba's threads with BLAS at one thread: the numbers do
    not depend on the thread count (as in the compiled loop, which calls the same kernels)."""
    with config.blas_single_thread():
        for kind, a, b, out in jobs:
            products_parallel(kind, a, b, out, config.threads())


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays: a (M, K), b (K, N) -> (M, N)."""
    a, b = float_arrays({"a": a, "b": b}, {"a": 2, "b": 2})
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"b must have {a.shape[1]} rows to match a's columns (a is {a.shape}); got {b.shape}")
    if _blocked(FORWARD, a.shape[0] * a.shape[1] * b.shape[1], (a.shape[0], b.shape[1]), a.shape[0]):
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        _products([(FORWARD, a, b, out)])
        return out
    with _one_thread(a.shape[0] * a.shape[1] * b.shape[1]):
        return _matmul(a, b)


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b``: x (N, I), w (I, O), b (O,) or (1, O) -> (N, O)."""
    x, w, b = float_arrays({"x": x, "w": w, "b": b}, {"x": 2, "w": 2, "b": (1, 2)})
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"w must have {x.shape[1]} rows to match x's features (x is {x.shape}); got {w.shape}")
    b = _bias(b, w.shape[1])
    if _blocked(FORWARD, x.shape[0] * x.shape[1] * w.shape[1], (x.shape[0], w.shape[1]), x.shape[0]):
        y = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
        _products([(FORWARD, x, w, y)])
        add_bias(b, y)
        return y
    with _one_thread(x.shape[0] * x.shape[1] * w.shape[1]):
        return _dense_forward(x, w, b)


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
    # dw and dx have the same blocks (cut along the inputs, or both along the samples): one check.
    if not _blocked(WEIGHT_GRADIENT, x.shape[0] * x.shape[1] * w.shape[1], w.shape, x.shape[0]):
        with _one_thread(x.shape[0] * x.shape[1] * w.shape[1]):
            return _dense_backward(x, w, dy)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty(w.shape[1], dtype=dy.dtype)
    _products([(WEIGHT_GRADIENT, x, dy, dw), (INPUT_GRADIENT, dy, w, dx)])
    bias_gradient(dy, db)
    return dx, dw, db


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["dense_backward", "dense_forward", "matmul"]
