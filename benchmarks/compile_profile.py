"""Where a first fit's compile time goes: per-function compile time of one W1, W2 or W3 fit (float32)
in this process, exclusive of the functions each compile pulls in, longest first.

    FASTNN_CACHE_DIR=$(mktemp -d) FASTNN_PRECOMPILED=0 python benchmarks/compile_profile.py w2
"""

from __future__ import annotations

import collections
import sys
import time

import fastnn
from fastnn.bench import mnist as B
from kernels import config


def main(which: str) -> None:
    numba = config.numba_module()
    stack: list[list] = []
    inclusive, exclusive, count = collections.Counter(), collections.Counter(), collections.Counter()

    class Listener(numba.core.event.Listener):
        def on_start(self, ev):
            d = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            f = getattr(d, "py_func", None)
            stack.append([f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', d)}", time.perf_counter(), 0.0])

        def on_end(self, ev):
            name, start, nested = stack.pop()
            spent = time.perf_counter() - start
            inclusive[name] += spent
            exclusive[name] += spent - nested
            count[name] += 1
            if stack:
                stack[-1][2] += spent

    numba.core.event.register("numba:compile", Listener())
    n, batch = (6400, 128) if which == "w3" else (6400, 64)
    x, y = B.mnist_like(n)
    layers = {"w1": lambda: B._w1(True), "w2": B._w2, "w3": B._mlp}[which]()
    x = x.reshape(n, -1) if which == "w3" else x
    net = fastnn.Network(layers, seed=0).use("cross_entropy")
    started = time.perf_counter()
    net.fit(x, y, epochs=1, batch_size=batch, optimizer="adam", learning_rate=1e-3, shuffle=True, verbose=False)
    print(f"{which}: first fit {time.perf_counter() - started:.1f} s on the {net.last_fit_path} path")
    print(f"{sum(count.values())} compiles, {sum(exclusive.values()):.1f} s compiling")
    for name, seconds in exclusive.most_common(25):
        print(f"  {seconds:6.2f} s own  {inclusive[name]:6.2f} s with callees  x{count[name]}  {name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "w2")
