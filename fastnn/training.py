"""How ``Network.fit`` trains: one batch layer by layer, whole epochs in the compiled engine, and the
record of every epoch (history, validation, callback, the seed's epoch line).

``fit`` prepares a :class:`Run` and hands it to :func:`epochs`, which takes the compiled engine
when every layer, the loss and the optimizer are built in, and the layer-by-layer loop otherwise.
Both yield ([mean loss], [correct count]) per epoch and compute the same numbers, bit for bit.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import kernels as K
from kernels import config

from . import data, describe, numpy_path, optimizers
from . import plan as plan_mod
from .callbacks import StopTraining
from .compiled import CompiledNetwork, engine_loss
from .compiled import predict as compiled_predict
from .layers import ActivationLayer, DropoutLayer, is_builtin
from .scoring import accuracy_kind, as_labels, correct

# Set FASTNN_COMPILED_FIT=0 to always train layer by layer (for comparisons and debugging): neither the
# compiled engine nor the numpy path for small work.
COMPILED_FIT = os.environ.get("FASTNN_COMPILED_FIT", "1").strip().lower() not in ("0", "false", "no", "off")


class ProcessHistory:
    """What this process has trained, which later fits choose by. Small work trains in numpy (a short
    script never starts numba) unless the network has trained before in this process or a fit here
    has already run the compiled engine: then the engine, wherever it runs -- a loop of
    ``fit(epochs=1)``, a notebook's refits, a sweep after its first compiled fit reach compiled
    speed. Two fresh networks alike still train alike (numpy and the engine differ in the last bits:
    numpy's tanh is not fastnn's). A script's fits come in the same order on every run, so its numbers
    do too: the choice never depends on the compile cache or on timing. ``later_fits_compiled``
    False keeps numpy for small work always."""

    def __init__(self) -> None:
        self.engine_used = False
        self.later_fits_compiled = True

    def reset(self) -> None:
        self.engine_used = False


PROCESS = ProcessHistory()

# The flat parameter arrays each network shares with the engine (its layers hold views into them).
_FLAT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

Epochs = Iterator[tuple[list[float], list[float]]]


@dataclass
class Run:
    """One call of ``fit``, its arguments checked and its data in the network's dtype."""

    x: np.ndarray  # samples, (N, features) or (N, h, w, c)
    y: np.ndarray  # targets as given to the loss: (N, outputs), or labels (N,)
    targets: np.ndarray  # what the loss is computed against: y, or class labels for fused softmax + CE
    fused: bool  # a Softmax last layer trained through the fused softmax + cross-entropy kernel
    kind: str | None  # accuracy: "categorical", "binary" or None
    optimizer: optimizers.Optimizer
    learning_rate: float
    batch_size: int
    epochs: int
    shuffle: bool
    rng: np.random.Generator
    program: plan_mod.Plan | None = None  # the layers encoded for these samples, if they all can be


def prepare(
    net: Any,
    x_train: Any,
    y_train: Any,
    *,
    validation: tuple[Any, float],
    epochs: int,
    learning_rate: float | None,
    batch_size: int,
    optimizer: Any,
    shuffle: bool,
    seed: Any,
) -> tuple[Run, tuple[np.ndarray, np.ndarray] | None, bool]:
    """Everything ``fit`` checks and sets up before training: the data in the network's dtype and
    shapes (targets checked against the network's output), the validation data (given, or split
    off the end as Keras's ``validation_split``), the optimizer and the random generator. Returns
    (the run, the validation arrays or None)."""
    validation_data, validation_split = validation
    data.warn_raw_pixels(x_train, "x_train")
    x, seed_style = net.as_inputs(x_train, "x_train")
    try:  # a layer that cannot take what the one before gives: named now, before anything compiles
        describe.output_shapes(net.layers, (x.shape[-1],) if seed_style else x.shape[1:])
    except ValueError as exc:
        raise ValueError(f"x_train of shape {x.shape}: {exc}") from None
    y, y_given = net.as_targets(y_train, len(x), "y_train")
    net.input_range = data.value_range(x)
    if validation_split:
        if validation_data is not None:
            raise ValueError("give validation_data or validation_split, not both")
        x, y, validation_data = data.split_off(x, y, validation_split)
    builtin = all(is_builtin(layer) for layer in net.layers)
    if builtin and seed_style:
        x = x.reshape(len(x), -1)
    rng = np.random.default_rng(seed) if seed is not None else net.rng
    for layer in net.layers:
        if isinstance(layer, DropoutLayer):
            layer.rng = rng
    net.optimizer = optimizers.get(optimizer, learning_rate)
    step = net.optimizer.lr if learning_rate is None else learning_rate  # seed-style layers' own SGD
    labels = as_labels(y) if net.criterion.fuses_with_softmax else None
    last = net.layers[-1]
    fused = builtin and labels is not None and isinstance(last, ActivationLayer) and last.name == "softmax"
    val = None
    if validation_data is not None:
        vx, _ = net.as_inputs(validation_data[0], "validation_data[0]")
        vy, vy_given = net.as_targets(validation_data[1], len(vx), "validation_data[1]")
        val = (vx, vy)
    program = plan_mod.make_plan(net.layers, x.shape[1:]) if builtin else None
    if builtin:  # the compiled loop trusts these shapes: check them against the network's output
        out_shape = program.sample_shapes[-1] if program is not None else np.shape(net.forward(x[:1]))[1:]
        categorical = net.criterion.classification == "categorical"
        data.check_targets(out_shape, y, labels, "y_train", y_given, categorical)
        if val is not None:
            vlabels = as_labels(vy) if labels is not None else None
            data.check_targets(out_shape, vy, vlabels, "validation_data[1]", vy_given, categorical)
    kind = accuracy_kind(net.criterion.classification, y)
    targets = labels if fused else y
    run = Run(x, y, targets, fused, kind, net.optimizer, step, batch_size, epochs, shuffle, rng, program)
    return run, val


def non_finite(fault: int, where: str) -> FloatingPointError:
    what = "the loss" if fault == 1 else "a gradient"
    return FloatingPointError(
        f"{what} became non-finite at {where}; training stopped and the network keeps the weights from before "
        "this batch"
    )


def loss_and_grad(net: Any, y: np.ndarray, out: np.ndarray, logits: np.ndarray | None) -> tuple[float, np.ndarray]:
    """The batch loss and its gradient with respect to the output (to the logits when fused)."""
    if logits is not None:  # softmax + cross-entropy, fused and stable
        loss, grad = K.softmax_cross_entropy(logits, y)
        return float(loss), grad
    criterion = net.criterion
    target = _as_target(criterion, y, out)
    return float(criterion.value(target, out)), criterion.gradient(target, out)


def _as_target(criterion: Any, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """y as the loss compares it with ``out``: labels one-hot, (N, values) in the output's shape."""
    if criterion.classification == "categorical" and y.ndim == 1:
        return np.eye(out.shape[-1], dtype=out.dtype)[y]
    if y.shape != np.shape(out) and y.size == np.size(out):
        return y.reshape(np.shape(out))  # (N, values) against conv-shaped output
    return y


def layer_gradients(
    net: Any, xb: np.ndarray, yb: np.ndarray, lr: float, fused: bool
) -> tuple[float, np.ndarray, list[tuple[np.ndarray, np.ndarray]], int]:
    """Forward, loss and backward of one batch, layer by layer: (loss, output, (param, grad) pairs,
    fault) with fault 0 (none), 1 (non-finite loss; nothing computed past it) or 2 (non-finite gradient)."""
    if fused:
        logits = net.forward(xb, training=True, stop=-1)
        out = logits
    else:
        logits = None
        out = net.forward(xb, training=True)
    loss, grad = loss_and_grad(net, yb, out, logits)
    if not np.isfinite(loss):
        return loss, out, [], 1
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for layer in reversed(net.layers[:-1] if fused else net.layers):
        if is_builtin(layer):
            grad = layer.backward(grad)
            pairs.extend(layer.param_grads())
        else:  # seed-style layers update themselves with plain SGD
            grad = layer.backward_propagation(grad, lr)
    fault = 0 if all(np.isfinite(g).all() for _, g in pairs) else 2
    return loss, out, pairs, fault


def _one_blas_thread() -> Any:
    """BLAS held at one thread, as the engine and the numpy path hold it: the products' last bits do
    not follow the thread count. scipy's BLAS (the kernels') too once loaded, not loaded for it."""
    return config.blas_single_thread(numba_blas="scipy.linalg.cython_blas" in sys.modules)


def _layerwise(net: Any, run: Run, builtin: bool) -> Epochs:
    """Layer by layer in Python, as the seed trains."""
    x, n = run.x, len(run.x)
    for epoch in range(run.epochs):
        order = run.rng.permutation(n) if run.shuffle else None
        total, right = 0.0, 0.0
        with _one_blas_thread():
            for b, start in enumerate(range(0, n, run.batch_size)):
                stop = start + run.batch_size
                idx = order[start:stop] if order is not None else slice(start, stop)
                if not builtin and run.batch_size == 1:  # hand user layers one sample, as the seed did
                    i = int(order[start]) if order is not None else start
                    xb, yb = (x[i] if x.ndim > 2 else x[i : i + 1]), run.targets[i : i + 1]
                else:
                    xb, yb = x[idx], run.targets[idx]
                loss, out, pairs, fault = layer_gradients(net, xb, yb, run.learning_rate, run.fused)
                if fault:
                    raise non_finite(fault, f"epoch {epoch + 1}, batch {b + 1}")
                if net.gradient_hook is not None:
                    net.gradient_hook(pairs)
                run.optimizer.step(pairs)
                total += loss * min(run.batch_size, n - start)
                if run.kind:
                    right += correct(run.y[idx], out, run.kind)
        yield [total / n], [right]


def compiled_network(net: Any, run: Run, capacity: int) -> CompiledNetwork | None:
    """The network ready for the engine with batches of ``capacity`` samples, or None when a layer,
    the loss or the optimizer is not one the engine runs."""
    loss_kind = engine_loss(net.criterion, run.fused)
    program = run.program
    if loss_kind is None or not COMPILED_FIT or not plan_mod.supports_optimizer(run.optimizer) or program is None:
        return None
    n = len(run.x)
    smallest = min(capacity, n % capacity or capacity)
    if smallest < program.min_batch:  # the layer path would raise this from the layer's forward
        raise ValueError(
            f"BatchNormLayer needs more than one value per channel while training (as PyTorch): "
            f"{n} samples in batches of {capacity} leave a batch of {smallest}; choose another batch_size"
        )
    return CompiledNetwork(program, flat_parameters(net, program, run.x.dtype), run, loss_kind, capacity)


def flat_parameters(net: Any, program: plan_mod.Plan, dtype: np.dtype) -> plan_mod.FlatParameters:
    """The network's parameters in one flat array (its layers then hold views), kept between fits."""
    flat = _FLAT.get(net)
    if flat is None or not flat.still_bound(program) or flat.values.dtype != dtype:
        flat = _FLAT[net] = plan_mod.FlatParameters(program, dtype)
    return flat


Faulty = Iterator[tuple[list[float], list[float], tuple[int, int, int] | None]]


def _raising(source: Faulty) -> Epochs:
    """The epochs of an engine that reports a non-finite value as (epoch, batch, kind): raised here."""
    for losses, corrects, fault in source:
        yield losses, corrects
        if fault is not None:
            epoch, batch, what = fault
            raise non_finite(what, f"epoch {epoch + 1}, batch {batch + 1}")


def _compiled(net: Any, run: Run, one_call_per_epoch: bool) -> Epochs | None:
    engine = compiled_network(net, run, min(run.batch_size, len(run.x))) if net.gradient_hook is None else None
    if engine is None:
        return None
    return _raising(engine.epochs(run.epochs, run.shuffle, run.rng, one_call_per_epoch))


def _numpy(net: Any, run: Run, one_call_per_epoch: bool) -> Epochs | None:
    program = run.program
    if not COMPILED_FIT or program is None or not numpy_path.takes_fit(net, run):
        return None
    flat = flat_parameters(net, program, run.x.dtype)
    flat.publish_grads()
    _, s1, s2, _ = plan_mod.optimizer_state(run.optimizer, flat)
    chunks = numpy_path.epochs(
        net.layers, run, net.criterion, flat, (s1, s2), one_call_per_epoch, program.sample_shapes[-1]
    )
    return _raising(chunks)


def epochs(net: Any, run: Run, one_call_per_epoch: bool) -> tuple[Epochs, str]:
    """(the epochs, which path runs them: "numpy" for small work (see :class:`ProcessHistory`),
    "compiled" for the engine, else "layers", layer by layer)."""
    later = PROCESS.later_fits_compiled and (net.last_fit_path is not None or PROCESS.engine_used)
    if not all(is_builtin(layer) for layer in net.layers):
        return _layerwise(net, run, False), "layers"
    for path in (_compiled, _numpy) if later else (_numpy, _compiled):
        chunks = path(net, run, one_call_per_epoch)
        if chunks is not None:
            PROCESS.engine_used |= path is _compiled
            return chunks, "compiled" if path is _compiled else "numpy"
    return _layerwise(net, run, True), "layers"


def outputs(net: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The network's outputs for prepared samples, ``batch_size`` at a time: small work in numpy
    (as fit's numpy path), networks the engine runs in its compiled inference loop, the rest layer
    by layer."""
    if numpy_path.takes_predict(net.layers, x, batch_size):
        return numpy_path.forward(net.layers, x, batch_size)
    program = plan_mod.make_plan(net.layers, x.shape[1:]) if COMPILED_FIT else None
    # Only in the parameters' own dtype: other inputs compute as numpy promotes them, layer by layer.
    if program is not None and all(getattr(o, a).dtype == x.dtype for o, a in program.params + program.buffers):
        return compiled_predict(program, flat_parameters(net, program, x.dtype), x, batch_size)
    with _one_blas_thread():
        return np.concatenate([net.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def scores(net: Any, x: np.ndarray, y: np.ndarray, kind: str | None) -> dict[str, float]:
    """Loss (and accuracy) of the network on prepared arrays; in numpy when ``predict`` runs there."""
    small = numpy_path.takes_predict(net.layers, x, len(x))
    out = net.predict(x)
    out = data.stacked(out) if isinstance(out, list) else out
    out = out.reshape(len(x), -1)
    target = y if y.ndim == 1 else y.reshape(len(y), -1)
    compared = _as_target(net.criterion, target, out)
    value = numpy_path.loss_value(net.criterion) if small else None
    result = {"loss": float((value or net.criterion.value)(compared, out))}
    if kind:
        result["accuracy"] = correct(target, out, kind) / len(x)
    return result


def record(
    net: Any,
    chunks: Epochs,
    run: Run,
    val: tuple[np.ndarray, np.ndarray] | None,
    callbacks: list[Callable[[int, dict[str, float]], None]],
    verbose: bool,
) -> dict[str, list[float]]:
    """Consume the epochs: the history, validation scores, the callbacks and the epoch lines (the
    seed's ``error=`` for networks built the seed's way, ``loss=`` with every logged value for the
    batched API). A callback ends training by raising :class:`fastnn.callbacks.StopTraining` or
    setting ``net.stop_training``; the history keeps every finished epoch, and so does
    ``net.history`` when an exception (Ctrl-C, a non-finite loss) ends training (Keras's History)."""
    history: dict[str, list[float]] = {"loss": []}
    net.history = history
    if run.kind:
        history["accuracy"] = []
    if val is not None:
        history["val_loss"] = []
        if run.kind:
            history["val_accuracy"] = []
    seed_line = net.predict_returns == "list"
    n, epoch = len(run.x), 0
    net.stop_training = False
    for losses, corrects in chunks:
        if val is None and not callbacks and seed_line:  # the compiled path's long chunks: no per-epoch work
            history["loss"].extend(losses)
            if run.kind:
                history["accuracy"].extend(c / n for c in corrects)
            if verbose:  # the seed's line, its fixed middle formatted once (1,000 lines: 0.34 -> 0.27 ms)
                middle = "/%d   error=" % run.epochs
                numbers = zip(range(epoch + 1, epoch + 1 + len(losses)), losses, strict=True)
                sys.stdout.write("".join(["epoch %d%s%f\n" % (i, middle, err) for i, err in numbers]))
            epoch += len(losses)
            continue
        for err, right in zip(losses, corrects, strict=True):
            history["loss"].append(err)
            if run.kind:
                history["accuracy"].append(right / n)
            if val is not None:
                result = scores(net, val[0], val[1], run.kind)
                history["val_loss"].append(result["loss"])
                if run.kind:
                    history["val_accuracy"].append(result["accuracy"])
            logs = {key: values[-1] for key, values in history.items()}
            if verbose:
                print(_epoch_line(epoch, run.epochs, logs, seed_line))
            try:
                for callback in callbacks:
                    callback(epoch, logs)
            except StopTraining:
                net.stop_training = True
            epoch += 1
            if net.stop_training:
                return history
    return history


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float], seed_line: bool) -> str:
    if seed_line:  # the seed's own format, validation appended
        line = "epoch %d/%d   error=%f" % (epoch + 1, epochs, logs["loss"])
        if "val_loss" in logs:
            line += "   val_error=%f" % logs["val_loss"]
        if "val_accuracy" in logs:
            line += "   val_accuracy=%.4f" % logs["val_accuracy"]
        return line
    return f"epoch {epoch + 1}/{epochs}   " + "   ".join(f"{k}={v:.6g}" for k, v in logs.items())
