"""Activation functions with the seed tutorials' signatures: ``tanh(x)`` and ``tanh_prime(x)``.

These are plain functions, so they also work inside the seeds' own classes. ``*_prime(x)`` is the
derivative at the *input* x, as in the seeds. :class:`fastnn.ActivationLayer` recognises them and
runs the compiled forward kernel and the backward kernel from the saved output instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import kernels as K


def tanh(x: np.ndarray) -> np.ndarray:
    return K.tanh(x)


def tanh_prime(x: np.ndarray) -> np.ndarray:
    y = K.tanh(x)
    return 1 - y**2


def sigmoid(x: np.ndarray) -> np.ndarray:
    return K.sigmoid(x)


def sigmoid_prime(x: np.ndarray) -> np.ndarray:
    s = K.sigmoid(x)
    return s * (1 - s)


def relu(x: np.ndarray) -> np.ndarray:
    return K.relu(x)


def relu_prime(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return (x > 0).astype(K.relu(x).dtype)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return K.leaky_relu(x, alpha)


def leaky_relu_prime(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    y = K.leaky_relu(x, alpha)
    return np.where(y > 0, 1, alpha).astype(y.dtype)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis. Its derivative is a Jacobian, not elementwise: use the
    :class:`fastnn.Softmax` layer (or the fused softmax + cross-entropy loss) to train with it."""
    return K.softmax(x)


def linear(x: np.ndarray) -> np.ndarray:
    return np.asarray(x)


def linear_prime(x: np.ndarray) -> np.ndarray:
    return np.ones_like(np.asarray(x, dtype=np.result_type(np.asarray(x).dtype, np.float32)))


@dataclass(frozen=True)
class Activation:
    """A built-in activation: compiled forward ``f(x, **kw)`` and backward ``b(y, dy, **kw)`` from the output."""

    name: str
    forward: Callable[..., np.ndarray]
    backward: Callable[..., np.ndarray]
    takes_alpha: bool = False


def _linear_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy


# Kernels are looked up in ``K`` at call time, so fastnn.reference_path() can swap in the twins.
BUILTIN: dict[str, Activation] = {
    "tanh": Activation("tanh", lambda x: K.tanh(x), lambda y, dy: K.tanh_backward(y, dy)),
    "sigmoid": Activation("sigmoid", lambda x: K.sigmoid(x), lambda y, dy: K.sigmoid_backward(y, dy)),
    "relu": Activation("relu", lambda x: K.relu(x), lambda y, dy: K.relu_backward(y, dy)),
    "leaky_relu": Activation(
        "leaky_relu", lambda x, a: K.leaky_relu(x, a), lambda y, dy, a: K.leaky_relu_backward(y, dy, a), True
    ),
    "softmax": Activation("softmax", lambda x: K.softmax(x), lambda y, dy: K.softmax_backward(y, dy)),
    "linear": Activation("linear", linear, _linear_backward),
}

# The seed-style functions the layers recognise, by the built-in activation they stand for.
FUNCTIONS: dict[Any, str] = {
    tanh: "tanh",
    tanh_prime: "tanh",
    sigmoid: "sigmoid",
    sigmoid_prime: "sigmoid",
    relu: "relu",
    relu_prime: "relu",
    leaky_relu: "leaky_relu",
    leaky_relu_prime: "leaky_relu",
    softmax: "softmax",
    linear: "linear",
    linear_prime: "linear",
}

__all__ = [
    "leaky_relu",
    "leaky_relu_prime",
    "linear",
    "linear_prime",
    "relu",
    "relu_prime",
    "sigmoid",
    "sigmoid_prime",
    "softmax",
    "tanh",
    "tanh_prime",
]
