"""What users set stays set (#28): weights they assign, the initial scale a Keras/PyTorch user
expects, the dtype of their data. Written the way users write these scripts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import fastnn
from fastnn import ConvLayer, Dense, FCLayer, FlattenLayer, MaxPoolLayer, Network, ReLU, Sigmoid, Softmax, Tanh


# ----------------------------------------------------------------------------- assigned weights
def test_a_seed_never_replaces_weights_the_user_assigned():
    layer = Dense(4, 3)
    layer.weights = np.ones((4, 3))
    net = Network([layer, ReLU()], seed=0)
    np.testing.assert_array_equal(net.layers[0].weights, np.ones((4, 3)))


def test_a_seed_never_replaces_weights_changed_in_place():
    layer = Dense(4, 3)
    layer.weights[:] = 2.0
    layer.bias[:] = -1.0
    net = Network(seed=0)
    net.add(layer)
    np.testing.assert_array_equal(net.layers[0].weights, np.full((4, 3), 2.0))
    np.testing.assert_array_equal(net.layers[0].bias, np.full((1, 3), -1.0))


def test_a_seed_redraws_only_what_was_left_to_chance():
    np.random.seed(1)
    a = Dense(4, 3)
    a.weights = np.ones((4, 3))
    np.random.seed(2)
    b = Dense(4, 3)
    b.weights = np.ones((4, 3))
    # the bias was left to chance: the seed decides it, whatever the global generator held
    bias_a = Network(seed=5).add(a).layers[0].bias
    bias_b = Network(seed=5).add(b).layers[0].bias
    np.testing.assert_array_equal(bias_a, bias_b)
    np.testing.assert_array_equal(a.weights, np.ones((4, 3)))


def test_a_conv_kernel_the_user_assigned_survives_the_seed():
    conv = ConvLayer((6, 6, 1), (3, 3), 2)
    kernel = np.arange(18, dtype=float).reshape(3, 3, 1, 2)
    conv.weights = kernel.copy()
    net = Network([conv, ReLU(), FlattenLayer(), Dense(32, 1)], seed=3)
    np.testing.assert_array_equal(net.layers[0].weights, kernel)


# ----------------------------------------------------------------------------- initial scale
def _mnist_shaped_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits blown up to 28x28 (784 features in [0, 1]), as an MNIST MLP sees them."""
    d = load_digits()
    x = np.pad(np.kron(d.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) / 16.0
    return x.reshape(len(x), -1), d.target


def test_a_pytorch_users_mnist_mlp_starts_at_a_sound_scale():
    """784-256-256-10 with ReLU, SGD 0.1, batch 128, as a PyTorch user writes it: the first epoch's
    loss was ~79 with the seed's U(-0.5, 0.5) start; with He/Glorot it is below chance (ln 10)."""
    x, y = _mnist_shaped_digits()
    net = Network([Dense(784, 256), ReLU(), Dense(256, 256), ReLU(), Dense(256, 10), Softmax()], seed=0)
    net.use("cross_entropy")
    history = net.fit(x, y, epochs=1, learning_rate=0.1, batch_size=128, shuffle=True, verbose=False)
    assert history["loss"][0] < np.log(10)


def test_a_list_of_layers_starts_he_before_relu_and_glorot_otherwise():
    net = Network([Dense(784, 256), ReLU(), Dense(256, 64), Tanh(), Dense(64, 10)], seed=0)
    first, second, last = net.layers[0], net.layers[2], net.layers[4]
    assert first.weights.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)  # He-normal
    glorot = np.sqrt(6 / (256 + 64))
    assert np.abs(second.weights).max() <= glorot
    assert second.weights.std() == pytest.approx(glorot / np.sqrt(3), rel=0.05)  # Glorot-uniform
    assert np.abs(last.weights).max() <= np.sqrt(6 / 74)
    for layer in (first, second, last):
        np.testing.assert_array_equal(layer.bias, 0.0)


def test_he_looks_past_pooling_and_flatten_to_the_activation():
    net = Network(
        [ConvLayer((28, 28, 1), (3, 3), 32), MaxPoolLayer(2), ReLU(), FlattenLayer(), Dense(13 * 13 * 32, 10)]
    )
    assert net.layers[0].weights.std() == pytest.approx(np.sqrt(2 / 9), rel=0.05)


def test_an_explicit_initializer_is_kept_in_a_list():
    np.random.seed(4)
    layer = Dense(3, 2, initializer="uniform")
    np.random.seed(4)
    expected = np.random.rand(3, 2) - 0.5
    np.testing.assert_array_equal(Network([layer, ReLU()]).layers[0].weights, expected)


def test_the_seed_tutorials_add_keeps_the_seeds_uniform_draw():
    np.random.seed(0)
    net = Network()
    net.add(FCLayer(2, 3))
    net.add(fastnn.ActivationLayer(fastnn.activations.tanh, fastnn.activations.tanh_prime))
    net.add(FCLayer(3, 1))
    np.random.seed(0)
    w1, b1, w2 = np.random.rand(2, 3) - 0.5, np.random.rand(1, 3) - 0.5, np.random.rand(3, 1) - 0.5
    np.testing.assert_array_equal(net.layers[0].weights, w1)
    np.testing.assert_array_equal(net.layers[0].bias, b1)
    np.testing.assert_array_equal(net.layers[2].weights, w2)


def test_a_layers_own_rng_decides_its_draw_in_a_list():
    a = Network([Dense(3, 2, rng=5), ReLU()], seed=0).layers[0].weights
    b = Network([Dense(3, 2, rng=5), ReLU()], seed=1).layers[0].weights
    np.testing.assert_array_equal(a, b)
    assert a.std() > 0


# ----------------------------------------------------------------------------- dtype
def test_a_list_network_trains_in_float32_on_float32_data():
    """A Keras-style loader hands float32 images; the network computes in float32, as Keras does."""
    x, y = _mnist_shaped_digits()
    x = x[:256].astype(np.float32)
    net = Network([Dense(784, 32), ReLU(), Dense(32, 10), Softmax()], seed=0).use("cross_entropy")
    assert net.dtype is None  # decided by the first data it sees
    net.fit(x, y[:256], epochs=1, learning_rate=0.1, batch_size=64, verbose=False)
    assert net.dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.predict(x).dtype == np.float32
    assert net.predict(x.astype(np.float64)).dtype == np.float32  # the model keeps its dtype, as PyTorch's does


def test_a_list_network_trains_in_float64_on_float64_and_integer_data():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    net = Network([Dense(2, 3), Tanh(), Dense(3, 1), Sigmoid()], seed=0).use("mse")
    net.fit(x, y, epochs=2, learning_rate=0.1, verbose=False)
    assert net.dtype == np.float64
    assert net.predict(x).dtype == np.float64


def test_the_seed_style_network_promotes_float32_data_as_numpy_does():
    net = Network()
    net.add(FCLayer(2, 3))
    net.add(fastnn.ActivationLayer(fastnn.activations.tanh, fastnn.activations.tanh_prime))
    net.use(fastnn.losses.mse, fastnn.losses.mse_prime)
    x = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]], dtype=np.float32)
    net.fit(x, np.zeros((4, 1, 3), dtype=np.float32), epochs=1, learning_rate=0.1, verbose=False)
    assert net.dtype == np.float64
    assert net.layers[0].weights.dtype == np.float64


def test_dtype_given_wins_over_the_data():
    x = np.random.rand(8, 2).astype(np.float32)
    net = Network([Dense(2, 1)], dtype=np.float64).use("mse")
    net.fit(x, np.zeros((8, 1)), epochs=1, learning_rate=0.1, verbose=False)
    assert net.dtype == np.float64 and net.layers[0].weights.dtype == np.float64


def test_layers_still_pickle_and_copy_and_a_copys_weights_count_as_set():
    import copy
    import pickle

    layer = Dense(4, 3)
    for twin in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        kept = twin.weights.copy()
        np.testing.assert_array_equal(Network([twin, ReLU()], seed=0).layers[0].weights, kept)
