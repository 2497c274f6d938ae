"""Finite-difference checks of analytic gradients (float64, central differences)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the finite-difference estimate."""


def _numeric(f: Callable[[], float], arr: np.ndarray, eps: float) -> np.ndarray:
    grad = np.zeros_like(arr)
    flat, out = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f()
        flat[i] = keep - eps
        down = f()
        flat[i] = keep
        out[i] = (up - down) / (2 * eps)
    return grad


def _compare(name: str, analytic: np.ndarray, numeric: np.ndarray, rtol: float, atol: float) -> None:
    analytic = np.asarray(analytic, dtype=np.float64).reshape(numeric.shape)
    err = np.abs(analytic - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if bad.any():
        i = np.unravel_index(np.argmax(err - rtol * np.abs(numeric)), numeric.shape)
        raise GradcheckError(
            f"gradient of {name} differs from finite differences at {tuple(int(v) for v in i)}: "
            f"analytic {analytic[i]:.10g}, numeric {numeric[i]:.10g} ({int(bad.sum())} of {bad.size} entries off)"
        )


def gradcheck(
    layer: Any,
    x: Any,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    seed: int = 0,
    training: bool = False,
) -> bool:
    """Check a layer's ``backward`` (input gradient and every parameter gradient) against central
    differences of ``L = sum(forward(x) * R)`` for a random R, on a float64 copy of the layer.
    ``training=True`` checks the training-mode forward; a layer drawing random numbers (dropout)
    draws the same ones for every evaluation. Returns True or raises :class:`GradcheckError`
    naming the first disagreeing entry."""
    layer = copy.deepcopy(layer)
    if hasattr(layer, "astype"):
        layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    rng = getattr(layer, "rng", None)
    state = copy.deepcopy(rng.bit_generator.state) if isinstance(rng, np.random.Generator) else None

    def forward() -> np.ndarray:
        if state is not None:
            rng.bit_generator.state = copy.deepcopy(state)
        return layer.forward(x, training=training)

    r = np.random.default_rng(seed).standard_normal(np.shape(forward()))

    def objective() -> float:
        return float(np.sum(forward() * r))

    objective()
    dx = layer.backward(r)
    analytic = {name: np.array(g) for name, g in getattr(layer, "grads", {}).items()}
    _compare("input", dx, _numeric(objective, x, eps), rtol, atol)
    for name in getattr(layer, "param_names", ()):
        _compare(name, analytic[name], _numeric(objective, getattr(layer, name), eps), rtol, atol)
    return True


def gradcheck_loss(
    loss: Callable,
    loss_prime: Callable,
    y_true: Any,
    y_pred: Any,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> bool:
    """Check ``loss_prime(y_true, y_pred)`` against central differences of ``loss`` in y_pred."""
    y_true = np.asarray(y_true)
    y_true = y_true.astype(np.float64) if y_true.dtype.kind == "f" else y_true
    y_pred = np.array(y_pred, dtype=np.float64)
    numeric = _numeric(lambda: float(loss(y_true, y_pred)), y_pred, eps)
    _compare("loss", loss_prime(y_true, y_pred), numeric, rtol, atol)
    return True
