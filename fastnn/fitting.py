"""One ``fit`` from its prepared run to its history: the callbacks' begin and end, the path
(data-parallel over MPI, else :func:`fastnn.training.epochs`), the epoch record. Apart from
:mod:`fastnn.training` so that it may use both that and :mod:`fastnn.distributed`, which uses it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from . import distributed, training
from .callbacks import Callback
from .layers import is_builtin


def run_fit(
    net: Any,
    run: training.Run,
    val: tuple[np.ndarray, np.ndarray] | None,
    *,
    hooks: list[Callback],
    callback: Callable[[int, dict[str, float]], None] | None,
    comm: Any,
    seed: Any,
    verbose: bool,
) -> dict[str, list[float]]:
    """Train a prepared run: the callbacks' begin and end, the path (data-parallel over ``comm``, an
    mpi4py communicator, with fit's ``seed``; else :func:`fastnn.training.epochs`), the history
    (:func:`fastnn.training.record`)."""
    for hook in hooks:
        hook.network = net
        hook.on_train_begin()
    epoch_hooks = ([callback] if callback is not None else []) + [hook.on_epoch_end for hook in hooks]
    guard: Any = contextlib.nullcontext()
    if comm is not None:
        builtin = all(is_builtin(layer) for layer in net.layers)
        guard, chunks, compiled = distributed.prepare(net, run, seed, comm, builtin)
        net.last_fit_path = "compiled" if compiled else "layers"
        verbose = verbose and comm.Get_rank() == 0
    else:
        live = val is not None or bool(epoch_hooks)  # epoch by epoch, not in chunks
        chunks, net.last_fit_path = training.epochs(net, run, one_call_per_epoch=live)
    with guard:
        net.history = training.record(net, chunks, run, val, epoch_hooks, verbose)
    for layer in net.layers:
        layer.training = False
    for hook in hooks:
        hook.on_train_end()
    return net.history
