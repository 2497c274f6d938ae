"""Training curves and decision boundaries as PNG files (matplotlib, non-interactive backend)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def save_training_plot(history: dict, path: str, title: str, boundary: tuple | None = None) -> None:
    """Loss and accuracy per epoch (train and validation); with ``boundary`` = (net, x, y) also the
    network's decision regions over 2-D data, as seed 003 draws them."""
    plt = _pyplot()
    fig = training_figure(history, title, boundary)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def training_figure(history: dict, title: str, boundary: tuple | None = None):
    """The figure :func:`save_training_plot` writes; curves are labelled with the history's own names."""
    plt = _pyplot()
    panels = 3 if boundary is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
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
        net, x, y = boundary
        _decision_boundary(axes[2], net, x, y)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _decision_boundary(ax, net, x: np.ndarray, y: np.ndarray) -> None:
    pad = 0.5
    gx, gy = np.meshgrid(
        np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 200),
        np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 200),
    )
    grid = np.c_[gx.ravel(), gy.ravel()].astype(net.dtype or np.float64)
    prob = np.asarray(net.predict(grid))[:, 0].reshape(gx.shape)
    ax.contourf(gx, gy, prob, 25, cmap="Spectral", alpha=0.8)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], c=np.ravel(y), cmap="Spectral", edgecolors="k", s=15)
    ax.set(title="decision boundary", xlabel="$X_1$", ylabel="$X_2$")
