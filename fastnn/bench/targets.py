"""``python -m fastnn bench``: the speed targets, each timed against its reference in one run.

Every row times fastnn and its reference (and PyTorch CPU when installed) on the same inputs,
same dtype, after a warm-up call (compilation is never timed), as the best of several runs.
PyTorch runs with as many threads as numba. The same rows drive ``benchmarks/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy import signal

import kernels as K
from kernels import reference as R

from . import layers as bench_layers
from .common import Make, Row, compiled_engine, machine, machine_line, quiet_fit, thread_count, torch


def best_time(make: Make, fresh: bool, min_time: float, max_runs: int) -> float:
    """Best wall time of one call over several runs, after a warm-up run."""
    run = make()
    run()  # warm-up: compiles, fills caches
    best, spent, runs = np.inf, 0.0, 0
    while runs < 3 or (spent < min_time and runs < max_runs):
        if fresh:
            run = make()
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


# --------------------------------------------------------------------------- kernel rows


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _single_channel_rows(dtype: np.dtype) -> list[Row]:
    """correlate2d/convolve2d against scipy.signal: zero fill in valid and full mode at three sizes,
    then "same" mode with every boundary (zero fill first: the others should cost about as much)."""
    cases = [(h, k, target, mode, "fill", 0) for h, k, target in _SINGLE_SIZES for mode in ("valid", "full")]
    cases += [
        (h, k, target, "same", boundary, fill)
        for h, k, target in _SINGLE_SIZES[1:]
        for boundary, fill in (("fill", 0), ("fill", 0.5), ("wrap", 0), ("symm", 0))
    ]
    rows = []
    for h, k, target, mode, boundary, fill in cases:
        for name, ours, theirs in (
            ("correlate2d", K.correlate2d, signal.correlate2d),
            ("convolve2d", K.convolve2d, signal.convolve2d),
        ):

            def make(f, h=h, k=k, mode=mode, boundary=boundary, fill=fill):
                def build():
                    rng = _rng()
                    a, b = rng.standard_normal((h, h)).astype(dtype), rng.standard_normal((k, k)).astype(dtype)
                    return lambda: f(a, b, mode, boundary, fill)

                return build

            def torch_make(h=h, k=k, mode=mode, flip=name == "convolve2d"):
                rng = _rng()
                a = torch.from_numpy(rng.standard_normal((1, 1, h, h)).astype(dtype))
                b = torch.from_numpy(rng.standard_normal((1, 1, k, k)).astype(dtype))
                b = torch.flip(b, (2, 3)) if flip else b
                pad = {"valid": 0, "full": k - 1, "same": "same"}[mode]
                return lambda: torch.nn.functional.conv2d(a, b, padding=pad)

            how = mode if boundary == "fill" and fill == 0 else f"{mode} {boundary}{'=' + str(fill) if fill else ''}"
            rows.append(
                Row(
                    f"{name} {how} {h}x{h}*{k}x{k} (vs scipy.signal)",
                    str(dtype),
                    make(ours),
                    make(theirs),
                    torch_make if torch and boundary == "fill" and fill == 0 else None,
                    {"reference": target},
                    quick=h < 256,
                )
            )
    return rows


_SINGLE_SIZES = ((8, 3, 10.0), (28, 5, 10.0), (256, 7, 5.0))


def _conv_layer_rows(dtype: np.dtype) -> list[Row]:
    def inputs():
        rng = _rng()
        x = rng.standard_normal((64, 26, 26, 8)).astype(dtype)
        w = (rng.standard_normal((3, 3, 8, 16)) * 0.1).astype(dtype)
        b = rng.standard_normal(16).astype(dtype)
        dy = rng.standard_normal((64, 24, 24, 16)).astype(dtype)
        return x, w, b, dy

    def ours():
        x, w, b, dy = inputs()
        return lambda: (K.conv2d_forward(x, w, b), K.conv2d_backward(x, w, dy))

    def reference():
        x, w, b, dy = inputs()
        return lambda: (R.conv2d_forward(x, w, b), R.conv2d_backward(x, w, dy))

    def torch_make():
        x, w, b, dy = (torch.from_numpy(a) for a in inputs())
        x = x.permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        wt = w.permute(3, 2, 0, 1).contiguous().requires_grad_(True)
        bt = b.clone().requires_grad_(True)
        dyt = dy.permute(0, 3, 1, 2).contiguous()

        def run():
            out = torch.nn.functional.conv2d(x, wt, bt)
            out.backward(dyt)
            x.grad = wt.grad = bt.grad = None

        return run

    return [
        Row(
            "conv2d fwd+bwd x(64,26,26,8) w(3,3,8,16)",
            str(dtype),
            ours,
            reference,
            torch_make if torch else None,
            {"reference": 100.0, "torch": 1.0},
        )
    ]


def _dense_rows(dtype: np.dtype) -> list[Row]:
    rows = []
    for batch, target in ((256, 0.9), (1, 3.0)):

        def inputs(batch=batch):
            rng = _rng()
            return (
                rng.standard_normal((batch, 784)).astype(dtype),
                (rng.standard_normal((784, 128)) * 0.05).astype(dtype),
                rng.standard_normal(128).astype(dtype),
                rng.standard_normal((batch, 128)).astype(dtype),
            )

        def ours(inputs=inputs):
            x, w, b, dy = inputs()
            return lambda: (K.dense_forward(x, w, b), K.dense_backward(x, w, dy))

        def numpy_path(inputs=inputs):
            x, w, b, dy = inputs()
            return lambda: (x @ w + b, dy @ w.T, x.T @ dy, dy.sum(0))

        rows.append(
            Row(f"dense fwd+bwd batch {batch}, 784->128", str(dtype), ours, numpy_path, targets={"reference": target})
        )
    return rows


def _activation_rows(dtype: np.dtype) -> list[Row]:
    x = (_rng().standard_normal(100_000) * 3).astype(dtype)
    dy = _rng().standard_normal(100_000).astype(dtype)
    one = dtype.type(1)

    def numpy_sigmoid(v):
        return one / (one + np.exp(-v))

    cases = {
        "tanh": (lambda: K.tanh_backward(K.tanh(x), dy), lambda: (lambda y: dy * (one - y * y))(np.tanh(x)), 1.0),
        "sigmoid": (
            lambda: K.sigmoid_backward(K.sigmoid(x), dy),
            lambda: (lambda y: dy * y * (one - y))(numpy_sigmoid(x)),
            1.0,
        ),
        "relu": (lambda: K.relu_backward(K.relu(x), dy), lambda: (lambda y: dy * (y > 0))(np.maximum(x, 0)), 2.0),
        "leaky_relu": (
            lambda: K.leaky_relu_backward(K.leaky_relu(x), dy),
            lambda: (lambda y: np.where(y > 0, dy, dy * dtype.type(0.01)))(np.where(x > 0, x, x * dtype.type(0.01))),
            2.0,
        ),
    }
    return [
        Row(f"{name} fwd+bwd 1e5", str(dtype), lambda f=f: f, lambda g=g: g, targets={"reference": t})
        for name, (f, g, t) in cases.items()
    ]


# --------------------------------------------------------------------------- training rows


XOR_X = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
XOR_Y = np.array([[[0]], [[1]], [[1]], [[0]]])


def _xor_net(module):
    from .. import activations as A
    from .. import losses as L
    from ..seeds import seed000 as S

    np.random.seed(4051)
    net = module.Network()
    act = (A.tanh, A.tanh_prime) if module is not S else (S.tanh, S.tanh_prime)
    net.add(module.FCLayer((1, 2), (1, 3)))
    net.add(module.ActivationLayer((1, 3), *act))
    net.add(module.FCLayer((1, 3), (1, 1)))
    net.add(module.ActivationLayer((1, 1), *act))
    net.use(*((L.mse, L.mse_prime) if module is not S else (S.mse, S.mse_prime)))
    return net


def _first_fit_of_a_script() -> None:
    """What a fresh ``python script.py`` meets: its first fit (small work trains in numpy)."""
    from .. import training

    training.PROCESS.reset()


def _a_later_fit() -> None:
    """What a notebook, a loop of fits or a sweep meets once the engine has run in the process."""
    from .. import training

    training.PROCESS.engine_used = True


def _conv_example_net(module):
    """Seed 000's ConvLayer example (examples/seed000_conv.py): conv 3x3x4 on 6x6x2, tanh, flatten, 64->3."""
    from .. import activations as A
    from .. import losses as L
    from ..seeds import seed000 as S

    np.random.seed(0)
    net = module.Network()
    act = (A.tanh, A.tanh_prime) if module is not S else (S.tanh, S.tanh_prime)
    net.add((S.FixedConvLayer if module is S else module.ConvLayer)((6, 6, 2), (3, 3), 4))
    net.add(module.ActivationLayer((4, 4, 4), *act))
    net.add(module.FlattenLayer())
    net.add(module.FCLayer((1, 64), (1, 3)))
    net.add(module.ActivationLayer((1, 3), *act))
    net.use(*((L.mse, L.mse_prime) if module is not S else (S.mse, S.mse_prime)))
    return net


CONV_X = np.random.default_rng(0).random((16, 6, 6, 2))
CONV_Y = np.random.default_rng(1).random((16, 1, 3)) - 0.5


def _xor_rows() -> list[Row]:
    import fastnn

    from ..seeds import seed000 as S

    def make(module, which, when=None, epochs=1000):
        net_of, x, y = {"xor": (_xor_net, XOR_X, XOR_Y), "conv": (_conv_example_net, CONV_X, CONV_Y)}[which]

        def build():
            net = net_of(module)

            def run():
                if when is not None:
                    when()
                quiet_fit(net, x, y, epochs=epochs, learning_rate=0.1)

            return run

        return build

    scripts = (
        ("seed 000 XOR, 1000 epochs per sample (Network.fit, printing)", "xor", 1000, 50.0),
        ("seed 000 ConvLayer example, 20 epochs of 16 samples one at a time", "conv", 20, 1.0),
    )
    return [
        Row(
            f"{label}: {'a later fit in the process (compiled engine)' if later else 'a first fit (numpy path)'}",
            "float64",
            make(fastnn, which, _a_later_fit if later else _first_fit_of_a_script, epochs),
            make(S, which, epochs=epochs),
            targets={"reference": target if later else 1.0},
            fresh=True,
        )
        for label, which, epochs, target in scripts
        for later in (False, True)
    ]


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0)[..., None], np.eye(10)[d.target]


def _digits_rows() -> list[Row]:
    import fastnn

    from ..seeds import seed000 as S

    x, y = _digits()

    def ours(dtype=np.float64, batch=1):
        def build():
            np.random.seed(0)
            net = fastnn.Network(
                [
                    fastnn.ConvLayer((8, 8, 1), (3, 3), 8),
                    fastnn.Tanh(),
                    fastnn.FlattenLayer(),
                    fastnn.FCLayer(288, 10),
                    fastnn.Tanh(),
                ],
                dtype=dtype,
            )
            net.use("mse")
            xs, ys = x.astype(dtype), y.astype(dtype)

            def epoch():
                with compiled_engine():  # one epoch alone is small work: time the engine a real run takes
                    net.fit(xs, ys, epochs=1, learning_rate=0.01, batch_size=batch, verbose=False)

            return epoch

        return build

    def reference():
        np.random.seed(0)
        net = S.Network()
        for layer in (
            S.FixedConvLayer((8, 8, 1), (3, 3), 8),
            S.ActivationLayer(None, S.tanh, S.tanh_prime),
            S.FlattenLayer(),
            S.FCLayer((1, 288), (1, 10)),
            S.ActivationLayer(None, S.tanh, S.tanh_prime),
        ):
            net.add(layer)
        net.use(S.mse, S.mse_prime)
        return lambda: quiet_fit(net, x, y[:, None, :], epochs=1, learning_rate=0.01)

    def torch_make(dtype, batch):
        def build():
            torch.manual_seed(0)
            tdt = torch.float64 if dtype == np.float64 else torch.float32
            net = torch.nn.Sequential(
                torch.nn.Conv2d(1, 8, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(288, 10), torch.nn.Tanh()
            ).to(tdt)
            opt = torch.optim.SGD(net.parameters(), lr=0.01)
            xt = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(dtype))
            yt = torch.from_numpy(y.astype(dtype))

            def epoch():
                for i in range(0, len(xt), batch):
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(net(xt[i : i + batch]), yt[i : i + batch]).backward()
                    opt.step()

            return epoch

        return build

    name = "digits CNN (Conv 3x3x8, tanh, Flatten, Dense 10, tanh; MSE, SGD), one epoch, compiled engine"
    return [
        Row(
            f"{name}, per sample",
            "float64",
            ours(),
            reference,
            torch_make(np.float64, 1) if torch else None,
            {"reference": 25.0, "torch": 20.0},
            fresh=True,
            quick=True,
        ),
        Row(
            f"{name}, batch 32",
            "float32",
            ours(np.float32, 32),
            None,
            torch_make(np.float32, 32) if torch else None,
            {"torch": 1.0},
            fresh=True,
        ),
    ]


# The published-style XOR script: the tutorial's own numpy classes or, imports swapped, fastnn.
XOR_SCRIPT = """import numpy as np
{imports}

x_train = np.array([[[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]]])
y_train = np.array([[[0]], [[1]], [[1]], [[0]]])
np.random.seed(4051)
net = Network()
net.add(FCLayer((1, 2), (1, 3)))
net.add(ActivationLayer((1, 3), tanh, tanh_prime))
net.add(FCLayer((1, 3), (1, 1)))
net.add(ActivationLayer((1, 1), tanh, tanh_prime))
net.use(mse, mse_prime)
net.fit(x_train, y_train, epochs=1000, learning_rate=0.1)
print(net.predict(x_train))
"""
XOR_IMPORTS = {
    "numpy": "from tutorial_classes import ActivationLayer, FCLayer, Network, mse, mse_prime, tanh, tanh_prime",
    "fastnn": "from fastnn import ActivationLayer, FCLayer, Network\n"
    "from fastnn.activations import tanh, tanh_prime\nfrom fastnn.losses import mse, mse_prime",
}


def _tutorial_classes() -> str:
    """Seed 000's numpy classes as a reader has them for XOR: the layers, network, tanh and mse
    (fastnn.seeds.seed000 up to its ConvLayer, which alone needs scipy)."""
    from ..seeds import seed000

    source = Path(seed000.__file__).read_text()
    return source[: source.index("class ConvLayer(")].replace("from scipy import signal\n", "")


def process_seconds(command: list[str], cold: bool, runs: int = 3) -> float:
    """Wall time of a whole command in a new process, in a scratch directory: ``cold`` with an
    empty compile cache (one run), else the best of ``runs`` after a priming run."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tutorial_classes.py").write_text(_tutorial_classes())
        for name, imports in XOR_IMPORTS.items():
            (Path(tmp) / f"xor_{name}.py").write_text(XOR_SCRIPT.format(imports=imports))
        env = dict(os.environ, FASTNN_QUIET="1")
        if cold:
            env["FASTNN_CACHE_DIR"] = env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "cache")
        else:
            subprocess.run(command, env=env, cwd=tmp, check=True, capture_output=True)
        best = np.inf
        for _ in range(1 if cold else runs):
            started = time.perf_counter()
            subprocess.run(command, env=env, cwd=tmp, check=True, capture_output=True)
            best = min(best, time.perf_counter() - started)
    return best


def _process_rows(quick: bool) -> list[dict[str, Any]]:
    """Whole commands as a user runs them: the XOR script against the numpy it replaces, and the
    main job, each warm and with an empty cache (cold)."""
    py = sys.executable
    results = []
    for cold in (False, True):
        ours = process_seconds([py, "xor_fastnn.py"], cold)
        numpy_s = process_seconds([py, "xor_numpy.py"], False)
        results.append(
            {
                "name": f"XOR script, 1000 epochs printed, whole process, {'cold' if cold else 'warm'} (vs numpy)",
                "dtype": "float64",
                "fastnn_s": ours,
                "reference_s": numpy_s,
                "speedup": numpy_s / ours,
                "targets": {"seconds": 3.0} if cold else {"reference": 1.0},
            }
        )
        if not quick:
            main_job = process_seconds([py, "-m", "fastnn"], cold, runs=3)  # as a user runs it: with the plot
            results.append(
                {
                    "name": "python -m fastnn (digits CNN, 15 epochs, plot), whole process, "
                    + ("cold" if cold else "warm"),
                    "dtype": "float32",
                    "fastnn_s": main_job,
                    "targets": {"seconds": 1.0},  # issue 26; it compiles nothing, so cold is warm
                }
            )
    for res in results:
        res["met"] = all(
            res["fastnn_s"] <= v if k == "seconds" else res.get("speedup", 0.0) >= v for k, v in res["targets"].items()
        )
    return results


# --------------------------------------------------------------------------- running


def rows(quick: bool = False) -> list[Row]:
    out: list[Row] = []
    for dt in (np.dtype(np.float64), np.dtype(np.float32)):
        out += _single_channel_rows(dt) + _conv_layer_rows(dt) + _dense_rows(dt) + _activation_rows(dt)
        out += bench_layers.rows(dt)
    out += _xor_rows() + _digits_rows()
    if not quick:  # MNIST-size work: minutes, so only in the full run
        from . import mnist as bench_mnist

        out += bench_mnist.rows()
    return [r for r in out if r.quick or not quick]


def verdict(checks: dict[str, tuple[float | None, float]]) -> bool | None:
    """Targets as {name: (measured ratio or None when that side did not run, at least)}: False when
    one measured ratio misses, None ("not run") when none misses but one was not measured, else True."""
    if any(got is not None and got < want for got, want in checks.values()):
        return False
    return None if any(got is None for got, _ in checks.values()) else True


def run(quick: bool = False, echo: Callable[[str], None] = print, first_epoch_only: bool = False) -> dict[str, Any]:
    info = machine()
    echo(machine_line(info))
    if first_epoch_only:
        from . import firstepoch

        results = firstepoch.rows(with_torch=torch is not None)
        for res in results:
            echo(format_row(res))
        return {"machine": info, "date": time.strftime("%Y-%m-%d"), "results": results}
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    else:
        echo("PyTorch is not installed: its columns and targets are not run (pip install torch==2.13.0)")
    min_time, max_runs = (0.05, 5) if quick else (0.3, 30)
    results = []
    head = (
        f"{'benchmark':<72} {'dtype':<8} {'fastnn':>10} {'reference':>10} {'speedup':>8} {'torch':>10} "
        f"{'ratio':>7}  targets"
    )
    echo(head)
    echo("-" * len(head))
    for row in rows(quick):
        timed = []
        for threads in row.threads or (None,):
            with thread_count(threads) if threads else contextlib.nullcontext():
                res = _timed(row, threads, quick, min_time, max_runs)
            timed.append(res)
            results.append(res)
            echo(format_row(res))
        if len(timed) == 2 and "torch_s" in timed[0]:
            res = scaling(row.name, timed[0], timed[1])
            results.append(res)
            echo(format_row(res))
    extra = _process_rows(quick)
    if not quick:
        from . import firstepoch
        from . import mnist as bench_mnist

        extra += bench_mnist.memory_rows()
        extra += firstepoch.rows(with_torch=torch is not None)
    for res in extra:
        results.append(res)
        echo(format_row(res))
    return {
        "machine": {**info, "numba_threads": numba.get_num_threads(), "numba": numba.__version__},
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }


def _timed(row: Row, threads: int | None, quick: bool, min_time: float, max_runs: int) -> dict[str, Any]:
    """One row timed (at ``threads`` threads, when given), with its ratios and verdict."""
    name = row.name if threads is None else f"{row.name} [{threads} thread{'s' if threads > 1 else ''}]"
    res: dict[str, Any] = {"name": name, "dtype": row.dtype, "targets": row.targets, "threads": threads}
    res["fastnn_s"] = best_time(row.fastnn, row.fresh, min_time, max_runs)
    if row.reference:
        res["reference_s"] = best_time(row.reference, row.fresh, min_time if not quick else 0, max_runs)
        res["speedup"] = res["reference_s"] / res["fastnn_s"]
    if row.torch:
        res["torch_s"] = best_time(row.torch, row.fresh, min_time, max_runs)
        res["torch_ratio"] = res["torch_s"] / res["fastnn_s"]
    measured = {k: res.get("speedup" if k == "reference" else "torch_ratio") for k in row.targets}
    res["met"] = verdict({k: (measured[k], v) for k, v in row.targets.items()})
    return res


def scaling(name: str, one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """Issue 27's scaling target: fastnn's speed-up from the second thread at least PyTorch's."""
    ours, theirs = one["fastnn_s"] / two["fastnn_s"], one["torch_s"] / two["torch_s"]
    return {
        "name": f"{name}: speed-up from 1 to 2 threads",
        "dtype": one["dtype"],
        "unit": "x",
        "fastnn_s": ours,
        "torch_s": theirs,
        "torch_ratio": ours / theirs,
        "targets": {"scaling_vs_torch": 1.0},
        "met": verdict({"scaling_vs_torch": (ours / theirs, 1.0)}),
    }


def _fmt_time(s: float | None, unit: str = "s") -> str:
    if s is None:
        return "-"
    if unit == "MB":
        return f"{s:.0f} MB"
    if unit == "x":
        return f"{s:.2f}x"
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


_TARGET_TEXT = {
    "seconds": "seconds <= {v:g} s",
    "rss_vs_torch": "at most {v:g}x torch's",
    "torch_plus_seconds": "<= torch's + {v:g} s",
    "scaling_vs_torch": "at least torch's",
}


def format_row(res: dict[str, Any]) -> str:
    speed = f"{res['speedup']:.1f}x" if "speedup" in res else "-"
    ratio = f"{res['torch_ratio']:.1f}x" if "torch_ratio" in res else "-"
    unit = res.get("unit", "s")
    targets = ", ".join(_TARGET_TEXT.get(k, "vs " + k + " >= {v:g}x").format(v=v) for k, v in res["targets"].items())
    word = "" if not res["targets"] else {True: "met", False: "MISSED", None: "not run"}[res["met"]]
    ours, ref, theirs = (_fmt_time(res.get(k), unit) for k in ("fastnn_s", "reference_s", "torch_s"))
    return (
        f"{res['name']:<72} {res['dtype']:<8} {ours:>10} {ref:>10} {speed:>8} {theirs:>10} {ratio:>7}  {targets} {word}"
    )


def main(quick: bool = False, json_path: str | None = None, first_epoch: bool = False) -> int:
    report = run(quick, first_epoch_only=first_epoch)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
    return 0
