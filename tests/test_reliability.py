"""Numerical faults, safe model files, the numba cache under concurrency, and memory over many fits."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kernels as K
from fastnn import FCLayer, Network, Softmax, Tanh

ROOT = Path(__file__).resolve().parent.parent
X = np.random.default_rng(0).standard_normal((40, 4))
LABELS = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)


def _net():
    net = Network([FCLayer(4, 8, rng=0), Tanh(), FCLayer(8, 3, rng=1), Softmax()], seed=0)
    return net.use("cross_entropy")


# --------------------------------------------------------------------------- numerical faults


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_sigmoid_and_cross_entropy_stay_finite_at_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    s = K.softmax(z)
    assert np.isfinite(s).all() and np.allclose(s.sum(axis=1), 1)
    assert np.isfinite(K.sigmoid(z)).all() and K.sigmoid(z)[0, 0] == 1 and K.sigmoid(z)[0, 1] == 0
    loss, grad = K.softmax_cross_entropy(z, np.array([1, 0, 2]))
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx((2e4 + np.log(3) + 2e4 + np.log(2)) / 3, rel=1e-6)  # -log softmax per row
    p = K.sigmoid(z)
    assert np.isfinite(K.binary_cross_entropy(np.ones_like(p), p))
    assert np.isfinite(K.binary_cross_entropy_backward(np.zeros_like(p), p)).all()


def test_a_nan_loss_stops_fit_and_keeps_the_last_finite_weights(path):
    net = _net()
    x = X.copy()
    x[13, 2] = np.inf  # sample 14, batch 4 of 4 samples: tanh keeps the loss finite, the gradients are not
    with pytest.raises(FloatingPointError, match="gradient became non-finite at epoch 1, batch 4"):
        net.fit(x, LABELS, epochs=2, batch_size=4, verbose=False)
    assert net.last_fit_path == path
    assert all(np.isfinite(p).all() for p in net.parameters())
    clean = _net()
    clean.fit(X[:12], LABELS[:12], epochs=1, batch_size=4, verbose=False)
    for a, b in zip(net.parameters(), clean.parameters(), strict=True):  # exactly the 3 batches before the fault
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- files


@pytest.fixture
def saved(tmp_path):
    net = _net()
    net.fit(X, LABELS, epochs=2, batch_size=8, verbose=False)
    path = tmp_path / "model.npz"
    net.save(path)
    return net, path


def _rewrite(path, meta=None, arrays=None):
    """A copy of a saved model with its header or arrays changed."""
    with np.load(path, allow_pickle=False) as data:
        content = {k: data[k] for k in data.files}
    header = json.loads(str(content.pop("__fastnn__")))
    if meta:
        meta(header)
    if arrays:
        arrays(content)
    out = path.with_name("changed.npz")
    np.savez(out, __fastnn__=np.array(json.dumps(header)), **content)
    return out


def test_round_trip(saved):
    net, path = saved
    loaded = Network.load(path)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "damaged or truncated"),
        (lambda p: p.write_bytes(b"\x00garbage" * 100), "not an .npz archive"),
        (lambda p: p.write_bytes(b""), "not an .npz archive"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_damaged_files_are_refused(saved, corrupt, message):
    _, path = saved
    corrupt(path)
    with pytest.raises(ValueError, match=message):
        Network.load(path)


def test_a_pickle_bearing_file_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, __fastnn__=np.array([{"format": "fastnn-network"}], dtype=object))
    with pytest.raises(ValueError, match="not a valid fastnn model"):
        Network.load(path)


@pytest.mark.parametrize(
    "meta,arrays,message",
    [
        (lambda h: h.update(version=99), None, "format version 99"),
        (lambda h: h.update(format="something-else"), None, "wrong format tag"),
        (lambda h: h.update(dtype="int8"), None, "dtype must be float32 or float64"),
        (lambda h: h["layers"][0].update(type="Conv3DLayer"), None, "unknown type"),
        (lambda h: h["layers"][0]["config"].update(output_shape=9), None, "shape"),
        (lambda h: h["layers"][0]["config"].update(output_shape=-2), None, "config"),
        (None, lambda a: a.update({"layer0.weights": a["layer0.weights"][:2]}), "has shape"),
        (None, lambda a: a.update({"layer0.weights": a["layer0.weights"].astype(np.float32)}), "has dtype float32"),
        (None, lambda a: a.pop("layer2.bias"), "missing parameter layer2.bias"),
        (None, lambda a: a.update(extra=np.zeros(2)), "unexpected arrays"),
    ],
)
def test_mismatched_files_are_refused(saved, meta, arrays, message):
    _, path = saved
    with pytest.raises(ValueError, match=message):
        Network.load(_rewrite(path, meta, arrays))


def test_an_interrupted_save_leaves_the_old_model_in_place(saved, monkeypatch):
    net, path = saved
    before = path.read_bytes()

    def explode(*args, **kwargs):
        args[0].write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        net.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]  # no temporary file left behind
    assert zipfile.is_zipfile(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "nope.npz")


# --------------------------------------------------------------------------- numba cache


WORKER = textwrap.dedent(
    """
    import numpy as np, fastnn, kernels as K
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 6, 2))
    w = rng.standard_normal((3, 3, 2, 3))
    dense = K.dense_forward(x.reshape(4, -1), np.ones((72, 2)), np.zeros(2))
    out = [K.conv2d_forward(x, w, np.ones(3)).sum(), K.tanh(x).sum(), dense.sum()]
    net = fastnn.Network([fastnn.FCLayer(2, 3, rng=0), fastnn.Tanh(), fastnn.FCLayer(3, 1, rng=1)])
    net.use("mse")
    h = net.fit(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), np.array([[0], [1], [1], [0]]), 20, verbose=False)
    print(repr([float(v) for v in out] + [h["loss"][-1]]))
    """
)


def _workers(cache_dir, count):
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(cache_dir),
        "FASTNN_CACHE_DIR": str(cache_dir),
        "FASTNN_PRECOMPILED": "0",  # an empty cache, not one seeded from the install
        "FASTNN_COMPILED_FIT": "0",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(count)
    ]
    return [(p.wait(timeout=900), p.stdout.read(), p.stderr.read()) for p in procs]


@pytest.mark.slow
def test_processes_sharing_an_empty_cache_all_succeed_then_a_corrupted_cache_still_works(tmp_path):
    results = _workers(tmp_path, 3)
    for code, _, err in results:
        assert code == 0, err[-2000:]
    assert len({out for _, out, _ in results}) == 1  # identical numbers from every process
    cached = list(tmp_path.rglob("*.nbi")) + list(tmp_path.rglob("*.nbc"))
    assert cached, "nothing was cached"
    for i, f in enumerate(cached):  # garbage in some files, truncation in others
        f.write_bytes(b"\x80\x04garbage" if i % 2 else f.read_bytes()[: max(1, f.stat().st_size // 3)])
    ((code, out, err),) = _workers(tmp_path, 1)
    assert code == 0, err[-2000:]
    assert out == results[0][1]


# --------------------------------------------------------------------------- memory


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_repeated_fit_and_predict_do_not_grow_memory(path):
    net = _net()
    for _ in range(30):  # warm up: compile, allocate workspaces, fill caches
        net.fit(X, LABELS, epochs=1, batch_size=8, verbose=False)
        net.predict(X)
    assert net.last_fit_path == path
    start = _rss_bytes()
    for _ in range(300):
        net.fit(X, LABELS, epochs=1, batch_size=8, verbose=False)
        net.predict(X)
        net.evaluate(X, LABELS)
    grown = _rss_bytes() - start
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 300 fit/predict calls"


SWAP_WORKER = textwrap.dedent(
    """
    import numpy as np, kernels as K
    for dtype in (np.float64, np.float32):
        x = np.linspace(-3, 3, 7).astype(dtype)
        y = K.tanh(x)
        assert y.dtype == dtype and np.allclose(y, np.tanh(x), rtol=1e-6), (dtype, y)
    print("ok")
    """
)


def test_a_cache_index_pointing_at_another_overloads_code_is_a_miss(tmp_path):
    """Two processes saving different overloads of one function at once can swap data files
    (numba #4807): the loaded machine code would be for the wrong types. It must be refused."""
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path),
        "FASTNN_CACHE_DIR": str(tmp_path),
        "FASTNN_PRECOMPILED": "0",  # an empty cache, not one seeded from the install
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }

    def run():
        return subprocess.run([sys.executable, "-c", SWAP_WORKER], capture_output=True, text=True, env=env, timeout=600)

    assert run().returncode == 0
    files = sorted(p for p in tmp_path.rglob("*.nbc") if "activations._tanh-" in p.name)
    assert len(files) == 2, files  # one data file per dtype
    a, b = (f.read_bytes() for f in files)
    files[0].write_bytes(b)
    files[1].write_bytes(a)
    proc = run()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


COMPILE_TOGETHER = textwrap.dedent(
    """
    import gc, numpy as np, kernels as K
    from numba.core.registry import CPUDispatcher
    K.conv2d_forward(np.ones((2, 6, 6, 2)), np.ones((3, 3, 2, 4)), np.zeros(4))
    K.tanh(np.ones(3))
    ours = [d for d in gc.get_objects()
            if isinstance(d, CPUDispatcher) and d.py_func.__module__.startswith(("kernels", "fastnn"))]
    print(sorted(d.py_func.__qualname__ + str(sig) for d in ours for sig, misses in d._cache_misses.items() if misses))
    """
)


def test_processes_started_together_compile_each_function_once(tmp_path):
    """Two processes on an empty cache at once (MPI ranks, test workers): each function is compiled,
    for each signature, by one of them while the other waits for it and loads it -- never by both."""
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path),
        "FASTNN_CACHE_DIR": str(tmp_path),
        "FASTNN_PRECOMPILED": "0",  # an empty cache, not one seeded from the install
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMPILE_TOGETHER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    compiled = [set(eval(out)) for out, _ in outs]
    assert compiled[0] | compiled[1], "nothing was compiled"
    assert not compiled[0] & compiled[1], f"compiled by both: {sorted(compiled[0] & compiled[1])}"


RELOAD_SETUP = (
    "import numpy as np, fastnn; x = np.random.default_rng(0).standard_normal((32, 12, 12, 3)); "
    "net = fastnn.Network([fastnn.ConvLayer((12, 12, 3), (3, 3), 8, rng=0), fastnn.ReLU(), "
    "fastnn.FlattenLayer(), fastnn.Dense(800, 3, rng=1), fastnn.Softmax()]).use('cross_entropy'); "
)
RELOAD_STEPS = {
    "fit": RELOAD_SETUP + "h = net.fit(x, np.arange(32) % 3, 2, batch_size=16, verbose=False); print(h['loss'])",
    # fit(comm=...) compiles the engine's per-batch entry point against the callees cached by "fit"
    "per-batch": RELOAD_SETUP + "from mpi4py import MPI; h = net.fit(x, np.arange(32) % 3, 2, batch_size=16, "
    "verbose=False, seed=0, comm=MPI.COMM_SELF); print(h['loss'])",
}


# The engine's entry points; everything else in the cache is a callee they are compiled against.
ENTRY_POINTS = ("engine.run_epochs-", "engine.batch_gradients-")


def _seed_with_callees(cache):
    """Copy into ``cache`` what this test process's cache already holds for these sources (the suite
    has usually compiled the engine's callees by now), leaving out the entry points and lock files."""
    from kernels import cache as kernel_cache

    source = kernel_cache.cache_root() / kernel_cache.sources_hash()[:24]
    if source.is_dir():
        shutil.copytree(
            source,
            cache / source.name,
            ignore=lambda _, names: [n for n in names if n.startswith(ENTRY_POINTS) or n.endswith(".lock")],
        )


@pytest.mark.slow
def test_the_training_loop_reloads_from_a_cache_filled_by_other_processes(tmp_path):
    """Regression: with numba-parallel convolutions inside the training loop, an entry point compiled
    against callees loaded from the cache crashed (SIGSEGV) when the next process reloaded it. The loop
    now calls no parallel code. Both entry points (fit's loop and the per-batch step) are compiled here
    against cached callees -- copied from the suite's cache when it has them, else cached by the first
    step -- and then reloaded by fresh processes."""
    pytest.importorskip("mpi4py")
    _seed_with_callees(tmp_path)
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path),
        "FASTNN_CACHE_DIR": str(tmp_path),
        "FASTNN_PRECOMPILED": "0",  # an empty cache, not one seeded from the install
        "FASTNN_SMALL_WORK": "0",  # this network is small work: the compiled engine is what is tested
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    env.pop("FASTNN_QUIET", None)
    outputs = []
    steps = (("fit", True), ("per-batch", True), ("per-batch", False), ("fit", False))  # (step, compiles)
    for step, compiles in steps:
        proc = subprocess.run(
            [sys.executable, "-c", RELOAD_STEPS[step]], capture_output=True, text=True, env=env, timeout=900
        )
        assert proc.returncode == 0, f"{step}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert ("fastnn: compiling" in proc.stderr) is compiles, f"{step}: {proc.stderr[-2000:]}"
        outputs.append(proc.stdout)
    assert outputs[1] == outputs[2] and outputs[0] == outputs[3]


COMPILE_ONE = "import numpy as np, kernels as K; print(K.tanh(np.linspace(-1, 1, 5)).sum())"


def test_compiled_code_is_shared_by_install_location_and_the_notice_shows_only_when_compiling(tmp_path):
    """The cache is keyed on the sources' content: a copy of the package elsewhere (another install,
    a reinstall), run from another directory, loads what the first copy compiled -- and the one-line
    compile notice appears on the cold start only."""
    copies = []
    for name in ("first", "second"):
        copy = tmp_path / name
        for package in ("kernels", "fastnn"):
            shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(copy)
    cache = tmp_path / "cache"

    def run(copy, cwd):
        env = {**os.environ, "FASTNN_CACHE_DIR": str(cache), "PYTHONPATH": str(copy), "FASTNN_PRECOMPILED": "0"}
        env.pop("NUMBA_CACHE_DIR", None)
        env.pop("FASTNN_QUIET", None)
        return subprocess.run([sys.executable, "-c", COMPILE_ONE], capture_output=True, text=True, env=env, cwd=cwd)

    cold = run(copies[0], copies[0])
    assert cold.returncode == 0, cold.stderr
    assert "fastnn: compiling" in cold.stderr and str(cache) in cold.stderr
    warm = run(copies[1], tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    assert "compiling" not in warm.stderr, warm.stderr  # loaded, not compiled again
    registry = copies[1] / "kernels" / "registry.py"
    registry.write_text(registry.read_text() + "\n# edited: no jitted code here\n")
    assert "compiling" not in run(copies[1], tmp_path).stderr  # still the same machine code
    (copies[1] / "kernels" / "activations.py").write_text(
        (copies[1] / "kernels" / "activations.py").read_text() + "\n# edited\n"
    )
    edited = run(copies[1], tmp_path)  # other sources: other code, compiled afresh
    assert "fastnn: compiling" in edited.stderr


def test_save_into_a_missing_directory_names_it_and_files_follow_the_umask(tmp_path):
    net = Network([FCLayer(2, 2, rng=0)])
    with pytest.raises(FileNotFoundError) as info:
        net.save(tmp_path / "missing" / "model.npz")
    assert str(tmp_path / "missing") in str(info.value) and ".fastnn-" not in str(info.value)
    old = os.umask(0o027)
    try:
        net.save(tmp_path / "model.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o640  # as open() would create it


def test_load_tells_a_npy_array_and_random_bytes_from_a_model(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"a \.npy array, not a saved model"):
        Network.load(tmp_path / "x.npy")
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match=r"not an \.npz archive") as info:
        Network.load(tmp_path / "noise.npz")
    assert "pickle" not in str(info.value)


def test_every_file_with_jitted_code_keys_the_cache():
    """An edit to any file that compiles code must change the cache key, subpackages included
    (fastnn/ops was once left out: edited steps ran stale machine code)."""
    from kernels import cache

    files = [p for package in ("kernels", "fastnn") for p in (ROOT / package).rglob("*.py")]
    jitted = {p.resolve() for p in files if re.search(r"^\s*@jit\b", p.read_text(), re.M)}
    assert jitted, "no jitted sources found"
    assert jitted <= set(cache.jitted_sources())
    assert ROOT / "kernels" / "config.py" in cache.jitted_sources()  # how they compile
    assert any(p.parent.name == "ops" for p in jitted)


def test_the_machines_core_count_keys_the_cache(monkeypatch):
    """kernels.dense's block count and the convolutions' parts are constants sized by the cores and
    compiled in: a cache shared by machines with other counts must keep their code apart."""
    from kernels import cache

    monkeypatch.setattr(cache, "_HASH", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    two = cache.sources_hash()
    monkeypatch.setattr(cache, "_HASH", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert cache.sources_hash() != two
    monkeypatch.setattr(cache, "_HASH", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)  # the same constants as 8 cores: the same code
    eight = cache.sources_hash()
    monkeypatch.setattr(cache, "_HASH", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert cache.sources_hash() == eight


def _numba_files_beside_the_sources() -> list[Path]:
    return sorted(p for package in ("kernels", "fastnn") for p in (ROOT / package).rglob("*.nb[ic]"))


def test_an_unwritable_cache_is_named_in_one_line_and_nothing_is_written_beside_the_sources(tmp_path):
    """Found by a newcomer: with FASTNN_CACHE_DIR unwritable, numba's fallback wrote 158 files into
    kernels/__pycache__ (site-packages, for an installed fastnn) while the notice said "cached in"."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = blocker / "cache"  # under a regular file: no one, root included, can create it
    before = _numba_files_beside_the_sources()
    env = {**os.environ, "FASTNN_CACHE_DIR": str(unwritable)}
    env.pop("FASTNN_QUIET", None)
    code = "import numpy as np, kernels; print(kernels.relu(np.array([-1.0, 2.0])).tolist())"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[0.0,", "2.0]"]
    named = [line for line in proc.stderr.splitlines() if str(unwritable) in line]
    assert named[0] == f"fastnn: cannot write {unwritable}: compiled code is not cached; set FASTNN_CACHE_DIR"
    assert all("cached in" not in line for line in proc.stderr.splitlines()), proc.stderr
    assert _numba_files_beside_the_sources() == before
    assert not unwritable.exists()


def test_code_compiled_at_install_seeds_an_empty_cache(tmp_path):
    """The package build leaves machine code in fastnn/_compiled/<hash> (setup.py runs
    fastnn.precompile); a process with an empty cache copies it there and compiles nothing -- unless
    FASTNN_PRECOMPILED=0, or the sources differ (another hash)."""
    copy = tmp_path / "installed"
    for package in ("kernels", "fastnn"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__", "_compiled"))

    def run(cache, **extra):
        env = {**os.environ, "FASTNN_CACHE_DIR": str(cache), "PYTHONPATH": str(copy), **extra}
        for name in ("NUMBA_CACHE_DIR", "FASTNN_QUIET"):
            env.pop(name, None)
        proc = subprocess.run([sys.executable, "-c", COMPILE_ONE], capture_output=True, text=True, env=env, cwd=copy)
        assert proc.returncode == 0, proc.stderr
        return proc

    build = tmp_path / "build-cache"
    assert "fastnn: compiling" in run(build, FASTNN_PRECOMPILED="0").stderr  # what the build does
    (stamp,) = build.iterdir()
    shutil.copytree(stamp, copy / "fastnn" / "_compiled" / stamp.name, ignore=shutil.ignore_patterns("*.lock"))
    fresh = tmp_path / "user-cache"
    seeded = run(fresh)
    assert "compiling" not in seeded.stderr, seeded.stderr
    assert (fresh / stamp.name / ".seeded").exists() and any((fresh / stamp.name).rglob("*.nbi"))
    assert "fastnn: compiling" in run(tmp_path / "other-cache", FASTNN_PRECOMPILED="0").stderr
