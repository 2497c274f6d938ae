"""Optimizers: they apply the gradients a backward pass left in each layer, with the kernels' steps.

``optimizer.step(pairs)`` takes ``(param, grad)`` pairs and updates every param in place. State
(velocities, moment estimates) is kept per parameter array and created on first use, in the
parameter's dtype.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

import kernels as K
from kernels._checks import real_scalar


def _rate(lr: float | None, learning_rate: float | None, default: float) -> float:
    """The step size given as PyTorch's ``lr`` or Keras's ``learning_rate`` (not both), else ``default``."""
    if lr is not None and learning_rate is not None:
        raise TypeError(f"give lr or learning_rate, not both; got {lr!r} and {learning_rate!r}")
    value = lr if lr is not None else learning_rate if learning_rate is not None else default
    return real_scalar(value, "learning_rate" if learning_rate is not None else "lr", low=0.0)


class Optimizer:
    name = "optimizer"
    default_lr = 0.01

    def __init__(self, lr: float | None = None, *, learning_rate: float | None = None) -> None:
        self.lr = _rate(lr, learning_rate, self.default_lr)
        self.iterations = 0
        self._state: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}

    def _slots(self, param: np.ndarray, count: int) -> list[np.ndarray]:
        entry = self._state.get(id(param))
        if entry is None or entry[0] is not param:
            entry = (param, [np.zeros_like(param) for _ in range(count)])
            self._state[id(param)] = entry
        return entry[1]

    def step(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        self.iterations += 1
        for param, grad in pairs:
            self._update(param, grad)

    def _update(self, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        self.iterations = 0
        self._state.clear()

    def config(self) -> dict:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """``param -= lr * grad`` (the seed's update)."""

    name = "sgd"

    def __init__(self, lr: float | None = None, *, learning_rate: float | None = None) -> None:
        super().__init__(lr, learning_rate=learning_rate)

    def _update(self, param, grad):
        K.sgd_step(param, grad, self.lr)


class Momentum(Optimizer):
    """SGD with momentum, PyTorch's convention: ``v = momentum*v + grad; param -= lr*v``."""

    name = "momentum"

    def __init__(self, lr: float | None = None, momentum: float = 0.9, *, learning_rate: float | None = None) -> None:
        super().__init__(lr, learning_rate=learning_rate)
        self.momentum = real_scalar(momentum, "momentum", low=0.0, high=1.0, high_open=True)

    def _update(self, param, grad):
        (velocity,) = self._slots(param, 1)
        K.momentum_step(param, grad, velocity, self.lr, self.momentum)

    def config(self):
        return {"lr": self.lr, "momentum": self.momentum}


class RMSProp(Optimizer):
    """``s = rho*s + (1-rho)*grad**2; param -= lr*grad/(sqrt(s)+eps)`` (Hinton's rho=0.9)."""

    name = "rmsprop"

    default_lr = 0.001

    def __init__(
        self, lr: float | None = None, rho: float = 0.9, eps: float = 1e-8, *, learning_rate: float | None = None
    ) -> None:
        super().__init__(lr, learning_rate=learning_rate)
        self.rho = real_scalar(rho, "rho", low=0.0, high=1.0, high_open=True)
        self.eps = real_scalar(eps, "eps", low=0.0, low_open=True)

    def _update(self, param, grad):
        (square_avg,) = self._slots(param, 1)
        K.rmsprop_step(param, grad, square_avg, self.lr, self.rho, self.eps)

    def config(self):
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; one step counter for the whole network."""

    name = "adam"

    default_lr = 0.001

    def __init__(
        self,
        lr: float | None = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        *,
        learning_rate: float | None = None,
    ) -> None:
        super().__init__(lr, learning_rate=learning_rate)
        self.beta1 = real_scalar(beta1, "beta1", low=0.0, high=1.0, high_open=True)
        self.beta2 = real_scalar(beta2, "beta2", low=0.0, high=1.0, high_open=True)
        self.eps = real_scalar(eps, "eps", low=0.0, low_open=True)

    def _update(self, param, grad):
        m, v = self._slots(param, 2)
        K.adam_step(param, grad, m, v, self.iterations, self.lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps)

    def config(self):
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


BY_NAME: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSProp, "adam": Adam}


def get(optimizer: Optimizer | str | None, learning_rate: float | None) -> Optimizer:
    """An Optimizer instance: the one given; a name ("sgd", "momentum", "rmsprop", "adam") at
    ``learning_rate``, or at that optimizer's usual default (SGD and momentum 0.01, RMSProp and Adam
    0.001) when it is None; None for the seed's plain SGD at ``learning_rate`` (0.1 when None)."""
    if optimizer is None:
        return SGD(SEED_LEARNING_RATE if learning_rate is None else learning_rate)
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in BY_NAME:
            raise ValueError(f"optimizer must be one of {sorted(BY_NAME)} or an Optimizer; got {optimizer!r}")
        return BY_NAME[key](learning_rate)
    raise TypeError(f"optimizer must be an Optimizer, a name or None; got {type(optimizer).__name__}")


# The seed tutorials' step size: fit's default when no optimizer is named.
SEED_LEARNING_RATE = 0.1


__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "RMSProp", "get"]
