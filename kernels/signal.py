"""scipy.signal's single-channel 2-D ``correlate2d`` / ``convolve2d``, compiled: the same signature
and defaults (mode "full"), every mode and boundary ("fill" with any fill value, "wrap", "symm").
The seed ConvLayer calls them per channel; users call them as they call scipy's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._checks import float_arrays
from .config import jit

MODES = ("valid", "full", "same")
FILL, WRAP, SYMM = 0, 1, 2
# scipy.signal's boundary names, aliases included.
BOUNDARIES = {"fill": FILL, "pad": FILL, "wrap": WRAP, "circular": WRAP, "symm": SYMM, "symmetric": SYMM}
_F32_MAX = float(np.finfo(np.float32).max)


@jit
def _correlate_valid(a, k):
    """Valid cross-correlation, a (H, W) at least as large as k (KH, KW) in both dimensions."""
    kh, kw = k.shape
    oh, ow = a.shape[0] - kh + 1, a.shape[1] - kw + 1
    out = np.empty((oh, ow), dtype=a.dtype)
    for i in range(oh):
        out[i, :] = 0  # written before it is read: no zero-page faults on large outputs
        for m in range(kh):
            for n in range(kw):
                weight = k[m, n]
                for j in range(ow):  # contiguous in out and a: vectorises
                    out[i, j] += a[i + m, j + n] * weight
    return out


@jit
def _source_index(i, n, boundary):
    """The index into an axis of length ``n`` that position ``i`` of the extended axis reads, or -1
    for a position the fill value takes. scipy's extensions repeat as far as a kernel reaches:
    "wrap" is periodic (period n), "symm" mirrors with the edge sample repeated (period 2n)."""
    if 0 <= i < n:
        return i
    if boundary == FILL:
        return -1
    if boundary == WRAP:
        return i % n
    r = i % (2 * n)
    return r if r < n else 2 * n - 1 - r


@jit
def _correlate_region(a, k, pad_r, pad_c, oh, ow, boundary, fill):
    """Output rows/columns of the valid correlation of ``k`` over a canvas of (oh+KH-1, ow+KW-1)
    holding ``a`` at (pad_r, pad_c) and, around it, ``a`` extended by ``boundary`` (FILL with
    ``fill``, WRAP, SYMM). In valid mode (no padding, same size) ``a`` is the canvas.

    Building the canvas costs one pass over it; the correlation then runs the same vectorised
    loops for every boundary, and fill values meet the kernel as in scipy (0 * inf is NaN).
    """
    kh, kw = k.shape
    h, w = a.shape
    ch, cw = oh + kh - 1, ow + kw - 1
    if pad_r == 0 and pad_c == 0 and h == ch and w == cw:
        return _correlate_valid(a, k)
    cols = np.empty(cw, dtype=np.int64)
    for j in range(cw):
        cols[j] = _source_index(j - pad_c, w, boundary)
    lo, hi = min(pad_c, cw), min(pad_c + w, cw)  # canvas columns that hold a's own row
    canvas = np.empty((ch, cw), dtype=a.dtype)
    for i in range(ch):
        r = _source_index(i - pad_r, h, boundary)
        if r < 0:
            canvas[i, :] = fill
            continue
        canvas[i, lo:hi] = a[r, : hi - lo]
        for j in range(lo):
            c = cols[j]
            canvas[i, j] = a[r, c] if c >= 0 else fill
        for j in range(hi, cw):
            c = cols[j]
            canvas[i, j] = a[r, c] if c >= 0 else fill
    return _correlate_valid(canvas, k)


def _region(a_shape: tuple[int, int], k_shape: tuple[int, int], mode: str, convolve: bool):
    """(pad_r, pad_c, out_h, out_w): where ``a`` sits in the canvas, and the output size.

    In the full result's coordinates the output starts at row kh-1-pad_r, column kw-1-pad_c.
    """
    (h, w), (kh, kw) = a_shape, k_shape
    if mode == "full":
        return kh - 1, kw - 1, h + kh - 1, w + kw - 1
    if mode == "same":
        # scipy centres "same" differently for the two operations when the kernel is even.
        if convolve:
            return kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2, h, w
        return kh - 1 - kh // 2, kw - 1 - kw // 2, h, w
    if h >= kh and w >= kw:
        return 0, 0, h - kh + 1, w - kw + 1
    if h <= kh and w <= kw:  # scipy swaps the operands; the same region of the zero-filled full result
        return kh - h, kw - w, kh - h + 1, kw - w + 1
    raise ValueError(
        f"in 'valid' mode one of in1 {a_shape} and in2 {k_shape} must be at least as large as the other in every "
        "dimension"
    )


def _boundary_code(boundary: Any) -> int:
    code = BOUNDARIES.get(boundary) if isinstance(boundary, str) else None
    if code is None:
        raise ValueError(
            f"boundary must be 'fill' (or 'pad'), 'wrap' (or 'circular') or 'symm' (or 'symmetric'); got {boundary!r}"
        )
    return code


def _fill_value(fillvalue: Any, in1: Any, in2: Any) -> float:
    """``fillvalue`` as scipy takes it: a real scalar or one-element array; for two integer inputs,
    converted to their integer type first (scipy computes in it: 1.5 fills as 1)."""
    if type(fillvalue) in (int, float):
        v = float(fillvalue)
        if v == 0:
            return 0.0
    else:
        try:
            value = np.asarray(fillvalue)
        except Exception as exc:
            raise ValueError(f"fillvalue must be a real scalar; got {fillvalue!r} ({exc})") from None
        if value.size != 1:
            what = "an empty array" if value.size == 0 else f"shape {value.shape}"
            raise ValueError(f"`fillvalue` must be scalar or an array with one element; got {what}")
        if value.dtype.kind == "c":  # scipy: cannot cast a complex fill value to a real output
            raise ValueError(
                "fillvalue must be real: could not cast `fillvalue` directly to the output type "
                f"(got complex {fillvalue!r})"
            )
        if value.dtype.kind not in "biuf":
            raise ValueError(f"fillvalue must be a real number; got {fillvalue!r}")
        v = float(value.reshape(()))
    dt1, dt2 = _dtype(in1), _dtype(in2)
    if dt1.kind in "iu" and dt2.kind in "iu":
        int_type = np.result_type(dt1, dt2)
        info = np.iinfo(int_type)
        if not (math.isfinite(v) and info.min <= math.trunc(v) <= info.max):
            raise ValueError(f"fillvalue {fillvalue!r} does not fit the inputs' integer type {int_type}")
        v = float(math.trunc(v))
    return v


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype


def _single_channel(in1, in2, mode: str, boundary: Any, fillvalue: Any, convolve: bool) -> np.ndarray:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    code = _boundary_code(boundary)
    fill = _fill_value(fillvalue, in1, in2)
    a, k = float_arrays({"in1": in1, "in2": in2}, {"in1": 2, "in2": 2})
    pad_r, pad_c, oh, ow = _region(a.shape, k.shape, mode, convolve)
    if mode == "valid":  # never reads beyond the inputs (scipy swaps them when in2 is the larger)
        code, fill = FILL, 0.0
    if convolve:
        k = np.ascontiguousarray(k[::-1, ::-1])
    if a.dtype == np.float32 and abs(fill) > _F32_MAX:  # beyond float32's range: inf, as in scipy
        with np.errstate(over="ignore"):
            return _correlate_region(a, k, pad_r, pad_c, oh, ow, code, np.float32(fill))
    return _correlate_region(a, k, pad_r, pad_c, oh, ow, code, a.dtype.type(fill))


def correlate2d(
    in1: np.ndarray, in2: np.ndarray, mode: str = "full", boundary: str = "fill", fillvalue: float = 0
) -> np.ndarray:
    """2-D cross-correlation of ``in1`` (H, W) with ``in2`` (KH, KW), as ``scipy.signal.correlate2d``:
    the same signature and defaults, results equal to rounding.

    ``mode``: "full" (H+KH-1, W+KW-1), "same" (H, W, centred as scipy does), "valid"
    (|H-KH|+1, |W-KW|+1; either input may be the larger, as in scipy). ``boundary``: "fill" (pad with
    ``fillvalue``), "wrap"/"circular" (periodic), "symm"/"symmetric" (mirrored, edge repeated).
    float32 stays float32, other real inputs compute in float64 (integer inputs: float64 results
    with scipy's values); complex inputs raise TypeError.
    """
    return _single_channel(in1, in2, mode, boundary, fillvalue, convolve=False)


def convolve2d(
    in1: np.ndarray, in2: np.ndarray, mode: str = "full", boundary: str = "fill", fillvalue: float = 0
) -> np.ndarray:
    """2-D convolution of ``in1`` (H, W) with ``in2`` (KH, KW), as ``scipy.signal.convolve2d``; the
    arguments as in :func:`correlate2d`."""
    return _single_channel(in1, in2, mode, boundary, fillvalue, convolve=True)


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["convolve2d", "correlate2d"]
