"""What every bench module shares: the row of a timed comparison, PyTorch when installed (the bench
extra), and a quiet ``fit`` for training rows."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:  # the bench extra
    import torch
except ImportError:
    torch = None

Make = Callable[[], Callable[[], Any]]  # builds inputs, returns the call to time


@dataclass
class Row:
    name: str
    dtype: str
    fastnn: Make
    reference: Make | None = None
    torch: Make | None = None
    targets: dict[str, float] = field(default_factory=dict)  # "reference"/"torch": minimum speedup
    fresh: bool = False  # call make() before every timed run (training from fresh weights)
    quick: bool = True
    threads: tuple[int, ...] = ()  # run once per thread count (every side held to it), else as is


@contextlib.contextmanager
def thread_count(n: int) -> Any:
    """Inside the block numba, every BLAS library (threadpoolctl) and PyTorch use ``n`` threads, and
    every thread of the process runs on ``n`` of its CPUs (Linux): that holds the thread pools no
    setting reaches, such as XLA's (JAX sizes it to every core when it starts)."""
    import numba
    import scipy.linalg  # noqa: F401 - loads scipy's BLAS, which numba's np.dot calls, so it is limited too
    from threadpoolctl import threadpool_limits

    saved = numba.get_num_threads(), torch.get_num_threads() if torch else None
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if torch:
        torch.set_num_threads(n)
    cpus = _pin(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        _unpin(cpus)
        numba.set_num_threads(saved[0])
        if torch:
            torch.set_num_threads(saved[1])


def _tasks() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


def _pin(n: int) -> set[int] | None:
    """Every thread of the process onto the first ``n`` of its CPUs; returns the CPUs it had (None: unchanged)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    if n >= len(cpus):
        return None
    for tid in _tasks():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, sorted(cpus)[:n])
    return cpus


def _unpin(cpus: set[int] | None) -> None:
    if cpus is not None:
        for tid in _tasks():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def compiled_engine() -> Any:
    """Inside the block ``fit`` and ``predict`` take the compiled engine even for small work: for the
    rows that time the engine's throughput on a run shorter than a real one (one epoch)."""
    from .. import numpy_path

    saved, numpy_path.SMALL_WORK_SECONDS = numpy_path.SMALL_WORK_SECONDS, 0.0
    try:
        yield
    finally:
        numpy_path.SMALL_WORK_SECONDS = saved


def quiet_fit(net: Any, *args: Any, **kwargs: Any) -> None:
    """``net.fit`` with its epoch lines swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        net.fit(*args, **kwargs)


def machine() -> dict[str, Any]:
    """What every figure depends on: the CPU model, the cores, and the BLAS libraries with the kernel
    each runs (threadpoolctl's ``architecture``: SkylakeX, Zen, ...), numpy's and scipy's."""
    import platform

    import numpy as np

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    import scipy.linalg  # noqa: F401 - loads scipy's BLAS, which numba's np.dot calls
    from threadpoolctl import threadpool_info

    blas = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} ({os.path.basename(i['filepath'])})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "blas": blas,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch else None,
    }


def machine_line(info: dict[str, Any]) -> str:
    return f"machine: {info['cpu']}, {info['cpu_count']} cores; BLAS: {'; '.join(info['blas']) or 'none found'}"
