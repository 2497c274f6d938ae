"""Input validation shared by every public kernel: runs in Python, before any jitted code.

Compiled loops do not check bounds, so every shape relation a kernel relies on is checked
here and reported as ``ValueError``/``TypeError`` naming the argument, the expected and the
received value.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
FLOAT_DTYPES = (F32, F64)


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__}"


def real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as an ndarray of real numbers (any dtype), or TypeError naming ``name``."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of real numbers; got {_describe(x)} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        what = "complex" if arr.dtype.kind == "c" else f"{arr.dtype}"
        raise TypeError(
            f"{name} must hold real numbers (float32, float64 or integer); got {what} dtype ({_describe(arr)})"
        )
    return arr


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 only if every input is float32; float64 otherwise (integers and float16 included)."""
    for a in arrays:
        if a.dtype is not F32 and a.dtype != F32:
            return F64
    return F32


def float_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int = 0,
    dtype: np.dtype | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Validate ``x`` and return it as a C-contiguous float32/float64 array.

    ``dtype`` forces the result dtype (used once the common dtype of several inputs is known);
    otherwise float32 stays float32 and everything else becomes float64.
    """
    if type(x) is np.ndarray:  # fast path: already what the kernels take (the per-sample case)
        dt = x.dtype
        if (
            (dt is F64 or dt is F32)
            and (dtype is None or dt is dtype)
            and (ndim is None or x.ndim == ndim)
            and x.ndim >= min_ndim
            and x.size
            and x.flags.c_contiguous
        ):
            return x
    arr = real_array(x, name)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must be {want}-dimensional; got ndim={arr.ndim} (shape {arr.shape})")
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must be at least {min_ndim}-dimensional; got ndim={arr.ndim} (shape {arr.shape})")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    target = dtype if dtype is not None else result_dtype(arr)
    return np.ascontiguousarray(arr, dtype=target)


def float_arrays(
    named: dict[str, Any], ndims: dict[str, int | tuple[int, ...]] | None = None, min_ndim: int = 0
) -> list[np.ndarray]:
    """Validate several arrays and convert them to their common float dtype."""
    ndims = ndims or {}
    common = None
    for name, x in named.items():  # fast path: contiguous arrays of one float dtype pass as they are
        if type(x) is not np.ndarray:
            break
        dt, want = x.dtype, ndims.get(name)
        if (
            not (dt is F64 or dt is F32)
            or (common is not None and dt is not common)
            or not x.flags.c_contiguous
            or x.size == 0
            or x.ndim < min_ndim
            or (want is not None and x.ndim != want and not (type(want) is tuple and x.ndim in want))
        ):
            break
        common = dt
    else:
        return list(named.values())
    raw = [(name, real_array(x, name)) for name, x in named.items()]
    dtype = result_dtype(*(arr for _, arr in raw))
    return [float_array(arr, name, ndim=ndims.get(name), min_ndim=min_ndim, dtype=dtype) for name, arr in raw]


def same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{b_name} must have the shape of {a_name} {a.shape}; got {b.shape}")


def real_scalar(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number inside [low, high] (ends opened by ``*_open``), as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {v!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {v!r}")
    return v


def positive_int(value: Any, name: str, *, low: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    v = int(value)
    if v < low:
        raise ValueError(f"{name} must be >= {low}; got {v}")
    return v


def state_array(x: Any, name: str, like: np.ndarray, like_name: str) -> np.ndarray:
    """An optimizer state or parameter updated in place: float32/float64, writable, shaped like ``like``."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array updated in place; got {_describe(x)}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64 to be updated in place; got dtype {x.dtype}")
    if x is not like:
        if x.dtype != like.dtype:
            raise TypeError(f"{name} must have the dtype of {like_name} ({like.dtype}); got {x.dtype}")
        same_shape(like, like_name, x, name)
        if np.shares_memory(x, like):
            raise ValueError(f"{name} must not share memory with {like_name}")
    if x.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {x.shape}")
    if not x.flags.writeable:
        raise ValueError(f"{name} must be writeable (it is updated in place)")
    return x


def _ints(values: Any, name: str, low: int, given: Any) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int or a tuple of ints; got {given!r}")
        if v < low:
            raise ValueError(f"{name} must be >= {low}; got {given!r}")
        out.append(int(v))
    return tuple(out)


def conv_geometry(stride: Any, padding: Any) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """((sh, sw), (top, bottom, left, right)) from ``stride`` (an int or a pair, >= 1) and
    ``padding`` (an int, a pair (ph, pw) or (top, bottom, left, right), all >= 0)."""
    s = (stride, stride) if not isinstance(stride, (tuple, list)) else tuple(stride)
    if len(s) != 2:
        raise ValueError(f"stride must be an int or a pair (sh, sw); got {stride!r}")
    p = (padding, padding) if not isinstance(padding, (tuple, list)) else tuple(padding)
    if len(p) not in (2, 4):
        raise ValueError(f"padding must be an int, (ph, pw) or (top, bottom, left, right); got {padding!r}")
    p = _ints(p, "padding", 0, padding)
    pads = (p[0], p[0], p[1], p[1]) if len(p) == 2 else p
    sh, sw = _ints(s, "stride", 1, stride)
    return (sh, sw), pads
