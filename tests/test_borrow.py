"""The engine's borrowed views (kernels._borrow) against numpy's slicing and reshape."""

import numpy as np
import pytest

from kernels import _borrow as KB
from kernels.config import jit


@jit
def _shaped_copy(buffer, start, shape):
    return KB.shaped(buffer, start, shape).copy()


@jit
def _borrowed_sum_and_write(a):
    b = KB.borrowed(a)
    b[0] = 7.0  # writes through to the caller's array
    return b.sum()


@pytest.mark.parametrize("shape", [(5,), (2, 3), (1, 4, 2), (2, 1, 3, 2)])
def test_shaped_is_slice_then_reshape(dtype, shape, rng):
    buffer = rng.standard_normal(60).astype(dtype)
    start = 7
    got = _shaped_copy(buffer, start, shape)
    want = buffer[start : start + int(np.prod(shape))].reshape(shape)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_shaped_of_nothing_and_borrowed_writes_through(dtype):
    assert _shaped_copy(np.ones(4, dtype=dtype), 4, (0, 3)).shape == (0, 3)
    a = np.arange(5, dtype=dtype)
    assert _borrowed_sum_and_write(a) == 7 + 1 + 2 + 3 + 4
    assert a[0] == 7
