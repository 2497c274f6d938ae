"""fastnn's compiled kernels: pure functions on numpy arrays, each behind a validating wrapper.

Every name here has a numpy/scipy twin with the same signature in :mod:`kernels.reference`,
and :mod:`kernels.registry` pairs them for the tests, ``python -m fastnn validate`` and the
benchmarks. Numba settings live in :mod:`kernels.config`.
"""

from .activations import (
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from .conv import conv2d_backward, conv2d_forward, convolve2d, correlate2d
from .dense import dense_backward, dense_forward, matmul
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    mse,
    mse_backward,
    softmax_cross_entropy,
)
from .optim import adam_step, momentum_step, rmsprop_step, sgd_step
from .pool import maxpool2d_backward, maxpool2d_forward

__all__ = [
    "adam_step",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "conv2d_backward",
    "conv2d_forward",
    "convolve2d",
    "correlate2d",
    "dense_backward",
    "dense_forward",
    "leaky_relu",
    "leaky_relu_backward",
    "matmul",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "momentum_step",
    "mse",
    "mse_backward",
    "relu",
    "relu_backward",
    "rmsprop_step",
    "sgd_step",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
    "tanh",
    "tanh_backward",
]
