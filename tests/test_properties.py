"""Property tests (hypothesis) against kernels.reference, generated from kernels.registry: every
registry entry (every public kernel, each variant and each forced convolution algorithm) on calls its
own generator draws -- random shapes, 1x1 kernels and kernels as large as their input, batch 1 --
in both dtypes, C/Fortran/strided layouts, and scaled to zeros, small and large magnitudes; then
every layer's forward/backward against the reference path, convolutions large enough for IM2COL and
PLANAR among them. Above 2,000 generated examples per run. A failure prints hypothesis's example
(the entry, seed, dtype, layout and scale; ``validate.make_call`` rebuilds the arrays).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn
from fastnn.refpath import reference_path
from kernels import reference as R
from kernels.registry import REGISTRY
from kernels.validate import TOLERANCE, compare, make_call, relayout

EXAMPLES = 40  # per registry entry (50 today): with the 300 layer cases ~2,300 generated examples
COUNT = {"examples": 0, "comparisons": 0}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
LAYOUTS = st.sampled_from(["C", "F", "strided"])
SCALES = st.sampled_from([0.0, 1.0, 1e-3, 1e4])  # all zeros, ordinary, small and large magnitudes
# Kernels whose outputs are sums of products: judged against the size of the terms (term_scales).
SUMS = {
    "matmul",
    "dense_forward",
    "dense_backward",
    "correlate2d",
    "convolve2d",
    "conv2d_forward",
    "conv2d_backward",
    "avgpool2d_forward",
    "global_avgpool2d_forward",
}
# Inputs that must stay probabilities in [0, 1]: never scaled.
PROBABILITIES = {"binary_cross_entropy", "binary_cross_entropy_backward"}


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


def _cancelling(name, y, dy=None):
    """Softmax's backward ``y * (dy - sum(y * dy))`` cancels to ~0 when dy is nearly constant along
    a row (sum(y) = 1): judge it against the size of the terms, max|y| * max|dy|. Softmax
    cross-entropy's loss ``log(sum(exp(z - max z))) - (z - max z)[label]`` cancels to ~0 when the
    label's logit leads by far (the sum is then 1 + a little, known to an ulp of 1): judge the loss
    against its terms, the logits' spread plus that 1. Its gradient ``(softmax - onehot) / n`` cancels
    there too (the label's probability is 1 - a little: float32 seed 3808, 5.96e-8 from gradients at
    most 1.3e-3): judge it against its terms, 1 / n."""
    if not y.size:
        return None
    if name == "softmax_cross_entropy":
        return [float(np.max(y.max(axis=1) - y.min(axis=1))) + 1.0, 1.0 / len(y)]
    return [float(np.max(np.abs(y)) * np.max(np.abs(dy)))]


def _batchnorm_terms(x, gamma, mean, var, dy, eps=1e-5):
    """Batch norm's gradients are sums that cancel: dgamma = sum(dy * xhat) came to 0.025 from terms
    summing to ~10 (float32 seed 45376: 1.4e-5 of max|dgamma|), dbeta = sum(dy), and dx = gamma *
    inv * (dy - mean(dy) - xhat * mean(dy * xhat)). Judge each against the size of its terms."""
    x64, dy64 = (np.asarray(a, dtype=np.float64).reshape(-1, x.shape[-1]) for a in (x, dy))
    inv = 1.0 / np.sqrt(np.asarray(var, dtype=np.float64) + eps)
    xhat = (x64 - np.asarray(mean, dtype=np.float64)) * inv
    terms = np.abs(dy64) + np.abs(dy64.mean(axis=0)) + np.abs(xhat * (dy64 * xhat).mean(axis=0))
    dx_terms = float(np.max(np.abs(np.asarray(gamma, dtype=np.float64) * inv) * terms))
    return [dx_terms, float(np.max(np.abs(dy64 * xhat).sum(axis=0))), float(np.max(np.abs(dy64).sum(axis=0)))]


def _scaled(args, scale):
    return [a * a.dtype.type(scale) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), dtype=DTYPES, layout=LAYOUTS, scale=SCALES)
def test_every_registry_entry_against_its_twin(entry, seed, dtype, layout, scale):
    COUNT["examples"] += 1
    COUNT["comparisons"] += 1
    args, kwargs = make_call(entry, seed, dtype, layout)
    if entry.kernel_name not in PROBABILITIES:
        args = _scaled(args, scale)
    twin_args = [a.copy(order="K") if isinstance(a, np.ndarray) else a for a in args]
    scales = None
    if entry.kernel_name in SUMS:
        scales = term_scales(entry.reference, [a.copy() if isinstance(a, np.ndarray) else a for a in args], kwargs)
    elif entry.kernel_name == "softmax_backward":
        scales = _cancelling("softmax", args[0], args[1])
    elif entry.kernel_name == "softmax_cross_entropy":
        scales = _cancelling("softmax_cross_entropy", np.asarray(args[0], dtype=np.float64))
    elif entry.kernel_name == "batchnorm_backward":
        scales = _batchnorm_terms(*args, **kwargs)
    out = entry.kernel(*args, **kwargs)
    twin = entry.reference(*twin_args, **kwargs)
    if entry.inplace:
        out, twin = [args[i] for i in entry.inplace], [twin_args[i] for i in entry.inplace]
    else:
        out = [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]
        twin = [np.asarray(o) for o in (twin if isinstance(twin, tuple) else (twin,))]
    max_abs, rel, problem = compare(out, twin, np.dtype(dtype), scales)
    assert not problem, problem
    assert rel <= TOLERANCE[np.dtype(dtype)], f"relative error {rel:.3g} (max abs {max_abs:.3g})"


@st.composite
def conv_shapes(draw):
    """Small layers (DIRECT), and one in four large enough for IM2COL or, one channel, PLANAR."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([(4, 14, 14, 3, 16, 3, 3), (4, 28, 28, 1, 6, 5, 5), (2, 16, 12, 2, 20, 3, 5)]))
    n, h, w, c, f = draw(dims(1, 3)), draw(dims(1, 8)), draw(dims(1, 8)), draw(dims(1, 3)), draw(dims(1, 4))
    kh, kw = draw(st.sampled_from([(1, 1), (h, w)]) | st.tuples(dims(1, h), dims(1, w)))
    return n, h, w, c, f, kh, kw


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
        batch, h, w, c, f, kh, kw = draw(conv_shapes())
        return fastnn.ConvLayer((h, w, c), (kh, kw), f, rng=draw(st.integers(0, 99))), (max(n, batch), h, w, c)
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
