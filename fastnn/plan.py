"""Encode a network of built-in layers for :mod:`fastnn.engine`, or say why it cannot be.

The plan owns the flat parameter and gradient arrays: every layer's ``weights``/``bias`` become
views into one array (values unchanged), so the compiled loop and the layer objects share them,
and the optimizer's state for each parameter is a view into one flat state array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels.losses import BCE_EPS

from . import engine as E
from . import optimizers as O
from .ops.base import compiled_form
from .ops.program import F_BUF, F_D0, F_FW, F_IW, F_KIND, F_NEED_DX, F_PB, F_PW, ROW, NotCompiled

_OPTIMIZERS = {O.SGD: E.OPT_SGD, O.Momentum: E.OPT_MOMENTUM, O.RMSProp: E.OPT_RMSPROP, O.Adam: E.OPT_ADAM}


@dataclass
class Plan:
    ops: np.ndarray
    alphas: np.ndarray
    reals: np.ndarray  # (layers, 2)
    sample_shapes: list[tuple[int, ...]]
    iwork_per_sample: int
    params: list[tuple[Any, str]] = field(default_factory=list)  # (layer, attribute) in flat order
    buffers: list[tuple[Any, str]] = field(default_factory=list)  # the same for buffers
    float_work: int = 0
    min_batch: int = 1
    random: bool = False  # a layer draws from the network's generator in training
    shared: list[bool] = field(default_factory=list)  # layer i writes over its input's slot (shared_slots)
    sizes: np.ndarray = field(init=False)  # elements per sample of every activation slot

    def __post_init__(self) -> None:
        self.sizes = np.array([int(np.prod(s)) for s in self.sample_shapes], dtype=np.int64)


def make_plan(layers: list[Any], sample_shape: tuple[int, ...]) -> Plan | None:
    """The program for these layers on samples of ``sample_shape``, or None if a layer has no
    compiled form (or a shape does not fit: the layer path then reports it)."""
    rows, alphas, reals, shapes, params, buffers, encodings = [], [], [], [tuple(sample_shape)], [], [], []
    pw = iwork = pbuf = fwork = 0
    min_batch, random = 1, False
    for layer in layers:
        if not compiled_form(layer):
            return None
        try:
            enc = layer.encode(shapes[-1])
        except (NotCompiled, ValueError):
            return None
        row = [0] * ROW
        row[F_KIND], row[F_IW] = enc.kind, iwork
        row[F_D0 : F_D0 + len(enc.dims)] = enc.dims
        for field_, name in zip((F_PW, F_PB), getattr(layer, "param_names", ()), strict=False):
            row[field_] = pw
            params.append((layer, name))
            pw += getattr(layer, name).size
        row[F_BUF], row[F_FW] = pbuf, fwork
        for name in layer.buffer_names:
            buffers.append((layer, name))
            pbuf += getattr(layer, name).size
        rows.append(row)
        encodings.append(enc)
        alphas.append(enc.alpha)
        reals.append(enc.reals)
        shapes.append(tuple(enc.output_shape))
        iwork += enc.int_work
        fwork += enc.float_work
        min_batch = max(min_batch, enc.min_batch)
        random = random or enc.random
    # Layers before the first one with parameters need no input gradient.
    first_param = next((i for i, layer in enumerate(layers) if getattr(layer, "param_names", ())), len(layers))
    for i, row in enumerate(rows):
        row[F_NEED_DX] = int(i > first_param)
    ops = np.array(rows, dtype=np.int64).reshape(-1, ROW)
    reals_ = np.array(reals, dtype=np.float64).reshape(-1, 2)
    shared = shared_slots(encodings)
    return Plan(ops, np.array(alphas), reals_, shapes, iwork, params, buffers, fwork, min_batch, random, shared)


def shared_slots(encodings: list[Any]) -> list[bool]:
    """Whether each layer writes its output over its input's workspace slot (forward and backward):
    a copy always (the values are the same), an element-wise step when nothing reads its input's
    values again -- the layer that made them does not read its output in its backward pass, and does
    not itself share a slot whose values an earlier layer reads. W1's ReLUs and flatten: 2.4 to 9.4 MB
    a batch not written to a second place, and not kept."""
    shared: list[bool] = []
    for i, enc in enumerate(encodings):
        before = encodings[i - 1] if i else None
        free = before is None or (not before.reads_output and not shared[i - 1])
        shared.append(enc.copies or (enc.elementwise and free))
    return shared


def views_like(flat: np.ndarray, parts: list[np.ndarray]) -> list[np.ndarray]:
    """``flat`` cut into views shaped as ``parts``, laid out one after another."""
    views, offset = [], 0
    for part in parts:
        views.append(flat[offset : offset + part.size].reshape(part.shape))
        offset += part.size
    return views


def _flatten(named: list[tuple[Any, str]], dtype: np.dtype) -> tuple[np.ndarray, list[np.ndarray]]:
    """One array holding the named layer attributes, which become views into it (values unchanged)."""
    arrays = [getattr(layer, name) for layer, name in named]
    values = np.concatenate([a.reshape(-1) for a in arrays]).astype(dtype) if arrays else np.zeros(0, dtype)
    views = views_like(values, arrays)
    for (layer, name), view in zip(named, views, strict=True):
        setattr(layer, name, view)
    return values, views


class FlatParameters:
    """All parameters of a plan in one array (and their gradients in another); buffers in a third."""

    def __init__(self, plan: Plan, dtype: np.dtype) -> None:
        self.values, self.views = _flatten(plan.params, dtype)
        self.buffers, self.buffer_views = _flatten(plan.buffers, dtype)
        self.grads = np.zeros_like(self.values)
        self.grad_views = views_like(self.grads, self.views)
        self.plan_params, self.plan_buffers = list(plan.params), list(plan.buffers)

    def still_bound(self, plan: Plan) -> bool:
        named = [*zip(plan.params, self.views, strict=False), *zip(plan.buffers, self.buffer_views, strict=False)]
        return (
            plan.params == self.plan_params
            and plan.buffers == self.plan_buffers
            and all(getattr(layer, name) is view for (layer, name), view in named)
        )

    def publish_grads(self) -> None:
        for (layer, name), g in zip(self.plan_params, self.grad_views, strict=True):
            layer.grads[name] = g


def optimizer_state(opt: O.Optimizer, flat: FlatParameters) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(hyper, s1, s2, kind): flat state arrays shared with the optimizer's per-parameter state."""
    kind = _OPTIMIZERS[type(opt)]
    slots = {E.OPT_SGD: 0, E.OPT_MOMENTUM: 1, E.OPT_RMSPROP: 1, E.OPT_ADAM: 2}[kind]
    flats = [np.zeros_like(flat.values) for _ in range(max(slots, 1))]
    per_slot = [views_like(f, flat.views) for f in flats[:slots]]
    for i, param in enumerate(flat.views):
        views = [slot[i] for slot in per_slot]
        old = opt._state.get(id(param))
        if old is not None and old[0] is param:
            for new, prev in zip(views, old[1], strict=True):
                new[...] = prev
        if slots:
            opt._state[id(param)] = (param, views)
    hyper = {
        E.OPT_SGD: (opt.lr, 0.0, 0.0, 0.0),
        E.OPT_MOMENTUM: (opt.lr, getattr(opt, "momentum", 0.0), 0.0, 0.0),
        E.OPT_RMSPROP: (opt.lr, getattr(opt, "rho", 0.0), 0.0, getattr(opt, "eps", 0.0)),
        E.OPT_ADAM: (opt.lr, getattr(opt, "beta1", 0.0), getattr(opt, "beta2", 0.0), getattr(opt, "eps", 0.0)),
    }[kind]
    s1 = flats[0]
    s2 = flats[1] if slots == 2 else flats[0]
    return np.array(hyper, dtype=np.float64), s1, s2, kind


def supports_optimizer(opt: Any) -> bool:
    return type(opt) in _OPTIMIZERS


def bce_eps(dtype: np.dtype) -> float:
    return BCE_EPS[np.dtype(dtype)]
