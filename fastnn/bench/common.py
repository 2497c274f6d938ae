"""What every bench module shares: the row of a timed comparison, PyTorch when installed (the bench
extra), and a quiet ``fit`` for training rows."""

from __future__ import annotations

import contextlib
import io
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
