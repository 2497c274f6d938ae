"""``python -m fastnn bench``: the speed targets, each timed against its reference (and PyTorch, when
installed) in one run. ``targets`` holds the rows and the report, ``layers`` the layer rows,
``mnist`` the MNIST-size workloads, ``common`` what they share."""

from .common import torch
from .targets import format_row, main, rows, run, verdict

__all__ = ["format_row", "main", "rows", "run", "torch", "verdict"]
