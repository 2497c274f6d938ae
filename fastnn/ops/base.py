"""The layer base class, parameter initialisation, and what every op home shares.

Every layer keeps the seed API -- ``forward_propagation(input)``, ``backward_propagation(output_error,
learning_rate)`` and the attributes ``input``, ``output``, ``input_shape``, ``output_shape`` -- and
adds the split PyTorch users expect: ``forward(x, training)`` computes the output, ``backward(dy)``
returns dx and leaves the parameter gradients in ``layer.grads`` for an optimizer to apply. The
seed's ``backward_propagation`` is ``backward`` followed by an SGD step on each parameter.

Shapes carry a leading batch axis: dense layers take (N, features) -- the seed's per-sample
(1, features) is a batch of one -- and image layers take (N, height, width, channels) or one
unbatched image (height, width, channels) as the seed's ConvLayer did.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

import kernels as K

from .program import Encoding, NotCompiled

Initializer = str | Callable[[tuple[int, ...]], np.ndarray] | None
INITIALIZERS = ("uniform", "xavier", "he", "normal")


def _uniform(rng: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform [0, 1) from the given source; None is numpy's global generator, as the seeds use."""
    if rng is None:
        return np.random.rand(*shape)
    if isinstance(rng, np.random.RandomState):
        return rng.rand(*shape)
    return rng.random(shape)


def _normal(rng: Any, shape: tuple[int, ...]) -> np.ndarray:
    if rng is None:
        return np.random.randn(*shape)
    if isinstance(rng, np.random.RandomState):
        return rng.randn(*shape)
    return rng.standard_normal(shape)


def init_bias(shape: tuple[int, ...], fan_in: int, fan_out: int, initializer: Initializer, rng: Any) -> np.ndarray:
    """Biases: drawn like the weights for the seed's uniform, "normal" and callables; zeros for xavier/he."""
    if initializer in ("xavier", "he"):
        return np.zeros(shape)
    return init_array(shape, fan_in, fan_out, initializer, rng)


def _as_rng(rng: Any) -> Any:
    if rng is None or isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def init_array(shape: tuple[int, ...], fan_in: int, fan_out: int, initializer: Initializer, rng: Any) -> np.ndarray:
    """New parameter values. ``None``/"uniform": the seed's ``rand - 0.5``; "xavier" (Glorot
    uniform), "he" (normal, sqrt(2/fan_in)), "normal" (0.1 * standard normal), or a callable(shape)."""
    if callable(initializer):
        values = np.asarray(initializer(shape))
        if values.shape != tuple(shape):
            raise ValueError(f"initializer must return an array of shape {tuple(shape)}; got {values.shape}")
        return values
    if initializer is None or initializer == "uniform":
        return _uniform(rng, shape) - 0.5
    if initializer == "xavier":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return (2 * _uniform(rng, shape) - 1) * limit
    if initializer == "he":
        return _normal(rng, shape) * np.sqrt(2.0 / fan_in)
    if initializer == "normal":
        return _normal(rng, shape) * 0.1
    raise ValueError(f"initializer must be one of {INITIALIZERS} or a callable; got {initializer!r}")


class _Drawn:
    """What a parameter held when it was drawn: the array's identity and a checksum of its bytes, so
    that an assignment or an in-place change by the user shows (plain values: layers still pickle
    and deep-copy; a copy's parameters count as set by the user)."""

    def __init__(self, array: np.ndarray) -> None:
        self.id, self.crc = id(array), _crc(array)

    def holds(self, array: Any) -> bool:
        return id(array) == self.id and _crc(array) == self.crc


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1))


class Layer:
    """Base class. Subclass it as in the seed (override ``forward_propagation`` and
    ``backward_propagation``) or as fastnn does (override ``forward`` and ``backward``)."""

    param_names: tuple[str, ...] = ()  # trained by the optimizer
    buffer_names: tuple[str, ...] = ()  # state that is not trained (batch norm's running statistics)

    def __init__(self) -> None:
        self.input = None
        self.output = None
        self.input_shape = None
        self.output_shape = None
        self.grads: dict[str, np.ndarray] = {}
        self.training = False

    # -- the fastnn protocol --------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def initialize(self, shapes: tuple, fan_in: int, fan_out: int, initializer: Initializer, rng: Any) -> None:
        """Draw ``weights`` then ``bias`` (the seed's order) of ``shapes``, and remember how: a
        :class:`~fastnn.Network` may draw them again (see :meth:`redraw`). ``draws_from_global``: they
        came from numpy's global generator, as the seed tutorials' do; ``default_init``: no
        ``initializer`` was given (the seed's uniform)."""
        self._init = (shapes, fan_in, fan_out, initializer)
        self.draws_from_global = rng is None and not callable(initializer)
        self.default_init = initializer is None
        rng = _as_rng(rng)
        # A copy of the source as it was before drawing: a redraw from it is the same on every run.
        self._source = copy.deepcopy(rng)
        self.weights = init_array(shapes[0], fan_in, fan_out, initializer, rng)
        self.bias = init_bias(shapes[1], fan_in, fan_out, initializer, rng)
        self._drawn = {name: _Drawn(getattr(self, name)) for name in ("weights", "bias")}

    def as_drawn(self) -> tuple[str, ...]:
        """The parameters that still hold the values the constructor drew: not assigned, not changed
        in place (``layer.weights[:] = ...``), not trained."""
        drawn = getattr(self, "_drawn", {})
        return tuple(name for name, d in drawn.items() if d.holds(getattr(self, name)))

    def redraw(self, rng: Any = None, initializer: Initializer = None) -> tuple[str, ...]:
        """Draw again the parameters that still hold their constructor's values (:meth:`as_drawn`),
        with ``initializer`` (None: the constructor's) from ``rng`` (None: the constructor's source,
        as it was before it drew); values the user set are never replaced. Returns the names drawn."""
        names = self.as_drawn()
        if not names:
            return ()
        shapes, fan_in, fan_out, own = self._init
        initializer = own if initializer is None else initializer
        rng = copy.deepcopy(self._source) if rng is None else _as_rng(rng)
        for name in names:
            draw = init_array if name == "weights" else init_bias
            setattr(self, name, draw(shapes[0 if name == "weights" else 1], fan_in, fan_out, initializer, rng))
            self._drawn[name] = _Drawn(getattr(self, name))
        return names

    def params(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.param_names}

    def param_grads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(parameter, gradient) pairs from the last backward pass."""
        return [(getattr(self, name), self.grads[name]) for name in self.param_names]

    @property
    def state_names(self) -> tuple[str, ...]:
        """Everything a saved model holds for this layer: parameters, then buffers."""
        return self.param_names + self.buffer_names

    def astype(self, dtype: Any) -> Layer:
        """Convert the parameters and buffers to ``dtype`` (float32 or float64) in place of the old arrays."""
        for name in self.state_names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self.grads = {}
        return self

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (for ``Network.save``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def encode(self, shape: tuple[int, ...]) -> Encoding:
        """This layer's row in the compiled program, for per-sample inputs of ``shape`` (see
        :mod:`fastnn.ops.program`); raises :class:`NotCompiled` when it has none, ValueError when
        ``shape`` does not fit the layer."""
        raise NotCompiled(f"{type(self).__name__} is not compiled")

    # -- the seed protocol ----------------------------------------------------------------
    def forward_propagation(self, input: np.ndarray) -> np.ndarray:
        return self.forward(input, training=getattr(self, "training", False))

    def backward_propagation(self, output_error: np.ndarray, learning_rate: float) -> np.ndarray:
        input_error = self.backward(output_error)
        for param, grad in self.param_grads():
            K.sgd_step(param, grad, learning_rate)
        return input_error

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def is_builtin(layer: Any) -> bool:
    """True for layers that follow the fastnn protocol (forward/backward + grads); False for
    seed-style layers that only implement forward_propagation/backward_propagation."""
    cls = type(layer)
    return (
        isinstance(layer, Layer)
        and cls.forward_propagation is Layer.forward_propagation
        and cls.backward_propagation is Layer.backward_propagation
        and cls.backward is not Layer.backward
    )


def compiled_form(layer: Any) -> bool:
    """True when the layer's ``encode`` describes what it computes: it is a built-in layer and no
    subclass changed ``forward``/``backward`` below the class that wrote ``encode``."""
    if not is_builtin(layer):
        return False
    cls = type(layer)
    owner = next(k for k in cls.__mro__ if "encode" in k.__dict__)
    return owner is not Layer and cls.forward is owner.forward and cls.backward is owner.backward


def image_batch(x: Any, name: str) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(
        f"{name} input must be (batch, height, width, channels) or one image (height, width, channels); "
        f"got shape {x.shape}"
    )
