"""fastnn: the from-scratch numpy neural networks of the tutorials, with compiled kernels.

``from fastnn import Network, FCLayer, ActivationLayer, ConvLayer, FlattenLayer`` replaces the
seed tutorials' classes; ``fastnn.activations`` and ``fastnn.losses`` hold their functions.
"""

from . import activations, losses, optimizers
from .gradcheck import gradcheck, gradcheck_loss
from .layers import *  # noqa: F403
from .layers import __all__ as _layers
from .network import Network
from .optimizers import SGD, Adam, Momentum, RMSProp

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "Momentum",
    "Network",
    "RMSProp",
    "activations",
    "gradcheck",
    "gradcheck_loss",
    "losses",
    "optimizers",
]
__all__ += [name for name in _layers if isinstance(globals()[name], type)]  # every layer class
