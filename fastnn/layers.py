"""Layers: the seed tutorials' classes, batched, backed by the compiled kernels.

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

from collections.abc import Callable
from typing import Any

import numpy as np

import kernels as K
from kernels._checks import positive_int, real_scalar, result_dtype

from . import activations as A

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


class Layer:
    """Base class. Subclass it as in the seed (override ``forward_propagation`` and
    ``backward_propagation``) or as fastnn does (override ``forward`` and ``backward``)."""

    param_names: tuple[str, ...] = ()

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
        """Draw ``weights`` then ``bias`` (the seed's order) of ``shapes``; remember how, so that a
        seeded Network can draw them again from its own generator (``draws_from_global``: they
        came from numpy's global generator, as the seed tutorials' do)."""
        self._init = (shapes, fan_in, fan_out, initializer)
        self.draws_from_global = rng is None and not callable(initializer)
        rng = _as_rng(rng)
        self.weights = init_array(shapes[0], fan_in, fan_out, initializer, rng)
        self.bias = init_bias(shapes[1], fan_in, fan_out, initializer, rng)

    def reinitialize(self, rng: Any) -> None:
        """Draw the parameters again, as the constructor did, from ``rng``."""
        self.initialize(*self._init, rng)

    def params(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.param_names}

    def param_grads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(parameter, gradient) pairs from the last backward pass."""
        return [(getattr(self, name), self.grads[name]) for name in self.param_names]

    def astype(self, dtype: Any) -> Layer:
        """Convert the parameters to ``dtype`` (float32 or float64) in place of the old arrays."""
        for name in self.param_names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self.grads = {}
        return self

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (for ``Network.save``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

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


def _one_of(shape: Any, size: Any, shape_name: str, size_name: str) -> tuple[Any, str]:
    """(value, the name it was given as): the first API version's ``*_shape`` (also any positional
    value) or the second's ``*_size``."""
    if shape is not None and size is not None:
        raise TypeError(f"give {shape_name} or {size_name}, not both; got {shape!r} and {size!r}")
    if shape is None and size is None:
        raise TypeError(f"missing {size_name} (or {shape_name}): the number of features")
    return (shape, shape_name) if shape is not None else (size, size_name)


def _size(shape: Any, name: str) -> int:
    """A feature count given as an int or as the seed's shape tuple (1, n)."""
    if isinstance(shape, (tuple, list)):
        if not shape:
            raise ValueError(f"{name} must be a positive int or a shape like (1, n); got {shape!r}")
        shape = shape[-1]
    return positive_int(shape, name)


class FCLayer(Layer):
    """Fully connected: ``y = x @ weights + bias``; x (N, in) -> y (N, out).

    Both published versions of seed 000 construct: ``FCLayer((1, 2), (1, 3))`` /
    ``FCLayer(input_shape=(1, 2), output_shape=(1, 3))`` and ``FCLayer(2, 3)`` /
    ``FCLayer(input_size=2, output_size=3)``. ``weights`` (in, out) and ``bias`` (1, out) start
    uniform in [-0.5, 0.5) from numpy's global generator like the seed, unless ``initializer``
    ("xavier", "he", "normal", callable) or ``rng`` (seed or Generator) is given.
    """

    param_names = ("weights", "bias")

    def __init__(
        self,
        input_shape: Any = None,
        output_shape: Any = None,
        *,
        input_size: Any = None,
        output_size: Any = None,
        initializer: Initializer = None,
        rng: Any = None,
    ):
        super().__init__()
        n_in = _size(*_one_of(input_shape, input_size, "input_shape", "input_size"))
        n_out = _size(*_one_of(output_shape, output_size, "output_shape", "output_size"))
        self.input_shape, self.output_shape = (1, n_in), (1, n_out)
        self.initialize(((n_in, n_out), (1, n_out)), n_in, n_out, initializer, rng)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self.input = x
        self.output = K.dense_forward(x, self.weights, self.bias)
        return self.output

    def backward(self, dy):
        dx, dw, db = K.dense_backward(self.input, self.weights, dy)
        self.grads = {"weights": dw, "bias": db.reshape(1, -1)}
        return dx

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"FCLayer input must have shape (batch, {self.weights.shape[0]}); got {x.shape}")
        return x

    def config(self):
        return {"input_shape": self.weights.shape[0], "output_shape": self.weights.shape[1]}


Dense = FCLayer


def _keyword_once(name: str, keyword: Any, positional: Any) -> Any:
    if keyword is not None:
        raise TypeError(f"ActivationLayer got {name} twice: positionally and as a keyword")
    return positional


def _activation_name(f: Any) -> str | None:
    if isinstance(f, str):
        key = f.lower()
        if key not in A.BUILTIN:
            raise ValueError(f"activation must be one of {sorted(A.BUILTIN)}; got {f!r}")
        return key
    try:
        return A.FUNCTIONS.get(f)
    except TypeError:  # unhashable callables
        return None


class ActivationLayer(Layer):
    """Applies an activation elementwise (softmax: over the last axis).

    Both versions of seed 000 construct -- ``ActivationLayer(input_shape, tanh, tanh_prime)`` and
    ``ActivationLayer(tanh, tanh_prime)``, positionally or as keywords (``activation=``,
    ``activation_prime=``, ``input_shape=``) -- and so does a name, ``ActivationLayer("relu")``.
    fastnn's own functions (``fastnn.activations``) and names run the compiled kernels, with the
    backward computed from the saved output; any other pair of functions is called as given:
    ``activation(input)`` and ``activation_prime(input) * dy``.
    """

    def __init__(
        self,
        *args: Any,
        activation: Any = None,
        activation_prime: Any = None,
        input_shape: Any = None,
        alpha: float = 0.01,
    ) -> None:
        super().__init__()
        if len(args) > 3:
            raise TypeError(
                f"ActivationLayer takes (activation[, activation_prime]) or (input_shape, activation, "
                f"activation_prime); got {len(args)} positional arguments"
            )
        # The first version of seed 000 puts input_shape first: a shape is never a name or a callable.
        if args and not isinstance(args[0], str) and not callable(args[0]):
            input_shape, args = _keyword_once("input_shape", input_shape, args[0]), args[1:]
        if len(args) == 3:
            raise TypeError(
                "ActivationLayer's input_shape must come first: (input_shape, activation, activation_prime)"
            )
        if args:
            activation = _keyword_once("activation", activation, args[0])
        if len(args) > 1:
            activation_prime = _keyword_once("activation_prime", activation_prime, args[1])
        if activation is None:
            raise TypeError("ActivationLayer needs an activation: a name such as 'tanh' or a function")
        self.input_shape = input_shape
        prime = activation_prime
        self.output_shape = self.input_shape
        name, prime_name = _activation_name(activation), _activation_name(prime) if prime is not None else None
        if name is None and not callable(activation):
            raise TypeError(f"activation must be a name or a callable; got {type(activation).__name__}")
        if prime is not None and prime_name is None and not callable(prime):
            raise TypeError(f"activation_prime must be a callable; got {type(prime).__name__}")
        # Fused kernels only when both functions are fastnn's own (or a name was given).
        self.builtin = A.BUILTIN[name] if name is not None and (prime is None or prime_name == name) else None
        if self.builtin is None and prime is None:
            raise ValueError(f"activation {activation!r} is not built in: pass its derivative as activation_prime")
        self.activation = activation if callable(activation) else None
        self.activation_prime = prime
        self.alpha = real_scalar(alpha, "alpha", low=0.0)

    @property
    def name(self) -> str | None:
        return self.builtin.name if self.builtin else None

    def forward(self, x, training=False):
        self.input = x
        if self.builtin is None:
            self.output = self.activation(x)
        elif self.builtin.takes_alpha:
            self.output = self.builtin.forward(x, self.alpha)
        else:
            self.output = self.builtin.forward(x)
        return self.output

    def backward(self, dy):
        if self.builtin is None:
            return self.activation_prime(self.input) * dy
        if self.builtin.takes_alpha:
            return self.builtin.backward(self.output, dy, self.alpha)
        return self.builtin.backward(self.output, dy)

    def config(self):
        if self.builtin is None:
            raise NotImplementedError("an ActivationLayer with user functions cannot be saved")
        cfg: dict[str, Any] = {"activation": self.builtin.name}
        if self.builtin.takes_alpha:
            cfg["alpha"] = self.alpha
        return cfg


class Tanh(ActivationLayer):
    def __init__(self) -> None:
        super().__init__("tanh")

    def config(self):
        return {}


class Sigmoid(ActivationLayer):
    def __init__(self) -> None:
        super().__init__("sigmoid")

    def config(self):
        return {}


class ReLU(ActivationLayer):
    def __init__(self) -> None:
        super().__init__("relu")

    def config(self):
        return {}


class LeakyReLU(ActivationLayer):
    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__("leaky_relu", alpha=alpha)

    def config(self):
        return {"alpha": self.alpha}


class Softmax(ActivationLayer):
    """Softmax over the last axis; followed by the cross-entropy loss it trains through the fused kernel."""

    def __init__(self) -> None:
        super().__init__("softmax")

    def config(self):
        return {}


def _image_batch(x: Any, name: str) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(
        f"{name} input must be (batch, height, width, channels) or one image (height, width, channels); "
        f"got shape {x.shape}"
    )


class ConvLayer(Layer):
    """2-D convolution (cross-correlation), stride 1, no padding, channels last.

    ``ConvLayer(input_shape=(h, w, d), kernel_shape=(m, n), layer_depth)`` as in seed 000: x (N, h, w, d)
    or one image (h, w, d) -> (N, h-m+1, w-n+1, layer_depth). ``weights`` (m, n, d, layer_depth),
    ``bias`` (layer_depth,). The seed's two bias bugs are fixed: the bias is added once per output
    channel (not once per input channel) and its gradient is not multiplied by ``layer_depth``.
    """

    param_names = ("weights", "bias")

    def __init__(
        self, input_shape: Any, kernel_shape: Any, layer_depth: int, *, initializer: Initializer = None, rng: Any = None
    ) -> None:
        super().__init__()
        try:
            h, w, d = (positive_int(v, "input_shape") for v in input_shape)
            m, n = (positive_int(v, "kernel_shape") for v in kernel_shape)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"input_shape must be (height, width, depth) and kernel_shape (m, n) of positive ints; "
                f"got {input_shape!r}, {kernel_shape!r} ({exc})"
            ) from None
        depth = positive_int(layer_depth, "layer_depth")
        if m > h or n > w:
            raise ValueError(f"kernel_shape {(m, n)} must fit inside input_shape {(h, w, d)}")
        self.input_shape, self.kernel_shape, self.layer_depth, self.input_depth = (h, w, d), (m, n), depth, d
        self.output_shape = (h - m + 1, w - n + 1, depth)
        self.initialize(((m, n, d, depth), (depth,)), m * n * d, m * n * depth, initializer, rng)

    def forward(self, x, training=False):
        xb, self._unbatched = _image_batch(x, "ConvLayer")
        if xb.shape[1:] != self.input_shape:
            raise ValueError(f"ConvLayer input images must have shape {self.input_shape}; got {xb.shape[1:]}")
        self.input, self._xb = x, xb
        y = K.conv2d_forward(xb, self.weights, self.bias)
        self.output = y[0] if self._unbatched else y
        return self.output

    def backward(self, dy):
        dy = np.asarray(dy)
        dx, dw, db = K.conv2d_backward(self._xb, self.weights, dy[None] if self._unbatched else dy)
        self.grads = {"weights": dw, "bias": db}
        return dx[0] if self._unbatched else dx

    def config(self):
        return {
            "input_shape": list(self.input_shape),
            "kernel_shape": list(self.kernel_shape),
            "layer_depth": self.layer_depth,
        }


class MaxPoolLayer(Layer):
    """Max over non-overlapping size x size windows: (N, h, w, c) -> (N, h/size, w/size, c)."""

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = positive_int(size, "size")

    def forward(self, x, training=False):
        xb, self._unbatched = _image_batch(x, "MaxPoolLayer")
        self.input = x
        y, self._argmax = K.maxpool2d_forward(xb, self.size)
        self._in_shape = xb.shape
        self.output = y[0] if self._unbatched else y
        return self.output

    def backward(self, dy):
        dy = np.asarray(dy)
        dx = K.maxpool2d_backward(self._argmax, dy[None] if self._unbatched else dy, self._in_shape)
        return dx[0] if self._unbatched else dx

    def config(self):
        return {"size": self.size}


class FlattenLayer(Layer):
    """(N, h, w, c) -> (N, h*w*c); one unbatched image (h, w, c) -> (1, h*w*c) as the seed's FlattenLayer."""

    def __init__(self, input_shape: Any = None, output_shape: Any = None) -> None:
        super().__init__()
        self.input_shape = input_shape
        if input_shape is not None:
            self.output_shape = (1, int(np.prod(input_shape)))
            if output_shape is not None and int(np.prod(output_shape)) != self.output_shape[1]:
                raise ValueError(
                    f"FlattenLayer output_shape {output_shape!r} must hold as many values as input_shape "
                    f"{input_shape!r} ({self.output_shape[1]})"
                )
        elif output_shape is not None:
            self.output_shape = output_shape

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.input = x
        self._in_shape = x.shape
        self.output = x.reshape(1, -1) if x.ndim == 3 else x.reshape(x.shape[0], -1)
        return self.output

    def backward(self, dy):
        return np.asarray(dy).reshape(self._in_shape)

    def config(self):
        return {}


class DropoutLayer(Layer):
    """Inverted dropout: while training, zero each element with probability ``rate`` and scale the
    rest by 1/(1-rate); at prediction time the identity. Random numbers come from ``self.rng``,
    which a Network sets to its own explicit generator (a standalone layer makes a private one)."""

    def __init__(self, rate: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        self.rate = real_scalar(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self._mask = None

    def forward(self, x, training=False):
        x = np.asarray(x)
        self.input = x
        if not training or self.rate == 0.0:
            self._mask = None
            self.output = x
        else:
            keep = self.rng.random(x.shape) >= self.rate
            dtype = result_dtype(x)
            self._mask = keep.astype(dtype) / dtype.type(1.0 - self.rate)
            self.output = x * self._mask
        return self.output

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def config(self):
        return {"rate": self.rate}


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        FCLayer,
        ActivationLayer,
        ConvLayer,
        MaxPoolLayer,
        FlattenLayer,
        DropoutLayer,
        Tanh,
        Sigmoid,
        ReLU,
        LeakyReLU,
        Softmax,
    )
}

__all__ = [
    "ActivationLayer",
    "ConvLayer",
    "Dense",
    "DropoutLayer",
    "FCLayer",
    "FlattenLayer",
    "Layer",
    "LeakyReLU",
    "MaxPoolLayer",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "init_array",
]
