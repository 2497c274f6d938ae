"""The package build compiles fastnn's kernels for the machine it runs on (``python -m
fastnn.precompile``, both dtypes in parallel) and ships the machine code inside the package
(``fastnn/_compiled``), so that the first epoch after ``pip install .`` loads it instead of waiting
for numba. It adds a few minutes to the install; ``FASTNN_PRECOMPILE=0`` skips it, and so does an
editable install. If it fails, the package is built without it (and compiles on first use)."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCompiledCode(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("FASTNN_PRECOMPILE", "1").strip() == "0":
            return
        build_lib = Path(self.build_lib).resolve()
        with tempfile.TemporaryDirectory(prefix="fastnn-precompile-") as cache:
            env = {
                **os.environ,
                "FASTNN_CACHE_DIR": cache,
                "FASTNN_PRECOMPILED": "0",
                "FASTNN_QUIET": "1",
                # the build's own path (its isolated environment) after the sources just built
                "PYTHONPATH": os.pathsep.join([str(build_lib), *filter(None, [os.environ.get("PYTHONPATH")])]),
            }
            env.pop("NUMBA_CACHE_DIR", None)
            print("fastnn: compiling the kernels for this machine (a few minutes; FASTNN_PRECOMPILE=0 skips it)")
            runs = [
                subprocess.Popen([sys.executable, "-m", "fastnn.precompile", "--dtype", dtype], env=env, cwd=cache)
                for dtype in ("float32", "float64")
            ]
            if any(run.wait() != 0 for run in runs):
                print("fastnn: WARNING: precompiling failed; the kernels will compile on first use", file=sys.stderr)
                return
            produced = [p for p in Path(cache).iterdir() if p.is_dir()]
            target = build_lib / "fastnn" / "_compiled"
            for stamp in produced:
                shutil.copytree(stamp, target / stamp.name, ignore=shutil.ignore_patterns("*.lock", ".probe-*"))
            print(f"fastnn: compiled code for {len(produced)} source version(s) in {target}")


setup(cmdclass={"build_py": BuildWithCompiledCode})
