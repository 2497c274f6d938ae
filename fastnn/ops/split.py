"""How the engine shares a batch's element-wise image steps out over threads.

Batch norm, the activations and the window pools of an image network run on ``image_threads``
threads (see :mod:`fastnn.engine`'s ``Rules``) when a step has at least ``MIN_VALUES`` values: their
parallel kernels are called from an object-mode block, as the convolutions' are, and give the same
numbers on any number of threads (element-wise work, or sums over blocks fixed by the shape).
"""

from __future__ import annotations

from kernels.config import jit

# Below this many values a step stays on one thread: the object-mode block and waking the pool
# (~10-20 us) cost more than half of such a step saves.
MIN_VALUES = 1 << 16


@jit
def parts(image_threads, values):
    """Threads a step of ``values`` values runs on: ``image_threads`` (an int) for large steps, else 1."""
    return image_threads if values >= MIN_VALUES else 1
