"""What the tutorials' MNIST scripts get from ``keras.datasets.mnist`` and ``keras.utils.np_utils``,
made from scikit-learn's bundled digits so nothing is downloaded: uint8 images (N, 28, 28) with
values 0-255 (each 8x8 digit scaled up 3x and padded by 2 pixels) and integer labels;
``to_categorical`` gives float32 one-hot rows, as Keras does."""

from types import SimpleNamespace

import numpy as np


def _load_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3)))  # (1797, 24, 24), values 0..16
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    images = np.minimum(images * 16, 255).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    return (images[:1500], labels[:1500]), (images[1500:], labels[1500:])


def _to_categorical(y, num_classes=None):
    y = np.asarray(y, dtype=int)
    return np.eye(num_classes or int(y.max()) + 1, dtype="float32")[y]


mnist = SimpleNamespace(load_data=_load_data)
np_utils = SimpleNamespace(to_categorical=_to_categorical)
