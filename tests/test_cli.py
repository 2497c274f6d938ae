"""``python -m fastnn``: every example, the outputs it writes, and clear errors for bad use."""

import re
import subprocess
import sys

import numpy as np
import pytest


def _run(*args, cwd=None, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "fastnn", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def _accuracy(stdout):
    return float(re.search(r"test accuracy: ([0-9.]+)", stdout).group(1))


def test_default_command_trains_digits_to_95_percent_and_writes_the_plot(tmp_path):
    proc = _run(cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fastnn train: digits" in proc.stdout
    assert _accuracy(proc.stdout) >= 0.95
    assert "confusion matrix" in proc.stdout and "per epoch" in proc.stdout
    png = tmp_path / "fastnn-digits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 200


@pytest.mark.parametrize(
    "example,epochs,minimum",
    [("digits-mlp", "10", 0.9), ("moons", "40", 0.9), ("xor", "1000", 1.0), ("digits", "3", 0.8)],
)
def test_every_example_trains(tmp_path, example, epochs, minimum):
    plot = tmp_path / "curve.png"
    proc = _run(
        "train", "--example", example, "--epochs", epochs, "--plot", str(plot), "--dtype", "float64", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _accuracy(proc.stdout) >= minimum
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_save_then_predict(tmp_path):
    model = tmp_path / "model.npz"
    proc = _run("train", "--example", "digits-mlp", "--epochs", "5", "--no-plot", "--save", str(model), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.save(tmp_path / "x.npy", (digits.images[:20] / 16.0).reshape(20, 64).astype(np.float32))
    proc = _run("predict", "--model", str(model), "--input", str(tmp_path / "x.npy"))
    assert proc.returncode == 0, proc.stderr
    predicted = [int(m) for m in re.findall(r"class (\d)", proc.stdout)]
    assert len(predicted) == 20 and np.mean(np.array(predicted) == digits.target[:20]) >= 0.8
    proc = _run(
        "predict", "--model", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "out.npy")
    )
    assert proc.returncode == 0 and np.load(tmp_path / "out.npy").shape == (20, 10)
    raw = digits.images[:5].reshape(5, 64).astype(np.float32)  # scikit-learn's 0-16 pixels, unscaled
    np.save(tmp_path / "raw.npy", raw)
    proc = _run("predict", "--model", str(model), "--input", str(tmp_path / "raw.npy"))
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("fastnn predict: warning: input values span [0, 16], far outside [0, 1]")
    raw[2, 5] = np.nan
    np.save(tmp_path / "nan.npy", raw)
    proc = _run("predict", "--model", str(model), "--input", str(tmp_path / "nan.npy"))
    assert proc.returncode == 2 and "NaN or infinite values in 1 sample(s), the first at index 2" in proc.stderr


def test_compare_reference_prints_the_speedup(tmp_path):
    proc = _run("train", "--example", "digits-mlp", "--epochs", "2", "--no-plot", "--compare-reference")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"reference path .* ms per epoch; fastnn is [0-9.]+x faster", proc.stdout)


@pytest.mark.slow
def test_validate_passes_and_prints_the_table():
    proc = _run("validate", "--cases", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conv2d_backward" in proc.stdout and "float32" in proc.stdout and "FAIL" not in proc.stdout
    assert "0 failed" in proc.stdout


def _garbage(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a model at all")
    return str(path)


def _npy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 64)))
    return str(path)


def _truncated(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez(path, a=np.zeros(1000))
    path.write_bytes(path.read_bytes()[:300])
    return str(path)


def _plain_npz(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.zeros(3))
    return str(path)


@pytest.mark.parametrize(
    "args,message",
    [
        (lambda p: ["train", "--example", "imagenet"], "invalid choice: 'imagenet'"),
        (lambda p: ["train", "--epochs", "-1"], "must be >= 0"),
        (lambda p: ["train", "--batch-size", "0"], "must be >= 1"),
        (lambda p: ["train", "--lr", "nan"], "finite number > 0"),
        (lambda p: ["train", "--plot", str(p / "missing" / "c.png")], "does not exist"),
        (lambda p: ["train", "--plot", "/proc/curve.png"], "not writable"),
        (lambda p: ["train", "--save", str(p / "missing" / "m.npz")], "does not exist"),
        (lambda p: ["predict", "--model", str(p / "none.npz"), "--input", "x.npy"], "no such file"),
        (lambda p: ["predict", "--model", _garbage(p), "--input", _garbage(p)], "not a valid fastnn model"),
        (lambda p: ["predict", "--model", _plain_npz(p), "--input", _garbage(p)], "no fastnn header"),
        (lambda p: ["validate", "--kernel", "nope"], "unknown kernel"),
        (lambda p: ["predict", "--model", _npy(p), "--input", _npy(p)], "a .npy array, not a saved model"),
        (lambda p: ["predict", "--model", _truncated(p), "--input", _npy(p)], "damaged or truncated"),
        (lambda p: ["train", "--plot", str(p / "curve.xyz")], "unknown image format 'xyz'"),
        (lambda p: ["trian"], "invalid choice: 'trian'"),
        (lambda p: ["validate", "--cases", "0"], "must be >= 1, got 0"),
        (lambda p: ["validate", "--cases", "-3"], "must be >= 1, got -3"),
    ],
)
def test_bad_use_is_a_message_not_a_traceback(tmp_path, args, message):
    proc = _run(*args(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, no usage dump
    assert "fastnn train:" not in proc.stdout  # refused before any training


def _digits_npz(path, **changes):
    """A file in the layout of Keras's mnist.npz, made from scikit-learn's digits (uint8 0-255)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.minimum(d.images * 16, 255).astype(np.uint8)
    arrays = {"x_train": images[:1400], "y_train": d.target[:1400], "x_test": images[1400:], "y_test": d.target[1400:]}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


@pytest.mark.parametrize("model,minimum", [("cnn", 0.85), ("mlp", 0.8)])
def test_train_on_ones_own_npz(tmp_path, model, minimum):
    data = _digits_npz(tmp_path / "mine.npz")
    model_file = tmp_path / "m.npz"
    proc = _run(
        "train",
        "--data",
        data,
        "--model",
        model,
        "--epochs",
        "6",
        "--save",
        str(model_file),
        "--plot",
        str(tmp_path / "c.png"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "uint8 pixels scaled to [0, 1]" in proc.stdout and "confusion matrix" in proc.stdout
    assert _accuracy(proc.stdout) >= minimum
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    x = np.load(data)["x_test"][:10][..., None] / 255.0
    np.save(tmp_path / "x.npy", x)
    proc = _run("predict", "--model", str(model_file), "--input", str(tmp_path / "x.npy"))
    assert proc.returncode == 0 and len(re.findall(r"class \d", proc.stdout)) == 10, proc.stderr


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"y_test": None}, "lacks y_test"),
        ({"y_train": np.zeros(5, dtype=int)}, "5 labels for 1400 images"),
        ({"y_train": np.full(1400, -1)}, "labels must be >= 0"),
        ({"y_train": np.zeros(1400)}, "integer class labels"),
        ({"x_train": np.array([["a"] * 8] * 8, dtype=str)}, "images"),
        ({"x_test": np.zeros((397, 9, 9), np.uint8)}, "differ in size"),
    ],
)
def test_bad_data_files_are_one_line(tmp_path, changes, message):
    proc = _run("train", "--data", _digits_npz(tmp_path / "bad.npz", **changes), "--no-plot", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "fastnn train: mydigits" not in proc.stdout and "epoch" not in proc.stdout


def test_data_that_is_not_an_npz_is_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    for path, message in ((tmp_path / "x.npy", "one array"), (tmp_path / "none.npz", "no such file")):
        proc = _run("train", "--data", str(path), "--no-plot", cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- #28: labels, options, predict files


def _labels_with(base, index, value):
    y = base.copy()
    y[index] = value
    return y


def _digit_labels():
    from sklearn.datasets import load_digits

    return load_digits().target


@pytest.mark.parametrize(
    "changes,extra,message",
    [
        ({"y_train": "stray"}, [], "5000 (1 sample)"),
        ({"y_train": "no fives"}, [], "class 5 has none"),
        ({"y_train": "no nines"}, [], "y_test labels 9 (41 samples) are not among the training classes 0..8"),
        ({"y_test": "twelve"}, [], "y_test labels 12 (1 sample) are not among the training classes 0..9"),
        ({"y_train": "stray"}, ["--classes", "10"], "y_train labels 5000 (1 sample) are not classes 0..9"),
    ],
)
def test_labels_must_be_the_classes_0_to_k(tmp_path, changes, extra, message):
    """One stray label 5000 in a 10-class file once trained a 5,001-output model and exited 0."""
    y = _digit_labels()
    y_train, y_test = y[:1400].copy(), y[1400:].copy()
    if changes.get("y_train") == "stray":
        y_train[7] = 5000
    if changes.get("y_train") == "no fives":
        y_train[y_train == 5] = 4
    if changes.get("y_train") == "no nines":
        y_train[y_train == 9] = 8
    if changes.get("y_test") == "twelve":
        y_test[3] = 12
    data = _digits_npz(tmp_path / "labels.npz", y_train=y_train, y_test=y_test)
    proc = _run("train", "--data", data, "--no-plot", *extra, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_classes_gives_k_when_a_class_has_no_training_sample(tmp_path):
    y = _digit_labels()
    y_train = y[:1400].copy()
    y_train[y_train == 9] = 8
    data = _digits_npz(tmp_path / "nines.npz", y_train=y_train)
    proc = _run(
        "train", "--data", data, "--model", "mlp", "--classes", "10", "--epochs", "1", "--no-plot", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(None, 10)" in proc.stdout  # the summary: ten outputs, as asked


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--model", "mlp"], "--model applies only with --data"),
        (["train", "--classes", "3"], "--classes applies only with --data"),
        (["train", "--example", "xor", "--data", "d.npz"], "--example and --data exclude each other"),
    ],
)
def test_options_that_do_not_apply_are_refused(tmp_path, args, message):
    proc = _run(*args, "--no-plot", cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_mlp_on_feature_vectors_then_predict_raw_pixels_and_files(tmp_path):
    """``--model mlp`` on (N, F) features; a CNN trained on (N, H, W) uint8 predicts from the same
    layout, scaled as training scaled it; --output names the file written; .npz inputs."""
    from sklearn.datasets import load_digits

    d = load_digits()
    features = {
        "x_train": d.data[:1400],
        "y_train": d.target[:1400],
        "x_test": d.data[1400:],
        "y_test": d.target[1400:],
    }
    np.savez(tmp_path / "features.npz", **features)
    proc = _run("train", "--data", str(tmp_path / "features.npz"), "--model", "mlp", "--epochs", "2", "--no-plot")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _accuracy(proc.stdout) >= 0.5

    data = _digits_npz(tmp_path / "pixels.npz")
    model = tmp_path / "cnn.npz"
    proc = _run("train", "--data", data, "--epochs", "2", "--no-plot", "--save", str(model), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    raw = np.load(data)["x_test"][:12]  # (12, 8, 8) uint8, as train --data took it
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "scaled.npy", raw[..., None] / 255.0)
    proc = _run("predict", "--model", str(model), "--input", str(tmp_path / "raw.npy"), "--output", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    assert f"written to {tmp_path / 'a.npy'}" in proc.stdout and "warning" not in proc.stderr
    proc = _run(
        "predict", "--model", str(model), "--input", str(tmp_path / "scaled.npy"), "--output", str(tmp_path / "b.npy")
    )
    assert proc.returncode == 0 and f"written to {tmp_path / 'b.npy'}" in proc.stdout, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))

    np.savez(tmp_path / "one.npz", images=raw)
    proc = _run("predict", "--model", str(model), "--input", str(tmp_path / "one.npz"))
    assert proc.returncode == 0 and len(re.findall(r"class \d", proc.stdout)) == 12, proc.stderr
    np.savez(tmp_path / "two.npz", a=raw, b=raw)
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for name, message in (("two.npz", "holds 2 arrays (a, b)"), ("picture.png", "not a .npy/.npz array file")):
        proc = _run("predict", "--model", str(model), "--input", str(tmp_path / name))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "allow_pickle" not in proc.stderr


def test_bench_marks_targets_of_sides_that_did_not_run_not_run():
    from fastnn import bench

    assert bench.verdict({"torch": (None, 1.0)}) is None
    assert bench.verdict({"reference": (3.0, 1.0), "torch": (None, 20.0)}) is None
    assert bench.verdict({"reference": (0.5, 1.0), "torch": (None, 20.0)}) is False
    assert bench.verdict({"reference": (3.0, 1.0), "torch": (25.0, 20.0)}) is True
    row = {"name": "x", "dtype": "float32", "fastnn_s": 1.0, "targets": {"torch": 1.0}, "met": None}
    assert bench.format_row(row).endswith("not run")


def test_the_plot_process_names_a_file_it_could_not_write(tmp_path):
    """The CLI draws in a child process that imports matplotlib while training runs; its failure
    comes back as one line naming the file (here the directory vanished during training)."""
    from fastnn.plots import PlotProcess

    folder = tmp_path / "gone"
    folder.mkdir()
    plotter = PlotProcess(str(folder / "curve.png"))
    folder.rmdir()
    with pytest.raises(RuntimeError, match=r"cannot write .*curve\.png: FileNotFoundError"):
        plotter.finish({"loss": [1.0, 0.5]}, "t")
    plotter = PlotProcess(str(tmp_path / "curve.png"))
    plotter.finish({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}, "t")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="Linux CPU affinity")
def test_bench_thread_count_holds_every_thread_to_its_cpus():
    """XLA's pool (JAX, the inference anchor) obeys no thread setting: bench pins the process's
    threads to the count's CPUs, on threads started before the block too, and restores them."""
    import os
    import threading

    from fastnn.bench.common import thread_count

    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs two CPUs")
    seen, go, done = {}, threading.Event(), threading.Event()

    def worker():
        go.wait()
        seen["inside"] = os.sched_getaffinity(0)
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    with thread_count(1):
        assert len(os.sched_getaffinity(0)) == 1
        go.set()
        done.wait(10)
    t.join()
    assert len(seen["inside"]) == 1
    assert os.sched_getaffinity(0) == before
