"""Each registry kernel against its reference twin at the seeds' shapes and larger ones."""

import numpy as np
import pytest

from kernels.registry import REGISTRY

CASES = [(entry, label) for entry in REGISTRY for label in entry.bench]


@pytest.mark.parametrize("impl", ["kernel", "reference"])
@pytest.mark.parametrize("entry,label", CASES, ids=[f"{e.name}[{label}]" for e, label in CASES])
def test_kernel(benchmark, entry, label, impl, dtype):
    args, kwargs = entry.bench[label](np.random.default_rng(0), dtype)
    func = entry.kernel if impl == "kernel" else entry.reference
    func(*args, **kwargs)  # compile outside the timing
    benchmark.group = f"{entry.name}[{label}] {dtype}"
    benchmark(func, *args, **kwargs)
