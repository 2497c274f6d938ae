"""How user data meets a network: the dtype it computes in, the sample shapes ``fit`` and
``predict`` accept, and the form ``predict`` returns.

dtype. A network computes in the dtype of its parameters, as the tutorials' numpy code does:
fastnn's layers draw their initial weights as float64 (``np.random.rand``), so float32 data
(``x.astype('float32')`` from a Keras-style loader) trains in float64, exactly as numpy promotes
``float32 @ float64``. ``Network(dtype=np.float32)`` (or ``net.astype``) asks for float32 end to
end; the data is then cast to float32. A network without parameters follows its data (float32
stays float32, anything else is float64). Nothing else changes a network's dtype.

Targets. One target per sample, in any of the seed's forms: (N, out), (N, 1, out), the
network's per-sample output shape (N, h, w, c), a list of per-sample arrays, or integer class
labels (N,) for a categorical loss. They are checked against the network's output by size per
sample; a real mismatch is reported with the shapes as the user passed them.

Outputs. ``predict`` on a network built the seed's way (``Network()`` then ``add``) returns the
seed's list, one output per sample shaped as the seed's layers produce it for one sample: (1, n)
after a dense or flatten layer, (h, w, c) after an image layer. A network given its layers at
construction (``Network([...])``) returns one array (N, ...). ``Network(predict_returns=...)``
chooses explicitly.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from kernels._checks import real_array, real_scalar, result_dtype

from .layers import ConvLayer, FCLayer, is_builtin

PREDICT_RETURNS = ("list", "array")


def float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """float32 or float64 as an ``np.dtype``; ValueError for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64; got {dt}")
    return dt


def compute_dtype(explicit: np.dtype | None, params: list[np.ndarray], data: np.ndarray | None) -> np.dtype:
    """The dtype a network computes in: the one asked for, else its parameters' (float32 only if all
    are float32, as numpy promotes), else -- no parameters -- its data's."""
    if explicit is not None:
        return explicit
    if params:
        return result_dtype(*params)
    return result_dtype(data) if data is not None else np.dtype(np.float64)


def samples(x: Any, name: str) -> np.ndarray:
    """``x`` (an array or a list of per-sample arrays) as an array with a leading sample axis."""
    arr = real_array(x, name)
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have a leading sample axis and features, e.g. (N, features); got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample; got shape {arr.shape}")
    return arr


def check_first_layer(arr: np.ndarray, name: str, layer: Any, features: int | None, image: tuple | None) -> None:
    """Samples must fit the first layer: ``features`` values each (as (N, f) or the seed's (N, 1, f)),
    or images of shape ``image``. Either may be None (a layer that takes any shape)."""
    if features is not None and not (
        (arr.ndim == 2 and arr.shape[1] == features) or (arr.ndim == 3 and arr.shape[1:] == (1, features))
    ):
        raise ValueError(
            f"{name} must hold {features} features per sample for the first layer {layer!r}: shape (N, {features}) "
            f"or (N, 1, {features}); got shape {arr.shape}"
        )
    if image is not None and tuple(arr.shape[1:]) != tuple(image):
        hint = ""
        if arr.ndim == 4 and (*arr.shape[2:], arr.shape[1]) == tuple(image):
            hint = f": fastnn is channels-last (N, height, width, channels); pass {name}.transpose(0, 2, 3, 1)"
        raise ValueError(
            f"{name} must hold images of shape {tuple(image)} for the first layer {layer!r}: shape "
            f"(N, {', '.join(map(str, image))}); got shape {arr.shape}{hint}"
        )


def targets(y: Any, n: int, name: str, labels_allowed: bool, dtype: np.dtype) -> tuple[np.ndarray, tuple]:
    """(targets, shape as given): class labels (N,) when ``labels_allowed`` and ``y`` holds them, else
    (N, values per sample). Labels are integers (N,) or (N, 1), as Keras's sparse categorical
    cross-entropy takes them, or floats that hold whole numbers >= 0 in those shapes."""
    arr = real_array(y, name)
    given = arr.shape
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"{name} must hold one target per sample ({n}); got shape {given}")
    if labels_allowed and (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
        flat = arr.reshape(n)
        if flat.dtype.kind in "iu":
            return flat, given
        if flat.dtype.kind == "f" and np.all(np.isfinite(flat)) and np.all(flat == np.floor(flat)) and flat.min() >= 0:
            return flat.astype(np.int64), given
    return np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype), given


LABEL_FORMS = "(N,) or (N, 1) integer class labels, or (N, K) one-hot rows"


def per_sample(out: np.ndarray) -> list[np.ndarray]:
    """The seed's ``predict`` form: one entry per sample, (1, n) for vector outputs, else (h, w, c)."""
    return [out[i : i + 1] for i in range(len(out))] if out.ndim == 2 else list(out)


def stacked(outputs: list[np.ndarray]) -> np.ndarray:
    """Per-sample outputs (the seed's (1, n) rows or (h, w, c) images) as one (N, ...) array."""
    if all(o.ndim == 2 and o.shape[0] == 1 for o in outputs):
        return np.concatenate(outputs)
    return np.stack(outputs)


def parameters(layers: list[Any]) -> list[np.ndarray]:
    """The parameter arrays of the layers that follow fastnn's protocol, in order."""
    return [p for layer in layers if is_builtin(layer) for p in layer.params().values()]


def sync_dtype(layers: list[Any], requested: np.dtype | None, x: np.ndarray | None) -> np.dtype:
    """The dtype to compute in for data ``x``; parameters of another dtype are converted to it (only
    when a dtype was asked for, or to promote a mix of float32 and float64 to float64)."""
    dtype = compute_dtype(requested, parameters(layers), x)
    for layer in layers:
        if is_builtin(layer) and any(p.dtype != dtype for p in layer.params().values()):
            layer.astype(dtype)
    return dtype


def inputs(
    layers: list[Any], requested: np.dtype | None, x: Any, name: str, follow: bool = False
) -> tuple[np.ndarray, bool]:
    """``x`` as a contiguous array of the network's dtype, and whether it is seed-style (N, 1, features).
    With ``follow`` and no ``requested`` dtype, the network takes the data's: float32 stays float32,
    anything else is float64."""
    if not layers:
        raise ValueError("the network has no layers: add() some first")
    arr = samples(x, name)
    first = layers[0]
    if is_builtin(first):
        check_first_layer(
            arr,
            name,
            first,
            first.weights.shape[0] if isinstance(first, FCLayer) else None,
            first.input_shape if isinstance(first, ConvLayer) else None,
        )
    if follow and requested is None:
        requested = np.dtype(np.float32 if arr.dtype == np.float32 else np.float64)
    dtype = sync_dtype(layers, requested, arr)
    return np.ascontiguousarray(arr, dtype=dtype), arr.ndim == 3 and arr.shape[1] == 1


def check_targets(
    out_shape: tuple, y: np.ndarray, labels: np.ndarray | None, name: str, given: tuple, categorical: bool = False
) -> None:
    """Targets must fit the network's per-sample output: labels in [0, outputs), else one value per
    output (``categorical``: the message names the forms a categorical loss takes)."""
    width = int(np.prod(out_shape))
    if labels is not None:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= width:
            raise ValueError(
                f"{name} labels must lie in [0, {width}) for the network's {width} outputs; got range [{lo}, {hi}]"
            )
    elif y.shape[1] != width:
        forms = f"; cross-entropy takes {LABEL_FORMS} (K = {width})" if categorical else ""
        raise ValueError(
            f"{name} must have {width} values per sample to match the network's output {tuple(out_shape)} "
            f"per sample; got shape {given}{forms}"
        )


def split_off(x: np.ndarray, y: np.ndarray, fraction: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(x, y) without their last ``fraction`` of samples, and that fraction as validation data --
    Keras's ``validation_split``, taken before any shuffling."""
    fraction = real_scalar(fraction, "validation_split", low=0.0, high=1.0, high_open=True)
    keep = int(len(x) * (1.0 - fraction))
    if keep < 1 or keep == len(x):
        raise ValueError(f"validation_split {fraction} of {len(x)} samples must leave at least one sample on each side")
    return x[:keep], y[:keep], (x[keep:], y[keep:])


def value_range(x: np.ndarray) -> tuple[float, float] | None:
    """(min, max) of the finite values of training data, or None when there are none. (Non-finite
    training samples are not refused here: fit stops at the batch whose loss they make non-finite.)"""
    lo, hi = float(x.min()), float(x.max())  # two passes, no copies: the common, all-finite case
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    finite = x[np.isfinite(x)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def warn_raw_pixels(x: Any, name: str) -> None:
    """Warn when training data are integers in 0..255 beyond 0/1 (raw pixels, say): networks train
    poorly on them, and ``predict`` would later warn about inputs scaled otherwise."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind not in "iu" or x.size == 0:
        return
    low, high = int(x.min()), int(x.max())
    if low >= 0 and 1 < high <= 255:
        warnings.warn(
            f"{name} holds integers in [{low}, {high}] (raw pixels?): networks train well on inputs scaled to "
            f"about [0, 1]; pass {name} / 255 (and scale the inputs to predict the same way)",
            stacklevel=4,
        )


def check_prediction_inputs(x: np.ndarray, trained: tuple[float, float] | None) -> None:
    """Refuse non-finite samples; warn when the inputs lie far outside the range of the training data
    (more than the training range's own width beyond it: raw 0-255 pixels to a model trained on [0, 1])."""
    low, high = float(x.min()), float(x.max())  # NaN and inf show here, without a pass that allocates
    if not (np.isfinite(low) and np.isfinite(high)):
        rows = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise ValueError(
            f"input holds NaN or infinite values in {len(rows)} sample(s), the first at index {int(rows[0])}"
        )
    if trained is None:
        return
    lo, hi = trained
    span = max(hi - lo, 1e-12)
    if low < lo - span or high > hi + span:
        warnings.warn(
            f"input values span [{low:.4g}, {high:.4g}], far outside [{lo:.4g}, {hi:.4g}] where the model was "
            "trained: scale them as the training data was (images to [0, 1], say)",
            stacklevel=3,
        )
