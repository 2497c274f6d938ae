"""The speed-target rows of ``python -m fastnn bench``: fastnn, its reference and PyTorch (when
installed) in one pytest-benchmark group per row."""

import pytest

from fastnn import bench

ROWS = bench.rows()
IMPLS = ["fastnn", "reference", "torch"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("row", ROWS, ids=[f"{r.name} {r.dtype}" for r in ROWS])
def test_target(benchmark, row, impl):
    make = getattr(row, impl)
    if make is None:
        missing = impl == "torch" and bench.torch is None
        pytest.skip("torch is not installed (the bench extra)" if missing else f"no {impl} version of this row")
    benchmark.group = f"{row.name} [{row.dtype}]"
    run = make()
    run()  # compile / warm up outside the timing
    if row.fresh:  # training rows start from fresh weights every round
        holder = {}

        def setup():
            holder["run"] = make()

        benchmark.pedantic(lambda: holder["run"](), setup=setup, rounds=5, warmup_rounds=0)
    else:
        benchmark(run)
