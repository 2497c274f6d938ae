"""Every bad-input case of the suite, importable so that one test can also run them all in a fresh
interpreter (a crash from an unchecked shape would kill it; a wrong exception would not)."""

import inspect
import sys

import numpy as np

import fastnn
import kernels as K
from kernels.registry import REGISTRY

A = np.ones((4, 4))
X = np.ones((2, 5, 5, 3))
W = np.ones((3, 3, 3, 4))

KERNEL_CASES = [
    # (call, exception, words the message must contain)
    (lambda: K.matmul(np.ones(3), A), ValueError, ["a", "2-dimensional", "ndim=1"]),
    (lambda: K.matmul(A, np.ones((3, 2))), ValueError, ["b", "4 rows", "(3, 2)"]),
    (lambda: K.dense_forward(A, A, np.ones(3)), ValueError, ["b", "(4,)", "(3,)"]),
    (lambda: K.dense_backward(A, A, np.ones((4, 3))), ValueError, ["dy", "(4, 4)", "(4, 3)"]),
    (lambda: K.correlate2d(np.ones((2, 5)), np.ones((3, 3)), "valid"), ValueError, ["valid", "(2, 5)", "(3, 3)"]),
    (lambda: K.correlate2d(A, A, mode="circular"), ValueError, ["mode", "circular"]),
    (lambda: K.convolve2d(np.ones((2, 2, 2)), A), ValueError, ["in1", "2-dimensional"]),
    (lambda: K.convolve2d(A, np.ones(3)), ValueError, ["in2", "2-dimensional"]),
    (lambda: K.correlate2d(A, A, "same", "reflect"), ValueError, ["boundary", "reflect", "'symm'"]),
    (lambda: K.convolve2d(A, A, boundary=None), ValueError, ["boundary", "None"]),
    (lambda: K.correlate2d(A, A, fillvalue=1j), ValueError, ["fillvalue", "complex"]),
    (lambda: K.convolve2d(A, A, fillvalue=[1, 2]), ValueError, ["fillvalue", "one element", "(2,)"]),
    (lambda: K.convolve2d(A, A, fillvalue=[]), ValueError, ["fillvalue", "empty"]),
    (lambda: K.correlate2d(A, A, fillvalue="x"), ValueError, ["fillvalue", "real number", "'x'"]),
    (lambda: K.correlate2d(A, A, fillvalue=None), ValueError, ["fillvalue", "None"]),
    (lambda: K.correlate2d(np.ones((2, 2), int), A.astype(int), fillvalue=1e30), ValueError, ["fillvalue", "int64"]),
    (lambda: K.correlate2d(A + 1j, A), TypeError, ["in1", "complex"]),
    (lambda: K.conv2d_forward(X, np.ones((3, 3, 2, 4)), np.ones(4)), ValueError, ["w", "3 input channels"]),
    (lambda: K.conv2d_forward(X, np.ones((6, 3, 3, 4)), np.ones(4)), ValueError, ["kernel 6x3", "fit", "5x5"]),
    (lambda: K.conv2d_forward(X[0], W, np.ones(4)), ValueError, ["x", "4-dimensional", "ndim=3"]),
    (lambda: K.conv2d_forward(X, W, np.ones(3)), ValueError, ["b", "(4,)", "(3,)"]),
    (lambda: K.conv2d_backward(X, W, np.ones((2, 3, 3, 3))), ValueError, ["dy", "(2, 3, 3, 4)"]),
    (lambda: K.conv2d_forward(X, W, np.ones(4), algorithm="fft"), ValueError, ["algorithm", "'im2col'", "'fft'"]),
    (lambda: K.conv2d_backward(X, W, np.ones((2, 3, 3, 4)), algorithm=None), ValueError, ["algorithm", "None"]),
    (lambda: K.conv2d_forward(X, W, np.ones(4), algorithm="planar"), ValueError, ["'planar'", "one input channel"]),
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
    (lambda: K.outer_sgd_step(np.ones((3, 2)), np.ones(3), np.ones(4), 0.1), ValueError, ["dy", "2", "4"]),
    (lambda: K.outer_sgd_step(np.ones((3, 2)), np.ones((3, 1)), np.ones(2), 0.1), ValueError, ["x", "1-dim"]),
    (lambda: K.outer_sgd_step(np.ones(3), np.ones(3), np.ones(1), 0.1), ValueError, ["param", "2-D", "(3,)"]),
    (lambda: K.outer_sgd_step(np.ones((3, 2)), np.ones(3), np.ones(2), -1.0), ValueError, ["lr", ">= 0"]),
    (lambda: K.outer_sgd_step(np.ones((3, 2), int), np.ones(3), np.ones(2), 0.1), TypeError, ["param", "float32"]),
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


def _with_first_array(entry, replace):
    args, kwargs = entry.make(np.random.default_rng(0), np.dtype(np.float64))
    args = list(args)
    args[0] = replace(args[0])
    return lambda: entry.kernel(*args, **kwargs)


def _first_name(entry):
    return next(iter(inspect.signature(entry.kernel).parameters))


BAD_VALUES = {
    "complex": (lambda a: a.astype(complex), TypeError),
    "object": (lambda a: a.astype(object), TypeError),
    "string": (lambda a: a.astype(str), TypeError),
    "empty": (lambda a: np.zeros((0,) + a.shape[1:], dtype=a.dtype), ValueError),
}

DTYPE_AND_EMPTY_CASES = [
    (f"{entry.name}-{kind}", _with_first_array(entry, replace), exc, [_first_name(entry)])
    for entry in REGISTRY
    for kind, (replace, exc) in BAD_VALUES.items()
]

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def _net(*layers, loss="mse"):
    net = fastnn.Network(list(layers) or [fastnn.FCLayer(2, 3, rng=0), fastnn.Tanh(), fastnn.FCLayer(3, 1, rng=1)])
    return net.use(loss)


def _classifier():
    return _net(fastnn.FCLayer(2, 3, rng=0), fastnn.Softmax(), loss="cross_entropy")


LAYER_AND_NETWORK_CASES = [
    ("fc-features", lambda: fastnn.FCLayer(3, 2).forward(np.ones((4, 5))), ValueError, ["(batch, 3)", "(4, 5)"]),
    ("fc-size", lambda: fastnn.FCLayer(0, 2), ValueError, ["input_shape", ">= 1", "0"]),
    (
        "conv-channels",
        lambda: fastnn.ConvLayer((5, 5, 2), (3, 3), 4).forward(np.ones((1, 5, 5, 3))),
        ValueError,
        ["(5, 5, 2)", "(5, 5, 3)"],
    ),
    ("conv-kernel-too-big", lambda: fastnn.ConvLayer((3, 3, 1), (4, 4), 2), ValueError, ["kernel_shape", "(4, 4)"]),
    (
        "conv-kernel-too-big-padded",
        lambda: fastnn.ConvLayer((3, 3, 1), (6, 6), 2, padding=1),
        ValueError,
        ["kernel_shape", "(6, 6)", "padded to 5x5"],
    ),
    ("conv-stride-0", lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2, stride=0), ValueError, ["stride", ">= 1", "0"]),
    ("conv-stride-float", lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2, stride=1.5), TypeError, ["stride", "1.5"]),
    (
        "conv-padding-negative",
        lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2, padding=(1, -1)),
        ValueError,
        ["padding", ">= 0", "(1, -1)"],
    ),
    (
        "conv-same-stride-2",
        lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2, stride=2, padding="same"),
        ValueError,
        ["same", "stride 1", "(2, 2)"],
    ),
    ("conv-padding-word", lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2, padding="full"), ValueError, ["'full'"]),
    (
        "conv2d-kernel-stride-0",
        lambda: K.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), stride=(1, 0)),
        ValueError,
        ["stride", "(1, 0)"],
    ),
    (
        "conv2d-kernel-padding-3",
        lambda: K.conv2d_forward(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), np.ones(1), padding=(1, 1, 1)),
        ValueError,
        ["padding", "(1, 1, 1)"],
    ),
    (
        "conv-ndim",
        lambda: fastnn.ConvLayer((5, 5, 1), (3, 3), 2).forward(np.ones((5, 5))),
        ValueError,
        ["ConvLayer input", "(5, 5)"],
    ),
    (
        "pool-divisible",
        lambda: fastnn.MaxPoolLayer(2).forward(np.ones((1, 5, 4, 1))),
        ValueError,
        ["divisible", "size=2"],
    ),
    ("pool-size", lambda: fastnn.MaxPoolLayer(0), ValueError, ["size", ">= 1"]),
    (
        "avgpool-divisible",
        lambda: fastnn.AvgPoolLayer(3).forward(np.ones((2, 6, 4, 1))),
        ValueError,
        ["divisible", "size=3", "6x4"],
    ),
    ("avgpool-size", lambda: fastnn.AvgPoolLayer(-1), ValueError, ["size", ">= 1"]),
    (
        "batchnorm-features",
        lambda: fastnn.BatchNormLayer(3).forward(np.ones((2, 4))),
        ValueError,
        ["BatchNormLayer(3)", "(2, 4)"],
    ),
    (
        "batchnorm-one-value-per-channel",
        lambda: fastnn.BatchNormLayer(3).forward(np.ones((1, 3)), training=True),
        ValueError,
        ["more than one value per channel", "batch_size"],
    ),
    ("batchnorm-momentum", lambda: fastnn.BatchNormLayer(3, momentum=1.5), ValueError, ["momentum", "1.5"]),
    ("batchnorm-eps", lambda: fastnn.BatchNormLayer(3, eps=0), ValueError, ["eps", "> 0"]),
    ("batchnorm-num-features", lambda: fastnn.BatchNormLayer(0), ValueError, ["num_features", ">= 1"]),
    (
        "batchnorm-fit-batch-of-one",
        lambda: (
            fastnn.Network([fastnn.FCLayer(2, 3), fastnn.BatchNormLayer(3)])
            .use("mse")
            .fit(np.ones((5, 2)), np.ones((5, 3)), epochs=1, batch_size=2, verbose=False)
        ),
        ValueError,
        ["more than one value per channel", "batch of 1"],
    ),
    ("dropout-rate-1", lambda: fastnn.DropoutLayer(1.0), ValueError, ["rate", "< 1.0", "1.0"]),
    ("dropout-rate-nan", lambda: fastnn.DropoutLayer(float("nan")), ValueError, ["rate", "finite", "nan"]),
    ("dropout-rate-negative", lambda: fastnn.DropoutLayer(-0.1), ValueError, ["rate", ">= 0", "-0.1"]),
    ("activation-name", lambda: fastnn.ActivationLayer("swish"), ValueError, ["activation", "swish"]),
    ("leaky-alpha", lambda: fastnn.LeakyReLU(float("inf")), ValueError, ["alpha", "finite"]),
    ("fit-epochs", lambda: _net().fit(XOR_X, XOR_Y, -1), ValueError, ["epochs", ">= 0", "-1"]),
    ("fit-epochs-float", lambda: _net().fit(XOR_X, XOR_Y, 2.5), TypeError, ["epochs", "integer", "2.5"]),
    ("fit-batch-size", lambda: _net().fit(XOR_X, XOR_Y, 1, batch_size=0), ValueError, ["batch_size", ">= 1", "0"]),
    (
        "fit-lr-nan",
        lambda: _net().fit(XOR_X, XOR_Y, 1, learning_rate=float("nan")),
        ValueError,
        ["learning_rate", "finite", "nan"],
    ),
    (
        "fit-lr-inf",
        lambda: _net().fit(XOR_X, XOR_Y, 1, learning_rate=float("inf")),
        ValueError,
        ["learning_rate", "finite", "inf"],
    ),
    (
        "fit-lr-negative",
        lambda: _net().fit(XOR_X, XOR_Y, 1, learning_rate=-1.0),
        ValueError,
        ["learning_rate", ">= 0", "-1.0"],
    ),
    ("fit-x-y-length", lambda: _net().fit(XOR_X, XOR_Y[:3], 1), ValueError, ["y", "(4)", "(3, 1)"]),
    (
        "fit-first-layer",
        lambda: _net().fit(np.ones((4, 5)), XOR_Y, 1, verbose=False),
        ValueError,
        ["x_train", "2 features", "(4, 5)"],
    ),
    (
        "fit-labels-range",
        lambda: _classifier().fit(XOR_X, np.array([0, 1, 2, 5]), 1, verbose=False),
        ValueError,
        ["labels", "[0, 3)", "5]"],
    ),
    (
        "fit-y-width",
        lambda: _net().fit(XOR_X, np.ones((4, 3)), 1, verbose=False),
        ValueError,
        ["y_train", "1 values", "(4, 3)"],
    ),
    ("fit-x-complex", lambda: _net().fit(XOR_X.astype(complex), XOR_Y, 1), TypeError, ["x_train", "complex"]),
    ("fit-y-strings", lambda: _net().fit(XOR_X, XOR_Y.astype(str), 1), TypeError, ["y", "real numbers"]),
    ("fit-x-empty", lambda: _net().fit(np.ones((0, 2)), np.ones((0, 1)), 1), ValueError, ["x_train", "(0, 2)"]),
    ("momentum-nan", lambda: fastnn.Momentum(0.1, momentum=float("nan")), ValueError, ["momentum", "finite"]),
    ("adam-beta1", lambda: fastnn.Adam(beta1=1.5), ValueError, ["beta1", "1.5"]),
    ("rmsprop-eps", lambda: fastnn.RMSProp(eps=0), ValueError, ["eps", "> 0"]),
    ("sgd-lr", lambda: fastnn.SGD(float("-inf")), ValueError, ["lr", "finite"]),
    ("network-dtype", lambda: fastnn.Network(dtype="int32"), ValueError, ["dtype", "int32"]),
    ("predict-ndim", lambda: _net().predict(np.ones(2)), ValueError, ["input", "(2,)"]),
]

CASES = (
    [(f"kernel-{i}", call, exc, words) for i, (call, exc, words) in enumerate(KERNEL_CASES)]
    + DTYPE_AND_EMPTY_CASES
    + LAYER_AND_NETWORK_CASES
)


def problem(call, exc, words):
    """None if ``call`` raises ``exc`` with every word in its message; else what went wrong."""
    try:
        call()
    except exc as err:
        missing = [w for w in words if w not in str(err)]
        return f"message {str(err)!r} lacks {missing}" if missing else None
    except Exception as err:  # the wrong exception type
        return f"raised {type(err).__name__}: {err}"
    return "raised nothing"


def run_all() -> int:
    """Run every case; print one line each; exit status 1 if any is wrong."""
    bad = 0
    for name, call, exc, words in CASES:
        why = problem(call, exc, words)
        bad += why is not None
        print(f"{name}: {'ok' if why is None else why}")
    print(f"{len(CASES)} cases, {bad} wrong")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(run_all())
