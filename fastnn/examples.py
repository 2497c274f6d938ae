"""The example tasks of ``python -m fastnn train``: data that ships with scikit-learn (the 1,797
8x8 handwritten digits, make_moons) or is generated (XOR). Nothing is downloaded."""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
    input_divisor: float | None = None  # the data were divided by it (uint8 pixels: 255); predict does the same


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: images (1797, 8, 8) with values 0..16, and labels (1797,).

    Read from the CSV file that ships inside scikit-learn, without importing scikit-learn (0.7 s of
    a 1 s command); through ``sklearn.datasets.load_digits`` if that file is not where it was."""
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")
            if data.shape == (1797, 65):
                return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return digits.images, digits.target


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``test_fraction`` of every class (rounded) in the test set, both in a
    random order drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[: round(len(members) * test_fraction)])
    test_idx = np.concatenate(test)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def _digits(seed: int) -> Data:
    images, labels = load_digits()
    x = (images / 16.0)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    train, test = stratified_split(labels, 0.25, seed)
    return x[train], labels[train], x[test], labels[test]


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


def from_file(path: str, model: str, classes: int | None = None) -> tuple[Example, str]:
    """An Example for the user's own ``.npz`` in the layout of Keras's ``mnist.npz`` (``x_train``,
    ``y_train``, ``x_test``, ``y_test``; images (N, H, W) or (N, H, W, C), uint8 or float; integer
    labels), with a CNN (``model="cnn"``) or MLP sized to it; and a line saying what was done to the
    data. ValueError names what is wrong with the file. The classes are 0..K-1, each with a training
    sample, unless ``classes`` gives K."""
    (x_train, y_train, x_test, y_test), note, divisor = _read_image_npz(path, features_allowed=model == "mlp")
    shape, classes = x_train.shape[1:], class_count(y_train, y_test, classes)

    def load(seed: int) -> Data:
        return x_train, y_train, x_test, y_test

    def build(seed: int) -> Network:
        if model == "mlp":
            layers = [
                FlattenLayer(),
                Dense(int(np.prod(shape)), 64, initializer="he", rng=seed),
                ReLU(),
                Dense(64, classes, initializer="xavier", rng=seed + 1),
            ]
        else:
            h, w, c = shape
            layers = [ConvLayer((h, w, c), (3, 3), 16, initializer="he", rng=seed), ReLU()]
            oh, ow = h - 2, w - 2
            if oh % 2 == 0 and ow % 2 == 0:
                layers.append(MaxPoolLayer(2))
                oh, ow = oh // 2, ow // 2
            layers += [FlattenLayer(), Dense(oh * ow * 16, classes, initializer="xavier", rng=seed + 1)]
        return Network([*layers, Softmax()], seed=seed).use("cross_entropy")

    name = os.path.splitext(os.path.basename(path))[0]
    what = "CNN: Conv 3x3x16, ReLU, MaxPool 2 when it fits, Dense, softmax" if model == "cnn" else "MLP: Dense 64, ReLU"
    lr = 0.01 if model == "cnn" else 0.001
    return Example(name, f"{what} on {path}", load, build, 10, 32, lr, "adam", classes, divisor), note


def _labels(values: np.ndarray, counts: np.ndarray, limit: int = 8) -> str:
    shown = [f"{v} ({c} sample{'s' if c != 1 else ''})" for v, c in zip(values[:limit], counts[:limit], strict=True)]
    return ", ".join(shown) + (f" and {len(values) - limit} more" if len(values) > limit else "")


def class_count(y_train: np.ndarray, y_test: np.ndarray, given: int | None = None) -> int:
    """K for labels 0..K-1: every class has a training sample and every test label is one of them;
    with ``given``, every label lies in [0, given). ValueError names the labels that break the rule."""
    values, counts = np.unique(y_train, return_counts=True)
    if given is not None:
        for name, y in (("y_train", y_train), ("y_test", y_test)):
            bad, n = np.unique(y[y >= given], return_counts=True)
            if len(bad):
                raise ValueError(f"{name} labels {_labels(bad, n)} are not classes 0..{given - 1} (--classes {given})")
        return given
    gap = int(np.argmin(values == np.arange(len(values)))) if values[-1] != len(values) - 1 else len(values)
    if gap < len(values):
        raise ValueError(
            f"y_train labels must be the classes 0..K-1, each with a training sample: "
            f"{f'0..{gap - 1} are, but labels' if gap else 'class 0 has none, and labels'} "
            f"{_labels(values[gap:], counts[gap:])} leave classes without one (class {gap} has none); fix those "
            "labels, or give --classes K if the classes are real"
        )
    bad, n = np.unique(y_test[~np.isin(y_test, values)], return_counts=True)
    if len(bad):
        raise ValueError(
            f"y_test labels {_labels(bad, n)} are not among the training classes 0..{len(values) - 1}; "
            "give --classes K if the classes are real"
        )
    return len(values)


def _read_image_npz(path: str, features_allowed: bool = False) -> tuple[Data, str, float | None]:
    """((x_train, y_train, x_test, y_test), what was done to them, what the pixels were divided by)."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ValueError("not an .npz archive of arrays") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"one array, not an .npz with {', '.join(keys)}")
    with f:
        missing = [k for k in keys if k not in f.files]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)} (it holds {', '.join(f.files) or 'nothing'})")
        try:
            x_train, y_train, x_test, y_test = (f[k] for k in keys)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"damaged or not plain arrays ({exc})") from None
    notes = []
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim not in ((2, 3, 4) if features_allowed else (3, 4)) or x.shape[0] == 0:
            forms = "feature vectors (N, F) or images" if features_allowed else "images"
            raise ValueError(f"x_{name} must hold {forms} (N, H, W) or (N, H, W, C); got shape {x.shape}")
        if x.dtype.kind not in "uif":
            raise ValueError(f"x_{name} must be numbers (uint8 or float); got dtype {x.dtype}")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"y_{name} must be integer class labels (N,); got shape {y.shape} and dtype {y.dtype}")
        if len(y) != len(x):
            raise ValueError(f"y_{name} has {len(y)} labels for {len(x)} images in x_{name}")
        if y.min() < 0:
            raise ValueError(f"y_{name} labels must be >= 0; got {int(y.min())}")
    if x_train.shape[1:3] != x_test.shape[1:3] or (x_train.ndim == 2) != (x_test.ndim == 2):
        raise ValueError(f"x_train samples {x_train.shape[1:]} and x_test samples {x_test.shape[1:]} differ in size")
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.ndim == 4 and (x_train.shape[1] < 3 or x_train.shape[2] < 3):
        raise ValueError(f"images must be at least 3x3; got {x_train.shape[1:3]}")
    divisor = 255.0 if x_train.dtype == np.uint8 else None
    if divisor is not None:
        x_train, x_test = x_train / divisor, x_test / divisor
        notes.append("uint8 pixels scaled to [0, 1] (divided by 255)")
    elif not np.isfinite(x_train).all() or not np.isfinite(x_test).all():
        raise ValueError("x_train and x_test must be finite (no NaN or inf)")
    note = "; ".join(notes) or "pixels used as they are"
    return (x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)), note, divisor
