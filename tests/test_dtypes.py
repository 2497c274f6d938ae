"""dtype rules: float32 stays float32, float64 stays float64, mixed and integer inputs become float64."""

import numpy as np
import pytest

import kernels as K


def _all_float_outputs(out):
    items = out if isinstance(out, tuple) else (out,)
    return [np.asarray(o) for o in items if np.asarray(o).dtype.kind == "f"]


CALLS = {
    "matmul": lambda a: K.matmul(a((3, 4)), a((4, 2))),
    "dense_forward": lambda a: K.dense_forward(a((3, 4)), a((4, 2)), a((2,))),
    "dense_backward": lambda a: K.dense_backward(a((3, 4)), a((4, 2)), a((3, 2))),
    "correlate2d": lambda a: K.correlate2d(a((5, 5)), a((2, 2)), "same"),
    "convolve2d": lambda a: K.convolve2d(a((5, 5)), a((2, 2)), "full"),
    "conv2d_forward": lambda a: K.conv2d_forward(a((2, 5, 5, 2)), a((3, 3, 2, 3)), a((3,))),
    "conv2d_backward": lambda a: K.conv2d_backward(a((2, 5, 5, 2)), a((3, 3, 2, 3)), a((2, 3, 3, 3))),
    "maxpool2d_forward": lambda a: K.maxpool2d_forward(a((1, 4, 4, 2)), 2),
    "tanh": lambda a: K.tanh(a((3, 3))),
    "sigmoid": lambda a: K.sigmoid(a((3, 3))),
    "relu": lambda a: K.relu(a((3, 3))),
    "leaky_relu": lambda a: K.leaky_relu(a((3, 3)), 0.1),
    "softmax": lambda a: K.softmax(a((3, 3))),
    "tanh_backward": lambda a: K.tanh_backward(a((3,)), a((3,))),
    "softmax_backward": lambda a: K.softmax_backward(a((2, 3)), a((2, 3))),
    "mse": lambda a: K.mse(a((3, 1)), a((3, 1))),
    "mse_backward": lambda a: K.mse_backward(a((3, 1)), a((3, 1))),
    "binary_cross_entropy": lambda a: K.binary_cross_entropy(np.abs(a((3, 1))) % 1, np.abs(a((3, 1))) % 1),
    "softmax_cross_entropy": lambda a: K.softmax_cross_entropy(a((3, 4)), np.array([0, 3, 1])),
}


@pytest.mark.parametrize("name", CALLS)
def test_dtype_preserved(name, dtype, rng):
    outs = _all_float_outputs(CALLS[name](lambda shape: rng.standard_normal(shape).astype(dtype)))
    assert outs and all(o.dtype == dtype for o in outs), [o.dtype for o in outs]


@pytest.mark.parametrize("name", CALLS)
def test_integer_inputs_become_float64(name):
    outs = _all_float_outputs(CALLS[name](lambda shape: np.arange(np.prod(shape)).reshape(shape) % 3))
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
