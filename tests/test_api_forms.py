"""Every way the tutorials (both published API versions) and fastnn's own API build a layer:
each constructs, and a network of it saves to a file that loads back to identical predictions --
or ``save`` refuses up front, writing nothing."""

import numpy as np
import pytest

import fastnn
from fastnn import ActivationLayer, ConvLayer, FCLayer, FlattenLayer, Network
from fastnn import activations as A

DENSE = [
    ("v1 shapes", lambda: FCLayer((1, 4), (1, 3))),
    ("v1 keywords", lambda: FCLayer(input_shape=(1, 4), output_shape=(1, 3))),
    ("v2 sizes", lambda: FCLayer(4, 3)),
    ("v2 keywords", lambda: FCLayer(input_size=4, output_size=3)),
]
PAIRS = [("tanh", A.tanh, A.tanh_prime), ("sigmoid", A.sigmoid, A.sigmoid_prime), ("relu", A.relu, A.relu_prime)]
PAIRS += [("leaky_relu", A.leaky_relu, A.leaky_relu_prime), ("linear", A.linear, A.linear_prime)]
ACTIVATIONS = [(f"v2 {n}", lambda f=f, p=p: ActivationLayer(f, p)) for n, f, p in PAIRS]
ACTIVATIONS += [(f"v1 {n}", lambda f=f, p=p: ActivationLayer((1, 3), f, p)) for n, f, p in PAIRS]
ACTIVATIONS += [
    ("keywords", lambda: ActivationLayer(activation=A.tanh, activation_prime=A.tanh_prime)),
    (
        "v1 keywords",
        lambda: ActivationLayer(input_shape=(1, 3), activation=A.sigmoid, activation_prime=A.sigmoid_prime),
    ),
    ("name", lambda: ActivationLayer("relu")),
    ("leaky alpha", lambda: ActivationLayer("leaky_relu", alpha=0.2)),
    ("softmax function", lambda: ActivationLayer(A.softmax)),
    ("Tanh", fastnn.Tanh),
    ("Sigmoid", fastnn.Sigmoid),
    ("ReLU", fastnn.ReLU),
    ("LeakyReLU", lambda: fastnn.LeakyReLU(0.3)),
    ("Softmax", fastnn.Softmax),
]
IMAGE = [
    ("conv", lambda: [ConvLayer((6, 5, 2), (3, 2), 3)]),
    ("conv keywords", lambda: [ConvLayer(input_shape=(6, 5, 2), kernel_shape=(3, 2), layer_depth=3)]),
    ("conv + flatten", lambda: [ConvLayer((6, 5, 2), (3, 2), 3), FlattenLayer()]),
    ("conv + flatten with shapes", lambda: [ConvLayer((6, 5, 2), (3, 2), 3), FlattenLayer((4, 4, 3), (1, 48))]),
    ("pool", lambda: [ConvLayer((6, 6, 2), (3, 3), 3), fastnn.MaxPoolLayer(2), FlattenLayer()]),
    ("avgpool", lambda: [ConvLayer((6, 6, 2), (3, 3), 3), fastnn.AvgPoolLayer(2), FlattenLayer()]),
    ("global avgpool", lambda: [ConvLayer((6, 6, 2), (3, 3), 3), fastnn.GlobalAvgPoolLayer()]),
    ("batchnorm", lambda: [ConvLayer((6, 6, 2), (3, 3), 3), fastnn.BatchNormLayer(3, 0.2, 1e-3), FlattenLayer()]),
    (
        "conv stride + same",
        lambda: [ConvLayer((6, 6, 2), (2, 2), 3, padding="same"), ConvLayer((6, 6, 3), (3, 3), 2, 2, 1)],
    ),
    ("dropout", lambda: [ConvLayer((6, 5, 2), (3, 2), 3), fastnn.DropoutLayer(0.3), FlattenLayer()]),
]


def _round_trip(net, x, tmp_path):
    before = net.predict(x)
    net.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    after = loaded.predict(x)
    assert type(after) is type(before) and loaded.predict_returns == net.predict_returns
    for a, b in zip(after, before, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    return loaded


@pytest.mark.parametrize("make", [m for _, m in DENSE], ids=[n for n, _ in DENSE])
@pytest.mark.parametrize("make_act", [m for _, m in ACTIVATIONS], ids=[n for n, _ in ACTIVATIONS])
def test_seed_style_dense_network_saves_and_loads(make, make_act, tmp_path):
    np.random.seed(0)
    net = Network()
    net.add(make())
    net.add(make_act())
    net.use(fastnn.losses.mse, fastnn.losses.mse_prime)
    x = np.random.rand(5, 1, 4)
    if make_act().name != "softmax":
        net.fit(x, np.random.rand(5, 1, 3), epochs=2, learning_rate=0.1, verbose=False)
    loaded = _round_trip(net, x, tmp_path)
    assert loaded.loss_name == "mse"


@pytest.mark.parametrize("make", [m for _, m in IMAGE], ids=[n for n, _ in IMAGE])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_networks_save_and_load(make, dtype, tmp_path):
    np.random.seed(1)
    x = np.random.rand(4, *make()[0].input_shape)
    net = Network(make(), dtype=dtype)
    net.add(ActivationLayer(A.tanh, A.tanh_prime))
    _round_trip(net, x, tmp_path)


def test_both_api_versions_build_the_same_layers():
    for _, make in DENSE:
        np.random.seed(3)
        layer = make()
        np.random.seed(3)
        np.testing.assert_array_equal(layer.weights, np.random.rand(4, 3) - 0.5)  # the seed's draws
        np.testing.assert_array_equal(layer.bias, np.random.rand(1, 3) - 0.5)
    for _, make in ACTIVATIONS:
        assert make().builtin is not None  # fastnn's functions run the compiled kernels


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: FCLayer(2), TypeError, ["output_size"]),
        (lambda: FCLayer(2, 3, input_size=2), TypeError, ["input_shape", "input_size", "not both"]),
        (lambda: FCLayer(input_size=0, output_size=3), ValueError, ["input_size", "0"]),
        (lambda: ActivationLayer(), TypeError, ["activation"]),
        (lambda: ActivationLayer(A.tanh, A.tanh_prime, A.tanh), TypeError, ["input_shape", "first"]),
        (lambda: ActivationLayer(A.tanh, activation=A.tanh), TypeError, ["activation", "twice"]),
        (lambda: ActivationLayer(np.sin), ValueError, ["activation_prime"]),
        (lambda: FlattenLayer((2, 3), (1, 7)), ValueError, ["output_shape", "6"]),
    ],
)
def test_bad_forms_are_refused_with_a_clear_message(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"


class SeedStyleIdentity(fastnn.Layer):
    def forward_propagation(self, input):
        return input

    def backward_propagation(self, output_error, learning_rate):
        return output_error


@pytest.mark.parametrize(
    "layer,words",
    [
        (ActivationLayer(np.sin, np.cos), ["layer 1", "user functions"]),
        (ActivationLayer(A.tanh, lambda x: 1 - np.tanh(x) ** 2), ["layer 1", "user functions"]),
        (SeedStyleIdentity(), ["layer 1", "user-defined"]),
    ],
)
def test_save_refuses_what_it_could_not_read_back_before_writing(layer, words, tmp_path):
    net = Network()
    net.add(FCLayer(2, 3))
    net.add(layer)
    net.use("mse")
    net.fit(np.ones((2, 1, 2)), np.ones((2, 1, 3)), epochs=1, verbose=False)  # fit accepts it
    with pytest.raises(ValueError) as info:
        net.save(tmp_path / "model.npz")
    for word in words:
        assert word in str(info.value)
    assert list(tmp_path.iterdir()) == []
