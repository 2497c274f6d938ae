"""kernels.correlate2d / convolve2d as drop-ins for scipy.signal's: the same signature and defaults,
scipy's results for every mode x boundary x dtype, scipy's exception types -- and scipy's own 2-D
convolution tests, run unchanged against fastnn's functions."""

import inspect
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import scipy
from scipy import signal

import kernels as K
from kernels import reference as R

MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]
ROOT = Path(__file__).resolve().parent.parent
SCIPY_TESTS = Path(scipy.__file__).parent / "signal" / "tests" / "test_signaltools.py"
# scipy's tests that pass complex arrays: fastnn refuses complex input with a TypeError.
COMPLEX_TESTS = {
    "TestConvolve2d::test_valid_mode_complx[numpy]",
    "TestConvolve2d::test_valid_mode2[numpy]",
    "TestCorrelate2d::test_complex_input[numpy]",
}
# Indexing past 2**31 elements (a 2 GB strided view, ~6 GB and ~20 s here, mostly allocation):
# scipy marks it slow; it runs when FASTNN_SLOW_TESTS=1.
LARGE = "TestConvolve2d::test_large_array[numpy]"


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
def test_signature_and_defaults_are_scipys(name):
    theirs = inspect.signature(getattr(signal, name)).parameters
    for func in (getattr(K, name), getattr(R, name)):
        ours = inspect.signature(func).parameters
        assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]


def test_the_default_is_full_mode_as_in_scipy():
    a, b = [[1, 2, 3], [3, 4, 5]], [[2, 3, 4], [4, 5, 6]]
    np.testing.assert_array_equal(K.convolve2d(a, b), signal.convolve2d(a, b))  # (3, 5), not [[62.]]
    np.testing.assert_array_equal(K.correlate2d(a, b), signal.correlate2d(a, b))
    assert K.convolve2d(a, b).shape == (3, 5)


def _kernel_shapes(h, w):
    return {"smaller": (max(h - 2, 1), max(w - 3, 1)), "equal": (h, w), "larger": (2 * h + 1, w + 4)}


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_every_mode_and_boundary_matches_scipy(name, mode, boundary, dtype):
    rng = np.random.default_rng(hash((name, mode, boundary)) % 2**32)
    ours, theirs = getattr(K, name), getattr(signal, name)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for h, w in ((1, 1), (5, 7), (9, 4)):
        for size, (kh, kw) in _kernel_shapes(h, w).items():
            if mode == "valid" and size == "larger" and kh < h:
                continue
            a = rng.standard_normal((h, w)).astype(dtype)
            k = rng.standard_normal((kh, kw)).astype(dtype)
            fill = float(rng.standard_normal()) if boundary == "fill" else 0
            expected = theirs(a, k, mode, boundary, fill)
            got = ours(a, k, mode, boundary, fill)
            assert got.dtype == dtype and got.shape == expected.shape, (size, got.shape, expected.shape)
            assert np.max(np.abs(got - expected)) <= tol * max(np.max(np.abs(expected)), 1.0), (h, w, size)


@pytest.mark.parametrize("name", ["correlate2d", "convolve2d"])
def test_integer_inputs_give_scipys_values_as_float64(name):
    rng = np.random.default_rng(0)
    a, k = rng.integers(-9, 9, (6, 5)), rng.integers(-9, 9, (4, 3))
    for mode in MODES:
        for boundary in BOUNDARIES:
            for fill in (0, 2, 1.5, -2.7):  # scipy fills integer inputs with int(fill): 1.5 -> 1
                got = getattr(K, name)(a, k, mode, boundary, fill)
                assert got.dtype == np.float64
                np.testing.assert_array_equal(got, getattr(signal, name)(a, k, mode, boundary, fill))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "FULL"},
        {"mode": 2},
        {"boundary": "reflect"},
        {"boundary": "FILL"},
        {"fillvalue": 1j},
        {"fillvalue": 1 + 0j},
        {"fillvalue": [1, 2]},
        {"fillvalue": []},
        {"fillvalue": "x"},
    ],
)
def test_scipys_invalid_arguments_raise_the_same_exception_type(kwargs):
    a, b = np.ones((3, 3)), np.ones((2, 2))
    with pytest.raises(ValueError):
        signal.convolve2d(a, b, **kwargs)
    for func in (K.convolve2d, K.correlate2d):
        with pytest.raises(ValueError) as info:
            func(a, b, **kwargs)
        assert next(iter(kwargs)) in str(info.value)


def test_complex_input_is_refused_with_a_clear_message():
    with pytest.raises(TypeError, match=r"in1 must hold real numbers.*complex"):
        K.convolve2d(np.ones((2, 2)) * 1j, np.ones((2, 2)))


def _outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """test id (Class::test[param]) -> (outcome, message) from a junit report."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        key = case.get("classname").rsplit(".", 1)[-1] + "::" + case.get("name")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = tag, (node.get("message") or "") + (node.text or "")
        results[key] = (outcome, message)
    return results


def test_scipys_own_2d_convolution_tests_pass_against_fastnn(tmp_path):
    """scipy installs its tests with itself: run TestConvolve2d and TestCorrelate2d from that file,
    unchanged, with scipy.signal.convolve2d/correlate2d replaced by fastnn's (tests/scipy_dropin.py)."""
    assert SCIPY_TESTS.exists(), f"this scipy was installed without its tests ({SCIPY_TESTS})"
    junit = tmp_path / "scipy.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.scipy_dropin",
        "-p",
        "no:cacheprovider",
        f"--rootdir={SCIPY_TESTS.parents[2]}",
        f"--junitxml={junit}",
        "-q",
        f"{SCIPY_TESTS}::TestConvolve2d",
        f"{SCIPY_TESTS}::TestCorrelate2d",
    ]
    if os.environ.get("FASTNN_SLOW_TESTS") != "1":
        cmd += ["-k", f"not {LARGE.split('::')[1].split('[')[0]}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert junit.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = _outcomes(junit)
    failed = {key for key, (outcome, _) in results.items() if outcome != "passed"}
    assert failed == COMPLEX_TESTS, proc.stdout[-5000:]
    for key in COMPLEX_TESTS:
        assert "TypeError" in results[key][1] and "complex" in results[key][1]
    passed = set(results) - failed
    assert len(passed) >= 17, sorted(passed)  # every other 2-D test scipy ships
    assert (LARGE in passed) == (os.environ.get("FASTNN_SLOW_TESTS") == "1")
