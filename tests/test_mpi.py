"""Data-parallel training over MPI, launched as ``mpiexec -n 2`` subprocesses with a timeout."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install '.[mpi]')")


def _mpirun(ranks, mode, out_dir, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [MPIEXEC, "-n", str(ranks), sys.executable, "-m", "tests.mpi_worker", mode, str(out_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def _weights(path):
    with np.load(path) as data:
        return [data[k] for k in sorted(data.files) if k.startswith("arr_")], data["loss"], data["compiled"]


def _single_process_fit(shuffle):
    from . import mpi_worker

    x, y = mpi_worker.data()
    net = mpi_worker.build()
    history = net.fit(
        x, y, epochs=3, learning_rate=0.05, batch_size=32, optimizer="adam", shuffle=shuffle, verbose=False
    )
    return net.parameters(), history["loss"]


@pytest.mark.slow
def test_two_ranks_match_one_process_and_each_other(tmp_path):
    proc = _mpirun(2, "noshuffle", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("epoch 3/3") == 1  # only rank 0 prints
    w0, loss0, compiled = _weights(tmp_path / "rank0.npz")
    w1, _, _ = _weights(tmp_path / "rank1.npz")
    assert compiled
    for a, b in zip(w0, w1, strict=True):  # replicas stay bit-identical
        np.testing.assert_array_equal(a, b)
    single, single_loss = _single_process_fit(shuffle=False)  # plain fit, global batch 32, no MPI at all
    for a, b in zip(w0, single, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(loss0, single_loss, rtol=1e-10)


def test_shuffled_two_ranks_match_one_rank_and_the_layer_path(tmp_path):
    for ranks, mode, sub in ((2, "shuffle", "two"), (1, "self", "one"), (2, "layers", "layers")):
        out = tmp_path / sub
        out.mkdir()
        proc = _mpirun(ranks, mode, out)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    two, one, layers = (_weights(tmp_path / sub / "rank0.npz") for sub in ("two", "one", "layers"))
    assert not layers[2]  # the layer-by-layer path really ran
    for a, b, c in zip(two[0], one[0], layers[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-10)
    for a, b in zip(two[0], _weights(tmp_path / "two" / "rank1.npz")[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_exception_on_one_rank_ends_all_ranks_with_its_message(tmp_path):
    proc = _mpirun(2, "fail", tmp_path, timeout=300)  # a hang would hit the timeout and fail the test
    assert proc.returncode != 0
    assert "fastnn rank 1 of 2: RuntimeError: simulated failure on rank 1" in proc.stderr
    assert not (tmp_path / "rank0.npz").exists()


def test_batchnorm_replicas_agree_on_parameters_and_running_statistics(tmp_path):
    """Each rank normalises its shard by the shard's statistics; gradients are averaged and the
    running statistics averaged after every epoch, so both ranks end with the same model -- on the
    compiled path and layer by layer alike."""
    for mode in ("batchnorm", "batchnorm-layers"):
        out = tmp_path / mode
        out.mkdir()
        proc = _mpirun(2, mode, out)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ranks = [np.load(out / f"rank{r}.npz") for r in (0, 1)]
        assert bool(ranks[0]["compiled"]) is (mode == "batchnorm")
        names = sorted(k for k in ranks[0].files if k.startswith(("arr_", "buffer")))
        assert {"buffer0", "buffer1"} <= set(names)
        for k in names:
            np.testing.assert_array_equal(ranks[0][k], ranks[1][k])
        assert not np.allclose(ranks[0]["buffer0"], 0.0)  # the running mean moved
