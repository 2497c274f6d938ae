"""Compile ahead of use: run small versions of the work users run, so that numba compiles (and
caches) what that work needs before any user waits for it.

``python -m fastnn.precompile [--dtype float32|float64]`` fills the compile cache (see
:mod:`kernels.cache`). The package build runs it (``setup.py``), so that ``pip install .`` ships
the machine code for the machine it is built on, and the first epoch of a network on a fresh
install loads it instead of compiling. What it runs, per dtype: every registry kernel once per
memory layout (what ``validate`` and the layer path call); the compiled engine's training loop,
inference loop and per-batch step (MPI) for a dense network and for an image network that holds
every image op (so that one specialisation serves them all), one sample at a time and in batches;
and the same networks layer by layer.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from . import numpy_path, training
from .layers import (
    AvgPoolLayer,
    BatchNormLayer,
    ConvLayer,
    Dense,
    DropoutLayer,
    FlattenLayer,
    GlobalAvgPoolLayer,
    LeakyReLU,
    MaxPoolLayer,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .network import Network


def _dense_nets() -> list[Any]:
    return [
        [Dense(6, 8), Tanh(), Dense(8, 3), Softmax()],
        [Dense(6, 8), ReLU(), Dense(8, 8), LeakyReLU(), DropoutLayer(0.2), Dense(8, 1), Sigmoid()],
        [Dense(6, 8), BatchNormLayer(8), ReLU(), Dense(8, 3)],
    ]


def _image_nets() -> list[Any]:
    return [
        # big enough for the parallel im2col convolutions and the one-channel planar loops
        [
            ConvLayer((28, 28, 1), (5, 5), 6),
            ReLU(),
            MaxPoolLayer(2),
            ConvLayer((12, 12, 6), (3, 3), 32),
            ReLU(),
            ConvLayer((10, 10, 32), (3, 3), 16, padding="same"),
            BatchNormLayer(16),
            ReLU(),
            MaxPoolLayer(2),
            DropoutLayer(0.25),
            FlattenLayer(),
            Dense(400, 10),
            Softmax(),
        ],
        [
            ConvLayer((8, 8, 3), (3, 3), 4, stride=2, padding=1),
            Tanh(),
            AvgPoolLayer(2),
            ConvLayer((2, 2, 4), (1, 1), 4),
            GlobalAvgPoolLayer(),
            Dense(4, 3),
            Softmax(),
        ],
        [ConvLayer((8, 8, 1), (3, 3), 8), Tanh(), FlattenLayer(), Dense(288, 10), Tanh()],  # the tutorials' CNN
    ]


def _labels_or_targets(net: Network, n: int, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    out = net.layers[-1]
    width = 1 if isinstance(out, Sigmoid) else (3 if not isinstance(out, Tanh) else 10)
    if getattr(out, "name", None) == "softmax":
        return rng.integers(0, width, n)
    return rng.random((n, width)).astype(dtype)


def _train(layers: list[Any], shape: tuple[int, ...], dtype: np.dtype, per_sample: bool) -> None:
    rng = np.random.default_rng(0)
    n = 96
    x = rng.random((n, *shape)).astype(dtype)
    net = Network(layers, seed=0, dtype=dtype)
    softmax = getattr(layers[-1], "name", None) == "softmax"
    loss = "cross_entropy" if softmax else ("binary_cross_entropy" if isinstance(layers[-1], Sigmoid) else "mse")
    net.use(loss)
    y = _labels_or_targets(net, n, rng, dtype)
    has_norm = any(isinstance(layer, BatchNormLayer) for layer in layers)
    runs = [("sgd", 1)] if per_sample and not has_norm else []
    runs += [("adam", 32), ("sgd", 32), ("momentum", 32), ("rmsprop", 32)]
    for optimizer, batch in runs:
        net.fit(x, y, epochs=1, batch_size=batch, optimizer=optimizer, shuffle=True, verbose=False)
    net.fit(x, y, epochs=1, batch_size=32, validation_data=(x[:16], y[:16]), verbose=False)  # one call per epoch
    net.predict(x, batch_size=64)
    net.evaluate(x, y)
    try:
        from mpi4py import MPI
    except ImportError:
        return
    net.fit(x, y, epochs=1, batch_size=32, optimizer="adam", seed=0, verbose=False, comm=MPI.COMM_SELF)


def _networks(dtype: np.dtype) -> None:
    for make in (_dense_nets, _image_nets):
        for layers in make():
            first = layers[0]
            shape = first.input_shape if isinstance(first, ConvLayer) else (first.weights.shape[0],)
            _train(layers, tuple(shape), dtype, per_sample=True)


def _parallel_entry_points(dtype: np.dtype) -> None:
    """The parallel kernels the engine starts from its object-mode blocks, for the argument types the
    engine passes them, on tiny arrays and one part: the networks above reach them only with enough
    cores at install and large enough steps (fastnn.ops.split, kernels.dense.split_of), and a
    user's first epoch would otherwise compile them (~1.5-4 s measured)."""
    from kernels import activations as KA
    from kernels import conv as KC
    from kernels import dense as KD
    from kernels import norm as KN
    from kernels import optim as KO
    from kernels import pool as KP

    from .ops import reshape

    x2, dy2 = np.ones((8, 4), dtype), np.ones((8, 4), dtype)
    gamma, beta, mean, var = (np.ones(4, dtype) for _ in range(4))
    KN.train_forward_parallel(x2, (gamma, beta), 1e-5, (mean, var), np.empty_like(x2), 1)
    grads = (np.empty_like(x2), np.empty(4, dtype), np.empty(4, dtype))
    KN.train_backward_parallel(x2, gamma, (mean, var), 1e-5, dy2, grads, 1)
    buf = np.zeros(64, dtype)
    for backward in (False, True):
        KA.spans_parallel((KA.RELU, backward, 0.0), (buf, buf, buf), (0, 32, 0), 16, 1)
    images, pooled = np.zeros((2, 4, 4, 3), dtype), np.zeros((2, 2, 2, 3), dtype)
    KP.maxpool2d_parallel(False, images, pooled, np.zeros(pooled.shape, np.int64), 2, 1)
    a, b = np.ones((4, 8), dtype), np.ones((8, 6), dtype)
    KD.products_parallel(KD.FORWARD, a, b, np.empty((4, 6), dtype), 1)
    flat = tuple(np.ones(32, dtype) for _ in range(4))
    coef = KO.coefficients(KO.ADAM, np.array([1e-3, 0.9, 0.999, 1e-8]), 1)
    KO.steps_parallel(KO.ADAM, flat, tuple(dtype.type(c) for c in coef), 1)
    reshape.drop_parallel(1, 0.5, (buf, 0), (buf, 32), 16, 1)
    for algo in (KC.IM2COL, KC.WINOGRAD):  # the convolutions' too (an install machine with one core)
        x, w = np.ones((2, 6, 6, 8), dtype), np.ones((3, 3, 8, 8), dtype)
        layer, geometry = ((6, 6, 8), (3, 3), 8, (1, 1), (1, 1, 1, 1)), ((3, 3), (1, 1), (1, 1, 1, 1))
        scratch = np.empty(KC.scratch_size(layer, KC.MAX_PARTS), dtype)
        y = np.empty((2, 6, 6, 8), dtype)
        KC.forward_parallel(algo, x, w, np.ones(8, dtype), geometry, y, (scratch, 1))
        outs = (np.empty_like(x), np.empty_like(w), np.empty(8, dtype))
        KC.backward_parallel(algo, x, w, y, geometry, outs, True, (scratch, 1))


def _kernels(dtype: np.dtype) -> None:
    from kernels import validate

    results = validate.run(cases=3, dtypes=(dtype,))
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"validate failed while precompiling: {failed[:3]}")


def run(dtypes: tuple[np.dtype, ...], say: Any = print) -> None:
    """Compile what the workloads above need, for each dtype, on every path that compiles."""
    saved = training.COMPILED_FIT, numpy_path.SMALL_WORK_SECONDS
    try:
        for dtype in dtypes:
            start = time.perf_counter()
            _kernels(dtype)
            _parallel_entry_points(dtype)
            numpy_path.SMALL_WORK_SECONDS = 0.0  # the engine, not numpy
            training.COMPILED_FIT = True
            _networks(dtype)
            training.COMPILED_FIT = False  # layer by layer
            _networks(dtype)
            training.COMPILED_FIT, numpy_path.SMALL_WORK_SECONDS = saved
            say(f"fastnn precompile: {np.dtype(dtype)} in {time.perf_counter() - start:.0f} s")
    finally:
        training.COMPILED_FIT, numpy_path.SMALL_WORK_SECONDS = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn.precompile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append", help="default: both")
    args = parser.parse_args(argv)
    dtypes = tuple(np.dtype(d) for d in (args.dtype or ["float32", "float64"]))
    import warnings

    warnings.simplefilter("ignore")  # the workloads' random data: raw-pixel and similar warnings
    run(dtypes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
