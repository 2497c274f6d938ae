"""The numpy path for small work (fastnn.numpy_path): what it runs, that it computes the reference
twins' numbers exactly (and so the seed's), agrees with the compiled engine, stops on non-finite
values where the engine stops, and never imports numba."""

import contextlib
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastnn
import fastnn.training as training_module
from fastnn import (
    ConvLayer,
    FCLayer,
    FlattenLayer,
    LeakyReLU,
    MaxPoolLayer,
    Network,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    numpy_path,
)
from fastnn.activations import tanh, tanh_prime
from fastnn.losses import mse, mse_prime
from fastnn.refpath import reference_path
from fastnn.seeds import seed000 as S

ROOT = Path(__file__).resolve().parent.parent


def _mlp(act, n_out, last, seed):
    return [FCLayer(2, 6, rng=seed), act(), FCLayer(6, 4, rng=seed + 1), act(), FCLayer(4, n_out, rng=seed + 2)] + (
        [last()] if last else []
    )


def _cnn(seed, stride=1, padding=0):
    conv = ConvLayer((6, 6, 2), (3, 3), 4, stride=stride, padding=padding, rng=seed)
    oh, ow, _ = conv.output_shape
    pool = [MaxPoolLayer(2)] if oh % 2 == 0 else []
    features = (oh // 2) * (ow // 2) * 4 if pool else oh * ow * 4
    return [conv, ReLU(), *pool, FlattenLayer(), FCLayer(features, 3, rng=seed + 1), Softmax()]


# Dense cases compute exactly the reference twins' numbers; convolutions match the twins' scipy loops
# to rounding (one matrix product instead of a sum of correlations).
CASES = {
    "tanh-mse-sgd-per-sample": dict(layers=lambda: _mlp(Tanh, 1, Tanh, 0), loss="mse", task="binary", bs=1),
    "sigmoid-bce-momentum-batch3-shuffle": dict(
        layers=lambda: _mlp(Sigmoid, 1, Sigmoid, 3),
        loss="binary_cross_entropy",
        task="binary",
        bs=3,
        shuffle=True,
        opt="momentum",
    ),
    "relu-linear-mse-rmsprop-full-batch": dict(
        layers=lambda: _mlp(ReLU, 2, None, 6), loss="mse", task="binary", bs=64, opt="rmsprop"
    ),
    "leaky-mse-sgd-batch5-shuffle": dict(
        layers=lambda: _mlp(lambda: LeakyReLU(0.2), 2, None, 9), loss="mse", task="binary", bs=5, shuffle=True
    ),
    "relu-softmax-ce-adam-shuffle": dict(
        layers=lambda: _mlp(ReLU, 3, Softmax, 12), loss="cross_entropy", task="labels", bs=4, shuffle=True, opt="adam"
    ),
    "cnn-pool-ce-adam-batch": dict(layers=lambda: _cnn(15), loss="cross_entropy", task="images", bs=8, opt="adam"),
    "cnn-strided-padded-ce-momentum": dict(
        layers=lambda: _cnn(18, stride=2, padding=1), loss="cross_entropy", task="images", bs=5, opt="momentum"
    ),
    "cnn-same-ce-sgd-per-sample": dict(
        layers=lambda: _cnn(21, padding="same"), loss="cross_entropy", task="images", bs=1, shuffle=True
    ),
}


def _data(dtype, task, outputs, n=23):
    rng = np.random.default_rng(7)
    if task == "images":
        x = rng.standard_normal((n, 6, 6, 2)).astype(dtype)
        return x, (x[:, :3, :3].sum(axis=(1, 2, 3)) > 0).astype(int) + (x[:, 3:, 3:, 0].sum(axis=(1, 2)) > 0)
    x = rng.standard_normal((n, 2)).astype(dtype)
    if task == "labels":
        return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    y = (x[:, :1] * x[:, 1:] > 0).astype(dtype)
    return x, np.repeat(y, outputs, axis=1)


def _fit(case, dtype, epochs=8):
    net = Network(case["layers"](), seed=2, dtype=dtype)
    net.use(case["loss"])
    outputs = [layer for layer in net.layers if isinstance(layer, FCLayer)][-1].weights.shape[1]
    x, y = _data(dtype, case["task"], outputs)
    history = net.fit(
        x,
        y,
        epochs=epochs,
        learning_rate=0.05,
        batch_size=case["bs"],
        shuffle=case.get("shuffle", False),
        optimizer=case.get("opt", "sgd"),
        verbose=False,
    )
    return net, history, net.predict(x)


@pytest.mark.parametrize("name", CASES)
def test_numpy_path_computes_the_reference_twins_numbers(name, dtype):
    """The same network trained by the numpy path and layer by layer on kernels.reference: every
    loss, accuracy, parameter and prediction bit for bit (dense), to rounding (convolutions)."""
    ours, h_ours, p_ours = _fit(CASES[name], dtype)
    assert ours.last_fit_path == "numpy"
    with reference_path():
        ref, h_ref, p_ref = _fit(CASES[name], dtype)
    assert ref.last_fit_path == "layers"
    if not name.startswith("cnn"):
        assert h_ours == h_ref
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(p_ours, p_ref)
        return
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    assert h_ours["accuracy"] == h_ref["accuracy"]
    np.testing.assert_allclose(h_ours["loss"], h_ref["loss"], rtol=rtol)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(p_ours, p_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", CASES)
def test_numpy_path_agrees_with_the_compiled_engine(name, dtype, monkeypatch):
    ours, h_ours, p_ours = _fit(CASES[name], dtype)
    monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", 0.0)
    compiled, h_compiled, p_compiled = _fit(CASES[name], dtype)
    assert (ours.last_fit_path, compiled.last_fit_path) == ("numpy", "compiled")
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(h_ours["loss"], h_compiled["loss"], rtol=rtol)
    for a, b in zip(ours.parameters(), compiled.parameters(), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(p_ours, p_compiled, rtol=rtol, atol=rtol)


def test_the_choice_depends_on_the_work_only(monkeypatch):
    """Small work in numpy, more in the engine; a user layer, loss or optimizer the path lacks
    goes where it went before; FASTNN_COMPILED_FIT=0 (layer by layer) turns it off too."""
    layers = [FCLayer(784, 100, rng=0), Tanh(), FCLayer(100, 10, rng=1)]
    x = np.zeros((1000, 784))
    assert numpy_path.estimated_seconds(layers, 4, 1, 100) < numpy_path.SMALL_WORK_SECONDS
    assert numpy_path.estimated_seconds(layers, 1000, 1, 35) > numpy_path.SMALL_WORK_SECONDS
    assert numpy_path.takes_predict(layers, x[:10], 10)
    assert numpy_path.estimated_seconds(layers, 100_000, 1000, 0) > numpy_path.SMALL_WORK_SECONDS
    x, y = _data(np.float64, "binary", 1)
    for n, expected in ((23, "numpy"), (200_000, "compiled")):
        net = Network(_mlp(Tanh, 1, Tanh, 0), seed=0)
        net.use("mse")
        net.fit(np.resize(x, (n, 2)), np.resize(y, (n, 1)), epochs=1, verbose=False)
        assert net.last_fit_path == expected
    net = Network(_mlp(Tanh, 1, Tanh, 0), seed=0)
    net.use(mse, lambda t, p: mse_prime(t, p))  # a user loss: the layer path, as before
    net.fit(x, y, epochs=1, verbose=False)
    assert net.last_fit_path == "layers"
    monkeypatch.setattr(training_module, "COMPILED_FIT", False)
    net.use("mse")
    net.fit(x, y, epochs=1, verbose=False)
    assert net.last_fit_path == "layers"


def _xor(module, activation, prime, loss, loss_prime):
    np.random.seed(4051)
    net = module.Network()
    net.add(module.FCLayer((1, 2), (1, 3)))
    net.add(module.ActivationLayer((1, 3), activation, prime))
    net.add(module.FCLayer((1, 3), (1, 1)))
    net.add(module.ActivationLayer((1, 1), activation, prime))
    net.use(loss, loss_prime)
    x = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
    y = np.array([[[0]], [[1]], [[1]], [[0]]])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        net.fit(x, y, epochs=1000, learning_rate=0.1)
        print(net.predict(x))
    return net, out.getvalue()


def test_the_seeds_xor_script_prints_the_seeds_numbers_exactly():
    ours, ours_out = _xor(fastnn, tanh, tanh_prime, mse, mse_prime)
    seed, seed_out = _xor(S, S.tanh, S.tanh_prime, S.mse, S.mse_prime)
    assert ours.last_fit_path == "numpy"
    assert ours_out == seed_out  # 1000 epoch lines and the printed predictions, character for character
    assert ours_out.splitlines()[999] == "epoch 1000/1000   error=0.000242"
    for a, b in zip(ours.layers[::2], seed.layers[::2], strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)


def _faulty(x_bad, epochs_before=0):
    """FC(1, 1) with weight 1 and bias 0 on inputs 0, 0, x_bad, 1 (targets 0): nothing changes
    before the third sample. ``epochs_before``: clean epochs first (then the bad sample is added)."""
    net = Network([FCLayer(1, 1, rng=0)])
    net.layers[0].weights[...] = 1.0
    net.layers[0].bias[...] = 0.0
    net.use("mse")
    clean = np.array([[0.0], [0.0], [0.0], [1.0]])
    if epochs_before:
        net.fit(clean, np.zeros((4, 1)), epochs=epochs_before, verbose=False)
    before = [p.copy() for p in net.parameters()]
    x = np.array([[0.0], [0.0], [x_bad], [1.0]])
    with pytest.raises(FloatingPointError) as info:
        net.fit(x, np.zeros((4, 1)), epochs=3, learning_rate=0.1, verbose=False)
    return net, before, str(info.value)


@pytest.mark.parametrize("x_bad, what", [(1.2e154, "a gradient"), (1e200, "the loss")])
def test_a_non_finite_value_stops_training_where_the_engine_stops(x_bad, what, monkeypatch):
    """A gradient that overflows while the loss stays finite (x = 1.2e154: loss 1.4e308, gradient
    2.9e308), or a loss that overflows: both paths name the same epoch and batch and keep the
    weights from before it."""
    results = []
    for small in (0.5, 0.0):
        monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", small)
        net, before, message = _faulty(x_bad)
        assert net.last_fit_path == ("numpy" if small else "compiled")
        assert message.startswith(f"{what} became non-finite at epoch 1, batch 3"), message
        for a, b in zip(net.parameters(), before, strict=True):
            np.testing.assert_array_equal(a, b)
        results.append(message)
    assert results[0] == results[1]


def _fit_path_and_heavy_imports(script):
    """Run a user script (ending in a print of fit's path and the heavy modules it imported) in a
    fresh interpreter; its printed words."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_a_numpy_path_script_never_imports_numba():
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from fastnn import ActivationLayer, FCLayer, Network
        from fastnn.activations import tanh, tanh_prime
        from fastnn.losses import mse, mse_prime
        net = Network()
        net.add(FCLayer((1, 2), (1, 3)))
        net.add(ActivationLayer((1, 3), tanh, tanh_prime))
        net.add(FCLayer((1, 3), (1, 1)))
        net.add(ActivationLayer((1, 1), tanh, tanh_prime))
        net.use(mse, mse_prime)
        x = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
        net.fit(x, np.array([[[0]], [[1]], [[1]], [[0]]]), epochs=50, learning_rate=0.1, verbose=False)
        net.predict(x)
        print(net.last_fit_path, sorted(m for m in ("numba", "llvmlite", "scipy") if m in sys.modules))
        """
    )
    assert _fit_path_and_heavy_imports(script) == ["numpy", "[]"]


def test_a_small_cnn_on_the_numpy_path_never_imports_numba():
    """Encoding a CNN for the engine (each conv layer's scratch size) must not start numba either:
    a jitted helper called there cost python -m fastnn 0.55 s of its 1.25 s."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import fastnn
        rng = np.random.default_rng(0)
        x, labels = rng.random((40, 8, 8, 1)), np.arange(40) % 3
        net = fastnn.Network([fastnn.ConvLayer((8, 8, 1), (3, 3), 4, padding=1, rng=0), fastnn.ReLU(),
                              fastnn.MaxPoolLayer(2), fastnn.FlattenLayer(), fastnn.Dense(64, 3, rng=1),
                              fastnn.Softmax()]).use("cross_entropy")
        net.fit(x, labels, epochs=3, batch_size=8, optimizer="adam", verbose=False)
        net.predict(x)
        print(net.last_fit_path, sorted(m for m in ("numba", "llvmlite", "scipy") if m in sys.modules))
        """
    )
    assert _fit_path_and_heavy_imports(script) == ["numpy", "[]"]


LATER_FITS = textwrap.dedent(
    """
    import numpy as np
    from fastnn import ActivationLayer, FCLayer, Network
    from fastnn.activations import tanh, tanh_prime
    from fastnn.losses import mse, mse_prime
    x = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
    y = np.array([[[0]], [[1]], [[1]], [[0]]])

    def xor():
        np.random.seed(4051)
        net = Network()
        net.add(FCLayer((1, 2), (1, 3)))
        net.add(ActivationLayer((1, 3), tanh, tanh_prime))
        net.add(FCLayer((1, 3), (1, 1)))
        net.add(ActivationLayer((1, 1), tanh, tanh_prime))
        net.use(mse, mse_prime)
        return net

    first, twin = xor(), xor()
    for net in [first, twin, first] + [xor()] * {fresh}:  # twin: a fresh network alike, before any engine
        net.fit(x, y, epochs=200, learning_rate=0.1, verbose=False)
        print(net.last_fit_path, repr(float(net.layers[0].weights[0, 0])))
    """
)


def test_later_fits_take_the_engine_whatever_the_cache_holds(tmp_path):
    """Small work trains in numpy until the network trains again or the engine has run in the
    process; the same paths and numbers with nothing cached (compiled here), cached (loaded), and
    with the engine loaded already (a fresh network after it)."""
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "FASTNN_CACHE_DIR": str(tmp_path),
        "FASTNN_PRECOMPILED": "0",  # nothing cached: not even what the install compiled
        "FASTNN_QUIET": "1",
    }

    def run(fresh):
        script = LATER_FITS.replace("{fresh}", str(fresh))
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [line.split() for line in proc.stdout.splitlines()]

    empty = run(0)
    cached = run(0)
    loaded = run(1)
    assert [p for p, _ in empty] == ["numpy", "numpy", "compiled"] and empty == cached
    assert empty[0] == empty[1]  # two networks alike train alike
    assert loaded[:3] == empty and loaded[3][0] == "compiled"


def test_small_work_stays_in_numpy_until_the_network_trains_again_or_the_engine_ran():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)

    def fresh():
        return Network([FCLayer(2, 3, rng=0), Tanh(), FCLayer(3, 1, rng=1), Tanh()]).use("mse")

    a, b = fresh(), fresh()
    paths = []
    for net in (a, b, a, fresh()):
        net.fit(x, y, epochs=20, learning_rate=0.1, verbose=False)
        paths.append(net.last_fit_path)
    assert paths == ["numpy", "numpy", "compiled", "compiled"]
    training_module.PROCESS.reset()  # what the suite does before every test: a fresh process
    fresh().fit(x, y, epochs=20, learning_rate=0.1, verbose=False)
    net = fresh()
    net.fit(x, y, epochs=20, learning_rate=0.1, verbose=False)
    assert net.last_fit_path == "numpy"


def test_numpy_path_runs_blas_at_one_thread_and_gives_the_threads_back(monkeypatch):
    """Small work gains nothing from BLAS threads, whose spinning took the core the CLI's plot
    process draws on; held at one, its numbers do not depend on the thread count either."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    forward, backward = numpy_path._ACTIVATIONS["tanh"]

    def watching(x):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return forward(x)

    monkeypatch.setitem(numpy_path._ACTIVATIONS, "tanh", (watching, backward))
    net = Network(_mlp(Tanh, 1, Tanh, 0), seed=0).use("mse")
    x = np.random.default_rng(0).random((8, 2))
    with threadpool_limits(limits=2, user_api="blas"):
        net.fit(x, x[:, :1], epochs=3, learning_rate=0.1, verbose=False)
        net.predict(x)
        after = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    assert net.last_fit_path == "numpy"
    assert seen and all(threads == {1} for threads in seen), seen  # training and prediction
    assert after == {2}
