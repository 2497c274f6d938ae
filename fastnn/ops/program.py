"""How a layer is written into the compiled program that :mod:`fastnn.engine` runs.

A network of built-in layers becomes one row of integers per layer. The fields every row has:

========== ==============================================================================
F_KIND     which op home runs the row (each module in :mod:`fastnn.ops` has its ``KIND``)
F_PW       offset of the layer's first parameter (``weights``) in the flat parameter array
F_PB       offset of its second parameter (``bias``)
F_IW       offset of its per-batch integer workspace (max-pool's argmax), per sample
F_NEED_DX  1 when the input gradient is needed (0 before the first layer with parameters)
F_BUF      offset of its buffers (batch norm's running statistics) in the flat buffer array
F_FW       offset of its float scratch (batch norm's batch statistics) in the float workspace
F_D0..     the op's own dimensions (up to 12), documented in its module next to ``encode`` and the steps
           that read them
========== ==============================================================================

Each op module holds, side by side: the layer class, its ``encode`` (shape rule and row), and its
``forward``/``backward`` steps over the engine's workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

F_KIND, F_PW, F_PB, F_IW, F_NEED_DX, F_BUF, F_FW = range(7)
F_D0, F_D1, F_D2, F_D3, F_D4, F_D5, F_D6, F_D7, F_D8, F_D9, F_D10, F_D11 = range(7, 19)
ROW = 19


@dataclass(frozen=True)
class Encoding:
    """What a layer tells the program about itself for one per-sample input shape."""

    kind: int
    dims: tuple[int, ...]  # F_D0... (at most 12)
    output_shape: tuple[int, ...]  # per sample
    int_work: int = 0  # int64 workspace per sample
    alpha: float = 0.0  # a real hyper-parameter (leaky ReLU's slope)
    reals: tuple[float, float] = (0.0, 0.0)  # two more (batch norm's momentum and eps)
    float_work: int = 0  # float scratch for the layer (not per sample)
    min_batch: int = 1  # the fewest samples a training batch may hold
    random: bool = False  # draws from the network's generator while training (dropout)
    # How the output may share the input's workspace slot (fastnn.plan.shared_slots): ``copies``, the
    # output is the input (flatten, a linear activation); ``elementwise``, output element k comes
    # from input element k alone, by loops as fast when written over their input (ReLU, leaky ReLU,
    # dropout: see kernels.activations.same_place); ``reads_output``, the backward pass
    # reads the layer's own output (an activation's derivative from its output).
    copies: bool = False
    elementwise: bool = False
    reads_output: bool = False


class NotCompiled(TypeError):
    """The layer, as configured, has no compiled form (training runs layer by layer)."""
