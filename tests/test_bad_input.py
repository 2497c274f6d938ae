"""Bad input raises ValueError/TypeError naming the argument, before any compiled code runs."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kernels as K

A = np.ones((4, 4))
X = np.ones((2, 5, 5, 3))
W = np.ones((3, 3, 3, 4))

BAD = [
    # (call, exception, words the message must contain)
    (lambda: K.matmul(np.ones(3), A), ValueError, ["a", "2-dimensional", "ndim=1"]),
    (lambda: K.matmul(A, np.ones((3, 2))), ValueError, ["b", "4 rows", "(3, 2)"]),
    (lambda: K.dense_forward(A, A, np.ones(3)), ValueError, ["b", "(4,)", "(3,)"]),
    (lambda: K.dense_backward(A, A, np.ones((4, 3))), ValueError, ["dy", "(4, 4)", "(4, 3)"]),
    (lambda: K.correlate2d(np.ones((2, 5)), np.ones((3, 3))), ValueError, ["valid", "(2, 5)", "(3, 3)"]),
    (lambda: K.correlate2d(A, A, mode="circular"), ValueError, ["mode", "circular"]),
    (lambda: K.convolve2d(np.ones((2, 2, 2)), A), ValueError, ["a", "2-dimensional"]),
    (lambda: K.conv2d_forward(X, np.ones((3, 3, 2, 4)), np.ones(4)), ValueError, ["w", "3 input channels"]),
    (lambda: K.conv2d_forward(X, np.ones((6, 3, 3, 4)), np.ones(4)), ValueError, ["kernel 6x3", "fit", "5x5"]),
    (lambda: K.conv2d_forward(X[0], W, np.ones(4)), ValueError, ["x", "4-dimensional", "ndim=3"]),
    (lambda: K.conv2d_forward(X, W, np.ones(3)), ValueError, ["b", "(4,)", "(3,)"]),
    (lambda: K.conv2d_backward(X, W, np.ones((2, 3, 3, 3))), ValueError, ["dy", "(2, 3, 3, 4)"]),
    (lambda: K.maxpool2d_forward(np.ones((1, 5, 4, 1)), 2), ValueError, ["divisible", "size=2", "5x4"]),
    (lambda: K.maxpool2d_forward(np.ones((1, 4, 4, 1)), 0), ValueError, ["size", ">= 1"]),
    (lambda: K.maxpool2d_forward(np.ones((1, 4, 4, 1)), 1.5), TypeError, ["size", "integer"]),
    (
        lambda: K.maxpool2d_backward(np.full((1, 2, 2, 1), 16), np.ones((1, 2, 2, 1)), (1, 4, 4, 1)),
        ValueError,
        ["argmax", "[0, 16)", "16"],
    ),
    (
        lambda: K.maxpool2d_backward(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1)), (1, 4, 4, 1)),
        TypeError,
        ["argmax", "integer"],
    ),
    (
        lambda: K.maxpool2d_backward(np.zeros((1, 2, 2, 1), int), np.ones((1, 2, 2, 1)), (1, 5, 4, 1)),
        ValueError,
        ["dy", "max-pool output"],
    ),
    (lambda: K.tanh_backward(np.ones(3), np.ones(4)), ValueError, ["dy", "(3,)", "(4,)"]),
    (lambda: K.leaky_relu(A, alpha=-0.1), ValueError, ["alpha", ">= 0"]),
    (lambda: K.leaky_relu(A, alpha=float("nan")), ValueError, ["alpha", "finite"]),
    (lambda: K.softmax(np.float64(1.0)), ValueError, ["x", "at least 1-dimensional"]),
    (lambda: K.mse(np.ones(3), np.ones(4)), ValueError, ["y_pred", "(3,)", "(4,)"]),
    (lambda: K.softmax_cross_entropy(np.ones((3, 4)), np.array([0, 4, 1])), ValueError, ["labels", "[0, 4)", "4]"]),
    (lambda: K.softmax_cross_entropy(np.ones((3, 4)), np.array([0, -1, 1])), ValueError, ["labels", "-1"]),
    (lambda: K.softmax_cross_entropy(np.ones((3, 4)), np.array([0.0, 1.0, 1.0])), TypeError, ["labels", "integer"]),
    (lambda: K.softmax_cross_entropy(np.ones((3, 4)), np.array([0, 1])), ValueError, ["labels", "(3,)", "(2,)"]),
    (lambda: K.sgd_step(np.ones(3), np.ones(3), float("nan")), ValueError, ["lr", "finite", "nan"]),
    (lambda: K.sgd_step(np.ones(3), np.ones(3), -0.1), ValueError, ["lr", ">= 0", "-0.1"]),
    (lambda: K.sgd_step(np.ones(3), np.ones(3), "0.1"), TypeError, ["lr", "real number", "str"]),
    (lambda: K.sgd_step(np.ones(3), np.ones(4), 0.1), ValueError, ["grad", "(3,)", "(4,)"]),
    (lambda: K.sgd_step(np.ones(3, int), np.ones(3), 0.1), TypeError, ["param", "float32 or float64", "int64"]),
    (lambda: K.sgd_step([1.0, 2.0], np.ones(2), 0.1), TypeError, ["param", "numpy array"]),
    (lambda: K.momentum_step(np.ones(3), np.ones(3), np.ones(3), 0.1, 1.0), ValueError, ["momentum", "< 1.0"]),
    (lambda: K.momentum_step(np.ones(3), np.ones(3), np.ones(2), 0.1, 0.9), ValueError, ["velocity", "(3,)", "(2,)"]),
    (
        lambda: K.momentum_step(np.ones(3), np.ones(3), np.ones(3, np.float32), 0.1, 0.9),
        TypeError,
        ["velocity", "float64", "float32"],
    ),
    (lambda: K.rmsprop_step(np.ones(3), np.ones(3), np.ones(3), 0.1, eps=0.0), ValueError, ["eps", "> 0"]),
    (lambda: K.adam_step(np.ones(3), np.ones(3), np.ones(3), np.ones(3), 0, 0.1), ValueError, ["t", ">= 1"]),
    (lambda: K.adam_step(np.ones(3), np.ones(3), np.ones(3), np.ones(3), 1, 0.1, beta1=1.0), ValueError, ["beta1"]),
    (lambda: K.adam_step(np.ones(3), np.ones(3), np.ones(3), np.ones(3), 1, float("inf")), ValueError, ["lr", "inf"]),
]


@pytest.mark.parametrize("call,exc,words", BAD, ids=[f"case{i}" for i in range(len(BAD))])
def test_bad_input_raises_with_a_message(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value!s}"


BAD_DTYPES = {
    "complex": np.ones((4, 4), dtype=complex),
    "object": np.array([[None] * 4] * 4, dtype=object),
    "string": np.array([["a"] * 4] * 4),
}


@pytest.mark.parametrize("kind", BAD_DTYPES)
@pytest.mark.parametrize(
    "call",
    [
        lambda a: K.matmul(a, A),
        lambda a: K.correlate2d(A, a),
        lambda a: K.tanh(a),
        lambda a: K.relu_backward(A, a),
        lambda a: K.mse(A, a),
        lambda a: K.sgd_step(np.ones((4, 4)), a, 0.1),
    ],
    ids=["matmul", "correlate2d", "tanh", "relu_backward", "mse", "sgd_step"],
)
def test_non_real_dtypes_raise_type_error(call, kind):
    with pytest.raises(TypeError, match="real numbers"):
        call(BAD_DTYPES[kind])


@pytest.mark.parametrize(
    "call",
    [
        lambda: K.matmul(np.ones((0, 3)), np.ones((3, 2))),
        lambda: K.tanh(np.array([])),
        lambda: K.conv2d_forward(np.ones((0, 5, 5, 3)), W, np.ones(4)),
        lambda: K.mse(np.array([]), np.array([])),
    ],
)
def test_empty_arrays_raise(call):
    with pytest.raises(ValueError, match="must not be empty"):
        call()


def test_read_only_parameter_is_refused():
    p = np.ones(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="param must be writeable"):
        K.sgd_step(p, np.ones(3), 0.1)


def test_state_sharing_memory_with_param_is_refused():
    p = np.ones(6)
    with pytest.raises(ValueError, match="velocity must not share memory with param"):
        K.momentum_step(p[:3], np.ones(3), p[1:4], 0.1, 0.9)


def test_bad_input_in_a_subprocess_raises_and_does_not_crash():
    """A crash (segfault from an out-of-bounds write) would show as a negative return code."""
    code = textwrap.dedent(
        """
        import numpy as np, kernels as K
        calls = [
            lambda: K.conv2d_forward(np.ones((1, 3, 3, 1)), np.ones((5, 5, 1, 2)), np.ones(2)),
            lambda: K.conv2d_backward(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), np.ones((1, 9, 9, 2))),
            lambda: K.maxpool2d_backward(np.full((1, 2, 2, 1), 10**9), np.ones((1, 2, 2, 1)), (1, 4, 4, 1)),
            lambda: K.dense_forward(np.ones((2, 3)), np.ones((4, 5)), np.ones(5)),
            lambda: K.softmax_cross_entropy(np.ones((2, 3)), np.array([0, 10**9])),
        ]
        for call in calls:
            try:
                call()
            except (ValueError, TypeError) as exc:
                print("raised", type(exc).__name__)
            else:
                print("no error")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == ["raised ValueError"] * 5, proc.stdout
