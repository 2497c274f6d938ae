"""The example tasks of ``python -m fastnn train``: data that ships with scikit-learn (the 1,797
8x8 handwritten digits, make_moons) or is generated (XOR). Nothing is downloaded."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layers import ActivationLayer, ConvLayer, Dense, FCLayer, FlattenLayer, MaxPoolLayer, ReLU, Sigmoid, Softmax, Tanh
from .network import Network

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    load: Callable[[int], Data]
    build: Callable[[int], Network]
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    classes: int


def _digits(seed: int) -> Data:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, stratify=digits.target, random_state=seed
    )
    return x_train, y_train, x_test, y_test


def _digits_flat(seed: int) -> Data:
    x_train, y_train, x_test, y_test = _digits(seed)
    return x_train.reshape(len(x_train), -1), y_train, x_test.reshape(len(x_test), -1), y_test


def _moons(seed: int) -> Data:
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    x, y = make_moons(n_samples=1000, noise=0.2, random_state=100)  # seed 003's data
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.1, random_state=seed)
    return x_train, y_train.reshape(-1, 1), x_test, y_test.reshape(-1, 1)


def _xor(seed: int) -> Data:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    return x, y, x, y


def _digits_cnn(seed: int) -> Network:
    net = Network(
        [
            ConvLayer((8, 8, 1), (3, 3), 16, initializer="he", rng=seed),
            ReLU(),
            MaxPoolLayer(2),
            FlattenLayer(),
            Dense(3 * 3 * 16, 10, initializer="xavier", rng=seed + 1),
            Softmax(),
        ],
        seed=seed,
    )
    return net.use("cross_entropy")


def _digits_mlp(seed: int) -> Network:
    net = Network(
        [
            Dense(64, 64, initializer="he", rng=seed),
            ReLU(),
            Dense(64, 10, initializer="xavier", rng=seed + 1),
            Softmax(),
        ],
        seed=seed,
    )
    return net.use("cross_entropy")


def _moons_net(seed: int) -> Network:
    sizes = [2, 25, 50, 50, 25, 1]  # seed 003's architecture
    layers: list = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(FCLayer(n_in, n_out, initializer="he", rng=seed + i))
        layers.append(ReLU() if n_out > 1 else Sigmoid())
    return Network(layers, seed=seed).use("binary_cross_entropy")


def _xor_net(seed: int) -> Network:
    # seed 0 draws the weights of examples/seed000_xor.py (np.random.seed(4051)), which converge
    rs = np.random.RandomState(4051 + seed)
    layers = [FCLayer(2, 3, rng=rs), ActivationLayer("tanh"), FCLayer(3, 1, rng=rs), Tanh()]
    return Network(layers, seed=seed).use("mse")


EXAMPLES: dict[str, Example] = {
    "digits": Example(
        "digits",
        "CNN on scikit-learn's 8x8 digits: Conv 3x3x16, ReLU, MaxPool 2, Dense 10, softmax",
        _digits,
        _digits_cnn,
        epochs=15,
        batch_size=32,
        learning_rate=0.01,
        optimizer="adam",
        classes=10,
    ),
    "digits-mlp": Example(
        "digits-mlp",
        "MLP on the flattened digits: Dense 64, ReLU, Dense 10, softmax",
        _digits_flat,
        _digits_mlp,
        epochs=30,
        batch_size=32,
        learning_rate=0.01,
        optimizer="adam",
        classes=10,
    ),
    "moons": Example(
        "moons",
        "seed 003's 2-25-50-50-25-1 network on make_moons (1000 points, noise 0.2)",
        _moons,
        _moons_net,
        epochs=100,
        batch_size=32,
        learning_rate=0.01,
        optimizer="adam",
        classes=2,
    ),
    "xor": Example(
        "xor",
        "seed 000's 2-3-1 tanh network on XOR, one sample at a time",
        _xor,
        _xor_net,
        epochs=1000,
        batch_size=1,
        learning_rate=0.1,
        optimizer="sgd",
        classes=2,
    ),
}
