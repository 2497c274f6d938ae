"""Bad input raises ValueError/TypeError naming the argument, before any compiled code runs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kernels as K

from .bad_cases import CASES, A, W, problem


@pytest.mark.parametrize("name,call,exc,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_with_a_message(name, call, exc, words):
    assert problem(call, exc, words) is None, problem(call, exc, words)


BAD_DTYPES = {
    "complex": np.ones((4, 4), dtype=complex),
    "object": np.array([[None] * 4] * 4, dtype=object),
    "string": np.array([["a"] * 4] * 4),
}


@pytest.mark.parametrize("kind", BAD_DTYPES)
@pytest.mark.parametrize(
    "call",
    [
        lambda a: K.matmul(a, A),
        lambda a: K.correlate2d(A, a),
        lambda a: K.tanh(a),
        lambda a: K.relu_backward(A, a),
        lambda a: K.mse(A, a),
        lambda a: K.sgd_step(np.ones((4, 4)), a, 0.1),
    ],
    ids=["matmul", "correlate2d", "tanh", "relu_backward", "mse", "sgd_step"],
)
def test_non_real_dtypes_raise_type_error(call, kind):
    with pytest.raises(TypeError, match="real numbers"):
        call(BAD_DTYPES[kind])


@pytest.mark.parametrize(
    "call",
    [
        lambda: K.matmul(np.ones((0, 3)), np.ones((3, 2))),
        lambda: K.tanh(np.array([])),
        lambda: K.conv2d_forward(np.ones((0, 5, 5, 3)), W, np.ones(4)),
        lambda: K.mse(np.array([]), np.array([])),
    ],
)
def test_empty_arrays_raise(call):
    with pytest.raises(ValueError, match="must not be empty"):
        call()


def test_read_only_parameter_is_refused():
    p = np.ones(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="param must be writeable"):
        K.sgd_step(p, np.ones(3), 0.1)


def test_state_sharing_memory_with_param_is_refused():
    p = np.ones(6)
    with pytest.raises(ValueError, match="velocity must not share memory with param"):
        K.momentum_step(p[:3], np.ones(3), p[1:4], 0.1, 0.9)


def test_every_bad_case_in_a_fresh_interpreter():
    """All cases in one new process: a crash (an out-of-bounds write) would end it with a signal."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bad_cases"], capture_output=True, text=True, timeout=900, cwd=root, env=env
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{len(CASES)} cases, 0 wrong" in proc.stdout
