"""Training and prediction in numpy alone, for work too small to repay numba.

Starting numba and loading compiled code costs about half a second per process, compiling it the
first time 10 s or more; the seed's XOR script trains in a tenth of a second of numpy. So ``fit``
and ``predict`` run a dense network (``FCLayer`` and built-in activations, MSE or binary
cross-entropy, plain SGD) here when the estimated numpy time is below :data:`SMALL_WORK_SECONDS`,
and numba is never imported. The choice depends only on the network, the data's size, the batch
size and the epochs -- never on what this process did before -- so a script prints the same
numbers on every run. The arithmetic is :mod:`kernels.reference_core`'s: the seed's own
expressions, so the seed's scripts reproduce its numbers exactly.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from kernels import reference_core as core
from kernels.losses import BCE_EPS

from . import losses as L
from . import optimizers
from .ops.activation import ActivationLayer
from .ops.base import compiled_form
from .ops.dense import FCLayer
from .scoring import hits


def _seconds(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.0)
    except ValueError:
        return default


# Estimated numpy seconds below which a run takes this path: about what starting numba and loading
# cached code costs (FASTNN_SMALL_WORK=0 turns the path off, a large value forces it where it can).
SMALL_WORK_SECONDS = _seconds("FASTNN_SMALL_WORK", 0.5)
# numpy's cost model: per layer call on small arrays, and throughput of its small products.
_CALL_SECONDS = 2.5e-6
_FLOPS = 1e9

_ACTIVATIONS = {
    "tanh": (core.tanh, core.tanh_backward),
    "sigmoid": (core.sigmoid, core.sigmoid_backward),
    "relu": (core.relu, core.relu_backward),
}


def _bce_with_gradient(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.floating, np.ndarray]:
    eps = BCE_EPS[y_pred.dtype]
    return core.binary_cross_entropy(y_true, y_pred, eps), core.binary_cross_entropy_backward(y_true, y_pred, eps)


_LOSSES = {"mse": core.mse_with_gradient, "binary_cross_entropy": _bce_with_gradient}


def _supported(layer: Any) -> bool:
    if not compiled_form(layer):  # a subclass that changed forward/backward runs as written
        return False
    if isinstance(layer, FCLayer):
        return True
    return isinstance(layer, ActivationLayer) and layer.name in (*_ACTIVATIONS, "leaky_relu", "linear")


def supports(layers: list[Any]) -> bool:
    """Whether this path can run these layers."""
    return bool(layers) and all(_supported(layer) for layer in layers)


def estimated_seconds(layers: list[Any], samples: int, batch_size: int, epochs: int) -> float:
    """numpy's time for ``epochs`` of training (``epochs=0``: one forward pass over the samples)."""
    flops = sum(2 * layer.weights.size for layer in layers if isinstance(layer, FCLayer))
    batches = math.ceil(samples / batch_size)
    if epochs == 0:
        return batches * len(layers) * _CALL_SECONDS + samples * flops / _FLOPS
    per_batch = (2 + 2 * len(layers)) * _CALL_SECONDS
    return epochs * (batches * per_batch + samples * 3 * flops / _FLOPS)


def takes_fit(net: Any, run: Any) -> bool:
    """Whether ``fit`` trains this run here: a supported network, loss and optimizer, no hooks,
    and little enough work."""
    return (
        supports(net.layers)
        and net.gradient_hook is None
        and not run.fused
        and net.criterion.name in _LOSSES
        and net.criterion is L.BUILTIN[net.criterion.name]
        and type(run.optimizer) is optimizers.SGD
        and run.x.ndim == 2
        and estimated_seconds(net.layers, len(run.x), run.batch_size, run.epochs) < SMALL_WORK_SECONDS
    )


def takes_predict(layers: list[Any], x: np.ndarray, batch_size: int) -> bool:
    return x.ndim == 2 and supports(layers) and estimated_seconds(layers, len(x), batch_size, 0) < SMALL_WORK_SECONDS


class _Dense:
    def __init__(self, layer: FCLayer, grads: tuple[np.ndarray, np.ndarray] | None, need_dx: bool) -> None:
        self.w, self.b = layer.weights, layer.bias
        self.grads, self.need_dx = grads, need_dx
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return core.dense_forward(x, self.w, self.b)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        return core.dense_backward(self.x, self.w, dy, self.need_dx, self.grads)[0]


class _Activation:
    def __init__(self, layer: ActivationLayer) -> None:
        name, alpha = layer.name, layer.alpha
        if name == "leaky_relu":
            self.f = lambda x: core.leaky_relu(x, alpha)
            self.df = lambda y, dy: core.leaky_relu_backward(y, dy, alpha)
        elif name == "linear":
            self.f, self.df = (lambda x: x), (lambda y, dy: dy)
        else:
            self.f, self.df = _ACTIVATIONS[name]
        self.y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = self.f(x)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.df(self.y, dy)


def _first_dense(layers: list[Any]) -> int:
    return next((i for i, layer in enumerate(layers) if isinstance(layer, FCLayer)), len(layers))


def _steps(layers: list[Any], grads: list[np.ndarray] | None) -> list[Any]:
    """One step object per layer; ``grads`` (views, two per dense layer) when training."""
    steps, pending, first_dense = [], iter(grads or ()), _first_dense(layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, FCLayer):
            pair = (next(pending), next(pending)) if grads is not None else None
            steps.append(_Dense(layer, pair, need_dx=i > first_dense))
        else:
            steps.append(_Activation(layer))
    return steps


def forward(layers: list[Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    """Outputs (N, out) of the layers for samples x (N, in), ``batch_size`` samples at a time."""
    steps = _steps(layers, None)
    outs = []
    for start in range(0, len(x), batch_size):
        out = x[start : start + batch_size]
        for step in steps:
            out = step.forward(out)
        outs.append(out)
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


def epochs(
    layers: list[Any], run: Any, criterion: Any, flat: Any, one_call_per_epoch: bool
) -> Iterator[tuple[list[float], list[float], tuple[int, int, int] | None]]:
    """Train as the compiled engine does (same batches, order, loss and accuracy bookkeeping):
    yields (mean losses, correct counts, fault) for runs of epochs (~0.1 s each, or one epoch
    each with ``one_call_per_epoch``), fault (epoch, batch, 1 loss / 2 gradient) when a non-finite
    value stopped training before that batch's update, else None. ``flat``: the layers'
    :class:`fastnn.plan.FlatParameters` (one gradient array for all)."""
    steps = _steps(layers, flat.grad_views)
    forward_ = [step.forward for step in steps]
    backward = [step.backward for step in reversed(steps[_first_dense(layers) :])]  # no gradient below
    loss_and_gradient = _LOSSES[criterion.name]
    x, targets, y, kind, bs = run.x, run.targets, run.y, run.kind, run.batch_size
    params, grads, lr = flat.values, flat.grads, run.optimizer.lr
    n = len(x)
    starts = range(0, n, bs)
    sizes = [min(bs, n - start) for start in starts]
    in_order = [(x[start : start + bs], targets[start : start + bs]) for start in starts]

    def one_epoch(batches: list[tuple[np.ndarray, np.ndarray]], check: bool, outs: list) -> tuple[float, tuple | None]:
        """(loss sum, (batch, kind) of a non-finite loss -- or with ``check`` of a non-finite
        gradient -- that stopped the epoch before that batch's update, else None); the outputs
        are appended to ``outs``."""
        total = 0.0
        for b, (out, t) in enumerate(batches):
            for f in forward_:
                out = f(out)
            loss, g = loss_and_gradient(t, out)
            loss = float(loss)
            if not math.isfinite(loss):
                return total, (b, 1)
            for f in backward:
                g = f(g)
            if check and not np.isfinite(grads).all():
                return total, (b, 2)
            core.sgd_step(params, grads, lr)
            total += loss * sizes[b]
            outs.append(out)
        return total, None

    def run_epochs(first: int) -> tuple[list[float], list[float], tuple[int, int, int] | None]:
        """Epochs from ``first`` on for ~0.1 s (or one): (mean losses, correct counts, fault)."""
        losses: list[float] = []
        outs: list[np.ndarray] = []  # the outputs, scored at the end in one call (the same counts)
        seen: list[np.ndarray] = []  # the targets in the order they were seen
        started = time.perf_counter()
        for epoch in range(first, run.epochs):
            order = run.rng.permutation(n) if run.shuffle else None
            batches = in_order if order is None else [(x[i], targets[i]) for i in np.split(order, starts[1:])]
            before, done = params.copy(), len(outs)
            total, fault = one_epoch(batches, False, outs)
            # A non-finite gradient leaves the parameters non-finite (SGD never makes them finite
            # again): then the epoch runs again from its start, checking every batch, to stop where
            # the compiled engine stops -- the same numbers, without a check per batch on the way.
            if not np.isfinite(params).all():
                params[...] = before
                del outs[done:]
                total, fault = one_epoch(batches, True, outs)
            if fault is not None:
                del outs[done:]
                return losses, _corrects(seen, outs, kind, len(losses)), (epoch, *fault)
            run.optimizer.iterations += len(sizes)
            losses.append(total / n)
            seen.append(y if order is None else y[order])
            if one_call_per_epoch or time.perf_counter() - started > 0.1:
                break
        return losses, _corrects(seen, outs, kind, len(losses)), None

    done = 0
    while done < run.epochs:
        with np.errstate(all="ignore"):  # overflow is reported as the engine reports it: a fault
            losses, corrects, fault = run_epochs(done)
        yield losses, corrects, fault
        if fault is not None:
            return
        done += len(losses)


def _corrects(seen: list[np.ndarray], outs: list[np.ndarray], kind: str | None, epochs: int) -> list[float]:
    """Correct counts of ``epochs`` epochs from their targets and outputs, in one scoring call."""
    if not kind or not epochs:
        return [0.0] * epochs
    right = hits(np.concatenate(seen), np.concatenate(outs), kind)
    return right.reshape(epochs, -1).sum(axis=1).astype(float).tolist()
