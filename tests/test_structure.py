"""The shape of the code that issues 13 and 17 asked for, kept: small Network, short argument lists,
and an import that does not start numba."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for package in ("fastnn", "kernels") for p in (ROOT / package).rglob("*.py"))


def test_the_network_class_body_stays_under_250_lines():
    tree = ast.parse((ROOT / "fastnn" / "network.py").read_text())
    (network,) = (node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Network")
    assert network.end_lineno - network.lineno + 1 <= 250


def test_no_function_takes_more_than_eight_positional_arguments():
    crowded = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count = len(node.args.posonlyargs) + len(node.args.args)
                if count > 8:
                    crowded.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count})")
    assert not crowded, crowded


def test_importing_fastnn_starts_neither_numba_nor_scipy():
    code = (
        "import sys, fastnn, fastnn.layers; "
        "print(sorted(m for m in ('numba', 'llvmlite', 'scipy') if m in sys.modules))"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]"]
