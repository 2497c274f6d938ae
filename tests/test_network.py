"""Network: training paths, optimizers, dtype, files, errors."""

import numpy as np
import pytest

import fastnn
from fastnn import FCLayer, Network, ReLU, Sigmoid, Softmax, Tanh
from fastnn import losses as L
from fastnn.activations import tanh, tanh_prime
from fastnn.seeds import seed000 as S

X_XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y_XOR = np.array([[0], [1], [1], [0]], dtype=float)


def _blobs(n=120, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centers = rng.standard_normal((k, 4)) * 3
    return (centers[labels] + rng.standard_normal((n, 4))).astype(dtype), labels


def _classifier(seed=0, k=3, dtype=None):
    layers = [FCLayer(4, 16, rng=seed), Tanh(), FCLayer(16, k, rng=seed + 1), Softmax()]
    return Network(layers, seed=seed, dtype=dtype)


def test_fit_prints_like_the_seed_and_returns_history(capsys):
    net = _seed_built(FCLayer(2, 3, rng=0), Tanh(), FCLayer(3, 1, rng=1), Tanh())
    net.use(L.mse, L.mse_prime)
    history = net.fit(X_XOR, Y_XOR, epochs=3, learning_rate=0.1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("error=")[0] for line in lines] == [f"epoch {i}/3   " for i in (1, 2, 3)]
    assert [float(line.split("=")[1]) for line in lines] == pytest.approx(history["loss"], abs=1e-6)
    assert set(history) == {"loss", "accuracy"}  # 0/1 targets: accuracy is tracked


def test_the_batched_api_prints_the_history_names(capsys):
    """One name per quantity: the epoch line of Network([...]) says what the history says."""
    net = Network([FCLayer(2, 3, rng=0), Tanh(), FCLayer(3, 1, rng=1), Sigmoid()])
    net.use("binary_cross_entropy")
    history = net.fit(X_XOR, Y_XOR, epochs=2, validation_data=(X_XOR, Y_XOR))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "error" not in lines[0]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert f"   {name}={history[name][0]:.6g}" in lines[0]


def test_batched_training_with_adam_learns_xor():
    net = Network([FCLayer(2, 8, rng=0), Tanh(), FCLayer(8, 1, rng=1), Sigmoid()], seed=0)
    net.use("binary_cross_entropy")
    history = net.fit(X_XOR, Y_XOR, epochs=300, batch_size=4, optimizer=fastnn.Adam(0.05), verbose=False)
    assert history["loss"][-1] < 0.05 < history["loss"][0]
    assert history["accuracy"][-1] == 1.0
    assert np.array_equal(net.predict(X_XOR) > 0.5, Y_XOR > 0.5)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_reduces_the_loss(optimizer):
    x, y = _blobs()
    net = _classifier()
    net.use("cross_entropy")
    lr = {"sgd": 0.1, "momentum": 0.05, "rmsprop": 0.01, "adam": 0.01}[optimizer]
    history = net.fit(
        x, y, epochs=15, learning_rate=lr, batch_size=16, optimizer=optimizer, shuffle=True, verbose=False
    )
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.9


def test_fused_softmax_cross_entropy_equals_the_unfused_path():
    x, y = _blobs(n=40)
    onehot = np.eye(3)[y]
    fused, plain = _classifier(), _classifier()
    fused.use("cross_entropy")
    plain.use(L.cross_entropy, lambda t, p: L.cross_entropy_prime(t, p) * 1.0)  # unrecognised: generic path
    h1 = fused.fit(x, onehot, epochs=5, learning_rate=0.1, batch_size=8, verbose=False)
    h2 = plain.fit(x, onehot, epochs=5, learning_rate=0.1, batch_size=8, verbose=False)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-9)
    for a, b in zip(fused.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    labels_net = _classifier()
    labels_net.use("cross_entropy")
    h3 = labels_net.fit(x, y, epochs=5, learning_rate=0.1, batch_size=8, verbose=False)  # int labels
    np.testing.assert_allclose(h1["loss"], h3["loss"], rtol=1e-12)


def test_shuffle_with_a_seed_is_reproducible():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        net = _classifier()
        net.use("cross_entropy")
        runs.append(net.fit(x, y, epochs=3, batch_size=10, shuffle=True, seed=4, verbose=False)["loss"])
    assert runs[0] == runs[1]


def _seed_style_classifier(seed=0, k=3):
    return _seed_built(
        FCLayer(4, 16, rng=seed), Tanh(), FCLayer(16, k, rng=seed + 1), Softmax(), seed=seed, predict_returns="array"
    )


def test_float32_data_trains_in_the_parameters_float64_as_numpy_would():
    """Seed-style code (``add``): float32 data (Keras-style loaders) meets float64 weights; numpy
    computes in float64, and so does fastnn -- the network's dtype does not change behind the user's
    back. (A network given its layers as a list follows its data instead: tests/test_user_settings.)"""
    x, y = _blobs(dtype=np.float32)
    net = _seed_style_classifier()
    net.use("cross_entropy")
    net.fit(x, y, epochs=2, batch_size=16, verbose=False)
    assert net.dtype == np.float64 and net.last_fit_path in ("numpy", "compiled")
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.predict(x).dtype == np.float64
    same = _seed_style_classifier()
    same.use("cross_entropy")
    same.fit(x.astype(np.float64), y, epochs=2, batch_size=16, verbose=False)
    for a, b in zip(net.parameters(), same.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)  # float32 data cast exactly: the same run as float64 data


def test_float32_on_request_trains_in_float32_end_to_end():
    x, y = _blobs(dtype=np.float64)
    net = _classifier(dtype=np.float32)
    assert net.dtype == np.float32
    net.use("cross_entropy")
    net.fit(x, y, epochs=2, batch_size=16, optimizer="adam", learning_rate=0.01, verbose=False)
    assert net.dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert all(g.dtype == np.float32 for layer in net.layers for g in layer.grads.values())
    assert net.predict(x).dtype == np.float32
    assert all(s.dtype == np.float32 for state in net.optimizer._state.values() for s in state[1])


def test_save_and_load_round_trip(tmp_path):
    x, y = _blobs()
    net = Network(
        [FCLayer(4, 8, rng=0), fastnn.LeakyReLU(0.2), fastnn.DropoutLayer(0.1), FCLayer(8, 3, rng=1), Softmax()], seed=0
    )
    net.use("cross_entropy")
    net.fit(x, y, epochs=2, batch_size=16, verbose=False)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert [type(a) for a in loaded.layers] == [type(b) for b in net.layers]
    assert loaded.layers[1].alpha == 0.2 and loaded.layers[2].rate == 0.1
    assert loaded.evaluate(x, y) == net.evaluate(x, y)
    with np.load(path, allow_pickle=False) as data:  # plain arrays and a JSON header, no pickles
        assert "__fastnn__" in data.files


def test_conv_network_save_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((6, 8, 8, 1))
    net = Network(
        [fastnn.ConvLayer((8, 8, 1), (3, 3), 4), ReLU(), fastnn.MaxPoolLayer(2), fastnn.FlattenLayer(), FCLayer(36, 2)]
    )
    net.save(tmp_path / "conv.npz")
    np.testing.assert_array_equal(Network.load(tmp_path / "conv.npz").predict(x), net.predict(x))


def test_from_architecture_builds_seed003_init():
    arch = [
        {"input_dim": 2, "output_dim": 4, "activation": "relu"},
        {"input_dim": 4, "output_dim": 1, "activation": "sigmoid"},
    ]
    net = Network.from_architecture(arch, seed=99)
    np.random.seed(99)
    w1, b1 = np.random.randn(4, 2) * 0.1, np.random.randn(4, 1) * 0.1
    np.testing.assert_array_equal(net.layers[0].weights, w1.T)
    np.testing.assert_array_equal(net.layers[0].bias, b1.T)
    assert [layer.name for layer in net.layers[1::2]] == ["relu", "sigmoid"]
    with pytest.raises(ValueError, match="input_dim"):
        Network.from_architecture([arch[0], {"input_dim": 3, "output_dim": 1, "activation": "relu"}])
    with pytest.raises(ValueError, match="activation"):
        Network.from_architecture([{"input_dim": 2, "output_dim": 1, "activation": "swish"}])


class SeedStyleDense(fastnn.Layer):
    """A user's layer written exactly like the seed's FCLayer (no super().__init__ call)."""

    def __init__(self, input_size, output_size, rng):
        self.weights = rng.random((input_size, output_size)) - 0.5
        self.bias = rng.random((1, output_size)) - 0.5

    def forward_propagation(self, input):
        self.input = input
        self.output = np.dot(self.input, self.weights) + self.bias
        return self.output

    def backward_propagation(self, output_error, learning_rate):
        input_error = np.dot(output_error, self.weights.T)
        self.weights -= learning_rate * np.dot(self.input.T, output_error)
        self.bias -= learning_rate * output_error
        return input_error


def test_a_seed_style_user_layer_trains_inside_a_network():
    rng = np.random.default_rng(3)
    user = Network([SeedStyleDense(2, 3, rng), Tanh(), FCLayer(3, 1, rng=4), Tanh()])
    user.use(L.mse, L.mse_prime)
    rng = np.random.default_rng(3)
    builtin = Network([FCLayer(2, 3, initializer=lambda s: rng.random(s) - 0.5), Tanh(), FCLayer(3, 1, rng=4), Tanh()])
    builtin.use(L.mse, L.mse_prime)
    x3, y3 = X_XOR.reshape(4, 1, 2), Y_XOR.reshape(4, 1, 1)
    h_user = user.fit(x3, y3, epochs=200, learning_rate=0.1, verbose=False)
    h_builtin = builtin.fit(x3, y3, epochs=200, learning_rate=0.1, verbose=False)
    np.testing.assert_allclose(h_user["loss"], h_builtin["loss"], rtol=1e-9)
    np.testing.assert_allclose(user.layers[0].weights, builtin.layers[0].weights, atol=1e-10)
    assert h_user["loss"][-1] < h_user["loss"][0]


def test_the_seeds_own_classes_inside_a_fastnn_network():
    np.random.seed(0)
    net = Network([S.FCLayer((1, 2), (1, 3)), S.ActivationLayer((1, 3), tanh, tanh_prime), S.FCLayer((1, 3), (1, 1))])
    net.use(L.mse, L.mse_prime)
    history = net.fit(X_XOR.reshape(4, 1, 2), Y_XOR.reshape(4, 1, 1), epochs=50, learning_rate=0.1, verbose=False)
    assert history["loss"][-1] < history["loss"][0]
    assert len(net.predict(X_XOR.reshape(4, 1, 2))) == 4


def _seed_built(*layers, **kwargs):
    net = Network(**kwargs)
    for layer in layers:
        net.add(layer)
    return net


def test_predict_returns_the_seeds_list_for_networks_built_with_add():
    """The seed's predict: one output per sample, as its layers produce it for one sample, for every
    input form; a network given its layers at construction returns one array."""
    dense = _seed_built(FCLayer(2, 3, initializer="uniform", rng=0), Tanh())
    batched = Network([FCLayer(2, 3, initializer="uniform", rng=0), Tanh()])
    for x in (X_XOR.reshape(4, 1, 2), X_XOR, list(X_XOR.reshape(4, 1, 2))):
        out = dense.predict(x)
        assert isinstance(out, list) and [o.shape for o in out] == [(1, 3)] * 4
        array = batched.predict(x)
        assert isinstance(array, np.ndarray) and array.shape == (4, 3)
        np.testing.assert_array_equal(np.concatenate(out), array)
    images = np.random.default_rng(0).random((3, 6, 6, 2))
    conv = _seed_built(fastnn.ConvLayer((6, 6, 2), (3, 3), 4, rng=0))
    assert [o.shape for o in conv.predict(images)] == [(4, 4, 4)] * 3
    cnn = _seed_built(fastnn.ConvLayer((6, 6, 2), (3, 3), 4, rng=0), fastnn.FlattenLayer(), FCLayer(64, 10, rng=1))
    assert [o.shape for o in cnn.predict(images)] == [(1, 10)] * 3
    assert isinstance(_seed_built(FCLayer(2, 3), predict_returns="array").predict(X_XOR), np.ndarray)
    assert isinstance(Network([FCLayer(2, 3)], predict_returns="list").predict(X_XOR), list)
    with pytest.raises(ValueError, match="predict_returns"):
        Network(predict_returns="tuple")


def test_nan_loss_stops_training_and_keeps_the_last_finite_weights():
    x = X_XOR.copy()
    x[2, 0] = np.nan
    net = Network([FCLayer(2, 3, rng=0), Tanh(), FCLayer(3, 1, rng=1)])
    net.use("mse")
    with pytest.raises(FloatingPointError, match="epoch 1, batch 3"):
        net.fit(x, Y_XOR, epochs=2, verbose=False)
    assert all(np.isfinite(p).all() for p in net.parameters())


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda n: n.fit(X_XOR, Y_XOR[:3], 1), ValueError, ["y", "(4)", "(3, 1)"]),
        (lambda n: n.fit(np.ones((4, 5)), Y_XOR, 1), ValueError, ["x_train", "2 features", "(4, 5)"]),
        (lambda n: n.fit(X_XOR, Y_XOR, -1), ValueError, ["epochs", ">= 0"]),
        (lambda n: n.fit(X_XOR, Y_XOR, 1, batch_size=0), ValueError, ["batch_size", ">= 1"]),
        (lambda n: n.fit(X_XOR, Y_XOR, 1, learning_rate=float("nan")), ValueError, ["learning_rate", "finite"]),
        (lambda n: n.fit(X_XOR, Y_XOR, 1, optimizer="lbfgs"), ValueError, ["optimizer", "lbfgs"]),
        (lambda n: n.use("hinge"), ValueError, ["loss", "hinge"]),
        (lambda n: n.use(np.sum), ValueError, ["loss_prime"]),
        (lambda n: n.add(object()), TypeError, ["forward_propagation"]),
        (lambda n: n.predict(np.ones(3)), ValueError, ["input", "(3,)"]),
    ],
)
def test_bad_use_raises_with_expected_and_received(call, exc, words):
    net = Network([FCLayer(2, 3), Tanh(), FCLayer(3, 1)])
    net.use("mse")
    with pytest.raises(exc) as info:
        call(net)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value!s}"


def test_fit_without_loss_or_layers():
    with pytest.raises(ValueError, match="use"):
        Network([FCLayer(2, 1)]).fit(X_XOR, Y_XOR, 1)
    empty = Network()
    empty.use("mse")
    with pytest.raises(ValueError, match="no layers"):
        empty.fit(X_XOR, Y_XOR, 1)


def test_a_gradient_hook_sits_between_backward_and_the_update():
    net = Network([FCLayer(2, 3, rng=0), Tanh(), FCLayer(3, 1, rng=1)])
    net.use("mse")
    seen = []

    def hook(pairs):
        seen.append(len(pairs))
        for _, grad in pairs:
            grad[...] = 0  # e.g. an allreduce would overwrite them in place

    net.gradient_hook = hook
    before = [p.copy() for p in net.parameters()]
    net.fit(X_XOR, Y_XOR, epochs=2, batch_size=2, verbose=False)
    assert not net.last_fit_compiled  # a hook needs the layer path
    assert seen == [4] * 4  # 2 epochs x 2 batches, 4 parameter arrays
    for a, b in zip(net.parameters(), before, strict=True):
        np.testing.assert_array_equal(a, b)
