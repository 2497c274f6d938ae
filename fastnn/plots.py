"""Training curves and decision boundaries as image files (matplotlib's object API, no display).

Importing matplotlib and drawing take ~0.6 s, longer than the CLI's default training run, so the
CLI draws in a child process (:class:`PlotProcess`) that imports matplotlib while training runs on
this one and gets the history when training ends: `python -m fastnn` then waits only for the
drawing.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any, NamedTuple

import numpy as np

# Formats every matplotlib from 3.6 on writes (pillow is its dependency); others are looked up in
# matplotlib itself, which is slow to import but knows what its version adds.
_ALWAYS_WRITTEN = ("eps", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg", "svgz", "tif", "tiff", "webp")


# The child runs this file as a script (runpy), not as fastnn.plots: it needs numpy and matplotlib,
# not the fastnn package's import (0.13 s, which made it later than the training it overlaps).
_CHILD = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


class Boundary(NamedTuple):
    """A 2-D classifier's decision regions, computed where the network lives: ``prob`` (200, 200)
    over the grid ``gx``, ``gy`` (200, 200), with the data ``x`` (N, 2) and its labels ``y``."""

    gx: np.ndarray
    gy: np.ndarray
    prob: np.ndarray
    x: np.ndarray
    y: np.ndarray


def image_formats(extension: str) -> list[str] | None:
    """None if matplotlib writes ``extension`` (lower case, no dot), else the formats it writes."""
    if extension in _ALWAYS_WRITTEN:
        return None
    from matplotlib.figure import Figure

    formats = sorted(Figure().canvas.get_supported_filetypes())
    return None if extension in formats else formats


def decision_boundary(net: Any, x: np.ndarray, y: np.ndarray) -> Boundary:
    """The network's probability of class 1 over a 200 x 200 grid around ``x`` (N, 2), as seed 003 draws it."""
    pad = 0.5
    gx, gy = np.meshgrid(
        np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 200),
        np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 200),
    )
    grid = np.c_[gx.ravel(), gy.ravel()].astype(net.dtype or np.float64)
    prob = np.asarray(net.predict(grid))[:, 0].reshape(gx.shape)
    return Boundary(gx, gy, prob, x, np.ravel(y))


def training_figure(history: dict, title: str, boundary: Boundary | None = None):
    """A matplotlib Figure: loss and accuracy per epoch (train and validation), labelled with the
    history's own names, and with ``boundary`` the decision regions as a third panel."""
    from matplotlib.figure import Figure

    panels = 3 if boundary is not None else 2
    fig = Figure(figsize=(5 * panels, 4))
    axes = fig.subplots(1, panels)
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["loss"], label="loss")
    if "val_loss" in history:
        axes[0].plot(epochs, history["val_loss"], label="val_loss")
    axes[0].set(title="loss", xlabel="epoch")
    axes[0].legend()
    if "accuracy" in history:
        axes[1].plot(epochs, history["accuracy"], label="accuracy")
        if "val_accuracy" in history:
            axes[1].plot(epochs, history["val_accuracy"], label="val_accuracy")
        axes[1].set(title="accuracy", xlabel="epoch", ylim=(0, 1.01))
        axes[1].legend()
    else:
        axes[1].axis("off")
    if boundary is not None:
        ax = axes[2]
        ax.contourf(boundary.gx, boundary.gy, boundary.prob, 25, cmap="Spectral", alpha=0.8)
        ax.contour(boundary.gx, boundary.gy, boundary.prob, levels=[0.5], colors="k", linewidths=1)
        ax.scatter(boundary.x[:, 0], boundary.x[:, 1], c=boundary.y, cmap="Spectral", edgecolors="k", s=15)
        ax.set(title="decision boundary", xlabel="$X_1$", ylabel="$X_2$")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_training_plot(history: dict, path: str, title: str, boundary: Boundary | None = None) -> None:
    """Write :func:`training_figure` to ``path`` (its extension names the format), in this process."""
    training_figure(history, title, boundary).savefig(path, dpi=100)


class PlotProcess:
    """A child process that imports matplotlib now and writes ``path`` when :meth:`finish` hands it
    the history. Where no child can start, :meth:`finish` draws in this process. A child that
    never gets a history (this process failed or was interrupted) reads the end of its input and
    exits without writing."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._child: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-c", _CHILD, os.path.abspath(__file__), path],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError:
            self._child = None

    def finish(self, history: dict, title: str, boundary: Boundary | None = None) -> None:
        """Draw and write the file; raises RuntimeError with matplotlib's message if that failed."""
        if self._child is None:
            save_training_plot(history, self.path, title, boundary)
            return
        try:
            plain = None if boundary is None else tuple(boundary)  # the child has no fastnn to unpickle into
            _, err = self._child.communicate(pickle.dumps((history, title, plain)))
        except BrokenPipeError:  # the child died before reading: its error is on stderr
            err = self._child.stderr.read() if self._child.stderr else b""
            self._child.wait()
        if self._child.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"cannot write {self.path}: {lines[-1] if lines else 'the plot process failed'}")


def _serve(path: str) -> None:
    from matplotlib.figure import Figure  # noqa: F401  (the import is the point: it overlaps training)

    received = sys.stdin.buffer.read()
    if not received:  # the parent stopped without a history
        return
    history, title, plain = pickle.loads(received)
    save_training_plot(history, path, title, None if plain is None else Boundary(*plain))


if __name__ == "__main__":
    _serve(sys.argv[-1])
