"""Batch normalisation over the last (channel) axis, as PyTorch's BatchNorm1d/BatchNorm2d.

x is (..., C): every axis but the last is averaged over -- (N, C) or (N, H, W, C). Training uses
the batch's statistics: mean and biased variance normalise, ``y = (x - mean) / sqrt(var + eps) *
gamma + beta``; the running estimates move by ``momentum`` towards the batch mean and the
*unbiased* variance. Inference uses the running estimates. Sums accumulate in float64.
"""

from __future__ import annotations

import numpy as np

from . import _runs, config
from ._checks import float_arrays, real_scalar, state_array
from .config import jit

# The statistics are sums over fixed blocks of rows, added block by block in order. The blocks depend
# on the row count alone, so a thread that takes a run of whole blocks (the *_parallel functions)
# changes no bit: the numbers are the same on any number of threads. Up to 2 * BLOCK_ROWS rows make
# one block (the sums of one pass over the rows).
BLOCK_ROWS = 2048
MAX_BLOCKS = 16


@jit
def row_blocks(m):
    """How many blocks the statistics of ``m`` rows are summed in."""
    return min(MAX_BLOCKS, max(1, m // BLOCK_ROWS))


@jit
def _sum_rows(x2, acc):
    """acc (C,) float64 = the column sums of x2 (rows, C)."""
    acc[:] = 0.0
    for r in range(x2.shape[0]):
        for k in range(x2.shape[1]):
            acc[k] += x2[r, k]


@jit
def _sum_squares(x2, mean, acc):
    """acc (C,) float64 = the column sums of (x2 - mean)**2, each difference in float64."""
    acc[:] = 0.0
    for r in range(x2.shape[0]):
        for k in range(x2.shape[1]):
            d = np.float64(x2[r, k]) - np.float64(mean[k])
            acc[k] += d * d


@jit
def _sum_gradients(x2, dy2, mean, inv, acc):
    """acc (2, C) float64 = the column sums of dy and of dy * xhat, xhat = (x - mean) * inv."""
    acc[:] = 0.0
    for r in range(x2.shape[0]):
        for k in range(x2.shape[1]):
            g = dy2[r, k]
            acc[0, k] += g
            acc[1, k] += g * ((x2[r, k] - mean[k]) * inv[k])


@jit
def _total(sums, k):
    """Block sums (blocks, C) -> sums[0, k] + sums[1, k] + ... in block order."""
    s = 0.0
    for b in range(sums.shape[0]):
        s += sums[b, k]
    return s


@jit
def _mean_part(x2, sums, run):
    """Blocks run[0]..run[1]-1: their column sums into sums (blocks, C)."""
    m, blocks = x2.shape[0], sums.shape[0]
    for b in range(run[0], run[1]):
        r0, r1 = _runs.run(b, blocks, m, 1)
        _sum_rows(x2[r0:r1], sums[b])


@jit
def _var_part(x2, mean, sums, run):
    m, blocks = x2.shape[0], sums.shape[0]
    for b in range(run[0], run[1]):
        r0, r1 = _runs.run(b, blocks, m, 1)
        _sum_squares(x2[r0:r1], mean, sums[b])


@jit
def _gradient_part(x2, dy2, mean, inv, sums, run):
    """sums (blocks, 2, C): each block's sums of dy and dy * xhat."""
    m, blocks = x2.shape[0], sums.shape[0]
    for b in range(run[0], run[1]):
        r0, r1 = _runs.run(b, blocks, m, 1)
        _sum_gradients(x2[r0:r1], dy2[r0:r1], mean, inv, sums[b])


@jit
def _divide(sums, m, out):
    """out[k] = (the blocks' sums of channel k) / m."""
    for k in range(out.size):
        out[k] = _total(sums, k) / m


@jit
def _stats(x2, mean, var):
    """Column means and biased variances of x2 (M, C), two passes, float64 sums over row_blocks."""
    m, c = x2.shape
    blocks = row_blocks(m)
    sums = np.empty((blocks, c))
    _mean_part(x2, sums, (0, blocks))
    _divide(sums, m, mean)
    _var_part(x2, mean, sums, (0, blocks))
    _divide(sums, m, var)


@jit
def _inverse_std(var, eps, dtype_of):
    """1 / sqrt(var + eps) per channel, in ``dtype_of``'s dtype."""
    t = dtype_of.dtype.type
    inv = np.empty(var.size, dtype=dtype_of.dtype)
    for k in range(var.size):
        inv[k] = t(1) / np.sqrt(var[k] + t(eps))
    return inv


@jit
def _normalize_rows(x2, params, stats_inv, y2):
    """y2 = (x2 - mean) * inv * gamma + beta over x2's rows; ``stats_inv`` = (mean, inv). Rows outer,
    channels inner: the inner loop runs over contiguous memory."""
    gamma, beta = params
    mean, inv = stats_inv
    for r in range(x2.shape[0]):
        for k in range(x2.shape[1]):
            y2[r, k] = (x2[r, k] - mean[k]) * inv[k] * gamma[k] + beta[k]


@jit
def _normalize_into(x2, params, stats, eps, y2):
    """y2 = (x2 - mean) / sqrt(var + eps) * gamma + beta; ``params`` = (gamma, beta), ``stats`` = (mean, var)."""
    _normalize_rows(x2, params, (stats[0], _inverse_std(stats[1], eps, y2)), y2)


@jit
def _gradient_sums(x2, dy2, mean, inv):
    """Per channel, in float64: sum(dy) and sum(dy * xhat), xhat = (x - mean) * inv, over row_blocks."""
    m, c = x2.shape
    blocks = row_blocks(m)
    sums = np.empty((blocks, 2, c))
    _gradient_part(x2, dy2, mean, inv, sums, (0, blocks))
    return _totals(sums)


@jit
def _totals(sums):
    """(blocks, 2, C) block sums -> the two (C,) float64 totals."""
    c = sums.shape[2]
    sum_dy, sum_dy_xhat = np.empty(c), np.empty(c)
    for k in range(c):
        sum_dy[k], sum_dy_xhat[k] = _total(sums[:, 0], k), _total(sums[:, 1], k)
    return sum_dy, sum_dy_xhat


@jit
def _backward_coefficients(gamma, inv, totals, m, grads):
    """dgamma, dbeta (in ``grads`` = (dx2, dgamma, dbeta)) from the totals; returns the per-channel
    (a, b, scale) of dx = scale * (dy - a - xhat * b)."""
    dx2, dgamma, dbeta = grads
    sum_dy, sum_dy_xhat = totals
    c = gamma.size
    t = dx2.dtype.type
    a, b, scale = np.empty(c, dx2.dtype), np.empty(c, dx2.dtype), np.empty(c, dx2.dtype)
    for k in range(c):
        dbeta[k] = sum_dy[k]
        dgamma[k] = sum_dy_xhat[k]
        a[k], b[k], scale[k] = t(sum_dy[k] / m), t(sum_dy_xhat[k] / m), gamma[k] * inv[k]
    return a, b, scale


@jit
def _dx_rows(x2, dy2, mean_inv, coefficients, dx2):
    """dx2 = scale * (dy - a - xhat * b) over the rows given; ``coefficients`` = (a, b, scale)."""
    mean, inv = mean_inv
    a, b, scale = coefficients
    for r in range(x2.shape[0]):
        for k in range(x2.shape[1]):
            xhat = (x2[r, k] - mean[k]) * inv[k]
            dx2[r, k] = scale[k] * (dy2[r, k] - a[k] - xhat * b[k])


@jit
def _batchnorm_backward_into(x2, gamma, stats, eps, dy2, grads):
    """``grads`` = (dx2, dgamma, dbeta), overwritten: the gradient through the batch statistics,
    dx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = dy * gamma."""
    mean, var = stats
    inv = _inverse_std(var, eps, grads[0])
    totals = _gradient_sums(x2, dy2, mean, inv)
    coefficients = _backward_coefficients(gamma, inv, totals, x2.shape[0], grads)
    _dx_rows(x2, dy2, (mean, inv), coefficients, grads[0])


@jit(parallel=True)
def train_forward_parallel(x2, params, eps, stats, y2, parts):
    """:func:`_stats` then :func:`_normalize_into` (batch norm's training forward, ``stats`` = (mean,
    var) written) with each pass shared out over ``parts`` threads: runs of whole blocks for the sums,
    runs of rows for y. The same numbers as on one thread. Call from Python."""
    gamma, beta = params
    mean, var = stats
    m, c = x2.shape
    blocks = row_blocks(m)
    sums = np.empty((blocks, c))
    for t in config.prange(parts):
        _mean_part(x2, sums, _runs.run(t, parts, blocks, 1))
    _divide(sums, m, mean)
    for t in config.prange(parts):
        _var_part(x2, mean, sums, _runs.run(t, parts, blocks, 1))
    _divide(sums, m, var)
    inv = _inverse_std(var, eps, y2)
    for t in config.prange(parts):
        r0, r1 = _runs.run(t, parts, m, 1)
        _normalize_rows(x2[r0:r1], (gamma, beta), (mean, inv), y2[r0:r1])


@jit(parallel=True)
def train_backward_parallel(x2, gamma, stats, eps, dy2, grads, parts):
    """:func:`_batchnorm_backward_into` shared out over ``parts`` threads as train_forward_parallel
    shares the forward pass: the same numbers as on one thread. Call from Python."""
    mean, var = stats
    dx2, dgamma, dbeta = grads
    m, c = x2.shape
    inv = _inverse_std(var, eps, dx2)
    blocks = row_blocks(m)
    sums = np.empty((blocks, 2, c))
    for t in config.prange(parts):
        _gradient_part(x2, dy2, mean, inv, sums, _runs.run(t, parts, blocks, 1))
    a, b, scale = _backward_coefficients(gamma, inv, _totals(sums), m, (dx2, dgamma, dbeta))
    for t in config.prange(parts):
        r0, r1 = _runs.run(t, parts, m, 1)
        _dx_rows(x2[r0:r1], dy2[r0:r1], (mean, inv), (a, b, scale), dx2[r0:r1])


@jit
def _update_running_into(running, stats, momentum, count):
    """running = (running_mean, running_var) <- (1 - momentum) * running + momentum * batch, the
    variance unbiased (times count / (count - 1))."""
    running_mean, running_var = running
    mean, var = stats
    t = running_mean.dtype.type
    mo, keep = t(momentum), t(1.0 - momentum)
    unbias = t(count / (count - 1.0))
    for k in range(mean.size):
        running_mean[k] = keep * running_mean[k] + mo * mean[k]
        running_var[k] = keep * running_var[k] + mo * (var[k] * unbias)


@jit
def _inference_backward_into(x2, params, stats, eps, dy2, grads):
    """With the statistics constant: dx = dy * gamma / sqrt(var + eps), dgamma = sum(dy * xhat),
    dbeta = sum(dy); ``stats`` = (mean, var), ``grads`` = (dx2, dgamma, dbeta)."""
    gamma = params
    mean, var = stats
    dx2, dgamma, dbeta = grads
    m, c = dy2.shape
    inv = _inverse_std(var, eps, dx2)
    sum_dy, sum_dy_xhat = _gradient_sums(x2, dy2, mean, inv)
    for r in range(m):
        for k in range(c):
            dx2[r, k] = dy2[r, k] * (gamma[k] * inv[k])
    for k in range(c):
        dgamma[k] = sum_dy_xhat[k]
        dbeta[k] = sum_dy[k]


def _channels(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim < 2:
        raise ValueError(f"{name} must be (batch, ..., channels) with at least 2 axes; got shape {x.shape}")
    return x.reshape(-1, x.shape[-1])


def _per_channel(c: int, **named: np.ndarray) -> None:
    for name, a in named.items():
        if a.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), one value per channel; got {a.shape}")


def _eps(eps) -> float:
    return real_scalar(eps, "eps", low=0.0, low_open=True)


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training-mode batch norm: returns (y, mean, var) -- y like x, the batch mean and biased
    variance per channel (C,). x (..., C); gamma, beta (C,)."""
    eps = _eps(eps)
    x, gamma, beta = float_arrays({"x": x, "gamma": gamma, "beta": beta})
    x2 = _channels(x, "x")
    _per_channel(x2.shape[1], gamma=gamma, beta=beta)
    mean, var = np.empty(x2.shape[1], x.dtype), np.empty(x2.shape[1], x.dtype)
    y = np.empty_like(x)
    _stats(x2, mean, var)
    _normalize_into(x2, (gamma, beta), (mean, var), eps, y.reshape(x2.shape))
    return y, mean, var


def batchnorm_backward(
    x: np.ndarray, gamma: np.ndarray, mean: np.ndarray, var: np.ndarray, dy: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward` given its (mean, var): returns (dx, dgamma, dbeta)."""
    eps = _eps(eps)
    x, gamma, mean, var, dy = float_arrays({"x": x, "gamma": gamma, "mean": mean, "var": var, "dy": dy})
    if dy.shape != x.shape:
        raise ValueError(f"dy must have x's shape {x.shape}; got {dy.shape}")
    x2 = _channels(x, "x")
    _per_channel(x2.shape[1], gamma=gamma, mean=mean, var=var)
    dx = np.empty_like(x)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    _batchnorm_backward_into(x2, gamma, (mean, var), eps, dy.reshape(x2.shape), (dx.reshape(x2.shape), dgamma, dbeta))
    return dx, dgamma, dbeta


def batchnorm_inference(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Inference-mode batch norm with given (running) statistics: y like x."""
    eps = _eps(eps)
    x, gamma, beta, mean, var = float_arrays({"x": x, "gamma": gamma, "beta": beta, "mean": mean, "var": var})
    x2 = _channels(x, "x")
    _per_channel(x2.shape[1], gamma=gamma, beta=beta, mean=mean, var=var)
    y = np.empty_like(x)
    _normalize_into(x2, (gamma, beta), (mean, var), eps, y.reshape(x2.shape))
    return y


def batchnorm_inference_backward(
    x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_inference` (the statistics are constants): returns
    (dx, dgamma, dbeta) = (dy * gamma / sqrt(var + eps), sum(dy * xhat), sum(dy))."""
    eps = _eps(eps)
    x, dy, gamma, mean, var = float_arrays({"x": x, "dy": dy, "gamma": gamma, "mean": mean, "var": var})
    if dy.shape != x.shape:
        raise ValueError(f"dy must have x's shape {x.shape}; got {dy.shape}")
    x2 = _channels(x, "x")
    _per_channel(x2.shape[1], gamma=gamma, mean=mean, var=var)
    dx = np.empty_like(x)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    grads = (dx.reshape(x2.shape), dgamma, dbeta)
    _inference_backward_into(x2, gamma, (mean, var), eps, dy.reshape(x2.shape), grads)
    return dx, dgamma, dbeta


def batchnorm_update_running(
    running_mean: np.ndarray, running_var: np.ndarray, mean: np.ndarray, var: np.ndarray, momentum: float, count: int
) -> None:
    """Move the running estimates (in place) towards a batch's mean and variance (biased, over
    ``count`` values per channel; stored unbiased): ``r = (1 - momentum) * r + momentum * batch``."""
    momentum = real_scalar(momentum, "momentum", low=0.0, high=1.0)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2:
        raise ValueError(f"count must be an int >= 2 (values per channel in the batch); got {count!r}")
    running_mean = state_array(running_mean, "running_mean", running_mean, "running_mean")
    running_var = state_array(running_var, "running_var", running_mean, "running_mean")
    mean, var = float_arrays({"mean": mean, "var": var})
    _per_channel(running_mean.size, mean=mean, var=var)
    _update_running_into((running_mean, running_var), (mean, var), momentum, int(count))


__all__ = [
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "batchnorm_inference_backward",
    "batchnorm_update_running",
]
