"""The layers PyTorch users compare with, against PyTorch CPU itself in float64: forward and
backward (input and parameter gradients) to 1e-10 relative on random shapes, batch 1 and 1x1
images included. Skipped without torch (``pip install torch==2.13.0``, the bench extra)."""

import numpy as np
import pytest

import fastnn

torch = pytest.importorskip("torch")

RTOL = 1e-10


def _close(ours, theirs, what):
    theirs = np.asarray(theirs)
    scale = max(float(np.max(np.abs(theirs))), 1e-300)
    err = float(np.max(np.abs(ours - theirs))) / scale if theirs.size else 0.0
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    assert err <= RTOL, f"{what}: {err:.2e} relative to PyTorch"


def _nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _pool_shapes():
    rng = np.random.default_rng(7)
    cases = [(1, 1, 1, 1, 1), (1, 2, 2, 3, 2), (4, 3, 5, 2, 3)]  # (n, oh, ow, c, size); 1x1 images first
    cases += [tuple(int(v) for v in rng.integers(1, 5, 4)) + (int(rng.integers(1, 4)),) for _ in range(6)]
    return cases


@pytest.mark.parametrize("n, oh, ow, c, size", _pool_shapes())
def test_avgpool_matches_torch(n, oh, ow, c, size):
    rng = np.random.default_rng(n * 1000 + oh * 100 + ow * 10 + size)
    x = rng.standard_normal((n, oh * size, ow * size, c))
    dy = rng.standard_normal((n, oh, ow, c))
    layer = fastnn.AvgPoolLayer(size)
    y = layer.forward(x)
    dx = layer.backward(dy)
    xt = _nchw(x)
    yt = torch.nn.AvgPool2d(size)(xt)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    _close(y, _nhwc(yt), "forward")
    _close(dx, _nhwc(xt.grad), "input gradient")


@pytest.mark.parametrize("n, h, w, c", [(1, 1, 1, 1), (1, 3, 2, 4), (5, 7, 6, 3), (2, 1, 9, 2)])
def test_global_avgpool_matches_torch(n, h, w, c):
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + c)
    x, dy = rng.standard_normal((n, h, w, c)), rng.standard_normal((n, c))
    layer = fastnn.GlobalAvgPoolLayer()
    y = layer.forward(x)
    dx = layer.backward(dy)
    xt = _nchw(x)
    yt = torch.flatten(torch.nn.AdaptiveAvgPool2d(1)(xt), 1)
    yt.backward(torch.tensor(dy))
    _close(y, yt.detach().numpy(), "forward")
    _close(dx, _nhwc(xt.grad), "input gradient")
