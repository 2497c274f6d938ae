"""What a newcomer trips over: seeds that fix a run, a model saved with a loss of one's own, and
predict fed samples unlike the training data."""

import warnings

import numpy as np
import pytest

from fastnn import ConvLayer, Dense, FlattenLayer, Network, ReLU, Softmax, Tanh


def _cnn(seed):
    layers = [ConvLayer((8, 8, 1), (3, 3), 4), ReLU(), FlattenLayer(), Dense(144, 10), Softmax()]
    return Network(layers, seed=seed).use("cross_entropy")


def _digits(n=200):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n] / 16.0)[..., None], d.target[:n]


def test_seed_fixes_the_whole_run_of_the_batched_api():
    x, y = _digits()
    np.random.seed(1)  # the global generator's state must not matter
    a = _cnn(seed=0)
    np.random.seed(2)
    b = _cnn(seed=0)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(pa, pb)
    ha = a.fit(x, y, epochs=2, batch_size=16, shuffle=True, optimizer="adam", verbose=False)
    hb = b.fit(x, y, epochs=2, batch_size=16, shuffle=True, optimizer="adam", verbose=False)
    assert ha == hb
    c = _cnn(seed=1)
    assert not np.array_equal(a.layers[0].weights, c.layers[0].weights)


def test_without_a_seed_layers_keep_the_seed_tutorials_draws():
    np.random.seed(7)
    built = Network()
    built.add(Dense(3, 2))
    np.random.seed(7)
    np.testing.assert_array_equal(built.layers[0].weights, np.random.rand(3, 2) - 0.5)
    np.random.seed(7)
    explicit = Dense(3, 2, rng=5)
    assert not np.array_equal(Network([explicit], seed=0).layers[0].weights, built.layers[0].weights)
    assert Network([Dense(3, 2, rng=5)], seed=0).layers[0].weights.tolist() == explicit.weights.tolist()  # rng= wins


def my_mse(y_true, y_pred):
    return np.mean((y_true - y_pred) ** 2)


def my_mse_prime(y_true, y_pred):
    return 2 * (y_pred - y_true) / y_true.size


def test_a_user_defined_loss_is_named_after_load(tmp_path):
    net = Network([Dense(2, 1, rng=0), Tanh()]).use(my_mse, my_mse_prime)
    x, y = np.random.default_rng(0).random((8, 2)), np.random.default_rng(1).random((8, 1))
    net.fit(x, y, epochs=2, verbose=False)
    net.save(tmp_path / "m.npz")
    loaded = Network.load(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"user-defined loss 'my_mse'.*use\(my_mse, my_mse_prime\)"):
        loaded.evaluate(x, y)
    loaded.use(my_mse, my_mse_prime)
    assert loaded.evaluate(x, y)["loss"] == pytest.approx(net.evaluate(x, y)["loss"])
    builtin = Network([Dense(2, 1, rng=0)]).use("mse")
    builtin.save(tmp_path / "b.npz")
    assert Network.load(tmp_path / "b.npz").loss_name == "mse"  # built-in losses are saved by name


def test_predict_refuses_non_finite_samples_and_warns_far_outside_the_training_range(tmp_path):
    x, y = _digits()
    net = _cnn(seed=0)
    net.fit(x, y, epochs=1, batch_size=32, verbose=False)
    bad = x[:5].copy()
    bad[3, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite .* index 3"):
        net.predict(bad)
    with pytest.warns(UserWarning, match=r"far outside \[0, 1\]"):
        net.predict(x[:5] * 16)  # scikit-learn's raw 0-16 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.predict(x[:5] * 1.5)  # a little beyond the range is not far
    net.save(tmp_path / "m.npz")
    with pytest.warns(UserWarning, match="far outside"):
        Network.load(tmp_path / "m.npz").predict(x[:5] * 16)  # the range travels with the model


def test_one_name_per_quantity_in_the_plot_and_the_bench_says_at_most_for_seconds():
    from fastnn import bench
    from fastnn.plots import training_figure

    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.9], "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.8]}
    fig = training_figure(history, "t")
    labels = [text.get_text() for ax in fig.axes for text in (ax.get_legend().get_texts() if ax.get_legend() else [])]
    assert labels == ["loss", "val_loss", "accuracy", "val_accuracy"]
    row = {"name": "startup", "dtype": "float64", "fastnn_s": 1.0, "targets": {"seconds": 2.0}, "met": True}
    assert "seconds <= 2 s met" in bench.format_row(row)


def test_shape_errors_quote_the_shapes_the_user_passed():
    x, y = _digits(50)
    net = _cnn(seed=0)
    with pytest.raises(ValueError) as info:
        net.fit(x.reshape(50, 64), y, epochs=1, verbose=False)  # flat rows into a CNN
    assert "(50, 64)" in str(info.value) and "(8, 8, 1)" in str(info.value)
    mlp = Network([Dense(64, 10, rng=0), Softmax()]).use("mse")
    with pytest.raises(ValueError) as info:
        mlp.fit(x.reshape(50, 64), y.astype(float), epochs=1, verbose=False)  # (50,) targets for 10 outputs
    assert "got shape (50,)" in str(info.value) and "10 values per sample" in str(info.value)
