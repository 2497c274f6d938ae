"""The seed programs in examples/, adapted only in their imports, reproduce the seeds' numbers."""

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quiet(func, *args, **kwargs):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = func(*args, **kwargs)
    return result, buf.getvalue()


def test_seed000_xor_prints_the_seeds_final_error():
    (_, out), printed = _quiet(_load("seed000_xor").main)
    lines = printed.splitlines()
    assert lines[999] == "epoch 1000/1000   error=0.000242"
    assert np.array_equal(np.round(np.concatenate(out).ravel()), [0, 1, 1, 0])


def test_seed000_conv_trains():
    _, printed = _quiet(_load("seed000_conv").main, epochs=10)
    errors = [float(line.split("=")[1]) for line in printed.splitlines()]
    assert len(errors) == 10 and errors[-1] < errors[0]


def test_seed001_xor_with_bce_converges():
    (_, history), _ = _quiet(_load("seed001_xor_bce").main)
    assert history["loss"][-1] < 1e-3
    assert history["accuracy"][-1] == 1.0


@pytest.mark.slow
def test_seed003_make_moons_reaches_the_seeds_accuracy():
    # On one of numba's threads: its 10,000 full-batch epochs start 140,000 two-thread regions (its
    # products' blocks), which beside the other pytest-xdist worker's tests took 50 s instead of 9.
    import numba

    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        (_, _, accuracy), printed = _quiet(_load("seed003_moons").main)
    finally:
        numba.set_num_threads(saved)
    assert accuracy >= 0.97
    assert "Test set accuracy" in printed


def test_seed004_neuron_feedforward_and_gender():
    module = _load("seed004_neuron")
    assert module.neuron() == pytest.approx(0.9990889, abs=1e-6)  # sigmoid(7), printed 0.999 in the seed
    assert module.feedforward() == pytest.approx(0.7216325, abs=1e-6)
    emily, frank, history = module.gender()
    assert emily > 0.9 and frank < 0.1
    assert history["loss"][-1] < 0.01
