"""One home per op: each module holds a layer class, its ``encode`` (shape rule and program row)
and the engine's ``forward``/``backward`` steps for it, all calling the kernels of :mod:`kernels`.

==============  ===================================================  ======
module          layers                                               KIND
==============  ===================================================  ======
``dense``       FCLayer (Dense)                                      1
``conv``        ConvLayer                                            2
``pool``        MaxPoolLayer, AvgPoolLayer, GlobalAvgPoolLayer       3
``activation``  ActivationLayer, Tanh, Sigmoid, ReLU, LeakyReLU,      4
                Softmax
``reshape``     FlattenLayer, DropoutLayer (and the linear           5
                activation's copy)
``norm``        BatchNormLayer                                       6
==============  ===================================================  ======

:mod:`fastnn.engine` dispatches on ``KIND`` with one line per module.
"""

from __future__ import annotations

from . import activation, conv, dense, norm, pool, reshape
from .activation import *  # noqa: F403
from .base import Layer, image_batch, init_array, is_builtin
from .conv import *  # noqa: F403
from .dense import *  # noqa: F403
from .norm import *  # noqa: F403
from .pool import *  # noqa: F403
from .reshape import *  # noqa: F403

MODULES = (dense, conv, pool, activation, reshape, norm)
assert len({m.KIND for m in MODULES}) == len(MODULES), "every op module needs its own KIND"

# Every layer class by name (for Network.load).
LAYER_TYPES: dict[str, type[Layer]] = {name: getattr(m, name) for m in MODULES for name in m.__all__}

__all__ = ["LAYER_TYPES", "Layer", "image_batch", "init_array", "is_builtin"] + sorted(LAYER_TYPES)
