"""Benchmarks: run with ``python -m pytest benchmarks`` (not part of the default test run).

Every benchmark warms up (compiles) before pytest-benchmark starts timing, kernel and reference
sit in the same group, and both get identical inputs of the same dtype.
"""

import numpy as np
import pytest

try:
    import torch
except ImportError:  # the bench extra is optional
    torch = None


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=5, max_time=0.5))
