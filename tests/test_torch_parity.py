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


def _conv_cases():
    """(image (h, w, c), kernel, filters, stride, padding, batch): stride > 1, 'same' with odd and
    even kernels, asymmetric pairs, batch 1, 1x1 images, and random ones."""
    cases = [
        ((1, 1, 1), (1, 1), 1, 1, 0, 1),
        ((1, 1, 2), (1, 1), 3, 1, "same", 2),
        ((5, 5, 2), (3, 3), 4, 1, "same", 1),
        ((6, 7, 1), (2, 2), 2, 1, "same", 3),
        ((6, 5, 3), (4, 3), 2, 1, "same", 2),
        ((9, 8, 2), (3, 3), 3, 2, 0, 2),
        ((9, 8, 2), (3, 2), 3, (2, 3), (1, 2), 1),
        ((7, 7, 1), (5, 5), 2, 3, 2, 2),
        ((4, 4, 2), (3, 3), 2, 1, "valid", 1),
        ((12, 12, 3), (3, 3), 8, 2, 1, 20),  # enough work for the im2col + BLAS path
    ]
    rng = np.random.default_rng(11)
    for _ in range(8):
        h, w, c = (int(v) for v in rng.integers(1, 9, 3))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        cases.append(((h, w, c), (kh, kw), int(rng.integers(1, 4)), stride, padding, int(rng.integers(1, 4))))
    return cases


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note on its own copy
@pytest.mark.parametrize("image, kernel, filters, stride, padding, n", _conv_cases())
def test_conv_matches_torch(image, kernel, filters, stride, padding, n):
    rng = np.random.default_rng(sum(image) * 31 + sum(kernel))
    layer = fastnn.ConvLayer(image, kernel, filters, stride, padding, rng=rng)
    x = rng.standard_normal((n, *image))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)

    conv = torch.nn.Conv2d(image[2], filters, kernel, stride=stride, padding=padding, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.weights.transpose(3, 2, 0, 1)))
        conv.bias.copy_(torch.tensor(layer.bias))
    xt = _nchw(x)
    yt = conv(xt)
    yt.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    _close(y, _nhwc(yt), "forward")
    _close(dx, _nhwc(xt.grad), "input gradient")
    _close(layer.grads["weights"], conv.weight.grad.numpy().transpose(2, 3, 1, 0), "weight gradient")
    _close(layer.grads["bias"], conv.bias.grad.numpy(), "bias gradient")


@pytest.mark.parametrize("shape", [(2, 3), (7, 1), (1, 1, 2, 2), (1, 3, 3, 2), (4, 5, 3, 6), (16, 10)])
def test_batchnorm_matches_torch_in_training_and_inference(shape):
    rng = np.random.default_rng(sum(shape))
    c, images = shape[-1], len(shape) == 4
    layer = fastnn.BatchNormLayer(c, momentum=0.3, eps=1e-3)
    layer.weights[:], layer.bias[:] = rng.standard_normal(c), rng.standard_normal(c)
    bn = (torch.nn.BatchNorm2d if images else torch.nn.BatchNorm1d)(c, momentum=0.3, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(layer.weights))
        bn.bias.copy_(torch.tensor(layer.bias))
    to_torch = _nchw if images else (lambda a: torch.tensor(a, requires_grad=True))
    to_ours = _nhwc if images else (lambda t: t.detach().numpy())
    for step in range(3):  # three training batches: the running statistics accumulate
        x, dy = rng.standard_normal(shape) * 2 + step, rng.standard_normal(shape)
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        xt = to_torch(x)
        yt = bn(xt)
        yt.backward(to_torch(dy).detach())
        _close(y, to_ours(yt), "forward (batch statistics)")
        _close(dx, to_ours(xt.grad), "input gradient")
        _close(layer.grads["weights"], bn.weight.grad.numpy(), "gamma gradient")
        _close(layer.grads["bias"], bn.bias.grad.numpy(), "beta gradient")
        bn.weight.grad, bn.bias.grad = None, None
        _close(layer.running_mean, bn.running_mean.numpy(), "running mean")
        _close(layer.running_var, bn.running_var.numpy(), "running variance (unbiased)")
    bn.eval()
    x = rng.standard_normal(shape)
    _close(layer.forward(x), to_ours(bn(to_torch(x))), "inference (running statistics)")
