"""dtype rules, for every registry kernel: float32 stays float32, float64 stays float64, mixed and integer
inputs become float64."""

import numpy as np
import pytest

import kernels as K
from kernels.registry import REGISTRY


def _float_outputs(entry, out, args):
    items = [args[i] for i in entry.inplace] if entry.inplace else (out if isinstance(out, tuple) else (out,))
    return [np.asarray(o) for o in items if np.asarray(o).dtype.kind == "f"]


def _as_integers(value):
    """A float array argument as small integers (the values a user's int arrays would hold)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return np.round(value * 3).astype(np.int64)
    return value


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_dtype_preserved(entry, dtype):
    """Every registry kernel (so every kernel added later too): float32 in, float32 out; float64 likewise."""
    args, kwargs = entry.make(np.random.default_rng(0), dtype)
    outs = _float_outputs(entry, entry.kernel(*args, **kwargs), args)
    assert outs and all(o.dtype == dtype for o in outs), [o.dtype for o in outs]


@pytest.mark.parametrize("entry", [e for e in REGISTRY if not e.inplace], ids=lambda e: e.name)
def test_integer_inputs_become_float64(entry):
    """Integer arrays compute in float64 (in-place optimizer steps need float arrays to update: not here)."""
    args, kwargs = entry.make(np.random.default_rng(0), np.dtype(np.float64))
    int_args = [_as_integers(a) for a in args]
    assert any(isinstance(a, np.ndarray) and a.dtype.kind == "i" for a in int_args)
    outs = _float_outputs(entry, entry.kernel(*int_args, **kwargs), int_args)
    assert outs and all(o.dtype == np.float64 for o in outs)


def test_mixed_float32_float64_gives_float64(rng):
    a32 = rng.standard_normal((3, 4)).astype(np.float32)
    b64 = rng.standard_normal((4, 2))
    assert K.matmul(a32, b64).dtype == np.float64
    assert K.correlate2d(a32, b64[:2, :2]).dtype == np.float64
    np.testing.assert_allclose(K.matmul(a32, b64), a32.astype(np.float64) @ b64, rtol=1e-12)


def test_float32_optimizer_step_stays_float32(rng):
    p = rng.standard_normal(10).astype(np.float32)
    expected = p - np.float32(0.1) * np.float32(2.0) * np.ones(10, np.float32)
    K.sgd_step(p, np.full(10, 2.0), 0.1)  # float64 grad is cast to the parameter's dtype
    assert p.dtype == np.float32
    assert np.array_equal(p, expected)


def test_scalar_losses_have_the_input_dtype(dtype):
    assert K.mse(np.zeros(3, dtype), np.ones(3, dtype)).dtype == dtype
    loss, grad = K.softmax_cross_entropy(np.zeros((2, 3), dtype), np.array([0, 1]))
    assert loss.dtype == dtype and grad.dtype == dtype
