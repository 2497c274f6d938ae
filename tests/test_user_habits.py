"""Keras and PyTorch habits (#28), written as their users write them: summary() and print(model),
the history after Ctrl-C, sparse labels, channels-first images, a Dense that does not fit after
Flatten, raw 0-255 pixels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastnn import (
    BatchNormLayer,
    ConvLayer,
    Dense,
    FCLayer,
    FlattenLayer,
    MaxPoolLayer,
    Network,
    ReLU,
    Softmax,
    Tanh,
)


def _cnn():
    return Network(
        [
            ConvLayer((28, 28, 1), (3, 3), 8),
            BatchNormLayer(8),
            ReLU(),
            MaxPoolLayer(2),
            FlattenLayer(),
            Dense(13 * 13 * 8, 10),
            Softmax(),
        ],
        seed=0,
    )


def _blobs(n=60, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.standard_normal((n, 4)) + 3 * np.eye(k, 4)[y]
    return x, y


# ----------------------------------------------------------------------------- summary and print
def test_summary_prints_each_layers_output_shape_and_parameters(capsys):
    net = _cnn()
    assert net.summary() is None  # Keras's summary() prints; it returns nothing
    out = capsys.readouterr().out
    assert "(None, 26, 26, 8)" in out and "(None, 13, 13, 8)" in out and "(None, 1352)" in out
    assert "(None, 10)" in out
    assert "13,530" in out  # the dense layer's 1352 * 10 + 10
    assert "Total params: 13,642 (trainable 13,626, non-trainable 16)" in out  # batch norm's statistics


def test_summary_takes_keras_print_fn():
    lines = []
    _cnn().summary(print_fn=lines.append)
    assert any("MaxPoolLayer" in line for line in lines) and lines[-1].startswith("Total params")


def test_print_shows_the_layers_as_pytorch_does(capsys):
    net = _cnn()
    print(net)
    out = capsys.readouterr().out
    assert out.startswith("Network(\n  (0): ConvLayer(")
    assert "  (6): Softmax()\n)" in out
    assert repr(net) == out.rstrip("\n")


# ----------------------------------------------------------------------------- history
def test_history_keeps_the_epochs_finished_before_ctrl_c():
    x, y = _blobs()
    net = Network([Dense(4, 8), Tanh(), Dense(8, 3), Softmax()], seed=0).use("cross_entropy")

    def interrupt(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, epochs=10, learning_rate=0.1, batch_size=8, verbose=False, callback=interrupt)
    assert len(net.history["loss"]) == 3 and len(net.history["accuracy"]) == 3


def test_history_keeps_the_epochs_finished_before_a_non_finite_loss():
    x, y = _blobs()
    net = Network([Dense(4, 8), Tanh(), Dense(8, 3), Softmax()], seed=0).use("cross_entropy")

    def poison(epoch, logs):
        if epoch == 1:
            net.layers[0].weights[0, 0] = np.nan

    with pytest.raises(FloatingPointError):
        net.fit(x, y, epochs=10, learning_rate=0.1, batch_size=8, verbose=False, callback=poison)
    assert len(net.history["loss"]) == 2 and all(np.isfinite(net.history["loss"]))


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "as_given",
    [
        lambda y: y.reshape(-1, 1),  # Keras's sparse labels, (N, 1)
        lambda y: y.astype(np.float64),  # whole numbers held as floats
        lambda y: y.reshape(-1, 1).astype(np.float32),
    ],
    ids=["int (N,1)", "float (N,)", "float32 (N,1)"],
)
def test_cross_entropy_takes_labels_as_keras_users_hold_them(as_given):
    x, y = _blobs()
    runs = []
    for labels in (y, as_given(y)):
        net = Network([Dense(4, 8), Tanh(), Dense(8, 3), Softmax()], seed=0).use("cross_entropy")
        runs.append(net.fit(x, labels, epochs=3, learning_rate=0.1, batch_size=8, verbose=False))
    assert runs[0] == runs[1]


def test_a_target_shape_error_names_every_accepted_form():
    x, _ = _blobs()
    net = Network([Dense(4, 8), Tanh(), Dense(8, 3), Softmax()], seed=0).use("cross_entropy")
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, 1\) integer class labels, or \(N, K\) one-hot rows"):
        net.fit(x, np.full((len(x), 5), 0.2), epochs=1, verbose=False)


# ----------------------------------------------------------------------------- channels first
def test_channels_first_images_get_the_transpose():
    net = Network([ConvLayer((28, 28, 1), (3, 3), 4), ReLU(), FlattenLayer(), Dense(26 * 26 * 4, 2)]).use("mse")
    images = np.zeros((5, 1, 28, 28))  # torchvision's layout
    with pytest.raises(ValueError, match=r"channels-last .* x_train.transpose\(0, 2, 3, 1\)"):
        net.fit(images, np.zeros((5, 2)), epochs=1, verbose=False)


def test_a_conv_layer_shaped_like_pytorchs_gets_the_hint():
    with pytest.raises(ValueError, match=r"looks like PyTorch's .* input_shape \(28, 28, 1\)"):
        ConvLayer((1, 28, 28), (3, 3), 8)
    with pytest.warns(UserWarning, match=r"channels-last.*input_shape \(32, 32, 3\)"):
        ConvLayer((3, 32, 32), (3, 3), 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConvLayer((32, 32, 3), (3, 3), 8)  # channels-last: no hint


# ----------------------------------------------------------------------------- Dense after Flatten
def test_a_dense_that_does_not_fit_is_named_when_the_network_is_built():
    with pytest.raises(ValueError, match=r"layer 3 \(FCLayer.*takes 6272 features per sample, but gets \(5408,\)"):
        Network([ConvLayer((28, 28, 1), (3, 3), 8), ReLU(), FlattenLayer(), Dense(28 * 28 * 8, 10)])
    with pytest.raises(ValueError, match=r"layer 2 .*put a FlattenLayer\(\) before it"):
        Network([ConvLayer((28, 28, 1), (3, 3), 8), ReLU(), Dense(26 * 26 * 8, 10)])


def test_a_dense_that_does_not_fit_is_named_at_the_first_batch_before_any_compile():
    net = Network()
    net.add(FlattenLayer())
    net.add(FCLayer(100, 10))
    net.use("mse")
    with pytest.raises(ValueError, match=r"x_train of shape \(4, 8, 8, 1\): layer 1 .* gets \(64,\) per sample"):
        net.fit(np.zeros((4, 8, 8, 1)), np.zeros((4, 10)), epochs=1, verbose=False)
    assert net.last_fit_path is None  # nothing ran


# ----------------------------------------------------------------------------- raw pixels
def test_raw_pixels_given_to_fit_are_warned_about_once():
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)).astype(np.uint8)
    net = Network([FlattenLayer(), Dense(64, 2), Softmax()], seed=0).use("cross_entropy")
    with pytest.warns(UserWarning, match=r"integers in \[\d+, 255\] .* x_train / 255") as caught:
        net.fit(images, np.arange(16) % 2, epochs=2, batch_size=8, verbose=False)
    assert len([w for w in caught if "raw pixels" in str(w.message)]) == 1
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Network([Dense(2, 1)]).use("mse").fit(xor, np.zeros((4, 1)), epochs=1, verbose=False)
