"""Losses with the seed tutorials' signatures: ``mse(y_true, y_pred)`` and ``mse_prime(y_true, y_pred)``.

Each is a mean over all elements (per sample in the seed's per-sample loop, per batch when
batched), and ``*_prime`` is its gradient with respect to ``y_pred``. :meth:`fastnn.Network.use`
recognises them; a Softmax last layer with :func:`cross_entropy` trains through the fused,
numerically stable softmax + cross-entropy kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import kernels as K
from kernels._checks import result_dtype
from kernels.losses import BCE_EPS


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    return K.mse(y_true, y_pred)


def mse_prime(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return K.mse_backward(y_true, y_pred)


def binary_cross_entropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    return K.binary_cross_entropy(y_true, y_pred)


def binary_cross_entropy_prime(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return K.binary_cross_entropy_backward(y_true, y_pred)


# Probabilities are clipped to [eps, 1] before log(), as in binary_cross_entropy.
def _clipped(y_pred: np.ndarray) -> np.ndarray:
    p = np.asarray(y_pred)
    return np.clip(p, BCE_EPS[result_dtype(p)], 1)


def cross_entropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.floating:
    """Categorical cross-entropy of probabilities y_pred (N, K) against one-hot y_true (N, K),
    averaged over samples: ``-sum(y_true * log(y_pred)) / N``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = y_pred.shape[0] if y_pred.ndim > 1 else 1
    return -np.sum(y_true * np.log(_clipped(y_pred))) / n


def cross_entropy_prime(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = y_pred.shape[0] if y_pred.ndim > 1 else 1
    return -(y_true / _clipped(y_pred)) / n


@dataclass(frozen=True)
class Loss:
    """A loss the network knows: value and gradient kernels, and whether a Softmax before it fuses."""

    name: str
    value: Callable[[np.ndarray, np.ndarray], Any]
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]
    fuses_with_softmax: bool = False
    classification: str | None = None  # "binary" or "categorical": how accuracy is measured


BUILTIN: dict[str, Loss] = {
    "mse": Loss("mse", mse, mse_prime),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", binary_cross_entropy, binary_cross_entropy_prime, classification="binary"
    ),
    "cross_entropy": Loss(
        "cross_entropy", cross_entropy, cross_entropy_prime, fuses_with_softmax=True, classification="categorical"
    ),
}
ALIASES = {"bce": "binary_cross_entropy", "categorical_cross_entropy": "cross_entropy", "mean_squared_error": "mse"}

FUNCTIONS: dict[Any, str] = {
    mse: "mse",
    mse_prime: "mse",
    binary_cross_entropy: "binary_cross_entropy",
    binary_cross_entropy_prime: "binary_cross_entropy",
    cross_entropy: "cross_entropy",
    cross_entropy_prime: "cross_entropy",
}

categorical_cross_entropy = cross_entropy
categorical_cross_entropy_prime = cross_entropy_prime

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_prime",
    "categorical_cross_entropy",
    "categorical_cross_entropy_prime",
    "cross_entropy",
    "cross_entropy_prime",
    "mse",
    "mse_prime",
]
