"""Check every registry kernel against its reference twin: the code behind the tests and
``python -m fastnn validate``.

A case passes when outputs have the twin's shapes, the input's float dtype, NaN in the same
places, integer outputs equal exactly, and ``max|kernel - twin| <= tol * max|twin|`` with
tol 1e-12 for float64 and 1e-5 for float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .registry import REGISTRY, Entry

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
LAYOUTS = ("C", "F", "strided")


@dataclass(frozen=True)
class Result:
    name: str
    dtype: np.dtype
    seed: int
    layout: str
    max_abs: float
    rel: float
    ok: bool
    problem: str = ""


def relayout(value: Any, layout: str) -> Any:
    """The same values in another memory layout: Fortran order or a strided view."""
    if not isinstance(value, np.ndarray) or value.ndim == 0 or layout == "C":
        return value
    if layout == "F":
        return np.asfortranarray(value)
    wide = np.zeros(value.shape[:-1] + (2 * value.shape[-1],), dtype=value.dtype)
    view = wide[..., ::2]
    view[...] = value
    return view


def make_call(entry: Entry, seed: int, dtype: np.dtype, layout: str = "C") -> tuple[list[Any], dict[str, Any]]:
    """A fresh copy of case ``seed``: every call builds new arrays from the same random stream."""
    args, kwargs = entry.make(np.random.default_rng(seed), np.dtype(dtype))
    return [relayout(a, layout) for a in args], dict(kwargs)


def _outputs(entry: Entry, returned: Any, args: list[Any]) -> list[np.ndarray]:
    if entry.inplace:
        return [args[i] for i in entry.inplace]
    items = returned if isinstance(returned, tuple) else (returned,)
    return [np.asarray(o) for o in items]


def compare(
    kernel_out: list[np.ndarray],
    twin_out: list[np.ndarray],
    dtype: np.dtype,
    scales: list[float | None] | None = None,
) -> tuple[float, float, str]:
    """(max abs error, max error relative to max |twin|, problem or "") over paired outputs.

    ``scales[i]``, when given, is a floor for output i's denominator: the magnitude of the terms
    that cancel to form it. An output that is a near-total cancellation (softmax's backward pass
    with a constant ``dy`` is exactly 0 in exact arithmetic) is rounding noise in both kernel and
    twin; its error is only meaningful relative to the size of what cancelled."""
    worst_abs, worst_rel = 0.0, 0.0
    if len(kernel_out) != len(twin_out):
        return np.inf, np.inf, f"{len(kernel_out)} outputs, twin has {len(twin_out)}"
    for i, (k, r) in enumerate(zip(kernel_out, twin_out, strict=True)):
        if k.shape != r.shape:
            return np.inf, np.inf, f"output {i}: shape {k.shape}, twin {r.shape}"
        if r.dtype.kind in "iu":
            if k.dtype.kind not in "iu" or not np.array_equal(k, r):
                return np.inf, np.inf, f"output {i}: integer output differs from the twin"
            continue
        if k.dtype != dtype or r.dtype != dtype:
            return np.inf, np.inf, f"output {i}: dtype {k.dtype}, twin {r.dtype}, expected {dtype}"
        k64, r64 = k.astype(np.float64), r.astype(np.float64)
        if not np.array_equal(np.isnan(k64), np.isnan(r64)):
            return np.inf, np.inf, f"output {i}: NaN in different places"
        finite = np.isfinite(r64)
        if not np.array_equal(k64[~finite], r64[~finite]):
            return np.inf, np.inf, f"output {i}: infinities differ"
        if finite.any():
            err = float(np.max(np.abs(k64[finite] - r64[finite])))
            scale = float(np.max(np.abs(r64[finite])))
            if scales is not None and scales[i] is not None:
                scale = max(scale, float(scales[i]))
            worst_abs = max(worst_abs, err)
            worst_rel = max(worst_rel, err / scale if scale > 0 else err)
    return worst_abs, worst_rel, ""


def check(entry: Entry, seed: int, dtype: np.dtype, layout: str = "C") -> Result:
    """Run case ``seed`` through the kernel and through its twin and compare."""
    dtype = np.dtype(dtype)
    k_args, kwargs = make_call(entry, seed, dtype, layout)
    r_args, _ = make_call(entry, seed, dtype, layout)
    try:
        k_out = _outputs(entry, entry.kernel(*k_args, **kwargs), k_args)
    except Exception as exc:  # reported as a failed case, not a crash of the whole run
        return Result(entry.name, dtype, seed, layout, np.inf, np.inf, False, f"kernel raised {exc!r}")
    r_out = _outputs(entry, entry.reference(*r_args, **kwargs), r_args)
    max_abs, rel, problem = compare(k_out, r_out, dtype)
    ok = not problem and rel <= TOLERANCE[dtype]
    if not problem and not ok:
        problem = f"relative error {rel:.3g} > {TOLERANCE[dtype]:g}"
    return Result(entry.name, dtype, seed, layout, max_abs, rel, ok, problem)


def run(
    entries: Iterable[Entry] = REGISTRY, cases: int = 24, dtypes: Iterable[np.dtype] = DTYPES, first_seed: int = 0
) -> list[Result]:
    """``cases`` random cases per kernel and dtype, cycling through the memory layouts."""
    return [
        check(entry, seed, dtype, LAYOUTS[seed % len(LAYOUTS)])
        for entry in entries
        for dtype in dtypes
        for seed in range(first_seed, first_seed + cases)
    ]


def table(results: list[Result]) -> str:
    """One row per kernel and dtype: cases, worst absolute and relative error, PASS/FAIL."""
    rows: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        rows.setdefault((r.name, str(r.dtype)), []).append(r)
    head = f"{'kernel':<31} {'dtype':<8} {'cases':>5} {'max abs err':>12} {'max rel err':>12} {'tol':>7}  result"
    lines = [head, "-" * len(head)]
    for (name, dtype), group in rows.items():
        ok = all(r.ok for r in group)
        worst_abs = max(r.max_abs for r in group)
        worst_rel = max(r.rel for r in group)
        lines.append(
            f"{name:<31} {dtype:<8} {len(group):>5} {worst_abs:>12.3e} {worst_rel:>12.3e} "
            f"{TOLERANCE[np.dtype(dtype)]:>7.0e}  {'PASS' if ok else 'FAIL'}"
        )
        for r in group:
            if not r.ok:
                lines.append(f"    seed {r.seed} layout {r.layout}: {r.problem}")
    return "\n".join(lines)
