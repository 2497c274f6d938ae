"""fastnn's compiled kernels: pure functions on numpy arrays, each behind a validating wrapper.

Every name here has a numpy/scipy twin with the same signature in :mod:`kernels.reference`,
and :mod:`kernels.registry` pairs them for the tests, ``python -m fastnn validate`` and the
benchmarks. Numba settings live in :mod:`kernels.config`.
"""

from . import activations, conv, dense, losses, norm, optim, pool, signal
from .activations import *  # noqa: F403
from .conv import *  # noqa: F403
from .dense import *  # noqa: F403
from .losses import *  # noqa: F403
from .norm import *  # noqa: F403
from .optim import *  # noqa: F403
from .pool import *  # noqa: F403
from .signal import *  # noqa: F403

__all__ = sorted(name for m in (activations, conv, dense, losses, norm, optim, pool, signal) for name in m.__all__)
