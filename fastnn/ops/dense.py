"""Fully connected layers: ``FCLayer`` (alias ``Dense``), its program row and engine steps.

Row dimensions: F_D0 = inputs per sample, F_D1 = outputs. Parameters: ``weights`` (in, out) at
F_PW, ``bias`` (1, out) at F_PB. The steps call the span kernels of :mod:`kernels.dense` that the
layer's own ``forward``/``backward`` call (through ``kernels.dense_forward``/``dense_backward``),
so both paths run the same loops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kernels as K
from kernels import _borrow as KB
from kernels import config
from kernels import dense as KD
from kernels import optim as KO
from kernels._checks import positive_int
from kernels.config import jit

from .base import Initializer, Layer
from .program import F_D0, F_D1, F_NEED_DX, F_PB, F_PW, Encoding

KIND = 1


def _one_of(shape: Any, size: Any, shape_name: str, size_name: str) -> tuple[Any, str]:
    """(value, the name it was given as): the first API version's ``*_shape`` (also any positional
    value) or the second's ``*_size``."""
    if shape is not None and size is not None:
        raise TypeError(f"give {shape_name} or {size_name}, not both; got {shape!r} and {size!r}")
    if shape is None and size is None:
        raise TypeError(f"missing {size_name} (or {shape_name}): the number of features")
    return (shape, shape_name) if shape is not None else (size, size_name)


def _size(shape: Any, name: str) -> int:
    """A feature count given as an int or as the seed's shape tuple (1, n)."""
    if isinstance(shape, (tuple, list)):
        if not shape:
            raise ValueError(f"{name} must be a positive int or a shape like (1, n); got {shape!r}")
        shape = shape[-1]
    return positive_int(shape, name)


class FCLayer(Layer):
    """Fully connected: ``y = x @ weights + bias``; x (N, in) -> y (N, out).

    Both published versions of seed 000 construct: ``FCLayer((1, 2), (1, 3))`` /
    ``FCLayer(input_shape=(1, 2), output_shape=(1, 3))`` and ``FCLayer(2, 3)`` /
    ``FCLayer(input_size=2, output_size=3)``. ``weights`` (in, out) and ``bias`` (1, out) start
    uniform in [-0.5, 0.5) from numpy's global generator like the seed, unless ``initializer``
    ("xavier", "he", "normal", callable) or ``rng`` (seed or Generator) is given.
    """

    param_names = ("weights", "bias")

    def __init__(
        self,
        input_shape: Any = None,
        output_shape: Any = None,
        *,
        input_size: Any = None,
        output_size: Any = None,
        initializer: Initializer = None,
        rng: Any = None,
    ):
        super().__init__()
        n_in = _size(*_one_of(input_shape, input_size, "input_shape", "input_size"))
        n_out = _size(*_one_of(output_shape, output_size, "output_shape", "output_size"))
        self.input_shape, self.output_shape = (1, n_in), (1, n_out)
        self.initialize(((n_in, n_out), (1, n_out)), n_in, n_out, initializer, rng)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self.input = x
        self.output = K.dense_forward(x, self.weights, self.bias)
        return self.output

    def backward(self, dy):
        dx, dw, db = K.dense_backward(self.input, self.weights, dy)
        self.grads = {"weights": dw, "bias": db.reshape(1, -1)}
        return dx

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"FCLayer input must have shape (batch, {self.weights.shape[0]}); got {x.shape}")
        return x

    def config(self):
        return {"input_shape": self.weights.shape[0], "output_shape": self.weights.shape[1]}

    def encode(self, shape):
        n_in, n_out = self.weights.shape
        if shape != (n_in,):
            raise ValueError(f"FCLayer expects {n_in} features per sample; got {shape}")
        return Encoding(KIND, (n_in, n_out), (n_out,))


Dense = FCLayer


def _products_parallel(kind, a, b, out, parts):
    KD.products_parallel(kind, a, b, out, parts)  # from Python, as parallel kernels are started


@jit
def _on_threads(kind, arrays, products):
    """A blocked product of kernels.dense (``kind``: FORWARD, ..., ``arrays`` = (a, b, out)) with its
    blocks shared out over ``products`` threads: the numbers of one thread."""
    a, b, out = arrays
    with config.objmode():
        _products_parallel(kind, a, b, out, products)


@jit(inline=True)
def forward(ops, offs, i, params, acts, nb, products):
    """``products``: the threads a large product's blocks may be shared out over (Rules.dense_threads)."""
    n_in, n_out = ops[i, F_D0], ops[i, F_D1]
    xo, yo, pw, pb = offs[i], offs[i + 1], ops[i, F_PW], ops[i, F_PB]
    if KD.is_tiny(nb, n_in, n_out):
        KD.dense_forward_flat(acts, params, (xo, pw, pb, yo, nb, n_in, n_out))
        return
    x, y = KB.shaped(acts, xo, (nb, n_in)), KB.shaped(acts, yo, (nb, n_out))
    w, b = KB.shaped(params, pw, (n_in, n_out)), params[pb : pb + n_out]
    if products > 1 and KD.is_blocked(KD.FORWARD, x, y):
        _on_threads(KD.FORWARD, (x, w, y), products)
        KD.add_bias(b, y)
    else:
        KD._dense_forward_into(x, w, b, y)


@jit(inline=True)
def backward(ops, offs, i, state, work, nb, options):
    """dw, db and dx (when needed) of layer i into the gradients and the workspace; ``options`` =
    (outer, products): with ``outer`` (one sample, plain SGD) dw is not formed (:func:`sgd_outer`
    applies it where it would be); ``products`` as in :func:`forward`."""
    outer, products = options
    params, grads, acts, dacts = state.params, state.grads, work.acts, work.dacts
    n_in, n_out = ops[i, F_D0], ops[i, F_D1]
    xo, yo, pw, pb = offs[i], offs[i + 1], ops[i, F_PW], ops[i, F_PB]
    need_dx = ops[i, F_NEED_DX] != 0
    if KD.is_tiny(nb, n_in, n_out):
        at = (xo, pw, yo, pw, pb, xo, nb, n_in, n_out, need_dx, not outer)
        KD.dense_backward_flat(acts, dacts, params, grads, at)
        return
    x, w = KB.shaped(acts, xo, (nb, n_in)), KB.shaped(params, pw, (n_in, n_out))
    dy = KB.shaped(dacts, yo, (nb, n_out))
    dx = KB.shaped(dacts, xo, (nb if need_dx else 0, n_in))
    dw = KB.shaped(grads, pw, (0 if outer else n_in, n_out))
    if products > 1 and KD.is_blocked(KD.WEIGHT_GRADIENT, x, w):  # dw and dx have the same blocks (kernels.dense)
        if dw.shape[0]:
            _on_threads(KD.WEIGHT_GRADIENT, (x, dy, dw), products)
        KD.bias_gradient(dy, grads[pb : pb + n_out])
        if need_dx:
            _on_threads(KD.INPUT_GRADIENT, (dy, w, dx), products)
    else:
        KD._dense_backward_into(x, w, dy, dw, grads[pb : pb + n_out], dx)


@jit(inline=True)
def _one_sample(ops, offs, i, acts, dacts):
    """Layer i's weights (in, out), its input x (in,) and output gradient dy (out,) for one sample."""
    n_in, n_out = ops[i, F_D0], ops[i, F_D1]
    x, dy = KB.shaped(acts, offs[i], (n_in,)), KB.shaped(dacts, offs[i + 1], (n_out,))
    return ops[i, F_PW], (n_in, n_out), x, dy


@jit(inline=True)
def outer_finite(ops, offs, i, acts, dacts):
    """One sample's weight gradient of layer i, outer(x, dy), would be finite."""
    _, _, x, dy = _one_sample(ops, offs, i, acts, dacts)
    return KO._outer_finite(x, dy)


@jit(inline=True)
def sgd_outer(ops, offs, i, params, acts, dacts, lr):
    """w -= lr * outer(x, dy): the weight update of one sample's plain SGD step, in one pass."""
    pw, shape, x, dy = _one_sample(ops, offs, i, acts, dacts)
    KO._outer_sgd(KB.shaped(params, pw, shape), x, dy, lr)


@jit(inline=True)
def outer_gradient(ops, offs, i, grads, acts, dacts):
    """dw = outer(x, dy) into ``grads``: what :func:`backward` leaves out under ``outer``."""
    pw, shape, x, dy = _one_sample(ops, offs, i, acts, dacts)
    KD._weight_gradient_into(
        KB.shaped(x, 0, (1, shape[0])), KB.shaped(dy, 0, (1, shape[1])), KB.shaped(grads, pw, shape)
    )


@jit(inline=True)
def weight_range(ops, i):
    """(start, end) of layer i's weights in the flat parameters."""
    return ops[i, F_PW], ops[i, F_PW] + ops[i, F_D0] * ops[i, F_D1]


__all__ = ["Dense", "FCLayer"]
