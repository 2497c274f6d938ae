"""Training and prediction in numpy alone, for work too small to repay numba.

Starting numba and loading compiled code costs about half a second per process, compiling it the
first time 10 s or more; the seed's XOR script trains in a tenth of a second of numpy. So ``fit``
and ``predict`` run here when every layer is one this path knows (dense, convolution, max-pool,
flatten, the built-in activations, softmax last), the loss is MSE, binary cross-entropy or softmax
+ cross-entropy, the optimizer a built-in one, and the estimated numpy time is below
:data:`SMALL_WORK_SECONDS`; numba is then never imported. The choice depends only on the network,
the data's size, the batch size and the epochs -- never on what this process did before -- so a
script prints the same numbers on every run. The arithmetic is :mod:`kernels.reference_core`'s:
the seed's own expressions for dense networks, so the seed's scripts reproduce its numbers exactly
(numpy's BLAS held at one thread, as the suite runs the seeds: work this small gains nothing from a
second thread).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from kernels import reference_core as core
from kernels.config import blas_single_thread
from kernels.losses import BCE_EPS

from . import losses as L
from . import optimizers as O
from .ops.activation import ActivationLayer
from .ops.base import compiled_form
from .ops.conv import ConvLayer
from .ops.dense import FCLayer
from .ops.pool import MaxPoolLayer
from .ops.reshape import FlattenLayer
from .plan import make_plan
from .scoring import hits


def _seconds(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.0)
    except ValueError:
        return default


# Estimated numpy seconds below which a run takes this path. Starting numba and loading cached code
# costs ~0.5 s, compiling (a first run, a new dtype) 10-40 s: at 1 s the numpy path is at most ~0.5 s
# slower than a warm start and 10 s or more faster than a cold one. FASTNN_SMALL_WORK=0 turns the
# path off; a large value forces it wherever it applies.
SMALL_WORK_SECONDS = _seconds("FASTNN_SMALL_WORK", 1.0)
# numpy's cost model, measured on the 2-core development machine: seconds per layer call (forward
# or backward) on a small batch, by layer type, per batch for the loss and the update, and the
# throughput of its small products.
_CALL_SECONDS = {FCLayer: 2.5e-6, ConvLayer: 100e-6, MaxPoolLayer: 15e-6, FlattenLayer: 1e-6, ActivationLayer: 2.5e-6}
_BATCH_SECONDS = 8e-6
_FLOPS = 2e9

_ACTIVATIONS = {
    "tanh": (core.tanh, core.tanh_backward),
    "sigmoid": (core.sigmoid, core.sigmoid_backward),
    "relu": (core.relu, core.relu_backward),
}


def _bce_with_gradient(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.floating, np.ndarray]:
    eps = BCE_EPS[y_pred.dtype]
    return core.binary_cross_entropy(y_true, y_pred, eps), core.binary_cross_entropy_backward(y_true, y_pred, eps)


_LOSSES = {
    "mse": core.mse_with_gradient,
    "binary_cross_entropy": _bce_with_gradient,
    "cross_entropy": lambda labels, logits: core.softmax_cross_entropy(logits, labels),  # softmax fused in
}


def loss_value(criterion: Any) -> Callable[[np.ndarray, np.ndarray], np.floating] | None:
    """The numpy ``value(y_true, y_pred)`` of a built-in MSE or binary cross-entropy, else None."""
    if criterion is L.BUILTIN["mse"]:
        return core.mse
    if criterion is L.BUILTIN["binary_cross_entropy"]:
        return lambda t, p: core.binary_cross_entropy(t, p, BCE_EPS[p.dtype])
    return None


def _supported(layer: Any, last: bool) -> bool:
    if not compiled_form(layer):  # a subclass that changed forward/backward runs as written
        return False
    if isinstance(layer, (FCLayer, ConvLayer, MaxPoolLayer, FlattenLayer)):
        return True
    names = (*_ACTIVATIONS, "leaky_relu", "linear", *(("softmax",) if last else ()))
    return isinstance(layer, ActivationLayer) and layer.name in names


def supports(layers: list[Any]) -> bool:
    """Whether this path can run these layers."""
    return bool(layers) and all(_supported(layer, i == len(layers) - 1) for i, layer in enumerate(layers))


def _flops(layer: Any) -> int:
    """Multiply-adds x 2 of one sample's forward pass."""
    if isinstance(layer, FCLayer):
        return 2 * layer.weights.size
    if isinstance(layer, ConvLayer):
        oh, ow, _ = layer.output_shape
        return 2 * oh * ow * layer.weights.size
    return 0


def estimated_seconds(layers: list[Any], samples: int, batch_size: int, epochs: int) -> float:
    """numpy's time for ``epochs`` of training (``epochs=0``: one forward pass over the samples)."""
    flops = sum(_flops(layer) for layer in layers)
    calls = sum(_CALL_SECONDS.get(type(layer), 2.5e-6) for layer in layers)
    batches = math.ceil(samples / batch_size)
    if epochs == 0:
        return batches * calls + samples * flops / _FLOPS
    return epochs * (batches * (2 * calls + _BATCH_SECONDS) + samples * 3 * flops / _FLOPS)


def takes_fit(net: Any, run: Any) -> bool:
    """Whether ``fit`` trains this run here: a supported network, loss and optimizer, no hooks,
    and little enough work."""
    criterion = net.criterion
    fused_ok = run.fused == (criterion.name == "cross_entropy")  # softmax + cross-entropy only fused
    return (
        supports(net.layers)
        and net.gradient_hook is None
        and fused_ok
        and criterion.name in _LOSSES
        and criterion is L.BUILTIN[criterion.name]
        and type(run.optimizer) in _STEPS
        and estimated_seconds(net.layers, len(run.x), run.batch_size, run.epochs) < SMALL_WORK_SECONDS
    )


def takes_predict(layers: list[Any], x: np.ndarray, batch_size: int) -> bool:
    """Whether ``predict`` runs here: supported layers, samples of the shape they take (else the
    layers say what is wrong), little enough work."""
    return (
        supports(layers)
        and estimated_seconds(layers, len(x), batch_size, 0) < SMALL_WORK_SECONDS
        and make_plan(layers, x.shape[1:]) is not None
    )


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


class _Conv:
    def __init__(self, layer: ConvLayer, grads: tuple[np.ndarray, np.ndarray] | None, need_dx: bool) -> None:
        self.w, self.b, self.stride, self.pads = layer.weights, layer.bias, layer.stride, layer.padding
        self.grads, self.need_dx = grads, need_dx
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return core.conv2d_forward(x, self.w, self.b, self.stride, self.pads)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dx, dw, db = core.conv2d_backward(self.x, self.w, dy, self.stride, self.pads, self.need_dx)
        gw, gb = self.grads
        gw[...] = dw
        gb[...] = db
        return dx


class _MaxPool:
    def __init__(self, layer: MaxPoolLayer) -> None:
        self.size = layer.size
        self.where: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self.where = core.maxpool2d_forward(x, self.size)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return core.maxpool2d_backward(self.where, dy, self.size)


class _Flatten:
    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.shape)


class _Activation:
    def __init__(self, layer: ActivationLayer) -> None:
        name, alpha = layer.name, layer.alpha
        if name == "leaky_relu":
            self.f = lambda x: core.leaky_relu(x, alpha)
            self.df = lambda y, dy: core.leaky_relu_backward(y, dy, alpha)
        elif name == "linear":
            self.f, self.df = (lambda x: x), (lambda y, dy: dy)
        elif name == "softmax":  # forward only: training fuses it into the loss
            self.f, self.df = core.softmax, None
        else:
            self.f, self.df = _ACTIVATIONS[name]
        self.y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = self.f(x)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.df(self.y, dy)


def _optimizer_step(opt: O.Optimizer, state: tuple[np.ndarray, np.ndarray]) -> Callable[..., None]:
    """``step(params, grads)`` for the optimizer, on flat state arrays (shared with the optimizer)."""
    s1, s2 = state
    if isinstance(opt, O.Adam):
        betas = (opt.beta1, opt.beta2)

        def adam(params: np.ndarray, grads: np.ndarray) -> None:  # the caller counts iterations
            core.adam_step(params, grads, s1, s2, opt.iterations, opt.lr, betas, opt.eps)

        return adam
    if isinstance(opt, O.RMSProp):
        return lambda params, grads: core.rmsprop_step(params, grads, s1, opt.lr, opt.rho, opt.eps)
    if isinstance(opt, O.Momentum):
        return lambda params, grads: core.momentum_step(params, grads, s1, opt.lr, opt.momentum)
    return lambda params, grads: core.sgd_step(params, grads, opt.lr)


_STEPS = (O.SGD, O.Momentum, O.RMSProp, O.Adam)


def _first_with_params(layers: list[Any]) -> int:
    return next((i for i, layer in enumerate(layers) if getattr(layer, "param_names", ())), len(layers))


def _steps(layers: list[Any], grads: list[np.ndarray] | None) -> list[Any]:
    """One step object per layer; ``grads`` (views, two per dense or conv layer) when training."""
    steps, pending, first = [], iter(grads or ()), _first_with_params(layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, (FCLayer, ConvLayer)):
            pair = (next(pending), next(pending)) if grads is not None else None
            steps.append((_Dense if isinstance(layer, FCLayer) else _Conv)(layer, pair, need_dx=i > first))
        elif isinstance(layer, MaxPoolLayer):
            steps.append(_MaxPool(layer))
        elif isinstance(layer, FlattenLayer):
            steps.append(_Flatten())
        else:
            steps.append(_Activation(layer))
    return steps


def forward(layers: list[Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    """Outputs of the layers for samples x (N, ...), ``batch_size`` samples at a time."""
    steps = _steps(layers, None)
    outs = []
    with blas_single_thread(numba_blas=False):  # as in training (see epochs)
        for start in range(0, len(x), batch_size):
            out = x[start : start + batch_size]
            for step in steps:
                out = step.forward(out)
            outs.append(out)
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


def epochs(
    layers: list[Any],
    run: Any,
    criterion: Any,
    flat: Any,
    state: tuple[np.ndarray, np.ndarray],
    one_call_per_epoch: bool,
    output_shape: tuple[int, ...],
) -> Iterator[tuple[list[float], list[float], tuple[int, int, int] | None]]:
    """Train as the compiled engine does (same batches, order, loss and accuracy bookkeeping):
    yields (mean losses, correct counts, fault) for runs of epochs (~0.1 s each, or one epoch
    each with ``one_call_per_epoch``), fault (epoch, batch, 1 loss / 2 gradient) when a non-finite
    value stopped training before that batch's update, else None. ``flat``: the layers'
    :class:`fastnn.plan.FlatParameters` (one gradient array for all); ``state``: the optimizer's
    two flat state arrays (:func:`fastnn.plan.optimizer_state`); ``output_shape``: one sample's
    output (targets given flat are compared in that shape)."""
    if run.fused:  # the softmax runs inside the loss: the steps stop at the logits
        layers = layers[:-1]
    steps = _steps(layers, flat.grad_views)
    forward_ = [step.forward for step in steps]
    backward = [step.backward for step in reversed(steps[_first_with_params(layers) :])]  # none below
    loss_and_gradient = _LOSSES[criterion.name]
    opt = run.optimizer
    update = _optimizer_step(opt, state)
    x, targets, y, kind, bs = run.x, run.targets, run.y, run.kind, run.batch_size
    params, grads = flat.values, flat.grads
    n = len(x)
    if not run.fused:
        targets = targets.reshape(n, *output_shape)
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
            opt.iterations += 1
            update(params, grads)
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
            before, done = (params.copy(), *(a.copy() for a in state), opt.iterations), len(outs)
            total, fault = one_epoch(batches, False, outs)
            # A non-finite gradient leaves the parameters non-finite (no optimizer makes them finite
            # again): then the epoch runs again from its start, checking every batch, to stop where
            # the compiled engine stops -- the same numbers, without a check per batch on the way.
            if not np.isfinite(params).all():
                for now, then in zip((params, *state), before, strict=False):
                    now[...] = then
                opt.iterations = before[-1]
                del outs[done:]
                total, fault = one_epoch(batches, True, outs)
            if fault is not None:
                del outs[done:]
                return losses, _corrects(seen, outs, kind, len(losses)), (epoch, *fault)
            losses.append(total / n)
            seen.append(y if order is None else y[order])
            if one_call_per_epoch or time.perf_counter() - started > 0.1:
                break
        return losses, _corrects(seen, outs, kind, len(losses)), None

    done = 0
    while done < run.epochs:
        # Overflow is reported as the engine reports it: a fault. BLAS at one thread: work this
        # small gains nothing from a second (the digits CLI example: 0.60 s either way), whose
        # spinning took the other core from the CLI's plot process, and its numbers stay the same
        # at any thread count.
        with np.errstate(all="ignore"), blas_single_thread(numba_blas=False):
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
