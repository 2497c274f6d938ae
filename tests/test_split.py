"""The engine's steps shared out over threads give the same bits on any number of parts as one
thread and the public kernels (which the registry checks against their twins): batch norm, the
activations and max pooling of image networks (fastnn.ops.split), the dense layers' large products
(kernels.dense's fixed blocks) and the optimizer steps (kernels.optim.steps_parallel). Batch norm's
sums over fixed blocks of rows and the blocked products stay within the twin's tolerance at the
sizes where there are several blocks."""

import os

import numpy as np
import pytest

import kernels as K
from kernels import activations as KA
from kernels import dense as KD
from kernels import norm as KN
from kernels import optim as KO
from kernels import pool as KP
from kernels import reference as R

DTYPES = (np.float32, np.float64)
PARTS = (1, 2, 3)
# rows (values per channel) -> blocks: 70 images of 8x8 -> 4480 rows, 2 blocks; 36864 rows, 16 blocks;
# 4100 x 3 features, 2 blocks; a batch of 50 features, 1 block (the numbers of every earlier release)
BN_SHAPES = ((70, 8, 8, 16), (64, 24, 24, 16), (4100, 3), (50, 7))


def _tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def _close(got, want, dtype):
    scale = max(float(np.max(np.abs(want))), 1e-30)
    assert float(np.max(np.abs(got.astype(np.float64) - want))) <= _tolerance(dtype) * scale


def _bn_inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)
    gamma, beta = rng.standard_normal((2, shape[-1])).astype(dtype)
    return x, gamma, beta, rng.standard_normal(shape).astype(dtype)


def test_the_blocks_depend_on_the_rows_alone():
    assert [KN.row_blocks(m) for m in (1, 64, 4095, 4096, 4480, 36864, 10**7)] == [1, 1, 1, 2, 2, 16, 16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_on_parts_gives_the_public_kernels_bits(shape, dtype):
    x, gamma, beta, dy = _bn_inputs(shape, dtype)
    y, mean, var = K.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = K.batchnorm_backward(x, gamma, mean, var, dy)
    x2, c = x.reshape(-1, shape[-1]), shape[-1]
    for parts in PARTS:
        got_y, got_mean, got_var = np.empty_like(x2), np.empty(c, dtype), np.empty(c, dtype)
        KN.train_forward_parallel(x2, (gamma, beta), 1e-5, (got_mean, got_var), got_y, parts)
        assert np.array_equal(got_y, y.reshape(x2.shape)) and np.array_equal(got_mean, mean)
        assert np.array_equal(got_var, var)
        grads = (np.empty_like(x2), np.empty(c, dtype), np.empty(c, dtype))
        KN.train_backward_parallel(x2, gamma, (mean, var), 1e-5, dy.reshape(x2.shape), grads, parts)
        assert np.array_equal(grads[0], dx.reshape(x2.shape))
        assert np.array_equal(grads[1], dgamma) and np.array_equal(grads[2], dbeta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES[:3])
def test_batchnorm_block_sums_match_the_twin(shape, dtype):
    x, gamma, beta, dy = _bn_inputs(shape, dtype, seed=1)
    got, want = K.batchnorm_forward(x, gamma, beta), R.batchnorm_forward(x, gamma, beta)
    for g, w in zip(got, want, strict=True):
        _close(g, w, dtype)
    mean, var = want[1], want[2]
    got = K.batchnorm_backward(x, gamma, mean, var, dy)
    for g, w in zip(got, R.batchnorm_backward(x, gamma, mean, var, dy), strict=True):
        _close(g, w, dtype)


ACTIVATIONS = {
    KA.TANH: (K.tanh, K.tanh_backward),
    KA.SIGMOID: (K.sigmoid, K.sigmoid_backward),
    KA.RELU: (K.relu, K.relu_backward),
    KA.LEAKY: (lambda x: K.leaky_relu(x, 0.05), lambda y, dy: K.leaky_relu_backward(y, dy, 0.05)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", sorted(ACTIVATIONS))
def test_activation_spans_on_parts_give_the_public_kernels_bits(fn, dtype):
    rng = np.random.default_rng(fn)
    n = 1000 + 37  # runs of 16 values and a remainder
    x = (rng.standard_normal(n) * 3).astype(dtype)
    x[5], x[600] = np.nan, 0.0
    forward, backward = ACTIVATIONS[fn]
    y = forward(x)
    dy = rng.standard_normal(n).astype(dtype)
    dx = backward(y, dy)
    alpha = 0.05
    for parts in PARTS:
        # one workspace holding x at 3 and y at 3 + n (the engine's layout), gradients likewise
        acts = np.full(2 * n + 10, 7.0, dtype)
        acts[3 : 3 + n] = x
        KA.spans_parallel((fn, False, alpha), (acts, acts, acts), (3, 3 + n, 0), n, parts)
        assert np.array_equal(acts[3 + n : 3 + 2 * n], y, equal_nan=True)
        assert np.all(acts[3 + 2 * n :] == 7.0), "wrote past the span"
        grads = np.full(2 * n + 10, 7.0, dtype)
        grads[3 + n : 3 + 2 * n] = dy
        KA.spans_parallel((fn, True, alpha), (acts, grads, grads), (3 + n, 3 + n, 3), n, parts)
        assert np.array_equal(grads[3 : 3 + n], dx, equal_nan=True)
        assert np.all(grads[:3] == 7.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_on_parts_gives_the_public_kernels_bits(dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (7, 6, 8, 5)).astype(dtype)  # ties in most windows
    x[0, 0, 1, 2] = x[3, 4, 4, 0] = np.nan
    y, arg = K.maxpool2d_forward(x, 2)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = K.maxpool2d_backward(arg, dy, x.shape)
    for parts in PARTS:
        got_y, got_arg = np.empty_like(y), np.empty_like(arg)
        KP.maxpool2d_parallel(False, x, got_y, got_arg, 2, parts)
        assert np.array_equal(got_y, y, equal_nan=True) and np.array_equal(got_arg, arg)
        got_dx = np.full_like(x, 9.0)
        KP.maxpool2d_parallel(True, got_dx, dy, arg, 2, parts)
        assert np.array_equal(got_dx, dx)


# Optimizer steps: the public kernels (the layer path) with their hyper-parameters, and the engine's
# kinds and coefficients for the same step.
STEPS = {
    KO.SGD: (lambda p, g, s1, s2, t: K.sgd_step(p, g, 0.05), (0.05, 0.0, 0.0, 0.0)),
    KO.MOMENTUM: (lambda p, g, s1, s2, t: K.momentum_step(p, g, s1, 0.05, 0.9), (0.05, 0.9, 0.0, 0.0)),
    KO.RMSPROP: (lambda p, g, s1, s2, t: K.rmsprop_step(p, g, s1, 0.01, 0.99, 1e-6), (0.01, 0.99, 0.0, 1e-6)),
    KO.ADAM: (lambda p, g, s1, s2, t: K.adam_step(p, g, s1, s2, t, 1e-3, eps=1e-7), (1e-3, 0.9, 0.999, 1e-7)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(STEPS))
def test_optimizer_steps_on_parts_give_the_public_kernels_bits(kind, dtype):
    rng = np.random.default_rng(kind)
    n = 1000 + 37  # runs of 16 values and a remainder
    public, hyper = STEPS[kind]
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(4)]
    arrays[2:] = np.abs(arrays[2:])  # RMSProp's square average and Adam's v: never negative
    want = [a.copy() for a in arrays]
    public(*want, 3)
    coef = tuple(dtype(c) for c in KO.coefficients(kind, np.array(hyper), 3))
    for parts in PARTS:
        got = [a.copy() for a in arrays]
        KO.steps_parallel(kind, tuple(got), coef, parts)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)


# Dense products: fixed blocks (kernels.dense.split_of), one BLAS call each. (64, 9216, 40): its
# forward product cut along its 64 samples (too narrow for columns), its gradients along the 9216
# inputs; (900, 50, 50), seed 003's moons: its forward and input gradient along the samples, its
# weight gradient summed from blocks of samples; (40, 300, 100): too small for any cut.
DENSE_SHAPES = ((64, 9216, 128), (128, 784, 256), (128, 256, 256), (40, 300, 100), (64, 9216, 40), (900, 50, 50))


def test_dense_blocks_depend_on_the_shapes_and_the_cores_alone():
    assert KD.MAX_BLOCKS == max(1, min(os.cpu_count() or 1, 4))
    split, cap = KD.split_of.py_func, KD.MAX_BLOCKS
    forward = [split(KD.FORWARD, m * k * n, n, m) for m, k, n in DENSE_SHAPES]
    weights = [split(KD.WEIGHT_GRADIENT, m * k * n, k, m) for m, k, n in DENSE_SHAPES]
    inputs = [split(KD.INPUT_GRADIENT, m * k * n, k, m) for m, k, n in DENSE_SHAPES]
    columns, rows, samples = KD.CUT_COLUMNS, KD.CUT_ROWS, KD.CUT_SAMPLES

    def cut(blocks, how, otherwise):  # one block is no cut: then the samples' kind is reported
        return (min(blocks, cap), how) if min(blocks, cap) > 1 else (1, otherwise)

    assert forward == [
        cut(4, columns, rows), cut(4, columns, rows), cut(2, columns, rows), (1, rows), cut(2, rows, rows),
        cut(4, rows, rows),
    ]  # fmt: skip
    assert weights == [
        cut(4, columns, samples), cut(4, columns, samples), cut(2, columns, samples), (1, samples),
        cut(4, columns, samples), cut(4, samples, samples),
    ]  # fmt: skip
    assert inputs == [
        cut(4, columns, rows), cut(4, columns, rows), cut(2, columns, rows), (1, rows), cut(4, columns, rows),
        cut(4, rows, rows),
    ]  # fmt: skip
    assert [blocks for blocks, _ in weights] == [blocks for blocks, _ in inputs]  # dw and dx: one check
    assert split(KD.FORWARD, 10**9, 40, 16) == (1, rows)  # never narrower than 32 columns or rows
    assert split(KD.FORWARD, 10**9, 10**4, 1) == cut(4, columns, rows)
    assert split(KD.FORWARD, 10**9, 16, 10**4) == cut(4, rows, rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_dense_products_on_parts_give_one_threads_bits(shape, dtype):
    """products_parallel (the compiled loop's steps on several threads) equals the blocks run in turn
    (its steps on one thread) and the public kernels, and stays within the twin's tolerance."""
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    x, w, dy = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    y, dx, dw = np.empty((m, n), dtype), np.empty((m, k), dtype), np.empty((k, n), dtype)
    KD._product_into(x, w, y, False)
    KD._product_into(dy, w, dx, True)
    KD._weight_gradient_into(x, dy, dw)
    public_dx, public_dw, _ = K.dense_backward(x, w, dy)
    assert np.array_equal(K.dense_forward(x, w, np.zeros(n, dtype)), y)
    assert np.array_equal(public_dx, dx) and np.array_equal(public_dw, dw)
    for parts in PARTS:
        got = [np.full_like(a, np.nan) for a in (y, dx, dw)]
        KD.products_parallel(KD.FORWARD, x, w, got[0], parts)
        KD.products_parallel(KD.INPUT_GRADIENT, dy, w, got[1], parts)
        KD.products_parallel(KD.WEIGHT_GRADIENT, x, dy, got[2], parts)
        for g, want in zip(got, (y, dx, dw), strict=True):
            assert np.array_equal(g, want)
    ref_dx, ref_dw, _ = R.dense_backward(*(a.astype(np.float64) for a in (x, w, dy)))
    big = {name: float(np.abs(a).max()) for name, a in (("x", x), ("w", w), ("dy", dy))}
    terms = (big["x"] * big["w"] * k, big["dy"] * big["w"] * n, big["x"] * big["dy"] * m)  # sums of products
    for got, want, scale in zip((y, dx, dw), (x.astype(np.float64) @ w, ref_dx, ref_dw), terms, strict=True):
        assert float(np.abs(got - want).max()) <= _tolerance(dtype) * scale


# OpenBLAS at two threads changed the last bits of these products when the public kernels called it
# unheld: (32, 1000, 60)'s forward, (900, 50, 50)'s weight gradient, (40, 300, 100)'s input gradient
# in float64. The public kernels and the layer path hold BLAS at one thread, as the engine does.
UNBLOCKED_SHAPES = ((32, 1000, 60), (900, 50, 50), (40, 300, 100))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS has one thread to run on")
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_kernels_give_the_same_bits_with_blas_at_any_thread_count(dtype):
    from threadpoolctl import threadpool_limits

    for m, k, n in UNBLOCKED_SHAPES:
        rng = np.random.default_rng(m + k + n)
        x, w, dy = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
        results = []
        for blas_threads in (1, 2):
            with threadpool_limits(limits=blas_threads, user_api="blas"):
                results.append((K.dense_forward(x, w, np.zeros(n, dtype)), *K.dense_backward(x, w, dy)))
        for one, two in zip(*results, strict=True):
            assert np.array_equal(one, two), (m, k, n)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS has one thread to run on")
def test_layer_path_gives_the_same_bits_with_blas_at_any_thread_count(force_path):
    from threadpoolctl import threadpool_limits

    import fastnn

    force_path("layers")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((160, 1000)), rng.integers(0, 3, 160)
    weights = []
    for blas_threads in (1, 2):
        layers = [fastnn.Dense(1000, 60, rng=0), fastnn.ReLU(), fastnn.Dense(60, 3, rng=1), fastnn.Softmax()]
        net = fastnn.Network(layers, seed=0).use("cross_entropy")
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            net.fit(x, y, epochs=2, batch_size=32, optimizer="adam", verbose=False)
            out = net.predict(x)
        assert net.last_fit_path == "layers"
        weights.append([out] + [p.copy() for layer in net.layers for p in layer.params().values()])
    for one, two in zip(*weights, strict=True):
        assert np.array_equal(one, two)
