"""Batch normalisation: ``BatchNormLayer``, its program row and engine steps.

Row dimensions: F_D0 = channels C (the last axis), F_D1 = values per channel in one sample (H*W
for images, 1 for features). Parameters: ``weights`` (gamma, C) at F_PW, ``bias`` (beta, C) at
F_PB; buffers ``running_mean`` and ``running_var`` at F_BUF; the batch's mean and variance in the
float scratch at F_FW (2C) between forward and backward; momentum and eps in the program's reals.
The compiled loop only trains, so its steps are the training-mode ones; predict and evaluate run
the layer, which uses the running statistics.
"""

from __future__ import annotations

import numpy as np

import kernels as K
from kernels import _borrow as KB
from kernels import config
from kernels import norm as KN
from kernels._checks import positive_int, real_scalar
from kernels.config import jit

from . import split
from .base import Layer
from .program import F_BUF, F_D0, F_D1, F_FW, F_PB, F_PW, Encoding

KIND = 6


class BatchNormLayer(Layer):
    """Normalises each channel (the last axis of (N, F) or (N, H, W, C)) as PyTorch's
    ``BatchNorm1d``/``BatchNorm2d``: in ``fit`` by the batch's mean and biased variance, moving
    ``running_mean``/``running_var`` by ``momentum`` towards the batch mean and unbiased variance;
    in ``predict``/``evaluate`` by the running statistics. ``weights`` (gamma, ones) and ``bias``
    (beta, zeros) are learned; the running statistics are saved with the model."""

    param_names = ("weights", "bias")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.momentum = real_scalar(momentum, "momentum", low=0.0, high=1.0)
        self.eps = real_scalar(eps, "eps", low=0.0, low_open=True)
        c = self.num_features
        self.weights, self.bias = np.ones(c), np.zeros(c)
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)
        self.draws_from_global = False  # nothing is random: gamma 1, beta 0, statistics 0 and 1

    def _check(self, x):
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"BatchNormLayer({self.num_features}) needs inputs (batch, ..., {self.num_features}) with "
                f"num_features channels last; got shape {x.shape}"
            )
        return x

    def forward(self, x, training=False):
        x = self._check(x)
        self.input, self._training = x, training
        if not training:
            self.output = K.batchnorm_inference(
                x, self.weights, self.bias, self.running_mean, self.running_var, self.eps
            )
            return self.output
        count = x.size // self.num_features
        if count < 2:
            raise ValueError(
                f"BatchNormLayer needs more than one value per channel while training (as PyTorch); got input "
                f"shape {x.shape}: train with batch_size > 1"
            )
        self.output, self._mean, self._var = K.batchnorm_forward(x, self.weights, self.bias, self.eps)
        K.batchnorm_update_running(self.running_mean, self.running_var, self._mean, self._var, self.momentum, count)
        return self.output

    def backward(self, dy):
        if self._training:
            dx, dgamma, dbeta = K.batchnorm_backward(self.input, self.weights, self._mean, self._var, dy, self.eps)
        else:
            dx, dgamma, dbeta = K.batchnorm_inference_backward(
                self.input, dy, self.weights, self.running_mean, self.running_var, self.eps
            )
        self.grads = {"weights": dgamma, "bias": dbeta}
        return dx

    def encode(self, shape):
        if not shape or shape[-1] != self.num_features:
            raise ValueError(
                f"BatchNormLayer({self.num_features}) needs {self.num_features} channels last; got {shape}"
            )
        per_sample = int(np.prod(shape[:-1]))
        return Encoding(
            KIND,
            (self.num_features, per_sample),
            shape,
            reals=(self.momentum, self.eps),
            float_work=2 * self.num_features,
            min_batch=1 if per_sample > 1 else 2,
        )

    def config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}


@jit
def _views(program, i, state, work, nb):
    """C, values per channel in the batch, (gamma, beta), the batch's (mean, var), the running ones."""
    ops = program.ops
    c, rows = ops[i, F_D0], nb * ops[i, F_D1]
    pw, pb, buf, fw = ops[i, F_PW], ops[i, F_PB], ops[i, F_BUF], ops[i, F_FW]
    params = (state.params[pw : pw + c], state.params[pb : pb + c])
    stats = (work.fwork[fw : fw + c], work.fwork[fw + c : fw + 2 * c])
    running = (state.buffers[buf : buf + c], state.buffers[buf + c : buf + 2 * c])
    return c, rows, params, stats, running


# Object-mode blocks (Python) start the parallel kernels, as parallel kernels must be started (kernels.config.jit).
def _train_forward_parallel(x2, params, eps, stats, y2, parts):
    KN.train_forward_parallel(x2, params, eps, stats, y2, parts)


def _train_backward_parallel(x2, gamma, stats, eps, dy2, grads, parts):
    KN.train_backward_parallel(x2, gamma, stats, eps, dy2, grads, parts)


@jit
def forward(image_threads, program, i, state, work, nb, rng):
    """``rng`` None: inference, on the running statistics (the network's generator otherwise)."""
    if image_threads is None:  # a network without image layers: typed away, nothing compiled
        return
    c, rows, params, stats, running = _views(program, i, state, work, nb)
    offs, eps = program.offs, program.reals[i, 1]
    x2, y2 = KB.shaped(work.acts, offs[i], (rows, c)), KB.shaped(work.acts, offs[i + 1], (rows, c))
    if rng is None:
        KN._normalize_into(x2, params, running, eps, y2)
        return
    parts = split.parts(image_threads, rows * c)
    if parts > 1:
        with config.objmode():
            _train_forward_parallel(x2, params, eps, stats, y2, parts)
    else:
        KN._stats(x2, stats[0], stats[1])
        KN._normalize_into(x2, params, stats, eps, y2)
    KN._update_running_into(running, stats, program.reals[i, 0], rows)


@jit
def backward(image_threads, program, i, state, work, nb):
    if image_threads is None:
        return
    c, rows, params, stats, _ = _views(program, i, state, work, nb)
    offs, pw, pb, eps = program.offs, program.ops[i, F_PW], program.ops[i, F_PB], program.reals[i, 1]
    x2 = KB.shaped(work.acts, offs[i], (rows, c))
    dy2, dx2 = KB.shaped(work.dacts, offs[i + 1], (rows, c)), KB.shaped(work.dacts, offs[i], (rows, c))
    grads = (dx2, state.grads[pw : pw + c], state.grads[pb : pb + c])
    parts = split.parts(image_threads, rows * c)
    if parts > 1:
        with config.objmode():
            _train_backward_parallel(x2, params[0], stats, eps, dy2, grads, parts)
    else:
        KN._batchnorm_backward_into(x2, params[0], stats, eps, dy2, grads)


__all__ = ["BatchNormLayer"]
