"""Callbacks for ``Network.fit(..., callbacks=[...])``, with Keras's meanings.

A callback sees every epoch's logs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` as the
history has them). To end training early, set ``self.network.stop_training = True`` in
``on_epoch_end`` (Keras's way) or raise :class:`StopTraining` from any callback, plain functions
given as ``callback=`` included: ``fit`` then returns normally with the history of every finished
epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._checks import positive_int, real_scalar


class StopTraining(Exception):
    """Raised by a callback: finish this epoch's record and end ``fit`` normally."""


class Callback:
    """Base class: override the hooks you need. ``network`` is set by ``fit`` before training."""

    network: Any = None

    def on_train_begin(self) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode`` "min" (losses), "max" (accuracies) or "auto" (max for names with "acc", else min).
    With ``restore_best_weights`` the network ends with the parameters of its best epoch when
    training stopped early (as Keras does). ``stopped_epoch`` is the epoch it stopped after (0-based),
    or None.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        self.monitor = monitor
        self.patience = positive_int(patience, "patience", low=0)
        self.min_delta = abs(real_scalar(min_delta, "min_delta"))
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self) -> None:
        self.best, self.best_epoch, self.wait = np.inf, None, 0
        self.best_weights: list[np.ndarray] | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitor {self.monitor!r} is not in the logs {sorted(logs)} "
                "(val_* needs validation_data or validation_split)"
            )
        value = self.sign * float(logs[self.monitor])  # smaller is better from here on
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = [p.copy() for p in self.network.parameters()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self) -> None:
        if self.stopped_epoch is not None and self.best_weights is not None:
            for param, best in zip(self.network.parameters(), self.best_weights, strict=True):
                param[...] = best


__all__ = ["Callback", "EarlyStopping", "StopTraining"]
