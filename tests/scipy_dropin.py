"""A pytest plugin for running scipy's own 2-D convolution tests with fastnn's functions in place
of ``scipy.signal.convolve2d`` / ``correlate2d`` (tests/test_scipy_dropin.py loads it into a run of
the test file scipy installs with itself; nothing of scipy's is copied here).

fastnn returns float64 for integer inputs where scipy returns an integer array, and scipy's
tests compare dtypes. The adapter checks that such a result holds exact integers, then hands it
back in scipy's integer dtype; every other result is passed on untouched.
"""

import numpy as np
import scipy.signal

import kernels


def _adapted(func):
    def call(in1, in2, *args, **kwargs):
        out = func(in1, in2, *args, **kwargs)
        a, b = np.asarray(in1), np.asarray(in2)
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            for rows in np.array_split(out, max(1, out.size // 1_000_000)):  # bounded temporaries
                if not np.array_equal(rows, np.round(rows)):
                    raise AssertionError(f"{func.__name__} of integer inputs gave non-integer values")
            return out.astype(np.result_type(a, b))
        return out

    call.__name__ = func.__name__
    return call


def _install(name: str) -> None:
    original = getattr(scipy.signal, name)
    replacement = _adapted(getattr(kernels, name))
    try:  # scipy's test markers look functions up in its array-API capabilities table
        from scipy._lib._array_api import xp_capabilities_table

        xp_capabilities_table[replacement] = xp_capabilities_table[original]
    except (ImportError, KeyError):
        pass
    setattr(scipy.signal, name, replacement)


_install("convolve2d")
_install("correlate2d")
