"""How the parallel kernels cut their work: part t of ``parts`` takes one run of the items, fixed by
the counts alone, so any number of threads computes the same pieces (and adds them in one order)."""

from __future__ import annotations

from .config import jit


@jit
def run(t, parts, count, align):
    """(start, stop) of part t's run when ``count`` items are cut into ``parts`` runs starting at
    multiples of ``align`` (the last run takes the rest)."""
    start = t * count // parts // align * align
    stop = count if t == parts - 1 else (t + 1) * count // parts // align * align
    return start, stop
