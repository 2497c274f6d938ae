"""Data-parallel training over MPI (mpi4py): ``net.fit(..., comm=MPI.COMM_WORLD)``.

Every process holds a replica. Rank 0's initial weights are broadcast; every epoch all ranks draw
the same shuffled order; each global batch is split into contiguous shards, one per rank; each
rank computes the gradients of its shard (compiled or layer by layer), weights them by its share
of the batch, and one ``Allreduce`` per step sums every gradient -- packed into one flat buffer
together with the batch's loss, accuracy count and fault flag. All ranks then apply the same
update, so replicas stay bit-identical. Batch norm normalises each shard by its own statistics
(PyTorch's DDP without SyncBatchNorm); its running statistics are averaged over the ranks after
every epoch (:func:`average_buffers`). Only rank 0 prints. An exception on any rank aborts all
ranks (``comm.Abort``) with its message instead of leaving the others waiting forever.

``pip install ".[mpi]"`` brings mpi4py and MPICH; run with ``mpiexec -n 2 python ...``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import training
from .scoring import accuracy_kind, correct


def world() -> Any:
    """``MPI.COMM_WORLD``, or ImportError with the install hint."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("distributed training needs mpi4py and an MPI: pip install 'fastnn[mpi]'") from exc
    return MPI.COMM_WORLD


@contextlib.contextmanager
def abort_on_error(comm: Any) -> Iterator[None]:
    """With several ranks, any exception prints ``rank r: message`` and aborts every rank."""
    try:
        yield
    except BaseException as exc:
        if comm.Get_size() > 1:
            sys.stdout.flush()
            print(
                f"fastnn rank {comm.Get_rank()} of {comm.Get_size()}: {type(exc).__name__}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            # mpiexec kills every rank on Abort and may do so before it has forwarded what they just
            # wrote (seen: the message lost, exit status 1, empty output); give it a moment.
            time.sleep(0.5)
            comm.Abort(1)
        raise


def broadcast_parameters(params: list[np.ndarray], comm: Any) -> None:
    """Every rank gets rank 0's parameter values (one Bcast of one flat buffer)."""
    if not params:
        return
    flat = np.concatenate([p.reshape(-1) for p in params])
    comm.Bcast(flat, root=0)
    offset = 0
    for p in params:
        p[...] = flat[offset : offset + p.size].reshape(p.shape)
        offset += p.size


def shared_seed(seed: Any, comm: Any) -> int:
    """The shuffling seed: the given one, or one drawn on rank 0 and sent to all."""
    if seed is not None:
        return int(np.random.default_rng(seed).integers(2**62))
    return int(comm.bcast(int(np.random.default_rng().integers(2**62)) if comm.Get_rank() == 0 else None, root=0))


class Stats:
    """Time spent in the gradient Allreduce, for the scaling benchmark."""

    def __init__(self) -> None:
        self.allreduce_seconds = 0.0
        self.steps = 0


def prepare(net: Any, run: Any, seed: Any, comm: Any, builtin: bool) -> tuple[Any, Iterator, bool]:
    """Set up ``fit(..., comm=comm)``: the shared shuffling seed, rank 0's weights on every rank, the
    compiled engine where it runs. Returns (a guard that aborts all ranks on an exception, the
    epochs, whether they run compiled)."""
    if not builtin:
        raise ValueError(
            "distributed training needs built-in layers: seed-style layers update themselves "
            "inside backward_propagation, before the gradients could be averaged"
        )
    with abort_on_error(comm):
        run.rng = np.random.default_rng(shared_seed(seed, comm))
        local_max = -(-min(run.batch_size, len(run.x)) // comm.Get_size())
        compiled = training.compiled_network(net, run, max(local_max, 1))
        broadcast_parameters(net.parameters(), comm)
    return abort_on_error(comm), epochs(net, run, comm, compiled), compiled is not None


def epochs(net: Any, run: Any, comm: Any, compiled: Any) -> Iterator[tuple[list[float], list[float]]]:
    """Yields ([mean loss], [correct count]) per epoch, like fit's other epoch loops.

    ``compiled`` is a :class:`fastnn.compiled.CompiledNetwork` (built-in networks) or None (layer by layer).
    """
    from mpi4py import MPI

    size, rank = comm.Get_size(), comm.Get_rank()
    stats = net.distributed_stats = Stats()
    x, n = run.x, len(run.x)
    params = compiled.flat.values if compiled is not None else None
    for epoch in range(run.epochs):
        order = run.rng.permutation(n) if run.shuffle else np.arange(n)
        total, right_total = 0.0, 0.0
        for b, start in enumerate(range(0, n, run.batch_size)):
            idx = order[start : start + run.batch_size]
            local = np.array_split(idx, size)[rank]
            share = len(local) / len(idx)
            if compiled is not None:
                if 0 < len(local) < compiled.plan.min_batch:  # the layer path raises it from the layer
                    raise ValueError(
                        f"BatchNormLayer needs more than one value per channel while training: batch {b + 1} "
                        f"gives rank {rank} a shard of {len(local)}; choose a larger batch_size"
                    )
                loss, right, fault = compiled.gradients(local) if len(local) else (0.0, 0.0, 0)
                grads = [compiled.flat.grads]
                if not len(local):
                    compiled.flat.grads[...] = 0
            else:
                if len(local):
                    loss, out, pairs, fault = training.layer_gradients(
                        net, x[local], run.targets[local], run.learning_rate, run.fused
                    )
                    right = correct(run.y[local], out, run.kind) if run.kind and not fault else 0.0
                else:  # more ranks than samples in this batch: contribute nothing
                    loss, right, fault = 0.0, 0.0, 0
                    pairs = [(p, np.zeros_like(p)) for p in net.parameters()]
                grads = [g for _, g in pairs]
            # One buffer, one Allreduce: every gradient, weighted by this rank's share, then the batch stats.
            buffer = np.empty(sum(g.size for g in grads) + 4, dtype=np.float64 if params is None else params.dtype)
            offset = 0
            for g in grads:
                np.multiply(g.reshape(-1), share, out=buffer[offset : offset + g.size], casting="unsafe")
                offset += g.size
            buffer[offset:] = (0.0 if fault else loss * len(local), right, fault == 1, fault == 2)
            started = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            stats.allreduce_seconds += time.perf_counter() - started
            stats.steps += 1
            if buffer[-2] or buffer[-1]:  # some rank saw a non-finite loss or gradient: every rank stops here
                raise training.non_finite(1 if buffer[-2] else 2, f"epoch {epoch + 1}, batch {b + 1}")
            offset = 0
            for g in grads:
                g.reshape(-1)[...] = buffer[offset : offset + g.size]
                offset += g.size
            total += float(buffer[-4])
            right_total += float(buffer[-3])
            if compiled is not None:
                compiled.step()
            else:
                run.optimizer.step(pairs)
        average_buffers(net, comm)
        yield [total / n], [right_total]


def average_buffers(net: Any, comm: Any) -> None:
    """Batch norm's running statistics: each rank moves them by its own shards' statistics (the batch
    statistics that normalise are per shard, as in PyTorch's DDP without SyncBatchNorm); at the end of
    every epoch the ranks average them, one Allreduce, so the replicas agree again."""
    from mpi4py import MPI

    buffers = [getattr(layer, name) for layer in net.layers for name in getattr(layer, "buffer_names", ())]
    if not buffers or comm.Get_size() == 1:
        return
    flat = np.concatenate([b.reshape(-1) for b in buffers]).astype(np.float64)
    comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
    flat /= comm.Get_size()
    offset = 0
    for b in buffers:
        b.reshape(-1)[...] = flat[offset : offset + b.size]
        offset += b.size


def evaluate(net: Any, x: Any, y: Any, comm: Any) -> dict[str, float]:
    """Accuracy (and mean loss) of the replicas on (x, y), each rank scoring a shard; the counts are
    summed with one Allreduce, so every rank returns the global figures."""
    from mpi4py import MPI

    xa, _ = net.as_inputs(x)
    ya, _ = net.as_targets(y, len(xa))
    shard = np.array_split(np.arange(len(xa)), comm.Get_size())[comm.Get_rank()]
    kind = accuracy_kind(net.criterion.classification, ya)
    sums = np.zeros(3)
    if len(shard):
        scores = training.scores(net, xa[shard], ya[shard], kind)
        sums[:] = (scores["loss"] * len(shard), scores.get("accuracy", 0.0) * len(shard), len(shard))
    comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    result = {"loss": sums[0] / sums[2]}
    if kind:
        result["accuracy"] = sums[1] / sums[2]
    return result
