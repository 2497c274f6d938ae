"""Every registry kernel against its numpy/scipy twin: random shapes, both dtypes, three layouts."""

import inspect

import numpy as np
import pytest

import kernels
from kernels import reference, validate
from kernels.registry import REGISTRY

CASES = 30  # per kernel and dtype; seeds cycle through C, Fortran and strided inputs


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_matches_reference(entry, dtype):
    results = validate.run([entry], cases=CASES, dtypes=[dtype])
    failures = [f"seed {r.seed} ({r.layout}): {r.problem}" for r in results if not r.ok]
    assert not failures, f"{entry.name} {dtype}:\n" + "\n".join(failures)


def test_registry_covers_every_public_kernel_with_a_twin():
    assert {e.kernel_name for e in REGISTRY} == set(kernels.__all__)
    for e in REGISTRY:  # variants ("correlate2d/wrap") call the same kernel and twin
        assert e.kernel is getattr(kernels, e.kernel_name) and e.reference is getattr(reference, e.kernel_name)
    for name in kernels.__all__:
        kernel, twin = getattr(kernels, name), getattr(reference, name)
        assert list(inspect.signature(kernel).parameters) == list(inspect.signature(twin).parameters), name
        defaults = [p.default for p in inspect.signature(kernel).parameters.values()]
        assert defaults == [p.default for p in inspect.signature(twin).parameters.values()], name


def test_compare_detects_a_wrong_kernel():
    """The harness must be able to fail: a kernel off by one ulp-scaled amount too many is caught."""
    twin = [np.array([1.0, 2.0, 3.0])]
    assert validate.compare([twin[0] + 1e-9], twin, np.dtype(np.float64))[1] > validate.TOLERANCE[np.dtype(np.float64)]
    assert validate.compare([twin[0].astype(np.float32)], twin, np.dtype(np.float64))[2]  # dtype mismatch
    assert validate.compare([np.array([1.0, np.nan, 3.0])], twin, np.dtype(np.float64))[2]  # NaN placement
    assert validate.compare([np.array([0, 2])], [np.array([0, 1])], np.dtype(np.float64))[2]  # integer outputs


@pytest.mark.parametrize("layout", validate.LAYOUTS)
def test_relayout_keeps_values(layout, rng):
    a = rng.standard_normal((3, 4, 5))
    b = validate.relayout(a, layout)
    assert np.array_equal(a, b)
    assert b.flags.c_contiguous == (layout == "C")


def _direct_conv_in_order(x, w, b, dy, stride):
    """The direct convolution's sums written as plain loops in the order its kernels add: out starts
    at b and adds the (m, n, c) products in order; dw and db add over (image, i, j) in order, db in
    float64 (kernels.dense.add_column_sums), rounded once."""
    n_img, _, _, c_in = x.shape
    kh, kw, _, f_out = w.shape
    oh, ow = dy.shape[1], dy.shape[2]
    out = np.empty((n_img, oh, ow, f_out), dtype=x.dtype)
    dw, db = np.zeros_like(w), np.zeros(b.shape, dtype=np.float64)
    for s in range(n_img):
        for i in range(oh):
            for j in range(ow):
                window = x[s, i * stride : i * stride + kh, j * stride : j * stride + kw]
                for f in range(f_out):
                    acc = b[f]
                    for m in range(kh):
                        for n in range(kw):
                            for c in range(c_in):
                                acc += window[m, n, c] * w[m, n, c, f]
                    out[s, i, j, f] = acc
                    db[f] += dy[s, i, j, f]
                    dw[..., f] += window * dy[s, i, j, f]
    return out, dw, db.astype(b.dtype)


@pytest.mark.parametrize(
    "shape",
    [
        (1, 28, 1, 3, 1, 1),
        (3, 9, 3, 2, 1, 2),
        (2, 10, 2, 5, 1, 1),
        (2, 7, 2, 3, 3, 1),
        (2, 8, 1, 3, 8, 1),
        (2, 9, 1, 3, 4, 2),
    ],
)
def test_direct_convolution_adds_in_its_documented_order(shape, dtype):
    """Bit for bit: the one-filter loops (vectorised along rows, weight gradients in registers), the
    one-channel forward loops (a row at a time) and the pixel-by-pixel weight gradient add what the
    general loops add, in the same order -- both paths of a network stay equal across them."""
    n_img, h, c, k, f, stride = shape
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((n_img, h, h, c)).astype(dtype), rng.standard_normal((k, k, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    o = (h - k) // stride + 1
    dy = rng.standard_normal((n_img, o, o, f)).astype(dtype)
    out, dw, db = _direct_conv_in_order(x, w, b, dy, stride)
    np.testing.assert_array_equal(kernels.conv2d_forward(x, w, b, stride=stride), out)
    _, dw_k, db_k = kernels.conv2d_backward(x, w, dy, stride=stride)
    np.testing.assert_array_equal(dw_k, dw)
    np.testing.assert_array_equal(db_k, db)


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize(
    "shape", [(9, 10, 3, 3, 5, 1, 1), (20, 12, 2, 5, 4, 2, 2), (5, 8, 4, 3, 6, 1, 0), (9, 14, 1, 5, 6, 1, 0)]
)
def test_convolution_gives_the_same_numbers_on_several_threads(shape, parts, dtype):
    """IM2COL, PLANAR and WINOGRAD split a batch over threads by whole groups (forward) and whole
    gradient chunks (backward): bit for bit the one-thread kernels' numbers."""
    from kernels import conv as KC

    n, h, c, k, f, stride, pad = shape
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((n, h, h, c)).astype(dtype), rng.standard_normal((k, k, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    o = (h + 2 * pad - k) // stride + 1
    geometry = ((k, k), (stride, stride), (pad, pad, pad, pad))
    layer = ((h, h, c), (k, k), f, (stride, stride), (pad, pad, pad, pad))
    dy = rng.standard_normal((n, o, o, f)).astype(dtype)
    algos = [KC.IM2COL]
    algos += [KC.PLANAR] if KC.planar_applies.py_func(c, (stride, stride), geometry[2]) else []
    algos += [KC.WINOGRAD] if KC.winograd_applies.py_func((k, k), (stride, stride)) else []
    for algo in algos:
        one, many = (_conv_on_threads(algo, (x, w, b, dy), (geometry, layer), p) for p in (1, parts))
        for a, z in zip(one, many, strict=True):
            np.testing.assert_array_equal(a, z)


def _conv_on_threads(algo, arrays, where, parts):
    """(out, dx, dw, db) of one forward and backward pass of ``algo`` on ``parts`` threads (1: the
    serial kernels), through scratch filled with NaN (a value read before it is written shows)."""
    from kernels import conv as KC

    (x, w, b, dy), (geometry, layer) = arrays, where
    dtype = x.dtype
    scratch = np.full(KC.scratch_size(layer, parts), np.nan, dtype=dtype)
    out, dx, dw, db = np.empty(dy.shape, dtype), np.empty_like(x), np.empty_like(w), np.empty(w.shape[3], dtype)
    if parts == 1:
        KC.forward_serial(algo, x, w, b, geometry, out, scratch)
        KC.backward_serial(algo, x, w, dy, geometry, (dx, dw, db), True, scratch)
    else:
        KC.forward_parallel(algo, x, w, b, geometry, out, (scratch, parts))
        KC.backward_parallel(algo, x, w, dy, geometry, (dx, dw, db), True, (scratch, parts))
    return out, dx, dw, db


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
@pytest.mark.parametrize("shape", [(72, 26, 2, 3, 3, 0), (40, 4, 16, 3, 16, 1), (24, 2, 8, 3, 8, 1)])
def test_large_batches_and_small_outputs_match_the_twin_on_any_thread_count(shape, algorithm, dtype):
    """Batches of more groups than GRAD_CHUNKS (chunks of several groups: the Winograd weight
    gradient's first group goes straight into the chunk's sum) and 4x4 and 2x2 outputs with many
    channels (bigger IM2COL groups, MIN_GROUP_TILES): the twin's numbers, and the same bits on one
    thread and two."""
    from kernels import conv as KC

    n, h, c, k, f, pad = shape
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((n, h, h, c)).astype(dtype), rng.standard_normal((k, k, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    o = h + 2 * pad - k + 1
    dy = rng.standard_normal((n, o, o, f)).astype(dtype)
    geometry, layer = ((k, k), (1, 1), (pad,) * 4), ((h, h, c), (k, k), f, (1, 1), (pad,) * 4)
    algo = KC.ALGORITHMS[algorithm]
    want = reference.conv2d_forward(x, w, b, padding=pad), *reference.conv2d_backward(x, w, dy, padding=pad)
    results = [_conv_on_threads(algo, (x, w, b, dy), (geometry, layer), parts) for parts in (1, 2)]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for got, twin in zip(results[0], want, strict=True):
        assert np.abs(got - twin).max() <= tol * max(np.abs(twin).max(), 1.0)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("shape", [(64, 28, 5, 6), (8, 28, 3, 8), (1000, 9, 1, 3), (8, 30, 7, 1)])
def test_the_chooser_sends_one_channel_layers_with_few_filters_to_planar(shape, dtype):
    """One input channel, at most PLANAR_MAX_FILTERS filters, stride 1, no padding, enough work: the
    chooser takes PLANAR (LeNet-5's first layer), and "auto" gives what forcing it gives."""
    from kernels import conv as KC

    n, h, k, f = shape
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((n, h, h, 1)).astype(dtype), rng.standard_normal((k, k, 1, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    assert KC.algorithm.py_func(n, ((h, h, 1), (k, k), f, (1, 1), (0, 0, 0, 0))) == KC.PLANAR
    np.testing.assert_array_equal(kernels.conv2d_forward(x, w, b), kernels.conv2d_forward(x, w, b, algorithm="planar"))
    w9 = rng.standard_normal((k, k, 1, KC.PLANAR_MAX_FILTERS + 1)).astype(dtype)
    assert KC.algorithm.py_func(n, ((h, h, 1), (k, k), w9.shape[3], (1, 1), (0, 0, 0, 0))) == KC.IM2COL


@pytest.mark.parametrize("size", [1, 2, 3])
def test_the_max_pool_twin_keeps_argmax_rules(size, dtype):
    """Ties keep the first position of the window (row-major) and a NaN counts as the maximum, as
    numpy's argmax over the window's values has them; the gradient goes to that position only."""
    from kernels import reference_core as core

    rng = np.random.default_rng(size)
    x = rng.integers(-2, 3, (3, 2 * size, 3 * size, 2)).astype(dtype)  # many ties
    x[0, 0, 0, 0], x[1, -1, -1, 1], x[2, 0, :, 0] = np.nan, np.inf, np.nan
    n, h, w, c = x.shape
    windows = x.reshape(n, h // size, size, w // size, size, c).transpose(0, 1, 3, 5, 2, 4)
    first = windows.reshape(n, h // size, w // size, c, size * size).argmax(axis=-1)
    y, where = core.maxpool2d_forward(x, size)
    np.testing.assert_array_equal(where, first)
    np.testing.assert_array_equal(
        y, np.take_along_axis(windows.reshape(*first.shape, -1), first[..., None], -1)[..., 0]
    )
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = core.maxpool2d_backward(where, dy, size)
    dwin = dx.reshape(n, h // size, size, w // size, size, c).transpose(0, 1, 3, 5, 2, 4).reshape(*first.shape, -1)
    assert dx.dtype == dtype and np.count_nonzero(dx) == np.count_nonzero(dy)
    np.testing.assert_array_equal(np.take_along_axis(dwin, first[..., None], -1)[..., 0], dy)
