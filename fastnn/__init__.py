"""fastnn: the from-scratch numpy neural networks of the tutorials, with compiled kernels.

``from fastnn import Network, FCLayer, ActivationLayer, ConvLayer, FlattenLayer`` replaces the
seed tutorials' classes; ``fastnn.activations`` and ``fastnn.losses`` hold their functions.
"""

from . import activations, losses, optimizers
from .gradcheck import gradcheck, gradcheck_loss
from .layers import (
    ActivationLayer,
    ConvLayer,
    Dense,
    DropoutLayer,
    FCLayer,
    FlattenLayer,
    Layer,
    LeakyReLU,
    MaxPoolLayer,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .network import Network
from .optimizers import SGD, Adam, Momentum, RMSProp

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "ActivationLayer",
    "Adam",
    "ConvLayer",
    "Dense",
    "DropoutLayer",
    "FCLayer",
    "FlattenLayer",
    "Layer",
    "LeakyReLU",
    "MaxPoolLayer",
    "Momentum",
    "Network",
    "RMSProp",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "activations",
    "gradcheck",
    "gradcheck_loss",
    "losses",
    "optimizers",
]
