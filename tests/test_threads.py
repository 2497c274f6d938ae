"""The numbers do not depend on the thread count: fresh processes with numba and BLAS at one thread
and at two train and predict a CNN and an MLP to the same bits, on the compiled engine and on the
layer path, and both paths agree.

The suite's workers hold BLAS at one thread (OPENBLAS_NUM_THREADS=1, see conftest), which would hide
the case this guards: OpenBLAS's own threads change sgemm's last bits (x @ w for 128x784 by 784x256
in float32 differs between one and two threads), so the convolutions and the dense layers' large
products run with BLAS at one thread and share fixed groups of images, or fixed blocks of a
product's output, out over numba's threads.
"""

import functools
import hashlib
import os
import subprocess
import sys

import pytest

SCRIPT = """
import hashlib, sys
import numpy as np
import fastnn
import fastnn.numpy_path as numpy_path
import fastnn.training as training
from fastnn.layers import BatchNormLayer, ConvLayer, Dense, GlobalAvgPoolLayer, MaxPoolLayer, ReLU, Softmax

numpy_path.SMALL_WORK_SECONDS = 0.0  # the engine or the layers, not small work's numpy path
training.COMPILED_FIT = sys.argv[1] == "compiled"
rng = np.random.default_rng(0)
digest = hashlib.sha256()
for kind in ("im2col", "winograd"):
    # IM2COL (one channel, 32 filters; 32 -> 16, 5x5), WINOGRAD (32 -> 32 channels, 3x3, 'same'), batch
    # norm, ReLU and a max-pool large enough to share out over threads (fastnn.ops.split), a dense head
    # small enough for the loops
    x = rng.random((96, 14, 14, 1), dtype=np.float32)
    width, k = (32, 3) if kind == "winograd" else (16, 5)
    layers = [ConvLayer((14, 14, 1), (3, 3), 32), ReLU(), ConvLayer((12, 12, 32), (k, k), width, padding="same"),
              BatchNormLayer(width), ReLU(), MaxPoolLayer(2), GlobalAvgPoolLayer(), Dense(width, 4), Softmax()]
    y = rng.integers(0, 4, len(x))  # 32 x 32 x 4 multiply-adds: the loops, not BLAS
    net = fastnn.Network(layers, seed=0, dtype=np.float32).use("cross_entropy")
    net.fit(x, y, epochs=2, batch_size=32, optimizer="adam", verbose=False)
    assert net.last_fit_path == sys.argv[1], net.last_fit_path
    for p in net.parameters():
        digest.update(p.tobytes())
    digest.update(net.predict(x, batch_size=32).tobytes())
# An MLP whose products are cut into blocks (kernels.dense): 128 x 784 x 256 multiply-adds, 4 blocks
x = rng.random((256, 784), dtype=np.float32)
layers = [Dense(784, 256), ReLU(), Dense(256, 256), ReLU(), Dense(256, 10), Softmax()]
net = fastnn.Network(layers, seed=0, dtype=np.float32).use("cross_entropy")
net.fit(x, rng.integers(0, 10, len(x)), epochs=2, batch_size=128, optimizer="adam", verbose=False)
assert net.last_fit_path == sys.argv[1], net.last_fit_path
for p in net.parameters():
    digest.update(p.tobytes())
digest.update(net.predict(x).tobytes())
print(digest.hexdigest())
"""


@functools.cache
def _digest(path: str, numba_threads: int, blas_threads: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.update(NUMBA_NUM_THREADS=str(numba_threads), OPENBLAS_NUM_THREADS=str(blas_threads))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, path], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
@pytest.mark.parametrize("path", ["compiled", "layers"])
def test_one_thread_and_two_give_the_same_bits(path):
    """numba and BLAS at one thread, at two, and numba at one with BLAS at two (FASTNN_PARALLEL=0's
    case on two cores)."""
    one = _digest(path, 1, 1)
    assert len(one) == len(hashlib.sha256().hexdigest())
    assert _digest(path, 2, 2) == one
    assert _digest(path, 1, 2) == one


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_the_engine_on_two_threads_gives_the_layer_paths_bits():
    """The engine's steps shared out over threads (batch norm's sums over blocks fixed by the shape,
    the element-wise steps by runs) equal the layers' kernels, which run them on one thread."""
    assert _digest("compiled", 2, 2) == _digest("layers", 2, 2)
