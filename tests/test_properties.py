"""Property tests (hypothesis) against kernels.reference: random shapes from 1x1 to moderate, kernels
as large as their input, batch 1, both dtypes, C/Fortran/strided layouts, zeros and large magnitudes.

Every registry kernel and every layer's forward/backward is covered; the total is above 2,000 generated
cases per run. A failure prints hypothesis's shrunk example (the shapes, layout and values).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn
import kernels as K
from fastnn.refpath import reference_path
from kernels import reference as R
from kernels.validate import TOLERANCE, compare, relayout

EXAMPLES = 160  # per test; with the 300 layer cases: 2,060 generated examples, ~4,600 kernel comparisons
COUNT = {"examples": 0, "comparisons": 0}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
LAYOUTS = st.sampled_from(["C", "F", "strided"])
SCALES = st.sampled_from([0.0, 1.0, 1e-3, 1e4])  # all zeros, ordinary, small and large magnitudes


@st.composite
def arrays(draw, shape, dtype, scale=None):
    """Normal-ish values times a drawn scale (0 gives exact zeros), in a drawn memory layout."""
    scale = draw(SCALES) if scale is None else scale
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3, allow_nan=False, width=32)))
    return relayout((values * scale).astype(dtype), draw(LAYOUTS))


def dims(lo=1, hi=7):
    return st.integers(lo, hi)


def term_scales(twin, args, kwargs):
    """For sums of products (matmul, dense, convolutions) rounding error is relative to the sum of
    the terms' magnitudes, not to the result, which can cancel to ~0 (a bias gradient of dy values
    summing to zero): the twin on absolute values gives that sum for every output element."""
    absolute = [np.abs(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    abs_kwargs = {k: abs(v) if isinstance(v, (float, int, np.floating)) else v for k, v in kwargs.items()}
    outs = twin(*absolute, **abs_kwargs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    return [float(np.max(np.abs(o))) if np.size(o) else None for o in outs]


def check(kernel, twin, args, kwargs=None, dtype=None, inplace=(), scales=None):
    """Run kernel and twin on copies of ``args``; compare outputs (or in-place arguments).
    ``scales``: per-output floors for the relative error's denominator (see ``compare``), or
    "terms" for :func:`term_scales`."""
    kwargs = kwargs or {}
    if scales == "terms":
        scales = term_scales(twin, [a.copy(order="K") if isinstance(a, np.ndarray) else a for a in args], kwargs)
    copy = [a.copy(order="K") if isinstance(a, np.ndarray) else a for a in args]
    k_out = kernel(*args, **kwargs)
    r_out = twin(*copy, **kwargs)
    if inplace:
        k_list, r_list = [args[i] for i in inplace], [copy[i] for i in inplace]
    else:
        k_list = [np.asarray(o) for o in (k_out if isinstance(k_out, tuple) else (k_out,))]
        r_list = [np.asarray(o) for o in (r_out if isinstance(r_out, tuple) else (r_out,))]
    dtype = dtype or next(a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    COUNT["comparisons"] += 1
    max_abs, rel, problem = compare(k_list, r_list, np.dtype(dtype), scales)
    assert not problem, problem
    assert rel <= TOLERANCE[np.dtype(dtype)], f"relative error {rel:.3g} (max abs {max_abs:.3g})"


# --------------------------------------------------------------------------- elementwise


UNARY = ["tanh", "sigmoid", "relu", "leaky_relu", "softmax"]


@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_activation_forward_and_backward(name, data, dtype):
    COUNT["examples"] += 1
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9), label="shape")
    x = data.draw(arrays(shape, dtype), label="x")
    check(getattr(K, name), getattr(R, name), [x])
    y = getattr(R, name)(x)
    dy = data.draw(arrays(shape, dtype, scale=1.0), label="dy")
    check(getattr(K, name + "_backward"), getattr(R, name + "_backward"), [y, dy], scales=_cancelling(name, y, dy))


def _cancelling(name, y, dy):
    """Softmax's backward ``y * (dy - sum(y * dy))`` cancels to ~0 when dy is nearly constant along
    a row (sum(y) = 1): judge it against the size of the terms, max|y| * max|dy|."""
    if name != "softmax":
        return None
    return [float(np.max(np.abs(y)) * np.max(np.abs(dy))) if y.size else None]


# --------------------------------------------------------------------------- dense


@SETTINGS
@given(data=st.data(), dtype=DTYPES, n=dims(1, 40), i=dims(1, 40), o=dims(1, 40))
def test_dense(data, dtype, n, i, o):
    COUNT["examples"] += 1
    x, w = data.draw(arrays((n, i), dtype), label="x"), data.draw(arrays((i, o), dtype), label="w")
    b = data.draw(arrays((o,), dtype), label="b")
    dy = data.draw(arrays((n, o), dtype), label="dy")
    check(K.matmul, R.matmul, [x, w], scales="terms")
    check(K.dense_forward, R.dense_forward, [x, w, b], scales="terms")
    check(K.dense_backward, R.dense_backward, [x, w, dy], scales="terms")


# --------------------------------------------------------------------------- convolution


@SETTINGS
@given(
    data=st.data(),
    dtype=DTYPES,
    h=dims(1, 12),
    w=dims(1, 12),
    mode=st.sampled_from(["valid", "full", "same"]),
    boundary=st.sampled_from(["fill", "wrap", "symm", "circular", "symmetric"]),
    fillvalue=st.sampled_from([0, 0.0, 1.5, -3, np.float32(2.25)]),
)
def test_single_channel(data, dtype, h, w, mode, boundary, fillvalue):
    COUNT["examples"] += 1
    if mode == "valid":
        kh, kw = data.draw(st.sampled_from([(1, 1), (h, w)]) | st.tuples(dims(1, h), dims(1, w)), label="kernel")
    else:  # kernels up to twice the image: "wrap" and "symm" extend it more than once
        kh, kw = data.draw(st.tuples(dims(1, 2 * h + 1), dims(1, 2 * w + 1)), label="kernel")
    a, k = data.draw(arrays((h, w), dtype), label="a"), data.draw(arrays((kh, kw), dtype), label="k")
    kwargs = {"mode": mode, "boundary": boundary, "fillvalue": fillvalue}
    check(K.correlate2d, R.correlate2d, [a, k], kwargs, scales="terms")
    check(K.convolve2d, R.convolve2d, [a, k], kwargs, scales="terms")


@st.composite
def conv_shapes(draw):
    n, h, w, c, f = draw(dims(1, 3)), draw(dims(1, 8)), draw(dims(1, 8)), draw(dims(1, 3)), draw(dims(1, 4))
    kh, kw = draw(st.sampled_from([(1, 1), (h, w)]) | st.tuples(dims(1, h), dims(1, w)))
    return n, h, w, c, f, kh, kw


@SETTINGS
@given(data=st.data(), dtype=DTYPES, shapes=conv_shapes())
def test_conv2d(data, dtype, shapes):
    COUNT["examples"] += 1
    n, h, w, c, f, kh, kw = shapes
    x = data.draw(arrays((n, h, w, c), dtype), label="x")
    wt = data.draw(arrays((kh, kw, c, f), dtype), label="w")
    b = data.draw(arrays((f,), dtype), label="b")
    dy = data.draw(arrays((n, h - kh + 1, w - kw + 1, f), dtype), label="dy")
    check(K.conv2d_forward, R.conv2d_forward, [x, wt, b], scales="terms")
    check(K.conv2d_backward, R.conv2d_backward, [x, wt, dy], scales="terms")


@SETTINGS
@given(data=st.data(), dtype=DTYPES, n=dims(1, 3), oh=dims(1, 4), ow=dims(1, 4), c=dims(1, 4), size=dims(1, 3))
def test_maxpool(data, dtype, n, oh, ow, c, size):
    COUNT["examples"] += 1
    x = data.draw(arrays((n, oh * size, ow * size, c), dtype), label="x")
    check(K.maxpool2d_forward, R.maxpool2d_forward, [x, size])
    _, arg = R.maxpool2d_forward(x, size)
    dy = data.draw(arrays((n, oh, ow, c), dtype, scale=1.0), label="dy")
    check(K.maxpool2d_backward, R.maxpool2d_backward, [arg, dy, x.shape], dtype=dtype)
    check(K.avgpool2d_forward, R.avgpool2d_forward, [x, size], scales="terms")
    check(K.avgpool2d_backward, R.avgpool2d_backward, [dy, size], dtype=dtype)
    check(K.global_avgpool2d_forward, R.global_avgpool2d_forward, [x], scales="terms")
    dy2 = data.draw(arrays((n, c), dtype, scale=1.0), label="dy2")
    check(K.global_avgpool2d_backward, R.global_avgpool2d_backward, [dy2, x.shape[1:3]], dtype=dtype)


# --------------------------------------------------------------------------- losses and steps


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_losses(data, dtype):
    COUNT["examples"] += 1
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=9), label="shape")
    t, p = data.draw(arrays(shape, dtype), label="y_true"), data.draw(arrays(shape, dtype), label="y_pred")
    check(K.mse, R.mse, [t, p])
    check(K.mse_backward, R.mse_backward, [t, p])
    prob = data.draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=32)), label="probabilities")
    label = data.draw(hnp.arrays(dtype, shape, elements=st.sampled_from([0.0, 1.0])), label="targets")
    check(K.binary_cross_entropy, R.binary_cross_entropy, [label, prob])
    check(K.binary_cross_entropy_backward, R.binary_cross_entropy_backward, [label, prob])
    n, k = data.draw(dims(1, 9), label="n"), data.draw(dims(1, 9), label="k")
    logits = data.draw(arrays((n, k), dtype), label="logits")
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)), label="labels")
    check(K.softmax_cross_entropy, R.softmax_cross_entropy, [logits, labels], dtype=dtype)


@SETTINGS
@given(data=st.data(), dtype=DTYPES, lr=st.floats(0, 1), mu=st.floats(0, 0.99), t=st.integers(1, 10_000))
def test_optimizer_steps(data, dtype, lr, mu, t):
    COUNT["examples"] += 1
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), label="shape")

    def arr(name, positive=False):
        a = data.draw(arrays(shape, dtype), label=name)
        return np.abs(a) if positive else a

    check(K.sgd_step, R.sgd_step, [arr("param"), arr("grad"), lr], inplace=(0,))
    check(K.momentum_step, R.momentum_step, [arr("param"), arr("grad"), arr("velocity"), lr, mu], inplace=(0, 2))
    check(K.rmsprop_step, R.rmsprop_step, [arr("param"), arr("grad"), arr("sq", True), lr, mu], inplace=(0, 2))
    check(K.adam_step, R.adam_step, [arr("param"), arr("grad"), arr("m"), arr("v", True), t, lr], inplace=(0, 2, 3))


# --------------------------------------------------------------------------- layers


@st.composite
def layer_cases(draw):
    kinds = ["dense", "conv", "pool", "avgpool", "global", "flatten", "tanh", "sigmoid", "relu", "leaky", "softmax"]
    kind = draw(st.sampled_from(kinds))
    n = draw(dims(1, 4))
    if kind == "dense":
        i, o = draw(dims(1, 12)), draw(dims(1, 12))
        return fastnn.FCLayer(i, o, rng=draw(st.integers(0, 99))), (n, i)
    if kind == "conv":
        _, h, w, c, f, kh, kw = draw(conv_shapes())
        return fastnn.ConvLayer((h, w, c), (kh, kw), f, rng=draw(st.integers(0, 99))), (n, h, w, c)
    if kind in ("pool", "avgpool"):
        size = draw(dims(1, 3))
        layer = fastnn.MaxPoolLayer(size) if kind == "pool" else fastnn.AvgPoolLayer(size)
        return layer, (n, draw(dims(1, 3)) * size, draw(dims(1, 3)) * size, draw(dims(1, 3)))
    if kind == "flatten":
        return fastnn.FlattenLayer(), (n, draw(dims(1, 4)), draw(dims(1, 4)), draw(dims(1, 3)))
    if kind == "global":
        return fastnn.GlobalAvgPoolLayer(), (n, draw(dims(1, 5)), draw(dims(1, 5)), draw(dims(1, 3)))
    layer = {
        "tanh": fastnn.Tanh,
        "sigmoid": fastnn.Sigmoid,
        "relu": fastnn.ReLU,
        "leaky": fastnn.LeakyReLU,
        "softmax": fastnn.Softmax,
    }[kind]()
    return layer, (n, draw(dims(1, 10)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
@given(data=st.data(), dtype=DTYPES, case=layer_cases())
def test_layer_forward_backward_against_the_reference_path(data, dtype, case):
    COUNT["examples"] += 1
    layer, shape = case
    COUNT["comparisons"] += 1
    layer.astype(dtype)
    x = data.draw(arrays(shape, dtype), label="x")
    y = layer.forward(x)
    dy = data.draw(arrays(y.shape, dtype, scale=1.0), label="dy")
    dx = layer.backward(dy)
    grads = [layer.grads[n] for n in layer.param_names]
    if isinstance(layer, fastnn.FlattenLayer):  # no kernel behind it: numpy's reshape is the reference
        y_ref, dx_ref, grads_ref = np.reshape(x, (x.shape[0], -1)), np.reshape(dy, x.shape), []
    else:
        with reference_path():
            y_ref = layer.forward(x.copy())
            dx_ref = layer.backward(dy.copy())
            grads_ref = [layer.grads[n] for n in layer.param_names]
    scales = None
    if isinstance(layer, fastnn.Softmax):
        scales = [None, *(_cancelling(layer.name, y_ref, dy) or [None])]
    elif isinstance(layer, (fastnn.FCLayer, fastnn.ConvLayer)):  # sums of products: see term_scales
        forward, backward = {
            fastnn.FCLayer: (R.dense_forward, R.dense_backward),
            fastnn.ConvLayer: (R.conv2d_forward, R.conv2d_backward),
        }[type(layer)]
        w, b = layer.weights, layer.bias.reshape(-1)
        scales = term_scales(forward, [x, w, b], {}) + term_scales(backward, [x, w, dy], {})
    _, rel, problem = compare([y, dx, *grads], [np.asarray(y_ref), dx_ref, *grads_ref], dtype, scales)
    assert not problem, problem
    assert rel <= TOLERANCE[dtype], f"relative error {rel:.3g}"
