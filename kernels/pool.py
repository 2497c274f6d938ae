"""Max and average pooling over non-overlapping size x size windows of channels-last batches (N, H, W, C)."""

from __future__ import annotations

import numpy as np

from . import _runs, config
from ._checks import float_array, positive_int, real_array
from .config import jit


@jit
def _maxpool2d_forward(x, size):
    n_img, h, w, c_in = x.shape
    y = np.empty((n_img, h // size, w // size, c_in), dtype=x.dtype)
    arg = np.empty((n_img, h // size, w // size, c_in), dtype=np.int64)
    _maxpool2d_forward_into(x, size, y, arg)
    return y, arg


@jit
def _maxpool2d_forward_into(x, size, y, arg):
    n_img, h, w, c_in = x.shape
    oh, ow = h // size, w // size
    for s in range(n_img):
        for i in range(oh):
            for j in range(ow):
                r, q = i * size, j * size
                for c in range(c_in):
                    y[s, i, j, c] = x[s, r, q, c]
                    arg[s, i, j, c] = r * w + q
                for a in range(size):
                    for bb in range(size):
                        if a == 0 and bb == 0:
                            continue
                        for c in range(c_in):
                            v = x[s, r + a, q + bb, c]
                            best = y[s, i, j, c]
                            # Like np.argmax: the first NaN wins, otherwise the first maximum.
                            if v > best or (v != v and best == best):
                                y[s, i, j, c] = v
                                arg[s, i, j, c] = (r + a) * w + q + bb


@jit
def _maxpool2d_backward(arg, dy, h, w):
    dx = np.empty((dy.shape[0], h, w, dy.shape[3]), dtype=dy.dtype)
    _maxpool2d_backward_into(arg, dy, w, dx)
    return dx


@jit
def _maxpool2d_backward_into(arg, dy, w, dx):
    n_img, oh, ow, c_in = dy.shape
    dx[:] = 0
    plane = dx.reshape(n_img, dx.shape[1] * w, c_in)  # argmax row * W + col indexes it directly
    for s in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for c in range(c_in):
                    plane[s, arg[s, i, j, c], c] += dy[s, i, j, c]


@jit(parallel=True)
def maxpool2d_parallel(backward, images, pooled, arg, size, parts):
    """The max pool's forward pass (images (N, H, W, C) -> pooled, arg) or, ``backward``, its backward
    pass (pooled = dy, arg -> images = dx) on ``parts`` threads, each a run of whole images: the
    same numbers as on one thread. Call from Python."""
    n = images.shape[0]
    for t in config.prange(parts):
        s0, s1 = _runs.run(t, parts, n, 1)
        if backward:
            _maxpool2d_backward_into(arg[s0:s1], pooled[s0:s1], images.shape[2], images[s0:s1])
        else:
            _maxpool2d_forward_into(images[s0:s1], size, pooled[s0:s1], arg[s0:s1])


def maxpool2d_forward(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Max over non-overlapping size x size windows: x (N, H, W, C) -> ``(y, argmax)``.

    y (N, H/size, W/size, C). argmax (same shape, int64) holds, as PyTorch's ``return_indices``,
    the position of each maximum in the flattened H x W plane of its image and channel:
    ``row * W + col``. Ties go to the first element in row-major window order; NaN wins.
    """
    size = positive_int(size, "size")
    x = float_array(x, "x", ndim=4)
    _, h, w, _ = x.shape
    if h % size or w % size:
        raise ValueError(f"x's height and width {h}x{w} must be divisible by size={size}; got x {x.shape}")
    return _maxpool2d_forward(x, size)


def maxpool2d_backward(argmax: np.ndarray, dy: np.ndarray, input_shape: tuple[int, int, int, int]) -> np.ndarray:
    """Route dy (N, OH, OW, C) back to the maxima: returns dx of ``input_shape`` (N, H, W, C)."""
    try:
        shape = tuple(positive_int(d, "input_shape") for d in input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of 4 positive integers; got {input_shape!r}") from None
    if len(shape) != 4:
        raise ValueError(f"input_shape must have 4 entries (N, H, W, C); got {input_shape!r}")
    dy = float_array(dy, "dy", ndim=4)
    n, h, w, c = shape
    oh, ow = dy.shape[1], dy.shape[2]
    if dy.shape[0] != n or dy.shape[3] != c or oh == 0 or h % oh or w % ow or h // oh != w // ow:
        raise ValueError(f"dy {dy.shape} is not a max-pool output of input_shape {shape}")
    arg = real_array(argmax, "argmax")
    if arg.dtype.kind not in "iu":
        raise TypeError(f"argmax must hold integer indices as returned by maxpool2d_forward; got dtype {arg.dtype}")
    if arg.shape != dy.shape:
        raise ValueError(f"argmax must have dy's shape {dy.shape}; got {arg.shape}")
    lo, hi = int(arg.min()), int(arg.max())
    if lo < 0 or hi >= h * w:
        raise ValueError(f"argmax values must lie in [0, {h * w}) for {h}x{w} images; got range [{lo}, {hi}]")
    return _maxpool2d_backward(np.ascontiguousarray(arg, dtype=np.int64), dy, h, w)


@jit
def _avgpool2d_forward_into(x, size, y):
    n_img, oh, ow, c_in = y.shape
    area = x.dtype.type(size * size)
    for s in range(n_img):
        for i in range(oh):
            for j in range(ow):
                r, q = i * size, j * size
                for c in range(c_in):
                    y[s, i, j, c] = x[s, r, q, c]
                for a in range(size):
                    for bb in range(size):
                        if a == 0 and bb == 0:
                            continue
                        for c in range(c_in):
                            y[s, i, j, c] += x[s, r + a, q + bb, c]
                for c in range(c_in):
                    y[s, i, j, c] /= area


@jit
def _avgpool2d_forward(x, size):
    n_img, h, w, c_in = x.shape
    y = np.empty((n_img, h // size, w // size, c_in), dtype=x.dtype)
    _avgpool2d_forward_into(x, size, y)
    return y


@jit
def _avgpool2d_backward_into(dy, size, dx):
    n_img, oh, ow, c_in = dy.shape
    area = dy.dtype.type(size * size)
    for s in range(n_img):
        for i in range(oh):
            for a in range(size):
                for j in range(ow):
                    for bb in range(size):
                        for c in range(c_in):
                            dx[s, i * size + a, j * size + bb, c] = dy[s, i, j, c] / area


@jit
def _avgpool2d_backward(dy, size):
    n_img, oh, ow, c_in = dy.shape
    dx = np.empty((n_img, oh * size, ow * size, c_in), dtype=dy.dtype)
    _avgpool2d_backward_into(dy, size, dx)
    return dx


def avgpool2d_forward(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over non-overlapping size x size windows: x (N, H, W, C) -> (N, H/size, W/size, C).

    Each window is summed in row-major order, then divided by size*size (as PyTorch's
    ``AvgPool2d(size)`` on CPU does, channels last here)."""
    size = positive_int(size, "size")
    x = float_array(x, "x", ndim=4)
    _, h, w, _ = x.shape
    if h % size or w % size:
        raise ValueError(f"x's height and width {h}x{w} must be divisible by size={size}; got x {x.shape}")
    return _avgpool2d_forward(x, size)


def avgpool2d_backward(dy: np.ndarray, size: int) -> np.ndarray:
    """Spread dy (N, OH, OW, C) evenly over its windows: dx (N, OH*size, OW*size, C) = dy / size**2."""
    size = positive_int(size, "size")
    dy = float_array(dy, "dy", ndim=4)
    return _avgpool2d_backward(dy, size)


@jit
def _global_avgpool2d_forward_into(x, y):
    n_img, h, w, c_in = x.shape
    area = x.dtype.type(h * w)
    for s in range(n_img):
        for c in range(c_in):
            y[s, c] = x[s, 0, 0, c]
        for r in range(h):
            for q in range(w):
                if r == 0 and q == 0:
                    continue
                for c in range(c_in):
                    y[s, c] += x[s, r, q, c]
        for c in range(c_in):
            y[s, c] /= area


@jit
def _global_avgpool2d_forward(x):
    y = np.empty((x.shape[0], x.shape[3]), dtype=x.dtype)
    _global_avgpool2d_forward_into(x, y)
    return y


@jit
def _global_avgpool2d_backward_into(dy, dx):
    n_img, h, w, c_in = dx.shape
    area = dy.dtype.type(h * w)
    for s in range(n_img):
        for r in range(h):
            for q in range(w):
                for c in range(c_in):
                    dx[s, r, q, c] = dy[s, c] / area


@jit
def _global_avgpool2d_backward(dy, h, w):
    dx = np.empty((dy.shape[0], h, w, dy.shape[1]), dtype=dy.dtype)
    _global_avgpool2d_backward_into(dy, dx)
    return dx


def global_avgpool2d_forward(x: np.ndarray) -> np.ndarray:
    """Mean over each image's whole plane: x (N, H, W, C) -> (N, C), summed in row-major order
    then divided by H*W (PyTorch: ``AdaptiveAvgPool2d(1)`` then flatten, channels last here)."""
    x = float_array(x, "x", ndim=4)
    return _global_avgpool2d_forward(x)


def global_avgpool2d_backward(dy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """dy (N, C) spread evenly over images of ``size`` = (H, W): dx (N, H, W, C) = dy / (H*W)."""
    try:
        h, w = (positive_int(v, "size") for v in size)
    except TypeError:
        raise TypeError(f"size must be (height, width), two positive integers; got {size!r}") from None
    except ValueError as exc:
        raise ValueError(f"size must be (height, width), two positive integers; got {size!r} ({exc})") from None
    dy = float_array(dy, "dy", ndim=2)
    return _global_avgpool2d_backward(dy, h, w)


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "global_avgpool2d_backward",
    "global_avgpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
]
