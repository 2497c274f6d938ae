import numpy as np
import pytest

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_terminal_summary(terminalreporter):
    """Report how many hypothesis examples and kernel-vs-reference comparisons ran."""
    import sys

    module = sys.modules.get("tests.test_properties")
    if module is not None and module.COUNT["examples"]:
        terminalreporter.write_line(
            f"hypothesis: {module.COUNT['examples']} generated examples, "
            f"{module.COUNT['comparisons']} kernel/layer comparisons against kernels.reference"
        )
