"""Layer forward + backward: fastnn's layers against the seed's numpy classes (or the reference
kernels where the seed has no such layer) and PyTorch when installed, batch of 32, same dtype."""

import numba
import numpy as np
import pytest

import fastnn
from fastnn.seeds import seed000 as S
from kernels import reference as R

try:
    import torch
except ImportError:
    torch = None

BATCH = 32


def _fastnn_layer(layer, x):
    def run():
        y = layer.forward(x)
        layer.backward(np.ones_like(y))

    return run


def _seed_per_sample(layer, x):
    def run():
        for s in range(len(x)):
            y = layer.forward_propagation(x[s : s + 1] if x.ndim == 2 else x[s])
            layer.backward_propagation(np.ones_like(y), 0.0)

    return run


def _maxpool_reference(x):
    def run():
        y, arg = R.maxpool2d_forward(x, 2)
        R.maxpool2d_backward(arg, np.ones_like(y), x.shape)

    return run


def _cases(dtype):
    rng = np.random.default_rng(0)
    dense_x = rng.standard_normal((BATCH, 784)).astype(dtype)
    img = rng.standard_normal((BATCH, 26, 26, 8)).astype(dtype)
    act_x = rng.standard_normal((BATCH, 1024)).astype(dtype)
    np.random.seed(0)
    return {
        "Dense 784->128": (
            _fastnn_layer(fastnn.FCLayer(784, 128).astype(dtype), dense_x),
            _seed_per_sample(S.FCLayer((1, 784), (1, 128)), dense_x),
        ),
        "ConvLayer 26x26x8 * 3x3x16": (
            _fastnn_layer(fastnn.ConvLayer((26, 26, 8), (3, 3), 16).astype(dtype), img),
            _seed_per_sample(S.FixedConvLayer((26, 26, 8), (3, 3), 16), img),
        ),
        "Tanh 1024": (
            _fastnn_layer(fastnn.Tanh(), act_x),
            _seed_per_sample(S.ActivationLayer(None, S.tanh, S.tanh_prime), act_x),
        ),
        "MaxPool 2 on 26x26x8": (_fastnn_layer(fastnn.MaxPoolLayer(2), img), _maxpool_reference(img)),
    }


def _torch_case(name, dtype):
    """The same layer in PyTorch (channels-first images), forward + backward with a ones gradient."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    rng = np.random.default_rng(0)
    if name.startswith("Dense"):
        layer, x = torch.nn.Linear(784, 128).to(tdt), torch.tensor(rng.standard_normal((BATCH, 784)), dtype=tdt)
    elif name.startswith("ConvLayer"):
        layer, x = torch.nn.Conv2d(8, 16, 3).to(tdt), torch.tensor(rng.standard_normal((BATCH, 8, 26, 26)), dtype=tdt)
    elif name.startswith("Tanh"):
        layer, x = torch.nn.Tanh(), torch.tensor(rng.standard_normal((BATCH, 1024)), dtype=tdt)
    else:
        layer, x = torch.nn.MaxPool2d(2), torch.tensor(rng.standard_normal((BATCH, 8, 26, 26)), dtype=tdt)
    x.requires_grad_(True)

    def run():
        y = layer(x)
        y.backward(torch.ones_like(y))
        x.grad = None

    return run


@pytest.mark.parametrize("impl", ["fastnn", "reference", "torch"])
@pytest.mark.parametrize("name", ["Dense 784->128", "ConvLayer 26x26x8 * 3x3x16", "Tanh 1024", "MaxPool 2 on 26x26x8"])
def test_layer_forward_backward(benchmark, name, impl, dtype):
    if impl == "torch":
        if torch is None:
            pytest.skip("torch not installed (the bench extra)")
        torch.set_num_threads(numba.get_num_threads())
        run = _torch_case(name, dtype)
    else:
        fast, ref = _cases(dtype)[name]
        run = fast if impl == "fastnn" else ref
    run()
    benchmark.group = f"layer {name} batch {BATCH} [{dtype}]"
    benchmark(run)
