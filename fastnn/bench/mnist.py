"""The MNIST-size rows of ``python -m fastnn bench`` (issue 16's workloads), fastnn beside PyTorch and,
where it is feasible, the tutorial's numpy code, on 28x28 images made from scikit-learn's digits.

W1 PyTorch's MNIST example CNN (with and without its dropout), W2 LeNet-5, W3 an MLP at batch 128,
W4 the same MLP one sample at a time, seed 003's full-batch moons network, the tutorial's
per-sample MNIST scripts against their numpy classes, and W1's inference. Every timed call must
lower its loss, so nothing is timed that does not learn.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import fastnn

from .common import Row, quiet_fit, torch

try:  # the inference anchor, when installed (pip install jax); XLA keeps its own thread pool, which no
    # setting limits: bench's thread_count holds it to the thread count's CPUs (affinity). XLA sizes
    # that pool to the CPUs the process may use when its client starts: start it now, on every CPU,
    # not inside a one-thread row (it then kept one thread for the two-thread rows too).
    import jax

    jax.devices()
except ImportError:
    jax = None

# Real-size rows run at one thread and at two (issue 27), every side held to the count.
THREADS = (1, 2) if (os.cpu_count() or 1) >= 2 else (1,)


def mnist_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 28, 28, 1) in [0, 1], float32, and their labels: the 8x8 digits scaled up 3x,
    padded to 28x28 and shifted by up to 2 pixels (repeated as often as ``n`` needs)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    base = np.pad(np.kron(digits.images / 16.0, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
    rng = np.random.default_rng(seed)
    pick = np.arange(n) % len(base)
    shifts = rng.integers(-2, 3, (n, 2))
    images = np.stack([np.roll(base[i], tuple(s), axis=(0, 1)) for i, s in zip(pick, shifts, strict=True)])
    return images[..., None].astype(np.float32), digits.target[pick].astype(np.int64)


def _learns(losses: list[float], what: str) -> None:
    if not losses[-1] < losses[0]:
        raise RuntimeError(f"{what}: the loss did not decrease ({losses[0]:.4g} -> {losses[-1]:.4g}); not timed")


# --------------------------------------------------------------------------- the networks


def _w1(dropout: bool, seed: int = 0) -> list[Any]:
    drop = [fastnn.DropoutLayer(0.25)] if dropout else []
    drop2 = [fastnn.DropoutLayer(0.5)] if dropout else []
    return [
        fastnn.ConvLayer((28, 28, 1), (3, 3), 32, initializer="he", rng=seed),
        fastnn.ReLU(),
        fastnn.ConvLayer((26, 26, 32), (3, 3), 64, initializer="he", rng=seed + 1),
        fastnn.ReLU(),
        fastnn.MaxPoolLayer(2),
        *drop,
        fastnn.FlattenLayer(),
        fastnn.Dense(9216, 128, initializer="he", rng=seed + 2),
        fastnn.ReLU(),
        *drop2,
        fastnn.Dense(128, 10, initializer="xavier", rng=seed + 3),
        fastnn.Softmax(),
    ]


def _w2(seed: int = 0) -> list[Any]:
    return [
        fastnn.ConvLayer((28, 28, 1), (5, 5), 6, initializer="he", rng=seed),
        fastnn.ReLU(),
        fastnn.MaxPoolLayer(2),
        fastnn.ConvLayer((12, 12, 6), (5, 5), 16, initializer="he", rng=seed + 1),
        fastnn.ReLU(),
        fastnn.MaxPoolLayer(2),
        fastnn.FlattenLayer(),
        fastnn.Dense(256, 120, initializer="he", rng=seed + 2),
        fastnn.ReLU(),
        fastnn.Dense(120, 84, initializer="he", rng=seed + 3),
        fastnn.ReLU(),
        fastnn.Dense(84, 10, initializer="xavier", rng=seed + 4),
        fastnn.Softmax(),
    ]


def _mlp(seed: int = 0) -> list[Any]:
    return [
        fastnn.Dense(784, 256, initializer="he", rng=seed),
        fastnn.ReLU(),
        fastnn.Dense(256, 256, initializer="he", rng=seed + 1),
        fastnn.ReLU(),
        fastnn.Dense(256, 10, initializer="xavier", rng=seed + 2),
        fastnn.Softmax(),
    ]


def cifar_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 32x32x3 images in [0, 1], float32, and 10-class labels that depend on them (the class is
    which colour channel and which quadrant is brightest, plus noise): learnable, generated, no download."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.random((n, 32, 32, 3)).astype(np.float32) * 0.5
    for i, label in enumerate(labels):
        r, c = divmod(int(label) % 4, 2)
        images[i, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16, int(label) % 3] += 0.5
    return images, labels.astype(np.int64)


def bn_cnn(seed: int = 0) -> list[Any]:
    """The 32x32x3 CNN of issue 27: five 'same' 3x3 convolutions each with batch norm and ReLU, two
    max-pools, global average pooling, a dense layer."""
    layers: list[Any] = []
    shape, widths = (32, 32, 3), (32, 32, 64, 64, 128)
    for i, width in enumerate(widths):
        layers += [
            fastnn.ConvLayer(shape, (3, 3), width, padding="same", initializer="he", rng=seed + i),
            fastnn.BatchNormLayer(width),
            fastnn.ReLU(),
        ]
        shape = (shape[0], shape[1], width)
        if i in (1, 3):
            layers.append(fastnn.MaxPoolLayer(2))
            shape = (shape[0] // 2, shape[1] // 2, width)
    return [
        *layers,
        fastnn.GlobalAvgPoolLayer(),
        fastnn.Dense(128, 10, initializer="xavier", rng=seed + 9),
        fastnn.Softmax(),
    ]


def _torch_model(kind: str) -> Any:
    nn = torch.nn
    if kind == "bn":
        layers, channels = [], 3
        for i, width in enumerate((32, 32, 64, 64, 128)):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if i in (1, 3) else []
            channels = width
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    if kind == "w1" or kind == "w1-nodrop":
        drop = kind == "w1"
        layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2)]
        layers += [nn.Dropout(0.25)] * drop + [nn.Flatten(), nn.Linear(9216, 128), nn.ReLU()]
        layers += [nn.Dropout(0.5)] * drop + [nn.Linear(128, 10)]
        return nn.Sequential(*layers)
    if kind == "w2":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )  # fmt: skip
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


# --------------------------------------------------------------------------- training rows


def _training_row(name: str, kind: str, layers: Callable[[], list], n: int, batch: int, opt: str, lr: float) -> Row:
    """Two epochs of ``layers`` (cross-entropy) on ``n`` images; issue 16's targets: 1.5x PyTorch, 8x
    one sample at a time (the 32x32x3 batch-norm CNN, ``kind`` "bn": issue 27's 1.5x)."""
    x, y = cifar_like(n) if kind == "bn" else mnist_like(n)
    flat = kind in ("w3", "w4")
    xs = x.reshape(n, -1) if flat else x

    def ours() -> Callable[[], Any]:
        net = fastnn.Network(layers(), seed=0, dtype=np.float32).use("cross_entropy")

        def epoch() -> None:
            history = net.fit(xs, y, epochs=2, batch_size=batch, optimizer=opt, learning_rate=lr, verbose=False)
            _learns(history["loss"], f"fastnn {name}")

        return epoch

    def theirs() -> Callable[[], Any]:
        torch.manual_seed(0)
        model = _torch_model(kind)
        optimizer = (torch.optim.Adam if opt == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
        xt = torch.from_numpy(xs if flat else x.transpose(0, 3, 1, 2).copy())
        yt = torch.from_numpy(y)

        def epoch() -> None:
            losses = []
            for _ in range(2):
                model.train()
                total = 0.0
                for i in range(0, n, batch):
                    optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(model(xt[i : i + batch]), yt[i : i + batch])
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(yt[i : i + batch])
                losses.append(total / n)
            _learns(losses, f"torch {name}")

        return epoch

    targets = {"torch": 8.0 if batch == 1 else 1.5}
    return Row(f"{name}: 2 epochs", "float32", ours, None, theirs if torch else None, targets, True, False, THREADS)


def _moons_row() -> Row:
    """Seed 003: 2-25-50-50-25-1 relu/sigmoid, BCE, full batch of 900 make_moons samples, float64; at 1
    and 2 threads, every side held to them. The numpy side's time follows glibc malloc's state more
    than the threads: its 900 x 50 float64 temporaries (360 KB) are mmap'd and page-faulted afresh
    each until earlier frees raise malloc's threshold -- 320-530 ms in a fresh process, ~210 ms after
    large frees (AMD EPYC); fastnn's workspace is allocated once."""
    from sklearn.datasets import make_moons

    from ..seeds import seed003 as S3

    arch = S3.NN_ARCHITECTURE
    x, y = make_moons(n_samples=1000, noise=0.2, random_state=100)
    x, y = x[:900], y[:900].reshape(-1, 1).astype(np.float64)
    iterations = 200

    def ours() -> Callable[[], Any]:
        net = fastnn.Network.from_architecture(arch, seed=2).use("binary_cross_entropy")

        def run() -> None:
            h = net.fit(x, y, epochs=iterations, learning_rate=0.01, batch_size=len(x), verbose=False)
            _learns(h["loss"], "fastnn moons")

        return run

    def reference() -> Callable[[], Any]:
        def run() -> None:
            _, costs = S3.train(x.T, y.T, arch, epochs=iterations, learning_rate=0.01, seed=2)
            _learns(list(costs), "seed 003 moons")

        return run

    def theirs() -> Callable[[], Any]:
        torch.manual_seed(0)
        nn = torch.nn
        layers: list = []
        for spec in arch:
            activation = nn.ReLU() if spec["activation"] == "relu" else nn.Sigmoid()
            layers += [nn.Linear(spec["input_dim"], spec["output_dim"]).double(), activation]
        model = nn.Sequential(*layers)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def run() -> None:
            losses = []
            for _ in range(iterations):
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy(model(xt), yt)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            _learns(losses, "torch moons")

        return run

    return Row(
        f"seed 003 moons, full batch of 900, {iterations} iterations",
        "float64",
        ours,
        reference,
        theirs if torch else None,
        {"reference": 5.0, "torch": 3.0},
        fresh=True,
        quick=False,
        threads=THREADS,
    )


def _tutorial_classes(ours: bool) -> dict[str, Any]:
    """The tutorial's building blocks: fastnn's (the script with its imports swapped) or the seed's
    numpy classes (second API version; the ConvLayer with its bias fixed, as fastnn's)."""
    from ..seeds import seed000 as S

    if ours:
        a, lo = fastnn.activations, fastnn.losses
        return dict(fc=fastnn.FCLayer, act=fastnn.ActivationLayer, conv=fastnn.ConvLayer, flatten=fastnn.FlattenLayer,
                    net=fastnn.Network, funcs=(a.tanh, a.tanh_prime, lo.mse, lo.mse_prime))  # fmt: skip
    return dict(fc=S.FCLayerV2, act=S.ActivationLayerV2, conv=S.FixedConvLayer, flatten=S.FlattenLayer,
                net=S.Network, funcs=(S.tanh, S.tanh_prime, S.mse, S.mse_prime))  # fmt: skip


def _tutorial_row(name: str, data: tuple[np.ndarray, np.ndarray], epochs: int, conv: bool) -> Row:
    """A tutorial MNIST script trained one sample at a time (float64, lr 0.1), fastnn against the
    seed's classes: FC 784-100-50-10 tanh, or Conv 3x3x1 on 28x28 with FC 676-100-10 tanh; MSE."""
    x, y = data

    def build(ours: bool) -> Callable[[], Any]:
        c = _tutorial_classes(ours)
        np.random.seed(0)
        net = c["net"]()
        widths = ((26 * 26, 100), (100, 10)) if conv else ((784, 100), (100, 50), (50, 10))
        if conv:
            net.add(c["conv"]((28, 28, 1), (3, 3), 1))
            net.add(c["act"](*c["funcs"][:2]))
            net.add(c["flatten"]())
        for a, b in widths:
            net.add(c["fc"](a, b))
            net.add(c["act"](*c["funcs"][:2]))
        net.use(*c["funcs"][2:])
        return lambda: quiet_fit(net, x, y, epochs=epochs, learning_rate=0.1)

    return Row(name, "float64", lambda: build(True), lambda: build(False), None, {"reference": 20.0}, fresh=True,
               quick=False)  # fmt: skip


def _tutorial_mnist_fc_row() -> Row:
    x, labels = mnist_like(1000)
    # All 35 epochs, as published: which path fit takes depends on the whole run (one epoch alone
    # would be small work, trained in numpy).
    return _tutorial_row(
        "tutorial MNIST-FC script (784-100-50-10 tanh, MSE), 1000 samples one at a time, 35 epochs",
        (x.reshape(1000, 1, 784), np.eye(10, dtype=np.float32)[labels]),
        35,
        conv=False,
    )


def _tutorial_mnist_conv_row() -> Row:
    x, labels = mnist_like(1000)
    # The published script fits 10 images for 2 epochs (small work: numpy); at the FC script's
    # 1,000 images and 10 epochs the work is large enough for the engine.
    return _tutorial_row(
        "tutorial MNIST-Conv script (conv 3x3, 676-100-10 tanh, MSE), 1000 samples one at a time, 10 epochs",
        (x, np.eye(10, dtype=np.float32)[labels]),
        10,
        conv=True,
    )


def _jax_forward(kind: str) -> Callable[[Any], Any]:
    """The network of ``kind`` ("w1" or "bn") in inference mode as one jitted JAX function on NHWC
    float32 batches, random weights (batch norm folded to its scale and shift, as inference runs it)."""
    jnp, lax = jax.numpy, jax.lax
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 32))

    def conv(c_in: int, c_out: int) -> tuple[Any, Any]:
        return jax.random.normal(next(keys), (3, 3, c_in, c_out), jnp.float32) * 0.1, jnp.zeros(c_out, jnp.float32)

    def dense(n_in: int, n_out: int) -> tuple[Any, Any]:
        return jax.random.normal(next(keys), (n_in, n_out), jnp.float32) * 0.01, jnp.zeros(n_out, jnp.float32)

    def apply_conv(x: Any, wb: tuple[Any, Any], padding: str) -> Any:
        return lax.conv_general_dilated(x, wb[0], (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")) + wb[1]

    def pool(x: Any) -> Any:
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    if kind == "bn":
        widths, channels, convs = (32, 32, 64, 64, 128), 3, []
        for width in widths:
            convs.append((conv(channels, width), jnp.ones(width, jnp.float32), jnp.zeros(width, jnp.float32)))
            channels = width
        head = dense(128, 10)

        def forward(x: Any) -> Any:
            for i, (wb, scale, shift) in enumerate(convs):
                x = jnp.maximum(apply_conv(x, wb, "SAME") * scale + shift, 0)
                x = pool(x) if i in (1, 3) else x
            return x.mean(axis=(1, 2)) @ head[0] + head[1]

    else:
        c1, c2, d1, d2 = conv(1, 32), conv(32, 64), dense(9216, 128), dense(128, 10)

        def forward(x: Any) -> Any:
            x = pool(jnp.maximum(apply_conv(jnp.maximum(apply_conv(x, c1, "VALID"), 0), c2, "VALID"), 0))
            return jnp.maximum(x.reshape(x.shape[0], -1) @ d1[0] + d1[1], 0) @ d2[0] + d2[1]

    return jax.jit(forward)


def _inference_row(kind: str = "w1") -> Row:
    x, _ = cifar_like(10_000) if kind == "bn" else mnist_like(10_000)
    layers = bn_cnn if kind == "bn" else (lambda: _w1(dropout=True))

    def ours() -> Callable[[], Any]:
        net = fastnn.Network(layers(), seed=0, dtype=np.float32)
        return lambda: net.predict(x, batch_size=1000)

    def theirs() -> Callable[[], Any]:
        torch.manual_seed(0)
        model = _torch_model(kind).eval()
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

        def run() -> None:
            with torch.no_grad():
                for i in range(0, len(xt), 1000):
                    model(xt[i : i + 1000])

        return run

    def anchor() -> Callable[[], Any]:
        forward = _jax_forward(kind)
        batches = [jax.numpy.asarray(x[i : i + 1000]) for i in range(0, len(x), 1000)]

        def run() -> None:
            for batch in batches:
                forward(batch).block_until_ready()

        return run

    name = "32x32x3 batch-norm CNN" if kind == "bn" else "W1"
    targets = {"torch": 1.5}
    if jax:
        targets["reference"] = 1.0
    return Row(
        f"{name} inference: predict 10,000 images, batch 1000" + (" (reference: JAX CPU)" if jax else ""),
        "float32",
        ours,
        anchor if jax else None,
        theirs if torch else None,
        targets,
        fresh=False,
        quick=False,
        threads=THREADS,
    )


def rows() -> list[Row]:
    return [
        _training_row(
            "W1 PyTorch's MNIST CNN, batch 64, 6,400 images", "w1", lambda: _w1(True), 6400, 64, "adam", 1e-3
        ),
        _training_row(
            "W1 without dropout, batch 64, 6,400 images", "w1-nodrop", lambda: _w1(False), 6400, 64, "adam", 1e-3
        ),
        _training_row("W2 LeNet-5, batch 64, 6,400 images", "w2", _w2, 6400, 64, "adam", 1e-3),
        _training_row("W3 MLP 784-256-256-10, batch 128, 60,000", "w3", _mlp, 60_000, 128, "sgd", 0.1),
        _training_row("W4 MLP 784-256-256-10, one sample at a time, 5,000", "w4", _mlp, 5000, 1, "sgd", 0.01),
        _moons_row(),
        _tutorial_mnist_fc_row(),
        _tutorial_mnist_conv_row(),
        _inference_row(),
        _training_row(
            "32x32x3 CNN, 5 convs + batch norm, batch 64, 1,280 images", "bn", bn_cnn, 1280, 64, "adam", 1e-3
        ),
        _inference_row("bn"),
    ]


# --------------------------------------------------------------------------- memory

W1_EPOCH = 6400
BN_EPOCH = 1280


def epoch_peak_mb(side: str, kind: str = "w1") -> float:
    """Train W1 (``kind`` "w1": with dropout, W1_EPOCH images) or the 32x32x3 BN CNN ("bn": BN_EPOCH
    images) for one epoch, batch 64, Adam, with fastnn or PyTorch in this process; returns the
    process's peak resident memory in MB (imports and data included)."""
    n = W1_EPOCH if kind == "w1" else BN_EPOCH
    x, y = mnist_like(n) if kind == "w1" else cifar_like(n)
    if side == "fastnn":
        net = fastnn.Network(_w1(True) if kind == "w1" else bn_cnn(), seed=0, dtype=np.float32).use("cross_entropy")
        net.fit(x, y, epochs=1, batch_size=64, optimizer="adam", learning_rate=1e-3, verbose=False)
    else:
        torch.manual_seed(0)
        model = _torch_model(kind)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
        for i in range(0, n, 64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i : i + 64]), yt[i : i + 64]).backward()
            optimizer.step()
    return _peak_rss_mb()


def _peak_rss_mb() -> float:
    # VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's peak (a bench process of
    # 1.4 GB made both sides read 1393 MB).
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Makes ``import torch`` fail in fastnn's process (fastnn.bench.common imports it when installed).
_NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("not in fastnn's process")
sys.meta_path.insert(0, NoTorch())
"""


def _peak_mb_in_new_process(side: str, kind: str) -> float:
    block = _NO_TORCH if side == "fastnn" else ""
    code = f"{block}\nfrom fastnn.bench import mnist as B\nprint(B.epoch_peak_mb({side!r}, {kind!r}))"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def memory_rows() -> list[dict[str, Any]]:
    """Peak resident memory of a whole process training one epoch of W1 and of the 32x32x3 BN CNN,
    fastnn against PyTorch (issues 16 and 27: no more than PyTorch's + 20%). Both load the same data;
    the compile cache is warm."""
    if torch is None:
        return []
    rows = []
    for kind, name in (
        ("w1", f"W1 one epoch of {W1_EPOCH:,} images"),
        ("bn", f"32x32x3 BN CNN one epoch of {BN_EPOCH:,} images"),
    ):
        ours, theirs = _peak_mb_in_new_process("fastnn", kind), _peak_mb_in_new_process("torch", kind)
        rows.append(
            {
                "name": f"{name}, peak RSS of the whole process",
                "dtype": "float32",
                "unit": "MB",
                "fastnn_s": ours,
                "torch_s": theirs,
                "torch_ratio": theirs / ours,
                "targets": {"rss_vs_torch": 1.2},
                "met": ours <= 1.2 * theirs,
            }
        )
    return rows
