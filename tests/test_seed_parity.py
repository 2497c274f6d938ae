"""fastnn against the seeds' own numpy code: same initial weights -> same weights and errors."""

import contextlib
import io
import math

import numpy as np
import pytest

import fastnn
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime
from fastnn.seeds import seed000 as S
from fastnn.seeds import seed003 as S3

X_XOR = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
Y_XOR = np.array([[[0]], [[1]], [[1]], [[0]]])


def _xor(mod, act, loss):
    np.random.seed(4051)
    net = mod.Network()
    net.add(mod.FCLayer((1, 2), (1, 3)))
    net.add(mod.ActivationLayer((1, 3), *act))
    net.add(mod.FCLayer((1, 3), (1, 1)))
    net.add(mod.ActivationLayer((1, 1), *act))
    net.use(*loss)
    return net


def test_the_xor_init_is_well_conditioned():
    """At this init, swapping the seed's numpy tanh for libm's (both within 1 ulp) moves the seed's own
    final weights by < 1e-12, so a 1e-10 comparison tests arithmetic, not last-bit luck. (At
    np.random.seed(190), which also prints 0.000242, the same swap moves them by 2e-9.)"""
    libm = np.vectorize(math.tanh)
    a = _xor(S, (S.tanh, S.tanh_prime), (S.mse, S.mse_prime))
    b = _xor(S, (libm, lambda x: 1 - libm(x) ** 2), (S.mse, S.mse_prime))
    _fit(a, X_XOR, Y_XOR, epochs=1000, learning_rate=0.1)
    _fit(b, X_XOR, Y_XOR, epochs=1000, learning_rate=0.1)
    for la, lb in zip(a.layers[::2], b.layers[::2], strict=True):
        np.testing.assert_allclose(la.weights, lb.weights, rtol=0, atol=1e-12)


def _fit(net, *args, **kwargs):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        net.fit(*args, **kwargs)
    return buf.getvalue().splitlines()


def test_xor_matches_the_seed_weights_and_printed_errors():
    seed = _xor(S, (S.tanh, S.tanh_prime), (S.mse, S.mse_prime))
    ours = _xor(fastnn, (tanh, tanh_prime), (mse, mse_prime))
    for a, b in zip(seed.layers[::2], ours.layers[::2], strict=True):
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)  # same draws
    seed_lines = _fit(seed, X_XOR, Y_XOR, epochs=1000, learning_rate=0.1)
    our_lines = _fit(ours, X_XOR, Y_XOR, epochs=1000, learning_rate=0.1)
    assert our_lines == seed_lines  # every printed line, "epoch %d/%d   error=%f"
    assert our_lines[-1] == "epoch 1000/1000   error=0.000242"
    for a, b in zip(seed.layers[::2], ours.layers[::2], strict=True):
        np.testing.assert_allclose(b.weights, a.weights, rtol=0, atol=1e-10)
        np.testing.assert_allclose(b.bias, a.bias, rtol=0, atol=1e-10)
    out_seed, out_ours = seed.predict(X_XOR), ours.predict(X_XOR)
    assert isinstance(out_ours, list) and [o.shape for o in out_ours] == [(1, 1)] * 4
    np.testing.assert_allclose(np.concatenate(out_ours), np.concatenate(out_seed), rtol=0, atol=1e-10)


def _conv_net(mod, conv_cls, depth_in, depth_out):
    np.random.seed(7)
    net = mod.Network()
    net.add(conv_cls((6, 5, depth_in), (3, 2), depth_out))
    net.add(
        S.ActivationLayer(None, S.tanh, S.tanh_prime)
        if mod is S
        else fastnn.ActivationLayer(fastnn.activations.tanh, fastnn.activations.tanh_prime)
    )
    net.add(S.FlattenLayer() if mod is S else fastnn.FlattenLayer())
    net.add(mod.FCLayer((1, 4 * 4 * depth_out), (1, 2)))
    net.use(*((S.mse, S.mse_prime) if mod is S else (mse, mse_prime)))
    return net


@pytest.mark.parametrize(
    "seed_conv,depth_in,depth_out",
    [(S.FixedConvLayer, 3, 4), (S.ConvLayer, 1, 1)],  # the verbatim seed layer where its bias bugs cannot show
    ids=["fixed-seed-conv", "verbatim-seed-conv"],
)
def test_per_sample_conv_network_matches_the_seed(seed_conv, depth_in, depth_out):
    rng = np.random.default_rng(3)
    x = rng.random((10, 6, 5, depth_in))
    y = rng.random((10, 1, 2)) - 0.5
    seed = _conv_net(S, seed_conv, depth_in, depth_out)
    ours = _conv_net(fastnn, fastnn.ConvLayer, depth_in, depth_out)
    np.testing.assert_array_equal(seed.layers[0].weights, ours.layers[0].weights)
    seed_lines = _fit(seed, x, y, epochs=15, learning_rate=0.05)
    our_lines = _fit(ours, x, y, epochs=15, learning_rate=0.05)
    assert our_lines == seed_lines
    for i in (0, 3):
        np.testing.assert_allclose(ours.layers[i].weights, seed.layers[i].weights, rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.layers[i].bias, seed.layers[i].bias, rtol=0, atol=1e-10)


def test_seed_conv_bias_bugs_are_what_fastnn_fixes():
    """With several input channels and filters the verbatim seed layer differs from the fixed one."""
    x = np.random.default_rng(0).random((5, 5, 3))
    np.random.seed(1)
    buggy = S.ConvLayer((5, 5, 3), (3, 3), 2)
    np.random.seed(1)
    fixed = S.FixedConvLayer((5, 5, 3), (3, 3), 2)
    ours = fastnn.ConvLayer((5, 5, 3), (3, 3), 2)
    ours.weights, ours.bias = fixed.weights.copy(), fixed.bias.copy()
    np.testing.assert_allclose(ours.forward_propagation(x), fixed.forward_propagation(x), atol=1e-12)
    assert not np.allclose(buggy.forward_propagation(x), fixed.output)  # bias added 3 times in the seed


def test_full_batch_matches_seed003():
    from sklearn.datasets import make_moons

    arch = [
        {"input_dim": 2, "output_dim": 25, "activation": "relu"},
        {"input_dim": 25, "output_dim": 50, "activation": "relu"},
        {"input_dim": 50, "output_dim": 1, "activation": "sigmoid"},
    ]
    X, y = make_moons(n_samples=200, noise=0.2, random_state=100)
    params, costs = S3.train(X.T, y.reshape(1, -1), arch, epochs=50, learning_rate=0.01, seed=2)
    net = fastnn.Network.from_architecture(arch, seed=2)
    net.use("binary_cross_entropy")
    history = net.fit(X, y.reshape(-1, 1), epochs=50, learning_rate=0.01, batch_size=len(X), verbose=False)
    np.testing.assert_allclose(history["loss"], costs, rtol=1e-10)
    for i, layer in enumerate(net.layers[::2], start=1):
        np.testing.assert_allclose(layer.weights, params[f"W{i}"].T, rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.bias, params[f"b{i}"].T, rtol=0, atol=1e-10)
