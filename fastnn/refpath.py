"""Run fastnn's layers on the reference path: every kernel call goes to :mod:`kernels.reference`
(numpy and scipy.signal, the seed's per-channel loops for convolutions), layer by layer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kernels
from kernels import reference

from . import activations, losses, ops, optimizers, training

# Every module that calls the kernels as ``K.name(...)``: the op homes among them found by looking.
_MODULES = (activations, losses, optimizers, training) + tuple(
    m for m in (ops.base, *ops.MODULES) if getattr(m, "K", None) is kernels
)


@contextlib.contextmanager
def reference_path() -> Iterator[None]:
    """Inside the ``with`` block, fastnn computes with the reference twins and never the compiled
    training loop: the same network, the slow way (used by ``--compare-reference``)."""
    saved = [(m, m.K) for m in _MODULES]
    compiled = training.COMPILED_FIT
    try:
        for m in _MODULES:
            m.K = reference
        training.COMPILED_FIT = False
        yield
    finally:
        for m, k in saved:
            m.K = k
        training.COMPILED_FIT = compiled


assert all(getattr(m, "K", None) is kernels for m in _MODULES)
