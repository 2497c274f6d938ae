"""The one place that decides how numba compiles fastnn's kernels.

Environment switches (read once, at import):

``FASTNN_CACHE``     ``1`` (default) caches compiled machine code on disk (numba's ``cache=True``);
                     ``0`` compiles in memory only. Where the cache lives is numba's own
                     ``NUMBA_CACHE_DIR``; give every concurrent process or test worker its own.
``FASTNN_FASTMATH``  ``0`` (default) keeps IEEE semantics: NaN and inf propagate as in numpy.
                     ``1`` lets LLVM reassociate and assume finite values (faster reductions,
                     but NaN checks may be optimised away). Never on in tests.
``FASTNN_PARALLEL``  ``1`` (default) lets kernels marked parallel use numba's thread pool
                     (``prange`` over the batch); ``0`` compiles them serial.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numba


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


CACHE: bool = _flag("FASTNN_CACHE", True)
FASTMATH: bool = _flag("FASTNN_FASTMATH", False)
PARALLEL: bool = _flag("FASTNN_PARALLEL", True)


def jit(func: Callable[..., Any] | None = None, *, parallel: bool = False, contract: bool = False) -> Any:
    """``numba.njit`` with fastnn's settings; use as ``@jit`` or ``@jit(parallel=True)``.

    Kernels are compiled lazily, once per dtype signature, and cached on disk when
    ``FASTNN_CACHE`` is on. ``parallel=True`` only takes effect when ``FASTNN_PARALLEL`` is on.
    ``contract=True`` lets LLVM fuse ``a*b + c`` into one FMA instruction (one rounding instead
    of two; NaN and inf behave as before). The dense loops use it so that small products round
    exactly as numpy's BLAS ``np.dot`` does.
    """
    math_flags: bool | set[str] = True if FASTMATH else ({"contract"} if contract else False)

    def wrap(f: Callable[..., Any]) -> Any:
        return numba.njit(
            cache=CACHE,
            fastmath=math_flags,
            parallel=parallel and PARALLEL,
            nogil=True,
            error_model="numpy",
        )(f)

    return wrap if func is None else wrap(func)


def settings() -> dict[str, Any]:
    """The active settings, for reports."""
    return {
        "cache": CACHE,
        "cache_dir": numba.config.CACHE_DIR or "(next to the sources / user cache)",
        "fastmath": FASTMATH,
        "parallel": PARALLEL,
        "threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.config.THREADING_LAYER,
        "numba": numba.__version__,
    }
