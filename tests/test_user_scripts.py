"""Scripts written the way the tutorials' readers write them (tests/scripts/), run twice: as written,
against fastnn, and with only their import block swapped for the seed's own numpy classes
(fastnn.seeds.seed000). Both runs must print the same lines and end with the same weights.

The scripts cover both published API versions of seed 000, plain lists of per-sample arrays,
conv-shaped targets, and Keras-style float32 MNIST data (scikit-learn's digits padded to 28x28).
"""

import contextlib
import io
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.seeds import seed000 as S

SCRIPTS = Path(__file__).parent / "scripts"

_V1 = "from fastnn.seeds.seed000 import ActivationLayer, FCLayer, Network, tanh, tanh_prime, mse, mse_prime\n"
_V2 = (
    "from fastnn.seeds.seed000 import ActivationLayerV2 as ActivationLayer, FCLayerV2 as FCLayer\n"
    "from fastnn.seeds.seed000 import Network, tanh, tanh_prime, mse, mse_prime\n"
)
_CONV = "from fastnn.seeds.seed000 import FixedConvLayer as ConvLayer, FlattenLayer\n"
# script -> (the seed's import block, the np.random seed both runs start from)
CASES = {
    "xor_v1.py": (_V1, 4051),
    "xor_v2_lists.py": (_V2, 4051),
    "conv_targets.py": (_V1 + _CONV, 1),
    "mnist_fc.py": (_V2, 0),
    "mnist_conv.py": (_V2 + _CONV, 0),
}


def swap_imports(text: str, block: str) -> str:
    """The script with its import block replaced by ``block``; nothing of fastnn's may remain but the seeds."""
    head, rest = text.split("# -- imports --\n")
    imports, tail = rest.split("# -- end imports --\n")
    assert "fastnn" in imports and "fastnn" not in head + tail, "the script's fastnn imports must all be in its block"
    return head + block + tail


def run_script(path: Path, seed: int) -> tuple[str, dict]:
    """Run a script in this process from its own directory's imports; (stdout, its globals)."""
    np.random.seed(seed)
    out = io.StringIO()
    sys.path.insert(0, str(SCRIPTS))
    try:
        with contextlib.redirect_stdout(out):
            scope = runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.path.remove(str(SCRIPTS))
    return out.getvalue(), scope


def parameters(net) -> list[np.ndarray]:
    return [
        np.asarray(getattr(layer, name)) for layer in net.layers for name in ("weights", "bias") if hasattr(layer, name)
    ]


def max_relative_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y)) / np.max(np.abs(y))) for x, y in zip(a, b, strict=True))


def same_printout(a: str, b: str, rel: float) -> bool:
    """The same lines word for word, numbers equal within ``rel`` of each other (0: the same text)."""
    if rel == 0.0:
        return a.splitlines() == b.splitlines()
    number = r"([-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?)"
    words_a, words_b = re.split(number, a), re.split(number, b)
    if len(words_a) != len(words_b):
        return False
    for u, v in zip(words_a, words_b, strict=True):
        if u == v:
            continue
        try:
            fu, fv = float(u), float(v)
        except ValueError:
            return False
        if abs(fu - fv) > rel * max(abs(fu), abs(fv)):
            return False
    return True


def test_same_printout_tells_a_digit_from_a_word():
    assert same_printout("x = 0.40542258\n", "x = 0.40542259\n", 1e-6)
    assert not same_printout("x = 0.40542258\n", "x = 0.40542259\n", 0.0)
    assert not same_printout("x = 0.405\n", "x = 0.406\n", 1e-6)
    assert not same_printout("error=0.1\n", "loss=0.1\n", 1e-6)


@pytest.mark.parametrize("script", sorted(CASES))
def test_script_matches_the_seed_classes(script, tmp_path):
    block, seed = CASES[script]
    text = (SCRIPTS / script).read_text()
    seed_file, control_file = tmp_path / script, tmp_path / f"libm_{script}"
    seed_file.write_text(swap_imports(text, block))
    control_file.write_text(swap_imports(text, block + "from libm_tanh import tanh, tanh_prime\n"))

    seed_out, seed_scope = run_script(seed_file, seed)
    ours_out, ours_scope = run_script(SCRIPTS / script, seed)
    _, control_scope = run_script(control_file, seed)
    theirs = parameters(seed_scope["net"])
    # The comparison below is only meaningful on a well-conditioned run: the seed's own code must
    # end (nearly) where it did when its tanh differs by an ulp here and there.
    assert max_relative_difference(parameters(control_scope["net"]), theirs) <= 1e-10

    ours = ours_scope["net"]
    assert isinstance(seed_scope["net"], S.Network) and isinstance(control_scope["net"], S.Network)
    assert isinstance(ours, fastnn.Network)
    # Small scripts train in numpy (fastnn.numpy_path), larger ones in the compiled engine.
    assert ours.last_fit_path in ("numpy", "compiled"), ours.last_fit_path
    mine = parameters(ours)
    exact = ours.last_fit_path == "numpy" and not any(isinstance(layer, fastnn.ConvLayer) for layer in ours.layers)
    # every epoch line and the printed predictions: the same text, and the same numbers -- to the
    # last digit where the weights are bit-equal (below), else to the weights' own 1e-8 (a
    # convolution's sums run in BLAS's order, which differs between CPUs: on an AMD EPYC one printed
    # prediction of mnist_conv.py differs by 7e-8 relative in its 8th digit)
    assert same_printout(ours_out, seed_out, 0.0 if exact else 1e-6)
    assert [p.shape for p in mine] == [p.shape for p in theirs]
    assert all(a.dtype == b.dtype == np.float64 for a, b in zip(mine, theirs, strict=True))
    assert max_relative_difference(mine, theirs) <= 1e-8
    if exact:
        # a dense network on the numpy path computes the seed's own expressions: its numbers, bit for bit
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
