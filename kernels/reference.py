"""The reference path: every public kernel again, written with numpy and scipy.signal only.

Same names, signatures and semantics as :mod:`kernels` (including dtype rules: float32 stays
float32, anything else real becomes float64). ``conv2d_*`` are the seed tutorial's ConvLayer
loops -- ``scipy.signal.correlate2d`` / ``convolve2d`` over every (input, output) channel pair --
with its two bias bugs fixed. Slow on purpose; this is what the kernels are checked and timed
against.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from . import reference_core as core
from ._checks import conv_geometry, float_array, float_arrays, positive_int, real_array, state_array
from .losses import BCE_EPS


def _floats(*arrays):
    return float_arrays({f"arg{i}": a for i, a in enumerate(arrays)})


# --------------------------------------------------------------------------- dense


def matmul(a, b):
    a, b = _floats(a, b)
    return a @ b


def dense_forward(x, w, b):
    x, w, b = _floats(x, w, b)
    return core.dense_forward(x, w, b.reshape(-1))


def dense_backward(x, w, dy):
    x, w, dy = _floats(x, w, dy)
    return core.dense_backward(x, w, dy)


# --------------------------------------------------------------------------- convolution


def _scipy_2d(func, in1, in2, mode, boundary, fillvalue):
    """scipy's function on the inputs in the kernels' float dtype. scipy computes integer inputs in
    their integer type, where a fill value is first converted to that type (1.5 fills as 1)."""
    if np.asarray(in1).dtype.kind in "iu" and np.asarray(in2).dtype.kind in "iu":
        fillvalue = np.asarray(fillvalue).astype(np.result_type(np.asarray(in1), np.asarray(in2)))
    a, k = _floats(in1, in2)
    return func(a, k, mode=mode, boundary=boundary, fillvalue=fillvalue)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return _scipy_2d(signal.correlate2d, in1, in2, mode, boundary, fillvalue)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return _scipy_2d(signal.convolve2d, in1, in2, mode, boundary, fillvalue)


def _conv2d_forward_valid(x, w, b):
    n, h, wd, depth = x.shape
    kh, kw, _, filters = w.shape
    out = np.zeros((n, h - kh + 1, wd - kw + 1, filters), dtype=x.dtype)
    for s in range(n):
        for k in range(filters):
            for d in range(depth):
                out[s, :, :, k] += signal.correlate2d(x[s, :, :, d], w[:, :, d, k], "valid")
            out[s, :, :, k] += b[k]  # once per output channel (the seed added it per input channel)
    return out


def _conv2d_backward_valid(x, w, dy):
    n, _, _, depth = x.shape
    filters = w.shape[3]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = np.zeros(filters, dtype=x.dtype)
    for s in range(n):
        for k in range(filters):
            for d in range(depth):
                dx[s, :, :, d] += signal.convolve2d(dy[s, :, :, k], w[:, :, d, k], "full")
                dw[:, :, d, k] += signal.correlate2d(x[s, :, :, d], dy[s, :, :, k], "valid")
            db[k] += np.sum(dy[s, :, :, k])  # the seed multiplied this by layer_depth
    return dx, dw, db


def _padded(x, pads):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def conv2d_forward(x, w, b, stride=1, padding=0, algorithm="auto"):
    # ``algorithm`` picks how the kernel sums; the twin is the definition every algorithm is held to.
    # Stride: every sh-th row and sw-th column of the stride-1 result; padding: np.pad with zeros.
    (sh, sw), pads = conv_geometry(stride, padding)
    x, w, b = _floats(x, w, b)
    return _conv2d_forward_valid(_padded(x, pads), w, b)[:, ::sh, ::sw, :]


def conv2d_backward(x, w, dy, stride=1, padding=0, algorithm="auto"):
    # The stride-1 gradients with dy spread back onto the rows and columns the stride kept (zeros
    # elsewhere), then the padding cropped off dx.
    (sh, sw), (top, bottom, left, right) = conv_geometry(stride, padding)
    x, w, dy = _floats(x, w, dy)
    xp = _padded(x, (top, bottom, left, right))
    kh, kw = w.shape[:2]
    full = np.zeros((x.shape[0], xp.shape[1] - kh + 1, xp.shape[2] - kw + 1, dy.shape[3]), dtype=dy.dtype)
    full[:, ::sh, ::sw, :] = dy
    dxp, dw, db = _conv2d_backward_valid(xp, w, full)
    return dxp[:, top : top + x.shape[1], left : left + x.shape[2], :], dw, db


# --------------------------------------------------------------------------- pooling


def maxpool2d_forward(x, size):
    x = float_array(x, "x", ndim=4)
    n, h, w, c = x.shape
    oh, ow = h // size, w // size
    windows = x.reshape(n, oh, size, ow, size, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, size * size)
    local = np.argmax(windows, axis=-1)
    y = np.take_along_axis(windows, local[..., None], axis=-1)[..., 0]
    rows = np.arange(oh)[None, :, None, None] * size + local // size
    cols = np.arange(ow)[None, None, :, None] * size + local % size
    return y, (rows * w + cols).astype(np.int64)


def maxpool2d_backward(argmax, dy, input_shape):
    dy = float_array(dy, "dy", ndim=4)
    n, h, w, c = input_shape
    dx = np.zeros((n, h * w, c), dtype=dy.dtype)
    flat_dy = dy.reshape(n, -1, c)
    flat_arg = np.asarray(argmax).reshape(n, -1, c)
    for s in range(n):
        for ch in range(c):
            np.add.at(dx[s, :, ch], flat_arg[s, :, ch], flat_dy[s, :, ch])
    return dx.reshape(n, h, w, c)


def avgpool2d_forward(x, size):
    x = float_array(x, "x", ndim=4)
    n, h, w, c = x.shape
    return x.reshape(n, h // size, size, w // size, size, c).mean(axis=(2, 4))


def avgpool2d_backward(dy, size):
    dy = float_array(dy, "dy", ndim=4)
    spread = np.repeat(np.repeat(dy, size, axis=1), size, axis=2)
    return spread / dy.dtype.type(size * size)


def global_avgpool2d_forward(x):
    return float_array(x, "x", ndim=4).mean(axis=(1, 2))


def global_avgpool2d_backward(dy, size):
    dy = float_array(dy, "dy", ndim=2)
    h, w = size
    return np.broadcast_to(dy[:, None, None, :] / dy.dtype.type(h * w), (dy.shape[0], h, w, dy.shape[1])).copy()


# --------------------------------------------------------------------------- batch norm


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x, gamma, beta = _floats(x, gamma, beta)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = ((x - mean) ** 2).mean(axis=axes)
    return (x - mean) / np.sqrt(var + x.dtype.type(eps)) * gamma + beta, mean, var


def batchnorm_backward(x, gamma, mean, var, dy, eps=1e-5):
    x, gamma, mean, var, dy = _floats(x, gamma, mean, var, dy)
    axes = tuple(range(x.ndim - 1))
    m = x.size // x.shape[-1]
    invstd = 1 / np.sqrt(var + x.dtype.type(eps))
    xhat = (x - mean) * invstd
    dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
    dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def batchnorm_inference(x, gamma, beta, mean, var, eps=1e-5):
    x, gamma, beta, mean, var = _floats(x, gamma, beta, mean, var)
    return (x - mean) / np.sqrt(var + x.dtype.type(eps)) * gamma + beta


def batchnorm_inference_backward(x, dy, gamma, mean, var, eps=1e-5):
    x, dy, gamma, mean, var = _floats(x, dy, gamma, mean, var)
    axes = tuple(range(x.ndim - 1))
    invstd = 1 / np.sqrt(var + dy.dtype.type(eps))
    return dy * gamma * invstd, (dy * (x - mean) * invstd).sum(axis=axes), dy.sum(axis=axes)


def batchnorm_update_running(running_mean, running_var, mean, var, momentum, count):
    running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    running_var[...] = (1 - momentum) * running_var + momentum * var * (count / (count - 1))


# --------------------------------------------------------------------------- activations


def tanh(x):
    return core.tanh(float_array(x, "x"))


def tanh_backward(y, dy):
    return core.tanh_backward(*_floats(y, dy))


def sigmoid(x):
    return core.sigmoid(float_array(x, "x"))


def sigmoid_backward(y, dy):
    return core.sigmoid_backward(*_floats(y, dy))


def relu(x):
    return core.relu(float_array(x, "x"))


def relu_backward(y, dy):
    return core.relu_backward(*_floats(y, dy))


def leaky_relu(x, alpha=0.01):
    return core.leaky_relu(float_array(x, "x"), alpha)


def leaky_relu_backward(y, dy, alpha=0.01):
    return core.leaky_relu_backward(*_floats(y, dy), alpha)


def softmax(x):
    return core.softmax(float_array(x, "x"))


def softmax_backward(y, dy):
    y, dy = _floats(y, dy)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


# --------------------------------------------------------------------------- losses


# Scalar losses are summed in float64 and rounded once to the input dtype, like the kernels: the
# reference is then the more accurate of the two, never a float32 sum that drifts.


def mse(y_true, y_pred):
    return core.mse(*_floats(y_true, y_pred))


def mse_backward(y_true, y_pred):
    return core.mse_backward(*_floats(y_true, y_pred))


def binary_cross_entropy(y_true, y_pred):
    t, p = _floats(y_true, y_pred)
    return core.binary_cross_entropy(t, p, BCE_EPS[p.dtype])


def binary_cross_entropy_backward(y_true, y_pred):
    t, p = _floats(y_true, y_pred)
    return core.binary_cross_entropy_backward(t, p, BCE_EPS[p.dtype])


def softmax_cross_entropy(logits, labels):
    z = float_array(logits, "logits", ndim=2)
    labels = np.asarray(real_array(labels, "labels"), dtype=np.int64)
    return core.softmax_cross_entropy(z, labels)


# --------------------------------------------------------------------------- optimizer steps


def _param_grad(param, grad):
    param = state_array(param, "param", param, "param")
    return param, np.asarray(grad, dtype=param.dtype)


def sgd_step(param, grad, lr):
    core.sgd_step(*_param_grad(param, grad), lr)


def outer_sgd_step(param, x, dy, lr):
    param = state_array(param, "param", param, "param")
    core.outer_sgd_step(param, np.asarray(x, dtype=param.dtype), np.asarray(dy, dtype=param.dtype), lr)


def momentum_step(param, grad, velocity, lr, momentum):
    core.momentum_step(*_param_grad(param, grad), velocity, lr, momentum)


def rmsprop_step(param, grad, square_avg, lr, rho=0.9, eps=1e-8):
    core.rmsprop_step(*_param_grad(param, grad), square_avg, lr, rho, eps)


def adam_step(param, grad, m, v, t, lr, *, beta1=0.9, beta2=0.999, eps=1e-8):
    param, grad = _param_grad(param, grad)
    core.adam_step(param, grad, m, v, positive_int(t, "t"), lr, (beta1, beta2), eps)
