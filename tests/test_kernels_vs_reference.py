"""Every registry kernel against its numpy/scipy twin: random shapes, both dtypes, three layouts."""

import inspect

import numpy as np
import pytest

import kernels
from kernels import reference, validate
from kernels.registry import REGISTRY

CASES = 30  # per kernel and dtype; seeds cycle through C, Fortran and strided inputs


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_matches_reference(entry, dtype):
    results = validate.run([entry], cases=CASES, dtypes=[dtype])
    failures = [f"seed {r.seed} ({r.layout}): {r.problem}" for r in results if not r.ok]
    assert not failures, f"{entry.name} {dtype}:\n" + "\n".join(failures)


def test_registry_covers_every_public_kernel_with_a_twin():
    assert {e.kernel_name for e in REGISTRY} == set(kernels.__all__)
    for e in REGISTRY:  # variants ("correlate2d/wrap") call the same kernel and twin
        assert e.kernel is getattr(kernels, e.kernel_name) and e.reference is getattr(reference, e.kernel_name)
    for name in kernels.__all__:
        kernel, twin = getattr(kernels, name), getattr(reference, name)
        assert list(inspect.signature(kernel).parameters) == list(inspect.signature(twin).parameters), name
        defaults = [p.default for p in inspect.signature(kernel).parameters.values()]
        assert defaults == [p.default for p in inspect.signature(twin).parameters.values()], name


def test_compare_detects_a_wrong_kernel():
    """The harness must be able to fail: a kernel off by one ulp-scaled amount too many is caught."""
    twin = [np.array([1.0, 2.0, 3.0])]
    assert validate.compare([twin[0] + 1e-9], twin, np.dtype(np.float64))[1] > validate.TOLERANCE[np.dtype(np.float64)]
    assert validate.compare([twin[0].astype(np.float32)], twin, np.dtype(np.float64))[2]  # dtype mismatch
    assert validate.compare([np.array([1.0, np.nan, 3.0])], twin, np.dtype(np.float64))[2]  # NaN placement
    assert validate.compare([np.array([0, 2])], [np.array([0, 1])], np.dtype(np.float64))[2]  # integer outputs


@pytest.mark.parametrize("layout", validate.LAYOUTS)
def test_relayout_keeps_values(layout, rng):
    a = rng.standard_normal((3, 4, 5))
    b = validate.relayout(a, layout)
    assert np.array_equal(a, b)
    assert b.flags.c_contiguous == (layout == "C")
