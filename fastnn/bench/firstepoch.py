"""Whole processes to the end of their first epoch (issue 26): what a user waits for when running a
training script. Each script imports, builds its data and network, and trains one epoch in float32.

fastnn runs three ways -- with an empty compile cache on this install (its install-time compiled
code is copied in, as on a fresh machine), warm (the cache as that run left it), and with an empty
cache and no install-time code (``FASTNN_PRECOMPILED=0``: what numba compiles) -- and PyTorch once,
in a fresh process. Targets: the empty-cache run within PyTorch's + 5 s, the warm run within + 1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from .mnist import _NO_TORCH

# name -> (data, fastnn's layers, PyTorch's model (fastnn.bench.mnist), image input?, batch size)
WORKLOADS = {
    "W1 PyTorch's MNIST CNN, 3,200 images, batch 64": ("B.mnist_like(3200)", "B._w1(True)", "w1", True, 64),
    "W2 LeNet-5, 6,400 images, batch 64": ("B.mnist_like(6400)", "B._w2()", "w2", True, 64),
    "W3 MLP 784-256-256-10, 6,400 samples, batch 128": ("B.mnist_like(6400)", "B._mlp()", "w3", False, 128),
    "32x32x3 CNN, batch norm, 1,280 images, batch 64": ("B.cifar_like(1280)", "B.bn_cnn()", "bn", True, 64),
}

FASTNN = """{no_torch}
import numpy as np, fastnn
from fastnn.bench import mnist as B
x, y = {data}
x = x if {images} else x.reshape(len(x), -1)
net = fastnn.Network({layers}, seed=0).use("cross_entropy")
net.fit(x, y, epochs=1, batch_size={batch}, optimizer="adam", learning_rate=1e-3, shuffle=True, verbose=False)
assert net.last_fit_path == "compiled", net.last_fit_path
"""

TORCH = """
import numpy as np, torch
from fastnn.bench import mnist as B
x, y = {data}
x = x.transpose(0, 3, 1, 2).copy() if {images} else x.reshape(len(x), -1)
torch.manual_seed(0)
model = B._torch_model({kind!r})
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
xt, yt = torch.from_numpy(x), torch.from_numpy(y)
perm = torch.randperm(len(xt))
model.train()
for i in range(0, len(xt), {batch}):
    idx = perm[i : i + {batch}]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
    opt.step()
"""


def _seconds(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - started


def rows(with_torch: bool) -> list[dict[str, Any]]:
    """One result per workload and way (see the module docstring), in the bench's result form."""
    results = []
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTNN_CACHE_DIR")}
    base["FASTNN_QUIET"] = "1"
    for name, (data, layers, kind, images, batch) in WORKLOADS.items():
        ours = FASTNN.format(no_torch=_NO_TORCH, data=data, layers=layers, images=images, batch=batch)
        theirs = _seconds(TORCH.format(data=data, kind=kind, images=images, batch=batch), base) if with_torch else None
        with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as bare:
            cold = _seconds(ours, {**base, "FASTNN_CACHE_DIR": empty})
            warm = _seconds(ours, {**base, "FASTNN_CACHE_DIR": empty})
            compiling = _seconds(ours, {**base, "FASTNN_CACHE_DIR": bare, "FASTNN_PRECOMPILED": "0"})
        for way, seconds, slack in (("empty cache", cold, 5.0), ("warm cache", warm, 1.0)):
            results.append(
                {
                    "name": f"{name}: whole process to the end of epoch 1, {way}",
                    "dtype": "float32",
                    "fastnn_s": seconds,
                    "torch_s": theirs,
                    "targets": {"torch_plus_seconds": slack},
                    "met": None if theirs is None else seconds <= theirs + slack,
                }
            )
        results.append(
            {
                "name": f"{name}: whole process to the end of epoch 1, empty cache, nothing compiled at install",
                "dtype": "float32",
                "fastnn_s": compiling,
                "torch_s": theirs,
                "targets": {},
                "met": None,
            }
        )
    return results
