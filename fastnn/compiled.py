"""A network prepared for :mod:`fastnn.engine`: its program, flat parameters and optimizer state,
the training data in engine form, and workspaces -- the named groups the engine takes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kernels import config
from kernels import conv as KC

from . import engine as E
from . import losses as L
from . import plan as plan_mod
from .ops import conv as conv_op
from .ops.program import F_KIND
from .scoring import as_labels

_ACCURACY = {None: E.ACC_NONE, "binary": E.ACC_BINARY, "categorical": E.ACC_CATEGORICAL}
# Samples per pass of the compiled inference loop, whatever batch_size predict is given: a W1-size
# network's activations for 64 images (27 MB) are written once and reused, where the layer path's
# arrays for a batch of 1000 (230 MB) were allocated, faulted in and freed every batch.
PREDICT_CHUNK = 64


def engine_loss(criterion: L.Loss, fused: bool) -> int | None:
    """The engine's code for the loss, or None for a loss it does not run."""
    if fused:
        return E.LOSS_SOFTMAX_CE
    if criterion is L.BUILTIN["mse"]:
        return E.LOSS_MSE
    if criterion is L.BUILTIN["binary_cross_entropy"]:
        return E.LOSS_BCE
    return None


class CompiledNetwork:
    """Everything :func:`fastnn.engine.run_epochs` needs to train on ``x`` in batches of
    ``capacity`` samples (the last one may be smaller). The layers keep views into ``flat``'s
    arrays, so the engine and the layers share their parameters."""

    def __init__(self, program: plan_mod.Plan, flat: plan_mod.FlatParameters, run: Any, loss_kind: int, capacity: int):
        """``run``: the fit's :class:`fastnn.training.Run` (data, targets, accuracy kind, optimizer and
        the generator dropout draws from)."""
        x, targets, kind, opt = run.x, run.targets, run.kind, run.optimizer
        dtype = x.dtype
        flat.publish_grads()
        self.flat, self.plan, self.opt, self.capacity = flat, program, opt, capacity
        hyper, s1, s2, opt_kind = plan_mod.optimizer_state(opt, flat)
        n = len(x)
        if loss_kind == E.LOSS_SOFTMAX_CE:
            labels, y = targets, np.zeros((n, 1), dtype=dtype)
        else:
            y = targets.reshape(n, -1)
            found = as_labels(y) if kind == "categorical" else None
            labels = np.zeros(n, dtype=np.int64) if found is None else found
        self.program = _engine_program(program, capacity)
        acts = np.zeros(int(self.program.offs[-1]), dtype=dtype)
        self.data, self.rng = E.Data(x.reshape(n, -1), y, labels), run.rng
        image_threads = _image_threads(program, _training_parts(program, capacity))
        self.state = E.State(flat.values, flat.grads, s1, s2, hyper, flat.buffers)
        self.work = E.Work(
            acts,
            np.zeros_like(acts),
            np.zeros(max(program.iwork_per_sample * capacity, 1), dtype=np.int64),
            np.empty(capacity * y.shape[1], dtype=y.dtype),
            np.empty(capacity, dtype=np.int64),
            np.zeros(max(program.float_work, 1), dtype=dtype),
        )
        outer = capacity == 1 and opt_kind == E.OPT_SGD  # dense weights updated where their gradient is formed
        eps = plan_mod.bce_eps(dtype)
        threads = _threads()
        self.rules = E.Rules(capacity, loss_kind, _ACCURACY[kind], opt_kind, eps, image_threads, outer, threads)

    def _one_pool(self) -> Any:
        """BLAS held at one thread: large convolutions and dense products share fixed blocks out over
        numba's threads instead (one thread pool at a time: two of each on two cores measured 10x
        slower), and OpenBLAS's own threads would change the products' last bits with the thread
        count (docs/performance.md)."""
        return config.blas_single_thread()

    def gradients(self, idx: np.ndarray) -> tuple[float, float, int]:
        """One batch's gradients into ``flat.grads``, without an update: (loss, correct, fault)."""
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        with self._one_pool():
            return E.batch_gradients(self.data, self.rng, idx, self.program, self.state, self.work, self.rules)

    def step(self) -> None:
        self.opt.iterations += 1
        E.apply_step(self.state, self.rules.opt_kind, self.opt.iterations, self.rules.dense_threads)

    def epochs(
        self, epochs: int, shuffle: bool, rng: np.random.Generator, one_call_per_epoch: bool
    ) -> Iterator[tuple[list[float], list[float], tuple[int, int, int] | None]]:
        """Run ``epochs`` epochs in compiled calls: yields (losses, correct counts, fault) per call,
        fault being (epoch, batch, kind) of a non-finite value that stopped training, else None.
        Calls cover ~0.2 s of epochs each (responsive printing, little call overhead) unless
        ``one_call_per_epoch`` -- or the network draws random numbers (dropout) while shuffling: then
        each epoch's order is drawn just before it, between the previous epoch's draws and its own,
        as the layer path draws them from the same generator."""
        one_call_per_epoch = one_call_per_epoch or (shuffle and self.plan.random)
        n = len(self.data.x)
        in_order = np.arange(n, dtype=np.int64)[None, :]
        done, chunk = 0, 1
        while done < epochs:
            count = min(chunk, epochs - done)
            orders = np.stack([rng.permutation(n) for _ in range(count)]) if shuffle else in_order
            steps = np.array([self.opt.iterations], dtype=np.int64)
            log = E.Log(np.zeros(count), np.zeros(count), np.full(3, -1, dtype=np.int64), steps)
            started = time.perf_counter()
            with self._one_pool():
                E.run_epochs(self.data, self.rng, orders, self.program, self.state, self.work, self.rules, log)
            self.opt.iterations = int(steps[0])
            if log.status[0] >= 0:
                finished = int(log.status[0])
                fault = (done + finished, int(log.status[1]), int(log.status[2]) + 1)
                yield log.losses[:finished].tolist(), log.corrects[:finished].tolist(), fault
                return
            yield log.losses.tolist(), log.corrects.tolist(), None
            done += count
            if not one_call_per_epoch:
                per_epoch = max((time.perf_counter() - started) / count, 1e-7)
                chunk = max(1, min(int(0.2 / per_epoch), 100_000))


def _engine_program(program: plan_mod.Plan, capacity: int) -> E.Program:
    """The plan as the engine takes it, with every activation slot's offset for ``capacity`` samples
    (a layer that shares its input's slot gets the same offset) and, last, the workspace's size."""
    offs, end = [0], int(program.sizes[0]) * capacity
    for i, shared in enumerate(program.shared):
        offs.append(offs[-1] if shared else end)
        end += 0 if shared else int(program.sizes[i + 1]) * capacity
    offs = np.array([*offs, end], dtype=np.int64)
    return E.Program(program.ops, program.alphas, program.reals, offs, program.sizes)


def _image_threads(program: plan_mod.Plan, parts: int = 1) -> int | None:
    """Rules.image_threads: None without image layers, else the threads IM2COL, PLANAR and WINOGRAD may use."""
    return parts if set(program.ops[:, F_KIND].tolist()) & set(E.IMAGE_KINDS) else None


def _training_parts(program: plan_mod.Plan, capacity: int) -> int:
    """Threads a training batch's convolutions may split over: numba's count, at most KC.MAX_PARTS
    (what a layer's scratch holds), when a convolution takes other than DIRECT at this batch size;
    else 1 (DIRECT runs on one thread, and BLAS keeps its threads for the dense layers)."""
    im2col = any(
        KC.algorithm.py_func(capacity, conv_op.layer_of.py_func(program.ops, i)) != KC.DIRECT
        for i in range(len(program.ops))
        if program.ops[i, F_KIND] == conv_op.KIND
    )
    return min(_threads(), KC.MAX_PARTS) if im2col else 1


def predict(program: plan_mod.Plan, flat: plan_mod.FlatParameters, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The network's outputs for the samples x (n, ...) in inference mode (dropout the identity, batch
    norm on its running statistics), through :func:`fastnn.engine.predict_batches`; batches of at
    most ``batch_size`` and PREDICT_CHUNK samples.

    Samples are independent here, so with several threads allowed (numba's count, FASTNN_PARALLEL on)
    and at least one batch per thread, each thread predicts a run of whole batches (the batches the
    serial loop takes); with one batch, its large dense products share their blocks out over the
    threads. BLAS runs at one thread: the same products, the same numbers."""
    n, dtype = len(x), x.dtype
    capacity = max(1, min(batch_size, n, PREDICT_CHUNK))
    prog = _engine_program(program, capacity)
    out = np.empty((n, int(program.sizes[-1])), dtype=dtype)
    flat_x = x.reshape(n, -1)
    batches = -(-n // capacity)
    workers = min(_threads(), batches)
    if workers == 1:
        with config.blas_single_thread():
            _predict_run(program, prog, flat, (flat_x, out), (capacity, min(_threads(), KC.MAX_PARTS)))
        return out.reshape(n, *program.sample_shapes[-1])
    bounds = [batches * k // workers * capacity for k in range(workers)] + [n]
    runs = [(flat_x[a:b], out[a:b]) for a, b in itertools.pairwise(bounds)]
    with config.blas_single_thread(), ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda r: _predict_run(program, prog, flat, r, (capacity, 1)), runs))  # raises what a run raised
    return out.reshape(n, *program.sample_shapes[-1])


def _threads() -> int:
    return config.threads()


def _predict_run(
    program: plan_mod.Plan, prog: E.Program, flat: plan_mod.FlatParameters, run: tuple, sizes: tuple[int, int]
) -> None:
    """Outputs ``run`` = (x (m, features), out (m, outputs)) through one workspace of its own;
    ``sizes`` = (samples per batch, threads its convolutions and dense products may share out over)."""
    capacity, threads = sizes
    x, out = run
    dtype = x.dtype
    unused = np.empty(1, dtype=dtype)  # forward passes never touch the gradient-side arrays
    work = E.Work(
        np.empty(int(prog.offs[-1]), dtype=dtype),
        unused,
        np.empty(max(program.iwork_per_sample * capacity, 1), dtype=np.int64),
        unused,
        np.empty(1, dtype=np.int64),
        np.zeros(max(program.float_work, 1), dtype=dtype),
    )
    state = E.State(flat.values, flat.grads, unused, unused, np.zeros(4), flat.buffers)
    E.predict_batches(x, prog, state, work, capacity, (_image_threads(program, threads), threads), out)
