"""Scoring a network's outputs: which accuracy applies, predicted labels, and the count of right ones.

Accuracy is "categorical" (argmax against class labels or one-hot rows), "binary" (every output
on the right side of 0.5) or None (regression). The compiled engine counts the same way in
:func:`fastnn.engine._count_correct`; tests/test_compiled.py holds the two equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_labels(y: np.ndarray) -> np.ndarray | None:
    """Integer class labels from int labels (N,) or exact one-hot rows (N, K); None otherwise."""
    if y.ndim == 1 and y.dtype.kind in "iu":
        return y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] > 1 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return np.argmax(y, axis=1)
    return None


def accuracy_kind(classification: str | None, y: np.ndarray) -> str | None:
    """The loss's own kind ("binary"/"categorical"), else guessed from 0/1 targets, else None."""
    if classification is not None:
        return classification
    if y.dtype.kind == "f" and np.all((y == 0) | (y == 1)):
        return "categorical" if y.ndim == 2 and y.shape[1] > 1 and np.all(y.sum(axis=1) == 1) else "binary"
    return None


def predicted_labels(out: np.ndarray) -> np.ndarray:
    """Class per row of outputs (N, K): argmax, or output > 0.5 for a single column."""
    out = np.asarray(out).reshape(len(out), -1)
    return (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else np.argmax(out, axis=1)


def true_labels(y: np.ndarray) -> np.ndarray:
    """Class per target row: labels as given, argmax of one-hot rows, or target > 0.5 for one column."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y.astype(np.int64)
    return predicted_labels(y)


def hits(y: np.ndarray, out: Any, kind: str) -> np.ndarray:
    """Per sample, whether the outputs get it right, by ``kind``: bool (N,)."""
    out = np.asarray(out).reshape(len(out), -1)
    if kind == "categorical":
        labels = y if y.ndim == 1 else np.argmax(y.reshape(len(y), -1), axis=1)
        return np.argmax(out, axis=1) == labels
    return np.all((out > 0.5) == (y.reshape(out.shape) > 0.5), axis=1)


def correct(y: np.ndarray, out: Any, kind: str) -> float:
    """How many samples the outputs get right, by ``kind``."""
    return float(np.sum(hits(y, out, kind)))
