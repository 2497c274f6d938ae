"""Run under ``mpiexec -n N python -m tests.mpi_worker MODE OUT_DIR``: trains a small CNN on the
digits data-parallel and writes each rank's final weights (tests/test_mpi.py compares them)."""

import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fastnn
from fastnn import distributed


def build(seed=0, batchnorm=False):
    norm = [fastnn.BatchNormLayer(4)] if batchnorm else []
    net = fastnn.Network(
        [
            fastnn.ConvLayer((8, 8, 1), (3, 3), 4, rng=seed),
            *norm,
            fastnn.Tanh(),
            fastnn.FlattenLayer(),
            fastnn.Dense(144, 10, rng=seed + 1),
            fastnn.Softmax(),
        ],
        seed=seed,
    )
    return net.use("cross_entropy")


def data():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:300] / 16.0)[..., None], d.target[:300]


def main(mode, out_dir):
    comm = MPI.COMM_WORLD if mode != "self" else MPI.COMM_SELF
    rank = MPI.COMM_WORLD.Get_rank()
    x, y = data()
    net = build(batchnorm=mode.startswith("batchnorm"))
    if rank == 1 and mode == "fail":

        def callback(epoch, logs):
            raise RuntimeError("simulated failure on rank 1")
    else:
        callback = None
    if mode in ("layers", "batchnorm-layers"):
        import fastnn.training as training_module

        training_module.COMPILED_FIT = False
    history = net.fit(
        x,
        y,
        epochs=3,
        learning_rate=0.05,
        batch_size=32,
        optimizer="adam",
        shuffle=mode != "noshuffle",
        seed=7,
        verbose=True,
        comm=comm,
        callback=callback,
    )
    accuracy = distributed.evaluate(net, x, y, comm)["accuracy"]
    buffers = [getattr(layer, name) for layer in net.layers for name in layer.buffer_names]
    np.savez(
        Path(out_dir) / f"rank{rank}.npz",
        *net.parameters(),
        **{f"buffer{i}": b for i, b in enumerate(buffers)},
        loss=np.array(history["loss"]),
        accuracy=np.array(accuracy),
        compiled=np.array(net.last_fit_compiled),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
