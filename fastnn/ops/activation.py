"""Activation layers (``ActivationLayer`` and the named ``Tanh``, ``Sigmoid``, ``ReLU``,
``LeakyReLU``, ``Softmax``), their program row and engine steps.

Row dimensions: F_D0 = which function (``FUNCTIONS``), F_D1 = the width of the last axis (softmax
normalises over it); leaky ReLU's slope is the program's ``alphas`` entry. The linear activation is
a copy (:mod:`fastnn.ops.reshape`). Backward steps take the forward output, as the kernels do.
"""

from __future__ import annotations

from typing import Any

from kernels import _borrow as KB
from kernels import activations as KA
from kernels import config
from kernels._checks import real_scalar
from kernels.config import jit

from .. import activations as A
from . import reshape, split
from .base import Layer
from .program import F_D0, F_D1, F_NEED_DX, Encoding, NotCompiled

KIND = 4
TANH, SIGMOID, RELU, LEAKY, SOFTMAX = KA.TANH, KA.SIGMOID, KA.RELU, KA.LEAKY, 4
FUNCTIONS = {"tanh": TANH, "sigmoid": SIGMOID, "relu": RELU, "leaky_relu": LEAKY, "softmax": SOFTMAX}


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

    def encode(self, shape):
        if self.builtin is None:
            raise NotCompiled("an ActivationLayer with user functions is not compiled")
        if self.builtin.name == "linear":
            return Encoding(reshape.KIND, (reshape.COPY,), shape, copies=True)
        fn = FUNCTIONS[self.builtin.name]
        dims = (fn, shape[-1] if shape else 1)
        in_place = fn in (RELU, LEAKY)  # loops that run as fast over their input (kernels.activations.same_place)
        return Encoding(KIND, dims, shape, alpha=float(self.alpha), elementwise=in_place, reads_output=True)

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


# Softmax works on row views; out of line, so that the other functions' inlined steps create none.
@jit
def _softmax_forward(acts, xo, yo, n, width):
    rows = n // width
    KA._softmax_into(KB.shaped(acts, xo, (rows, width)), KB.shaped(acts, yo, (rows, width)))


@jit
def _softmax_backward(acts, dacts, xo, yo, size):
    n, width = size
    shape = (n // width, width)
    y, dy, dx = KB.shaped(acts, yo, shape), KB.shaped(dacts, yo, shape), KB.shaped(dacts, xo, shape)
    KA._softmax_backward_into(y, dy, dx)


def _spans_parallel(code, buffers, offsets, n, parts):
    KA.spans_parallel(code, buffers, offsets, n, parts)  # from Python, as parallel kernels are started


@jit
def _on_threads(image_threads, code, buffers, offsets, n):
    """Runs the span on image_threads threads when the step is large enough; False if it did not."""
    if image_threads is None:  # a network without image layers: typed away, nothing compiled
        return False
    parts = split.parts(image_threads, n)
    if parts == 1:
        return False
    with config.objmode():
        _spans_parallel(code, buffers, offsets, n, parts)
    return True


@jit(inline=True)
def forward(image_threads, program, i, acts, nb):
    ops, offs = program.ops, program.offs
    fn, n = ops[i, F_D0], nb * program.sizes[i]
    xo, yo = offs[i], offs[i + 1]
    if fn == SOFTMAX:
        _softmax_forward(acts, xo, yo, n, ops[i, F_D1])
        return
    alpha = program.alphas[i]
    if not _on_threads(image_threads, (fn, False, alpha), (acts, acts, acts), (xo, yo, xo), n):
        KA.forward_span(fn, alpha, (acts, xo), (acts, yo), n)


@jit(inline=True)
def backward(image_threads, program, i, acts, dacts, nb):
    ops, offs = program.ops, program.offs
    if not ops[i, F_NEED_DX]:
        return
    fn, n = ops[i, F_D0], nb * program.sizes[i]
    yo, xo = offs[i + 1], offs[i]
    if fn == SOFTMAX:
        _softmax_backward(acts, dacts, xo, yo, (n, ops[i, F_D1]))
        return
    alpha = program.alphas[i]
    if not _on_threads(image_threads, (fn, True, alpha), (acts, dacts, dacts), (yo, yo, xo), n):
        KA.backward_span(fn, alpha, (acts, yo), (dacts, yo), (dacts, xo), n)


__all__ = ["ActivationLayer", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]
