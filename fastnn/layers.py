"""Layers: the seed tutorials' classes, batched, backed by the compiled kernels.

Each lives with its compiled form in :mod:`fastnn.ops` (one module per op); this module gathers
them under the name the seed scripts import. See :mod:`fastnn.ops.base` for the protocol.
"""

from __future__ import annotations

from .ops import *  # noqa: F403
from .ops import __all__  # noqa: F401
