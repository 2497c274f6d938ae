"""1 vs 2 MPI processes on the digits CNN: time per epoch, speedup, share of time in the Allreduce.

    python benchmarks/mpi_scaling.py [--epochs 10] [--batch-size 32 256 1024]

Launches ``mpiexec -n 1`` and ``mpiexec -n 2`` of itself with one numba thread and one BLAS thread
per process (so two processes use the two cores, not four threads on two cores).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def worker(epochs: int, batch_size: int) -> None:
    import numpy as np
    from mpi4py import MPI

    from fastnn.examples import EXAMPLES

    comm = MPI.COMM_WORLD
    ex = EXAMPLES["digits"]
    x, y, _, _ = ex.load(0)
    x = x.astype(np.float32)
    net = ex.build(0).astype(np.float32)
    net.fit(
        x,
        y,
        epochs=1,
        batch_size=batch_size,
        optimizer="adam",
        learning_rate=0.01,
        shuffle=True,
        seed=0,
        verbose=False,
        comm=comm,
    )  # warm-up: compile, load caches
    comm.Barrier()
    start = time.perf_counter()
    net.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        learning_rate=0.01,
        shuffle=True,
        seed=1,
        verbose=False,
        comm=comm,
    )
    seconds = time.perf_counter() - start
    stats = net.distributed_stats
    # The Allreduce alone, on a buffer of the same size, after a barrier: its own cost without waiting for a
    # slower rank.
    buffer = np.zeros(sum(p.size for p in net.parameters()) + 4, dtype=np.float32)
    comm.Barrier()
    t = time.perf_counter()
    for _ in range(200):
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
    pure = (time.perf_counter() - t) / 200
    if comm.Get_rank() == 0:
        print(
            json.dumps(
                {
                    "ranks": comm.Get_size(),
                    "epoch_s": seconds / epochs,
                    "steps": stats.steps,
                    "allreduce_share": stats.allreduce_seconds / seconds,
                    "allreduce_us": pure * 1e6,
                    "buffer_bytes": buffer.nbytes,
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 256, 1024])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.epochs, args.batch_size[0])
        return
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("needs mpiexec: pip install '.[mpi]'")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    print(
        f"digits CNN (1,347 training images), float32, Adam, {args.epochs} epochs; 1 numba + 1 BLAS thread per process"
    )
    print(
        f"{'batch':>6} {'processes':>9} {'ms/epoch':>9} {'speedup':>8} {'steps':>6} {'allreduce share':>16} "
        f"{'one allreduce':>14} {'bytes':>7}"
    )
    for batch in args.batch_size:
        rows = []
        for ranks in (1, 2):
            proc = subprocess.run(
                [
                    mpiexec,
                    "-n",
                    str(ranks),
                    sys.executable,
                    __file__,
                    "--worker",
                    "--epochs",
                    str(args.epochs),
                    "--batch-size",
                    str(batch),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        base = rows[0]["epoch_s"]
        for r in rows:
            print(
                f"{batch:>6} {r['ranks']:>9} {r['epoch_s'] * 1e3:>9.1f} {base / r['epoch_s']:>7.2f}x "
                f"{r['steps']:>6} {r['allreduce_share']:>15.1%} {r['allreduce_us']:>11.1f} us "
                f"{r['buffer_bytes']:>7}"
            )


if __name__ == "__main__":
    main()
