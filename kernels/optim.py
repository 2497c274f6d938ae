"""Optimizer steps, updating ``param`` and the optimizer state in place.

Hyper-parameters are cast to the parameter's dtype before the loop, so float32 parameters are
updated in float32 arithmetic exactly as numpy would (no silent float64 promotion).
Conventions follow PyTorch: momentum ``v = momentum*v + g; p -= lr*v``; RMSProp
``s = rho*s + (1-rho)*g*g; p -= lr*g/(sqrt(s)+eps)``; Adam with bias correction at step ``t``
(PyTorch's arrangement: one division and one square root per value).

The engine runs a step through :func:`step_span` on its flat arrays, on several threads with
:func:`steps_parallel` (value by value: the same numbers on any number of threads).
"""

from __future__ import annotations

import numpy as np

from . import _runs, config
from ._checks import float_array, positive_int, real_scalar, state_array
from .config import jit

# Each loop takes its hyper-parameters as one tuple ``coef``, already in the parameter's dtype.

# The kinds of step, for step_span and steps_parallel.
SGD, MOMENTUM, RMSPROP, ADAM = range(4)


@jit
def _sgd(p, g, coef):
    (lr,) = coef
    for i in range(p.size):
        p[i] -= lr * g[i]


@jit
def _outer_sgd(p, x, dy, lr):
    # p (m, n) -= lr * outer(x, dy) in one pass: plain SGD on one sample's dense-layer gradient
    # without storing it, rounding as sgd_step on x.T @ dy does. A product's sum starts at 0.0, so
    # a zero gradient is +0.0 (adding 0.0 keeps that: LLVM may not drop it without fastmath) and
    # subtracting it leaves every weight as it is, -0.0 included: rows with x_i == 0 are skipped
    # (most of an image's pixels, half of a ReLU layer's outputs).
    m, n = p.shape
    zero = p.dtype.type(0.0)
    for i in range(m):
        xi = x[i]
        if xi != 0:
            for j in range(n):
                p[i, j] -= lr * (xi * dy[j] + zero)


@jit
def _outer_finite(x, dy):
    """Every product x_i * dy_j is finite (each factor finite and no product overflows)."""
    mx, my = 0.0, 0.0
    for i in range(x.size):
        if not (x[i] - x[i]) == 0:
            return False
        mx = max(mx, abs(np.float64(x[i])))
    for j in range(dy.size):
        if not (dy[j] - dy[j]) == 0:
            return False
        my = max(my, abs(np.float64(dy[j])))
    if mx * my < 0.5 * np.finfo(x.dtype).max:  # a bound with room for the float64 product's rounding
        return True
    for i in range(x.size):  # near overflow: the products themselves, in the dtype
        for j in range(dy.size):
            v = x[i] * dy[j]
            if not (v - v) == 0:
                return False
    return True


@jit
def _momentum(p, g, v, coef):
    lr, mu = coef
    for i in range(p.size):
        v[i] = mu * v[i] + g[i]
        p[i] -= lr * v[i]


@jit
def _rmsprop(p, g, s, coef):
    lr, rho, one_minus_rho, eps = coef
    for i in range(p.size):
        s[i] = rho * s[i] + one_minus_rho * g[i] * g[i]
        p[i] -= lr * g[i] / (np.sqrt(s[i]) + eps)


@jit
def _adam(p, g, m, v, coef):
    # step = lr / (1 - b1**t), r2 = 1 / sqrt(1 - b2**t), both rounded once from float64 (coefficients):
    # one division per value, not three (the loop is bound by the divider on one core).
    step, b1, one_minus_b1, b2, one_minus_b2, r2, eps = coef
    for i in range(p.size):
        m[i] = b1 * m[i] + one_minus_b1 * g[i]
        v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i]
        p[i] -= step * (m[i] / (np.sqrt(v[i]) * r2 + eps))


@jit
def coefficients(kind, hyper, t):
    """The float64 coefficients of step ``t`` (1, 2, ...) of ``kind`` with hyper = (lr, a, b, eps) --
    momentum: a = momentum; RMSProp: a = rho; Adam: a, b = beta1, beta2 -- as the 7 values
    step_span takes (unused ones 0): SGD (lr), momentum (lr, mu), RMSProp (lr, rho, 1 - rho, eps),
    Adam (lr / (1 - b1**t), b1, 1 - b1, b2, 1 - b2, 1 / sqrt(1 - b2**t), eps)."""
    lr, a, b, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    if kind == SGD:
        return (lr, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if kind == MOMENTUM:
        return (lr, a, 0.0, 0.0, 0.0, 0.0, 0.0)
    if kind == RMSPROP:
        return (lr, a, 1.0 - a, eps, 0.0, 0.0, 0.0)
    c1 = 1.0 - a ** np.float64(t)
    c2 = 1.0 - b ** np.float64(t)
    return (lr / c1, a, 1.0 - a, b, 1.0 - b, 1.0 / np.sqrt(c2), eps)


@jit
def step_span(kind, arrays, coef):
    """One step of ``kind`` on flat arrays (p, g, s1, s2) -- s1 the velocity, square average or
    Adam's m, s2 Adam's v; the others unused -- with ``coef`` the 7 coefficients in p's dtype."""
    p, g, s1, s2 = arrays
    if kind == SGD:
        _sgd(p, g, (coef[0],))
    elif kind == MOMENTUM:
        _momentum(p, g, s1, (coef[0], coef[1]))
    elif kind == RMSPROP:
        _rmsprop(p, g, s1, (coef[0], coef[1], coef[2], coef[3]))
    else:
        _adam(p, g, s1, s2, coef)


@jit(parallel=True)
def steps_parallel(kind, arrays, coef, parts):
    """step_span over the arrays cut into ``parts`` runs (starting at multiples of 16 values) on
    numba's threads: value by value, so the same numbers as one run. Call from Python."""
    p, g, s1, s2 = arrays
    n = p.size
    for t in config.prange(parts):
        lo, hi = _runs.run(t, parts, n, 16)
        step_span(kind, (p[lo:hi], g[lo:hi], s1[lo:hi], s2[lo:hi]), coef)  # unused states: empty slices


def _run(kernel, param, grad, states, scalars) -> None:
    """Run ``kernel`` on flat views; non-contiguous arrays go through a contiguous copy."""
    arrays = [param, *states]
    contiguous = [a.flags.c_contiguous for a in arrays]
    flat = [
        a.reshape(-1) if c else np.ascontiguousarray(a).reshape(-1) for a, c in zip(arrays, contiguous, strict=True)
    ]
    kernel(flat[0], grad.reshape(-1), *flat[1:], tuple(param.dtype.type(s) for s in scalars))
    for a, f, c in zip(arrays, flat, contiguous, strict=True):
        if not c:
            a[...] = f.reshape(a.shape)


def _param_grad(param, grad):
    param = state_array(param, "param", param, "param")
    grad = float_array(grad, "grad", dtype=param.dtype)
    if grad.shape != param.shape:
        raise ValueError(f"grad must have param's shape {param.shape}; got {grad.shape}")
    return param, grad


def _lr(lr) -> float:
    return real_scalar(lr, "lr", low=0.0)


def sgd_step(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """``param -= lr * grad``, in place."""
    lr = _lr(lr)
    param, grad = _param_grad(param, grad)
    _run(_sgd, param, grad, [], [lr])


def outer_sgd_step(param: np.ndarray, x: np.ndarray, dy: np.ndarray, lr: float) -> None:
    """``param -= lr * np.outer(x, dy)``, in place, without forming the outer product: one sample's
    plain SGD step on a dense layer (x its input, dy its output gradient). param (I, O), x (I,), dy (O,).

    Rounds as ``sgd_step(param, x[:, None] @ dy[None, :], lr)``, zeros included (a zero gradient
    is +0.0, as every sum that starts at 0.0 gives it)."""
    lr = _lr(lr)
    param = state_array(param, "param", param, "param")
    if param.ndim != 2:
        raise ValueError(f"param must be 2-D (inputs, outputs); got shape {param.shape}")
    x = float_array(x, "x", ndim=1, dtype=param.dtype)
    dy = float_array(dy, "dy", ndim=1, dtype=param.dtype)
    if (x.size, dy.size) != param.shape:
        raise ValueError(
            f"x and dy must have {param.shape[0]} and {param.shape[1]} elements (param is {param.shape}); "
            f"got {x.size} and {dy.size}"
        )
    work = param if param.flags.c_contiguous else np.ascontiguousarray(param)
    _outer_sgd(work, x, dy, param.dtype.type(lr))
    if work is not param:
        param[...] = work


def momentum_step(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float) -> None:
    """``velocity = momentum * velocity + grad; param -= lr * velocity``, in place (PyTorch's SGD momentum)."""
    lr = _lr(lr)
    momentum = real_scalar(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    param, grad = _param_grad(param, grad)
    velocity = state_array(velocity, "velocity", param, "param")
    _run(_momentum, param, grad, [velocity], [lr, momentum])


def rmsprop_step(
    param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, lr: float, rho: float = 0.9, eps: float = 1e-8
) -> None:
    """``square_avg = rho*square_avg + (1-rho)*grad**2; param -= lr*grad/(sqrt(square_avg)+eps)``, in place."""
    lr = _lr(lr)
    rho = real_scalar(rho, "rho", low=0.0, high=1.0, high_open=True)
    eps = real_scalar(eps, "eps", low=0.0, low_open=True)
    param, grad = _param_grad(param, grad)
    square_avg = state_array(square_avg, "square_avg", param, "param")
    _run(_rmsprop, param, grad, [square_avg], [lr, rho, 1.0 - rho, eps])


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    *,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> None:
    """One Adam step (Kingma & Ba) at step ``t`` >= 1, updating param, m and v in place.

    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
    param -= (lr / (1-b1**t)) * (m / (sqrt(v) / sqrt(1-b2**t) + eps))`` -- PyTorch's arrangement, with the
    two bias corrections rounded once to the parameter's dtype as ``lr / (1-b1**t)`` and
    ``1 / sqrt(1-b2**t)``.
    """
    t = positive_int(t, "t")
    lr = _lr(lr)
    beta1 = real_scalar(beta1, "beta1", low=0.0, high=1.0, high_open=True)
    beta2 = real_scalar(beta2, "beta2", low=0.0, high=1.0, high_open=True)
    eps = real_scalar(eps, "eps", low=0.0, low_open=True)
    param, grad = _param_grad(param, grad)
    m = state_array(m, "m", param, "param")
    v = state_array(v, "v", param, "param")
    if np.shares_memory(m, v):
        raise ValueError("m and v must be separate arrays; they share memory")
    coef = coefficients(ADAM, np.array([lr, beta1, beta2, eps]), t)
    _run(_adam, param, grad, [m, v], coef)


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["adam_step", "momentum_step", "outer_sgd_step", "rmsprop_step", "sgd_step"]
