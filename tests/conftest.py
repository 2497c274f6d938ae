import os

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


PATHS = ("numpy", "layers", "compiled")


@pytest.fixture(autouse=True)
def _first_fit_of_the_process():
    """Every test starts as a fresh process would: the compiled engine has not run yet (once it has,
    small work takes it too; see fastnn.training.ProcessHistory)."""
    import fastnn.training as training

    training.PROCESS.reset()


@pytest.fixture
def force_path(monkeypatch):
    """``force_path(name)``: every ``fit`` and ``predict`` of the test takes that path -- "numpy" (small
    work's, whatever the size), "layers" (layer by layer) or "compiled" (the engine). A test that
    names a path asserts ``net.last_fit_path`` too: passing on another path is a defect."""
    import fastnn.numpy_path as numpy_path
    import fastnn.training as training

    def force(name: str) -> str:
        assert name in PATHS, name
        monkeypatch.setattr(training.PROCESS, "later_fits_compiled", name != "numpy")
        monkeypatch.setattr(training, "COMPILED_FIT", name != "layers")
        monkeypatch.setattr(numpy_path, "SMALL_WORK_SECONDS", float("inf") if name == "numpy" else 0.0)
        return name

    return force


@pytest.fixture(params=PATHS)
def path(request, force_path):
    """The test once per path (see ``force_path``)."""
    return force_path(request.param)


def pytest_configure(config):
    """With pytest-xdist, one BLAS thread per worker: the workers already fill the cores, and
    OpenBLAS threads of two processes busy-waiting for each other on two cores slowed the BLAS-heavy
    tests several times over (seed 003's 10,000 full-batch epochs: 89 s in the suite, ~20 s alone).
    Results do not depend on it: the kernels' sums are cut the same way at any thread count."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def pytest_collection_modifyitems(items):
    """Long tests first: pytest-xdist workers then share out the short ones and finish together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Counts of the property tests, summed over pytest-xdist's workers when the suite runs on several.
_WORKER_COUNTS = {"examples": 0, "comparisons": 0}


def _own_counts() -> dict:
    import sys

    module = sys.modules.get("tests.test_properties")
    return dict(module.COUNT) if module is not None else {}


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand its counts to the controller
        session.config.workeroutput["property_counts"] = _own_counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for key, value in getattr(node, "workeroutput", {}).get("property_counts", {}).items():
        _WORKER_COUNTS[key] += value


def pytest_terminal_summary(terminalreporter):
    """Report how many hypothesis examples and kernel-vs-reference comparisons ran."""
    counts = {key: _WORKER_COUNTS[key] + _own_counts().get(key, 0) for key in _WORKER_COUNTS}
    if counts["examples"]:
        terminalreporter.write_line(
            f"hypothesis: {counts['examples']} generated examples, "
            f"{counts['comparisons']} kernel/layer comparisons against kernels.reference"
        )
