"""``Network``: the seed tutorials' container (add / use / fit / predict), batched and complete.

Two ways to build a network, each with the defaults its users expect:

- the seed tutorials' way, ``Network()`` then ``add(layer)``: layers keep the seed's initial
  weights (uniform in [-0.5, 0.5) from numpy's global generator), the network computes as numpy
  promotes (float64 weights: float64 on float32 data), and ``predict`` returns the seed's list of
  per-sample outputs;
- Keras/PyTorch's way, ``Network([layers...])``: weights left to chance start scaled to their
  layer's fan-in (He-normal for a layer followed by ReLU or LeakyReLU, Glorot-uniform otherwise;
  biases zero), the network computes in the dtype of the first data it is given (float32 data:
  float32; anything else: float64), and ``predict`` returns one array.

Weights are left to chance when the layer was made without ``initializer=`` and nobody has assigned
or changed them since. The class holds the layers and the loss and checks what users pass; how data is shaped and typed
lives in :mod:`fastnn.data`, how ``fit`` trains in :mod:`fastnn.training`, scoring in
:mod:`fastnn.scoring`, files in :mod:`fastnn.serialization`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kernels._checks import positive_int, real_scalar

from . import data, describe, fitting, optimizers, training
from . import losses as L
from .architecture import layers_from_architecture
from .callbacks import Callback
from .layers import ActivationLayer, DropoutLayer, is_builtin
from .scoring import accuracy_kind


class Network:
    """A sequence of layers trained with a loss, built the seed tutorials' way -- ``Network()``, then
    ``add(layer)`` and ``use(loss, loss_prime)`` -- or Keras/PyTorch's, ``Network([layers...])``;
    each way has its users' defaults for the initial weights, the dtype and what ``predict``
    returns (the module docstring says which). ``seed`` fixes everything random in a run: weights
    left to chance that came from numpy's global generator (drawn again from it, in layer order),
    shuffling and dropout; a layer's own ``rng=`` wins, and values the user set are never replaced.
    ``dtype`` ("float32"/"float64") and ``predict_returns`` ("list"/"array") override the defaults.
    """

    def __init__(
        self,
        layers: Sequence[Any] | None = None,
        *,
        seed: Any = None,
        dtype: Any = None,
        predict_returns: str | None = None,
    ) -> None:
        self.layers: list[Any] = []
        self.loss: Callable | str | None = None  # as given to use(): the seed's attributes
        self.loss_prime: Callable | None = None
        self.criterion: L.Loss | None = None  # the loss in use, as fastnn runs it
        self.rng = np.random.default_rng(seed)
        self._init_rng = None if seed is None else np.random.default_rng(seed)
        self.requested_dtype = None if dtype is None else data.float_dtype(dtype)
        # Keras/PyTorch style (layers given as a list): the first data decides the dtype.
        self.follows_data = layers is not None and dtype is None
        if predict_returns is None:
            predict_returns = "list" if layers is None else "array"
        if predict_returns not in data.PREDICT_RETURNS:
            raise ValueError(f"predict_returns must be one of {data.PREDICT_RETURNS}; got {predict_returns!r}")
        self.predict_returns = predict_returns
        self.optimizer: optimizers.Optimizer | None = None
        self.history: dict[str, list[float]] = {}
        # Called with the (param, grad) pairs between backward and update (gradient averaging hooks).
        self.gradient_hook: Callable[[list[tuple[np.ndarray, np.ndarray]]], None] | None = None
        self.last_fit_path: str | None = None  # "numpy", "compiled" or "layers": how the last fit trained
        self.stop_training = False  # a callback sets it to end fit after the current epoch
        self.input_range: tuple[float, float] | None = None  # of the training data, for predict's warning
        self.input_divisor: float | None = None  # raw inputs were divided by it for training (CLI: 255)
        self.user_loss: str | None = None  # a loaded model's user-defined loss, which files cannot hold
        layers = list(layers or ())
        for layer, initializer in zip(layers, fan_in_initializers(layers), strict=True):
            self._place(layer, initializer)
        describe.output_shapes(self.layers, None)  # a layer that cannot take its input: said now

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype the network computes in: the one asked for or taken from its first data, else
        its parameters' (None for a network that follows its data and has seen none yet)."""
        params = self.parameters()
        if self.requested_dtype is None and (self.follows_data or not params):
            return None
        return data.compute_dtype(self.requested_dtype, params, None)

    @property
    def last_fit_compiled(self) -> bool:
        """Whether the last ``fit`` ran in the compiled engine (see ``last_fit_path``)."""
        return self.last_fit_path == "compiled"

    @property
    def loss_name(self) -> str | None:
        """The built-in loss in use ("mse", "binary_cross_entropy", "cross_entropy"), else None."""
        return self.criterion.name if self.criterion is not None and self.criterion.name in L.BUILTIN else None

    # ------------------------------------------------------------------ building
    def add(self, layer: Any) -> Network:
        """Append ``layer`` (the seed's way: its initial weights stay the seed's draw, or are drawn
        again from the network's ``seed``)."""
        return self._place(layer, None)

    def _place(self, layer: Any, initializer: str | None) -> Network:
        """Append ``layer``; its weights left to chance are drawn again with ``initializer`` (from the
        seed, else from where the layer drew them), or with its own from the seed when one was given."""
        if not (
            callable(getattr(layer, "forward_propagation", None))
            and callable(getattr(layer, "backward_propagation", None))
        ):
            raise TypeError(f"layer must have forward_propagation and backward_propagation; got {type(layer).__name__}")
        if isinstance(layer, DropoutLayer):
            layer.rng = self.rng
        seeded = self._init_rng is not None and getattr(layer, "draws_from_global", False)
        if initializer is not None or seeded:
            layer.redraw(self._init_rng if seeded else None, initializer)
        self.layers.append(layer)
        return self

    def use(self, loss: Callable | str, loss_prime: Callable | None = None) -> Network:
        """Set the loss: fastnn's functions or names ("mse", "binary_cross_entropy", "cross_entropy")
        use the kernels; any other pair is called as given: ``loss(y_true, y_pred)``, ``loss_prime(...)``."""
        if isinstance(loss, str):
            key = L.ALIASES.get(loss.lower(), loss.lower())
            if key not in L.BUILTIN:
                raise ValueError(f"loss must be one of {sorted(L.BUILTIN)} or a function; got {loss!r}")
            self.criterion = L.BUILTIN[key]
        elif callable(loss):
            name = L.FUNCTIONS.get(loss)
            if name is not None and (loss_prime is None or L.FUNCTIONS.get(loss_prime) == name):
                self.criterion = L.BUILTIN[name]
            elif loss_prime is None or not callable(loss_prime):
                raise ValueError("loss_prime (the gradient of the loss) is required for a user-defined loss")
            else:
                self.criterion = L.Loss(getattr(loss, "__name__", "loss"), loss, loss_prime)
        else:
            raise TypeError(f"loss must be a function or a name; got {type(loss).__name__}")
        self.loss, self.loss_prime = loss, loss_prime
        return self

    @classmethod
    def from_architecture(cls, nn_architecture: Sequence[dict], seed: int = 99, **kwargs: Any) -> Network:
        """Seed 003's network from its list of dicts (``input_dim``, ``output_dim``, ``activation``),
        initialised as its ``init_layers(nn_architecture, seed)``; ``predict`` returns arrays."""
        kwargs.setdefault("predict_returns", "array")  # seed 003 predicts the whole batch at once
        return cls(layers_from_architecture(nn_architecture, seed), **kwargs)

    # ------------------------------------------------------------------ data
    def as_inputs(self, x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
        """``x`` as the network computes on it, and whether it is seed-style (N, 1, features). A
        network that follows its data takes this data's dtype from now on."""
        arr, seed_style = data.inputs(self.layers, self.requested_dtype, x, name, self.follows_data)
        if self.follows_data and self.requested_dtype is None:
            self.requested_dtype = arr.dtype
        return arr, seed_style

    def as_targets(self, y: Any, n: int, name: str = "y") -> tuple[np.ndarray, tuple]:
        """(targets as the loss takes them, the shape as given) for ``n`` samples."""
        labels_allowed = self.criterion is not None and self.criterion.classification == "categorical"
        dtype = data.compute_dtype(self.requested_dtype, self.parameters(), None)
        return data.targets(y, n, name, labels_allowed, dtype)

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, training: bool = False, stop: int | None = None) -> np.ndarray:
        """The layers' outputs in turn (up to layer ``stop``) on a prepared batch."""
        out = x
        for layer in self.layers[:stop]:
            layer.training = training
            out = layer.forward_propagation(out)
        return out

    def predict(self, input: Any, batch_size: int | None = None) -> Any:
        """Outputs for the samples in ``input``: the seed's list of per-sample outputs or one (N, ...)
        array, as ``predict_returns`` says (see :mod:`fastnn.data`)."""
        x, seed_style = self.as_inputs(input, "input")
        data.check_prediction_inputs(x, self.input_range)
        as_list = self.predict_returns == "list"
        if not all(is_builtin(layer) for layer in self.layers):  # the seed's own loop, sample by sample
            outputs = [self.forward(x[i]) for i in range(len(x))]
            return outputs if as_list else data.stacked(outputs)
        xb = x.reshape(len(x), -1) if seed_style else x
        step = len(xb) if batch_size is None else positive_int(batch_size, "batch_size")
        out = training.outputs(self, xb, step)
        return data.per_sample(out) if as_list else out

    # ------------------------------------------------------------------ training
    def fit(
        self,
        x_train: Any,
        y_train: Any,
        epochs: int,
        learning_rate: float | None = None,
        *,
        batch_size: int = 1,
        optimizer: optimizers.Optimizer | str | None = None,
        shuffle: bool = False,
        seed: Any = None,
        verbose: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        callback: Callable[[int, dict[str, float]], None] | None = None,
        comm: Any = None,
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
    ) -> dict[str, list[float]]:
        """Train; returns the history: ``loss`` per epoch (mean over samples, as the seed prints it),
        ``accuracy`` for classification, and ``val_loss``/``val_accuracy`` with validation data.

        The defaults are the seed's: one sample at a time, in order, plain SGD at 0.1, the seed's
        epoch line. A named ``optimizer`` runs at its usual step size unless ``learning_rate`` is
        given. ``callback(epoch, logs)`` and ``callbacks`` (:mod:`fastnn.callbacks`) run after every
        epoch and may end training, keeping the history. ``validation_split`` holds out the last
        fraction of the samples before shuffling (Keras's). ``comm`` (mpi4py) trains data-parallel
        with ``batch_size`` as the global batch (:mod:`fastnn.distributed`).
        """
        epochs = positive_int(epochs, "epochs", low=0)
        if learning_rate is not None:
            learning_rate = real_scalar(learning_rate, "learning_rate", low=0.0)
        batch_size = positive_int(batch_size, "batch_size")
        if self.criterion is None:
            raise ValueError(_no_loss(self.user_loss, "fit"))
        run, val = training.prepare(
            self,
            x_train,
            y_train,
            validation=(validation_data, validation_split),
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            optimizer=optimizer,
            shuffle=shuffle,
            seed=seed,
        )
        hooks = list(callbacks or ())
        return fitting.run_fit(self, run, val, hooks=hooks, callback=callback, comm=comm, seed=seed, verbose=verbose)

    # ------------------------------------------------------------------ scoring, parameters, files
    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss": ..., "accuracy": ...}`` on (x, y); accuracy only for classification."""
        if self.criterion is None:
            raise ValueError(_no_loss(self.user_loss, "evaluate"))
        xa, _ = self.as_inputs(x)
        ya, _ = self.as_targets(y, len(xa))
        return training.scores(self, xa, ya, accuracy_kind(self.criterion.classification, ya))

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print each layer with its output shape and parameter count, then the totals (Keras's)."""
        describe.summary(self, print_fn)

    def __repr__(self) -> str:
        return describe.listing(self)

    def parameters(self) -> list[np.ndarray]:
        return data.parameters(self.layers)

    def astype(self, dtype: Any) -> Network:
        """Compute in ``dtype`` (float32 or float64) from now on: the parameters are converted."""
        self.requested_dtype = data.float_dtype(dtype)
        data.sync_dtype(self.layers, self.requested_dtype, None)
        return self

    def save(self, path: str | os.PathLike) -> None:
        """Write one .npz file: the architecture as JSON and every parameter array (see
        :mod:`fastnn.serialization`). A network that could not be read back is refused before
        anything is written."""
        _files().write_network(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a file written by :meth:`save` (``allow_pickle=False``); ValueError for anything else."""
        return _files().read_network(cls, path)


def fan_in_initializers(layers: Sequence[Any]) -> list[str | None]:
    """For a network given its layers as a list: the initializer of each layer whose weights were
    left to the default, "he" when the next activation after it is ReLU or LeakyReLU, else "xavier";
    None for every other layer."""
    chosen: list[str | None] = []
    for i, layer in enumerate(layers):
        if not getattr(layer, "default_init", False):
            chosen.append(None)
            continue
        following = None
        for later in layers[i + 1 :]:
            if isinstance(later, ActivationLayer):
                following = later.name
                break
            if hasattr(later, "default_init"):  # another layer with weights: no activation in between
                break
        chosen.append("he" if following in ("relu", "leaky_relu") else "xavier")
    return chosen


def _files() -> Any:
    """:mod:`fastnn.serialization`, imported when a file is written or read (json, zipfile and
    tempfile cost every start ~7 ms otherwise)."""
    from . import serialization

    return serialization


def _no_loss(user_loss: str | None, what: str) -> str:
    if user_loss:
        return (
            f"no loss: this model was saved with the user-defined loss {user_loss!r}, which a file cannot "
            f"hold; call use({user_loss}, {user_loss}_prime) (your functions) before {what}"
        )
    return f"no loss: call use(loss, loss_prime) before {what}"
