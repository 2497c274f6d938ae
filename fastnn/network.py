"""``Network``: the seed tutorials' container (add / use / fit / predict), batched and complete."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import kernels as K
from kernels._checks import positive_int, real_scalar

from . import data, optimizers, serialization
from . import engine as E
from . import losses as L
from . import plan as plan_mod
from .layers import ActivationLayer, ConvLayer, DropoutLayer, FCLayer, is_builtin

# Set FASTNN_COMPILED_FIT=0 to always train layer by layer (for comparisons and debugging).
COMPILED_FIT = os.environ.get("FASTNN_COMPILED_FIT", "1").strip().lower() not in ("0", "false", "no", "off")


def non_finite(fault: int, where: str) -> FloatingPointError:
    what = "the loss" if fault == 1 else "a gradient"
    return FloatingPointError(
        f"{what} became non-finite at {where}; training stopped and the network keeps the weights from before "
        "this batch"
    )


def _is_softmax(layer: Any) -> bool:
    return isinstance(layer, ActivationLayer) and layer.name == "softmax" and is_builtin(layer)


def _as_labels(y: np.ndarray) -> np.ndarray | None:
    """Integer class labels from int labels (N,) or exact one-hot rows (N, K); None otherwise."""
    if y.ndim == 1 and y.dtype.kind in "iu":
        return y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return np.argmax(y, axis=1)
    return None


class Network:
    """A sequence of layers trained with a loss.

    ``Network()`` then ``add(layer)`` and ``use(loss, loss_prime)`` as in the seed, or
    ``Network([layers...], seed=0)``. ``seed`` seeds the network's own generator (shuffling,
    dropout). The network computes in its parameters' dtype (float64 from fastnn's layers, as in
    numpy) unless ``dtype`` asks for float32 or float64 end to end. ``predict`` returns the seed's
    list of per-sample outputs for a network built with ``add`` and one array for one given its
    layers, unless ``predict_returns`` ("list" or "array") says otherwise. See :mod:`fastnn.data`.
    """

    def __init__(
        self,
        layers: Sequence[Any] | None = None,
        *,
        seed: Any = None,
        dtype: Any = None,
        predict_returns: str | None = None,
    ) -> None:
        self.layers: list[Any] = []
        self.loss: Callable | str | None = None
        self.loss_prime: Callable | None = None
        self._loss: L.Loss | None = None
        self.rng = np.random.default_rng(seed)
        self._dtype = None if dtype is None else data.float_dtype(dtype)
        if predict_returns is None:
            predict_returns = "list" if layers is None else "array"
        if predict_returns not in data.PREDICT_RETURNS:
            raise ValueError(f"predict_returns must be one of {data.PREDICT_RETURNS}; got {predict_returns!r}")
        self.predict_returns = predict_returns
        self.optimizer: optimizers.Optimizer | None = None
        self.history: dict[str, list[float]] = {}
        # Called with the (param, grad) pairs between backward and update (gradient averaging hooks).
        self.gradient_hook: Callable[[list[tuple[np.ndarray, np.ndarray]]], None] | None = None
        self._flat: plan_mod.FlatParameters | None = None
        self.last_fit_compiled = False
        for layer in layers or ():
            self.add(layer)

    # ------------------------------------------------------------------ building
    @property
    def dtype(self) -> np.dtype | None:
        """The dtype the network computes in: the one asked for, else its parameters' (None before
        it has any parameters or has seen data)."""
        if self._dtype is not None:
            return self._dtype
        params = self.parameters()
        return data.compute_dtype(None, params, None) if params else None

    def add(self, layer: Any) -> Network:
        if not (
            callable(getattr(layer, "forward_propagation", None))
            and callable(getattr(layer, "backward_propagation", None))
        ):
            raise TypeError(f"layer must have forward_propagation and backward_propagation; got {type(layer).__name__}")
        if isinstance(layer, DropoutLayer):
            layer.rng = self.rng
        self.layers.append(layer)
        return self

    def use(self, loss: Callable | str, loss_prime: Callable | None = None) -> Network:
        """Set the loss: fastnn's functions or names ("mse", "binary_cross_entropy", "cross_entropy")
        use the kernels; any other pair is called as given: ``loss(y_true, y_pred)``, ``loss_prime(...)``."""
        if isinstance(loss, str):
            key = L.ALIASES.get(loss.lower(), loss.lower())
            if key not in L.BUILTIN:
                raise ValueError(f"loss must be one of {sorted(L.BUILTIN)} or a function; got {loss!r}")
            self._loss = L.BUILTIN[key]
        elif callable(loss):
            name = L.FUNCTIONS.get(loss)
            if name is not None and (loss_prime is None or L.FUNCTIONS.get(loss_prime) == name):
                self._loss = L.BUILTIN[name]
            elif loss_prime is None or not callable(loss_prime):
                raise ValueError("loss_prime (the gradient of the loss) is required for a user-defined loss")
            else:
                self._loss = L.Loss(getattr(loss, "__name__", "loss"), loss, loss_prime)
        else:
            raise TypeError(f"loss must be a function or a name; got {type(loss).__name__}")
        self.loss, self.loss_prime = loss, loss_prime
        return self

    @classmethod
    def from_architecture(cls, nn_architecture: Sequence[dict], seed: int = 99, **kwargs: Any) -> Network:
        """Build seed 003's network from its list of dicts (``input_dim``, ``output_dim``, ``activation``),
        initialised as its ``init_layers(nn_architecture, seed)``: ``W = randn(out, in) * 0.1``,
        ``b = randn(out, 1) * 0.1`` from ``np.random.seed(seed)``'s stream."""
        kwargs.setdefault("predict_returns", "array")  # seed 003 predicts the whole batch at once
        net = cls(**kwargs)
        rs = np.random.RandomState(seed)
        previous = None
        for i, spec in enumerate(nn_architecture):
            try:
                n_in, n_out, act = spec["input_dim"], spec["output_dim"], spec["activation"]
            except (KeyError, TypeError):
                raise ValueError(
                    f"layer {i} must be a dict with input_dim, output_dim and activation; got {spec!r}"
                ) from None
            if previous is not None and n_in != previous:
                raise ValueError(f"layer {i} input_dim must equal layer {i - 1} output_dim {previous}; got {n_in}")
            layer = FCLayer(n_in, n_out, initializer=np.zeros)
            layer.weights = np.ascontiguousarray((rs.randn(n_out, n_in) * 0.1).T)
            layer.bias = np.ascontiguousarray((rs.randn(n_out, 1) * 0.1).T)
            net.add(layer)
            net.add(ActivationLayer(act))
            previous = n_out
        return net

    # ------------------------------------------------------------------ data
    def _builtin_only(self) -> bool:
        return all(is_builtin(layer) for layer in self.layers)

    def _sync_dtype(self, x: np.ndarray) -> np.dtype:
        """The dtype to compute in for data ``x``; parameters of another dtype are converted to it
        (only when asked for explicitly, or to promote a mix of float32 and float64 to float64)."""
        dtype = data.compute_dtype(self._dtype, self.parameters(), x)
        for layer in self.layers:
            if is_builtin(layer) and any(p.dtype != dtype for p in layer.params().values()):
                layer.astype(dtype)
        return dtype

    def _inputs(self, x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
        """x as an array of the network's dtype, and whether it is seed-style (N, 1, features)."""
        if not self.layers:
            raise ValueError("the network has no layers: add() some first")
        arr = data.samples(x, name)
        first = self.layers[0]
        if is_builtin(first):
            data.check_first_layer(
                arr,
                name,
                first,
                first.weights.shape[0] if isinstance(first, FCLayer) else None,
                first.input_shape if isinstance(first, ConvLayer) else None,
            )
        dtype = self._sync_dtype(arr)
        seed_style = arr.ndim == 3 and arr.shape[1] == 1
        return np.ascontiguousarray(arr, dtype=dtype), seed_style

    def _targets(self, y: Any, n: int, name: str = "y") -> tuple[np.ndarray, tuple]:
        labels_allowed = self._loss is not None and self._loss.classification == "categorical"
        dtype = data.compute_dtype(self._dtype, self.parameters(), None)
        return data.targets(y, n, name, labels_allowed, dtype)

    def _check_targets(self, x: np.ndarray, y: np.ndarray, labels: np.ndarray | None, name: str, given: tuple) -> None:
        """Targets must fit the network's output: class labels in [0, outputs), else one value per output."""
        out_shape = np.shape(self._forward(x[:1], training=False))[1:]
        width = int(np.prod(out_shape))
        if labels is not None:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= width:
                raise ValueError(
                    f"{name} labels must lie in [0, {width}) for the network's {width} outputs; got range [{lo}, {hi}]"
                )
        elif y.shape[1] != width:
            raise ValueError(
                f"{name} must have {width} values per sample to match the network's output {tuple(out_shape)} "
                f"per sample; got shape {given}"
            )

    # ------------------------------------------------------------------ forward / backward
    def _forward(self, x: np.ndarray, training: bool, stop: int | None = None) -> np.ndarray:
        out = x
        for layer in self.layers[:stop]:
            layer.training = training
            out = layer.forward_propagation(out)
        return out

    def predict(self, input: Any, batch_size: int | None = None) -> Any:
        """Outputs for the samples in ``input``: the seed's list of per-sample outputs or one (N, ...)
        array, as ``predict_returns`` says (see :mod:`fastnn.data`)."""
        x, seed_style = self._inputs(input, "input")
        as_list = self.predict_returns == "list"
        if not self._builtin_only():  # the seed's own loop, sample by sample
            outputs = [self._forward(x[i], training=False) for i in range(len(x))]
            return outputs if as_list else data.stacked(outputs)
        xb = x.reshape(len(x), -1) if seed_style else x
        step = len(xb) if batch_size is None else positive_int(batch_size, "batch_size")
        out = np.concatenate([self._forward(xb[i : i + step], training=False) for i in range(0, len(xb), step)])
        return data.per_sample(out) if as_list else out

    def _loss_and_grad(self, y: np.ndarray, out: np.ndarray, logits: np.ndarray | None) -> tuple[float, np.ndarray]:
        if logits is not None:  # softmax + cross-entropy, fused and stable
            loss, grad = K.softmax_cross_entropy(logits, y)
            return float(loss), grad
        assert self._loss is not None
        target = y
        if self._loss.classification == "categorical" and y.ndim == 1:
            target = np.eye(out.shape[-1], dtype=out.dtype)[y]
        elif target.shape != np.shape(out) and target.size == np.size(out):
            target = target.reshape(np.shape(out))  # (N, values) against conv-shaped output
        return float(self._loss.value(target, out)), self._loss.gradient(target, out)

    def _layer_gradients(
        self, xb: np.ndarray, yb: np.ndarray, lr: float, fused: bool
    ) -> tuple[float, np.ndarray, list[tuple[np.ndarray, np.ndarray]], int]:
        """Forward, loss and backward of one batch, layer by layer: (loss, output, (param, grad) pairs,
        fault) with fault 0 (none), 1 (non-finite loss; nothing computed past it), 2 (non-finite gradient)."""
        if fused:
            logits = self._forward(xb, training=True, stop=-1)
            out = logits
        else:
            logits = None
            out = self._forward(xb, training=True)
        loss, grad = self._loss_and_grad(yb, out, logits)
        if not np.isfinite(loss):
            return loss, out, [], 1
        layers = self.layers[:-1] if fused else self.layers
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for layer in reversed(layers):
            if is_builtin(layer):
                grad = layer.backward(grad)
                pairs.extend(layer.param_grads())
            else:  # seed-style layers update themselves with plain SGD
                grad = layer.backward_propagation(grad, lr)
        fault = 0 if all(np.isfinite(g).all() for _, g in pairs) else 2
        return loss, out, pairs, fault

    def _train_batch(
        self, xb: np.ndarray, yb: np.ndarray, optimizer: optimizers.Optimizer, lr: float, fused: bool, where: str
    ) -> tuple[float, np.ndarray]:
        loss, out, pairs, fault = self._layer_gradients(xb, yb, lr, fused)
        if fault:
            raise non_finite(fault, where)
        if self.gradient_hook is not None:
            self.gradient_hook(pairs)
        optimizer.step(pairs)
        return loss, out

    # ------------------------------------------------------------------ training
    def fit(
        self,
        x_train: Any,
        y_train: Any,
        epochs: int,
        learning_rate: float = 0.1,
        batch_size: int = 1,
        optimizer: optimizers.Optimizer | str | None = None,
        shuffle: bool = False,
        seed: Any = None,
        verbose: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        callback: Callable[[int, dict[str, float]], None] | None = None,
        comm: Any = None,
    ) -> dict[str, list[float]]:
        """Train; returns the history: ``loss`` per epoch (mean over samples, as the seed prints it),
        ``accuracy`` for classification, and ``val_loss``/``val_accuracy`` with validation data.

        The defaults are the seed's: one sample at a time, in order, plain SGD at ``learning_rate``,
        printing ``epoch i/n   error=e``. ``batch_size=len(x)`` is full-batch training.
        ``callback(epoch, logs)`` is called after every epoch with that epoch's history entries.
        ``comm`` (an mpi4py communicator) trains data-parallel across its ranks with ``batch_size``
        as the global batch: see :mod:`fastnn.distributed`.
        """
        epochs = positive_int(epochs, "epochs", low=0)
        learning_rate = real_scalar(learning_rate, "learning_rate", low=0.0)
        batch_size = positive_int(batch_size, "batch_size")
        if self._loss is None:
            raise ValueError("no loss: call use(loss, loss_prime) before fit")
        x, seed_style = self._inputs(x_train, "x_train")
        y, y_given = self._targets(y_train, len(x), "y_train")
        builtin = self._builtin_only()
        if builtin and seed_style:
            x = x.reshape(len(x), -1)
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        for layer in self.layers:
            if isinstance(layer, DropoutLayer):
                layer.rng = rng
        opt = optimizers.get(optimizer, learning_rate)
        self.optimizer = opt
        labels = _as_labels(y) if self._loss.fuses_with_softmax else None
        fused = builtin and labels is not None and _is_softmax(self.layers[-1])
        targets = labels if fused else y
        kind = self._accuracy_kind(y)
        if builtin:  # the compiled loop trusts these shapes: check them against the network's output
            self._check_targets(x, y, labels, "y_train", y_given)
        val = None
        if validation_data is not None:
            vx, _ = self._inputs(validation_data[0], "validation_data[0]")
            vy, vy_given = self._targets(validation_data[1], len(vx), "validation_data[1]")
            val = (vx, vy)
            if builtin:
                self._check_targets(
                    vx, vy, _as_labels(vy) if labels is not None else None, "validation_data[1]", vy_given
                )

        history: dict[str, list[float]] = {"loss": []}
        if kind:
            history["accuracy"] = []
        if val is not None:
            history["val_loss"] = []
            if kind:
                history["val_accuracy"] = []
        args = (x, y, targets, fused, kind, opt, learning_rate, batch_size, epochs, shuffle, rng)
        guard: Any = contextlib.nullcontext
        if comm is not None:
            from . import distributed

            if not builtin:
                raise ValueError(
                    "distributed training needs built-in layers: seed-style layers update themselves "
                    "inside backward_propagation, before the gradients could be averaged"
                )

            def guard():
                return distributed.abort_on_error(comm)

            with guard():
                rng = np.random.default_rng(distributed.shared_seed(seed, comm))
                shard = self._compiled_shard(x, targets, fused, kind, opt, batch_size, comm)
                distributed.broadcast_parameters(self.parameters(), comm)
            epochs_iter = distributed.epochs(self, *args[:-1], rng, comm, shard)
            self.last_fit_compiled = shard is not None
            verbose = verbose and comm.Get_rank() == 0
        else:
            live = val is not None or callback is not None  # epoch by epoch, not in chunks
            compiled = self._compiled_epochs(*args, one_call_per_epoch=live) if builtin else None
            epochs_iter = compiled if compiled is not None else self._layerwise_epochs(*args, builtin=builtin)
            self.last_fit_compiled = compiled is not None
        with guard():
            self._record_epochs(epochs_iter, history, epochs, len(x), kind, val, callback, verbose)
        for layer in self.layers:
            layer.training = False
        self.history = history
        return history

    def _record_epochs(self, chunks, history, epochs, n, kind, val, callback, verbose) -> None:
        """Consume (losses, correct counts) chunks of epochs: history, validation, callback, output lines."""
        epoch = 0
        for losses, corrects in chunks:
            if val is None and callback is None:  # the compiled path's long chunks: no per-epoch Python work
                history["loss"].extend(losses)
                if kind:
                    history["accuracy"].extend(c / n for c in corrects)
                if verbose:
                    sys.stdout.write(
                        "".join(
                            "epoch %d/%d   error=%f\n" % (epoch + i + 1, epochs, err) for i, err in enumerate(losses)
                        )
                    )
                epoch += len(losses)
                continue
            for err, correct in zip(losses, corrects, strict=True):
                history["loss"].append(err)
                line = "epoch %d/%d   error=%f" % (epoch + 1, epochs, err)
                if kind:
                    history["accuracy"].append(correct / n)
                if val is not None:
                    scores = self._evaluate(val[0], val[1], kind)
                    history["val_loss"].append(scores["loss"])
                    line += "   val_error=%f" % scores["loss"]
                    if kind:
                        history["val_accuracy"].append(scores["accuracy"])
                        line += "   val_accuracy=%.4f" % scores["accuracy"]
                if callback is not None:
                    callback(epoch, {key: values[-1] for key, values in history.items()})
                if verbose:
                    print(line)
                epoch += 1

    def _layerwise_epochs(
        self, x, y, targets, fused, kind, opt, learning_rate, batch_size, epochs, shuffle, rng, builtin
    ):
        """Layer by layer in Python, as the seed trains: yields ([mean loss], [correct count]) per epoch."""
        n = len(x)
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else None
            total, correct = 0.0, 0.0
            for b, start in enumerate(range(0, n, batch_size)):
                idx = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
                if not builtin and batch_size == 1:  # hand user layers one sample, as the seed did
                    i = int(order[start]) if order is not None else start
                    xb, yb = (x[i] if x.ndim > 2 else x[i : i + 1]), targets[i : i + 1]
                else:
                    xb, yb = x[idx], targets[idx]
                loss, out = self._train_batch(xb, yb, opt, learning_rate, fused, f"epoch {epoch + 1}, batch {b + 1}")
                total += loss * min(batch_size, n - start)
                if kind:
                    correct += self._correct(y[idx], out, kind)
            yield [total / n], [correct]

    def _engine_plan(self, x: np.ndarray, fused: bool, opt: optimizers.Optimizer) -> tuple[Any, int] | None:
        """(program, loss kind) for the compiled engine, or None when a layer, the loss or the optimizer
        is not one it knows (then the layer path runs)."""
        loss_kind = self._engine_loss(fused)
        if loss_kind is None or not COMPILED_FIT or not plan_mod.supports_optimizer(opt):
            return None
        plan = plan_mod.make_plan(self.layers, x.shape[1:])
        return None if plan is None else (plan, loss_kind)

    def _compiled_epochs(
        self, x, y, targets, fused, kind, opt, learning_rate, batch_size, epochs, shuffle, rng, one_call_per_epoch=False
    ):
        """The same epochs inside :func:`fastnn.engine.run_epochs`, or None if the engine cannot run them."""
        found = self._engine_plan(x, fused, opt) if self.gradient_hook is None else None
        if found is None:
            return None
        plan, loss_kind = found
        run = CompiledNetwork(self, plan, x, targets, loss_kind, kind, opt, min(batch_size, len(x)))
        return self._run_plan(run, opt, epochs, shuffle, rng, one_call_per_epoch)

    def _compiled_shard(self, x, targets, fused, kind, opt, batch_size, comm):
        """Per-batch gradient computation in compiled code for distributed training, or None."""
        found = self._engine_plan(x, fused, opt)
        if found is None:
            return None
        plan, loss_kind = found
        local_max = -(-min(batch_size, len(x)) // comm.Get_size())
        return CompiledNetwork(self, plan, x, targets, loss_kind, kind, opt, max(local_max, 1))

    def _engine_loss(self, fused: bool) -> int | None:
        if fused:
            return E.LOSS_SOFTMAX_CE
        if self._loss is L.BUILTIN["mse"]:
            return E.LOSS_MSE
        if self._loss is L.BUILTIN["binary_cross_entropy"]:
            return E.LOSS_BCE
        return None

    def _run_plan(self, run, opt, epochs, shuffle, rng, one_call_per_epoch):
        n = len(run.x)
        status = np.full(3, -1, dtype=np.int64)
        in_order = np.arange(n, dtype=np.int64)[None, :]
        done, chunk = 0, 1
        while done < epochs:
            count = min(chunk, epochs - done)
            orders = np.stack([rng.permutation(n) for _ in range(count)]) if shuffle else in_order
            losses, corrects = np.zeros(count), np.zeros(count)
            started = time.perf_counter()
            opt.iterations = E.run_epochs(
                run.x,
                run.y,
                run.labels,
                orders,
                count,
                *run.engine_args(),
                run.capacity,
                run.loss_kind,
                run.acc_kind,
                run.opt_kind,
                opt.iterations,
                run.eps,
                losses,
                corrects,
                status,
            )
            if status[0] >= 0:
                finished = int(status[0])
                yield losses[:finished].tolist(), corrects[:finished].tolist()
                raise non_finite(int(status[2]) + 1, f"epoch {done + finished + 1}, batch {int(status[1]) + 1}")
            yield losses.tolist(), corrects.tolist()
            done += count
            if not one_call_per_epoch:  # aim at ~0.2 s per call: responsive printing, little call overhead
                per_epoch = max((time.perf_counter() - started) / count, 1e-7)
                chunk = max(1, min(int(0.2 / per_epoch), 100_000))

    # ------------------------------------------------------------------ scoring
    def _accuracy_kind(self, y: np.ndarray) -> str | None:
        assert self._loss is not None
        if self._loss.classification == "categorical":
            return "categorical"
        if self._loss.classification == "binary":
            return "binary"
        if y.dtype.kind == "f" and np.all((y == 0) | (y == 1)):
            return "categorical" if y.ndim == 2 and y.shape[1] > 1 and np.all(y.sum(axis=1) == 1) else "binary"
        return None

    @staticmethod
    def _correct(y: np.ndarray, out: np.ndarray, kind: str) -> float:
        out = np.asarray(out).reshape(len(out), -1)
        if kind == "categorical":
            labels = y if y.ndim == 1 else np.argmax(y.reshape(len(y), -1), axis=1)
            return float(np.sum(np.argmax(out, axis=1) == labels))
        return float(np.sum(np.all((out > 0.5) == (y.reshape(out.shape) > 0.5), axis=1)))

    def _evaluate(self, x: np.ndarray, y: np.ndarray, kind: str | None) -> dict[str, float]:
        out = self.predict(x)
        out = data.stacked(out) if isinstance(out, list) else out
        out = out.reshape(len(x), -1)
        target = y if y.ndim == 1 else y.reshape(len(y), -1)
        loss, _ = self._loss_and_grad(target, out, None)
        scores = {"loss": loss}
        if kind:
            scores["accuracy"] = self._correct(target, out, kind) / len(x)
        return scores

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss": ..., "accuracy": ...}`` on (x, y); accuracy only for classification."""
        if self._loss is None:
            raise ValueError("no loss: call use(loss, loss_prime) before evaluate")
        xa, _ = self._inputs(x)
        ya, _ = self._targets(y, len(xa))
        return self._evaluate(xa, ya, self._accuracy_kind(ya))

    # ------------------------------------------------------------------ parameters and files
    def summary(self) -> str:
        """One line per layer: its description and parameter count."""
        lines, total = [], 0
        for i, layer in enumerate(self.layers):
            count = sum(p.size for p in layer.params().values()) if is_builtin(layer) else 0
            total += count
            lines.append(f"  {i:>2}  {layer!r:<60} {count:>8,d} params")
        lines.append(f"      {'total':<60} {total:>8,d} params")
        return "\n".join(lines)

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.layers if is_builtin(layer) for p in layer.params().values()]

    def astype(self, dtype: Any) -> Network:
        """Compute in ``dtype`` (float32 or float64) from now on: the parameters are converted."""
        self._dtype = data.float_dtype(dtype)
        for layer in self.layers:
            if is_builtin(layer):
                layer.astype(self._dtype)
        return self

    @property
    def loss_name(self) -> str | None:
        """The built-in loss in use ("mse", "binary_cross_entropy", "cross_entropy"), else None."""
        return self._loss.name if self._loss is not None and self._loss.name in L.BUILTIN else None

    def save(self, path: str | os.PathLike) -> None:
        """Write one .npz file: the architecture as JSON and every parameter array (see
        :mod:`fastnn.serialization`). A network that could not be read back is refused before
        anything is written."""
        serialization.write_network(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a file written by :meth:`save` (``allow_pickle=False``); ValueError for anything else."""
        return serialization.read_network(cls, path)


class CompiledNetwork:
    """A network's plan with everything the engine needs: flat parameters and optimizer state,
    targets in engine form, and workspaces for batches of up to ``capacity`` samples."""

    def __init__(
        self,
        net: Network,
        plan: Any,
        x: np.ndarray,
        targets: np.ndarray,
        loss_kind: int,
        kind: str | None,
        opt: optimizers.Optimizer,
        capacity: int,
    ) -> None:
        dtype = x.dtype  # the network's compute dtype: fit casts the data to it
        flat = net._flat if net._flat is not None and net._flat.still_bound(plan) else None
        if flat is None or flat.values.dtype != dtype:
            flat = net._flat = plan_mod.FlatParameters(plan, dtype)
        flat.publish_grads()
        self.flat, self.plan, self.opt, self.loss_kind, self.capacity = flat, plan, opt, loss_kind, capacity
        self.hyper, self.s1, self.s2, self.opt_kind = plan_mod.optimizer_state(opt, flat)
        n = len(x)
        self.x = x.reshape(n, -1)
        if loss_kind == E.LOSS_SOFTMAX_CE:
            self.labels, self.y = targets, np.zeros((n, 1), dtype=dtype)
        else:
            self.y = targets.reshape(n, -1)
            labels = _as_labels(self.y) if kind == "categorical" else None
            self.labels = np.zeros(n, dtype=np.int64) if labels is None else labels
        self.acc_kind = {None: E.ACC_NONE, "binary": E.ACC_BINARY, "categorical": E.ACC_CATEGORICAL}[kind]
        self.offs = np.concatenate([[0], np.cumsum(plan.sizes * capacity)]).astype(np.int64)
        self.acts = np.zeros(int(self.offs[-1]), dtype=dtype)
        self.dacts = np.zeros_like(self.acts)
        self.iwork = np.zeros(max(plan.iwork_per_sample * capacity, 1), dtype=np.int64)
        self.eps = plan_mod.bce_eps(dtype)

    def engine_args(self) -> tuple:
        """The arguments :func:`fastnn.engine.run_epochs` takes between the sample order and the batch size."""
        return (
            self.plan.ops,
            self.plan.alphas,
            self.offs,
            self.plan.sizes,
            self.flat.values,
            self.flat.grads,
            self.s1,
            self.s2,
            self.hyper,
            self.acts,
            self.dacts,
            self.iwork,
        )

    def gradients(self, idx: np.ndarray) -> tuple[float, float, int]:
        """One batch's gradients into ``flat.grads``, without an update: (loss, correct, fault)."""
        return E.batch_gradients(
            self.x,
            self.y,
            self.labels,
            np.ascontiguousarray(idx, dtype=np.int64),
            self.plan.ops,
            self.plan.alphas,
            self.offs,
            self.plan.sizes,
            self.flat.values,
            self.flat.grads,
            self.acts,
            self.dacts,
            self.iwork,
            self.loss_kind,
            self.acc_kind,
            self.eps,
        )

    def step(self) -> None:
        self.opt.iterations += 1
        E.apply_step(
            self.opt_kind, self.flat.values, self.flat.grads, self.s1, self.s2, self.hyper, self.opt.iterations
        )
