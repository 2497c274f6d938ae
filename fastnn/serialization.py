"""Saving and reading networks: one ``.npz`` holding a JSON header and the parameter arrays.

The header names the format and version, the dtype, the built-in loss, what ``predict`` returns,
and every layer's type and constructor config. ``save`` rebuilds every layer from its config
before writing, so a network whose file could not be read back is refused up front; ``load``
checks every field before anything is built.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .data import PREDICT_RETURNS
from .layers import LAYER_TYPES, is_builtin

FORMAT = "fastnn-network"
FORMAT_VERSION = 1


def build_layer(spec: dict[str, Any]) -> Any:
    """A layer from its saved ``{"type", "config"}``, parameters zeroed (nothing random is drawn)."""
    layer_cls = LAYER_TYPES[spec["type"]]
    config = dict(spec["config"])
    if "initializer" in inspect.signature(layer_cls).parameters:
        config["initializer"] = np.zeros
    return layer_cls(**config)


def _layer_spec(i: int, layer: Any) -> dict[str, Any]:
    what = f"layer {i} ({type(layer).__name__})"
    if not is_builtin(layer) or type(layer).__name__ not in LAYER_TYPES:
        raise ValueError(f"{what} is user-defined and cannot be saved")
    try:
        spec = {"type": type(layer).__name__, "config": layer.config()}
    except NotImplementedError as exc:
        raise ValueError(f"{what} cannot be saved: {exc}") from None
    try:
        rebuilt = build_layer(json.loads(json.dumps(spec)))
    except (TypeError, ValueError) as exc:  # a config its own constructor refuses: never write it
        raise ValueError(f"{what} cannot be saved: its config {spec['config']!r} does not rebuild it ({exc})") from None
    for name in layer.state_names:
        if getattr(rebuilt, name).shape != getattr(layer, name).shape:
            raise ValueError(f"{what} cannot be saved: its config rebuilds {name} with another shape")
    return spec


def write_network(net: Any, path: str | os.PathLike) -> None:
    """Write ``net`` to ``path``: to a temporary file in the same directory, flushed and fsynced,
    then renamed over the destination, so an interrupted save never leaves a truncated model."""
    specs = [_layer_spec(i, layer) for i, layer in enumerate(net.layers)]
    dtype = net.dtype or np.dtype(np.float64)
    arrays = {
        f"layer{i}.{name}": np.asarray(getattr(layer, name), dtype=dtype)
        for i, layer in enumerate(net.layers)
        for name in layer.state_names
    }
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "dtype": str(dtype),
        "loss": net.loss_name,
        # a loss of the user's own cannot be stored: its name, so load can say what to pass to use()
        "user_loss": None if net.criterion is None or net.loss_name else net.criterion.name,
        "input_range": net.input_range,
        "input_divisor": net.input_divisor,
        "predict_returns": net.predict_returns,
        "layers": specs,
    }
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __fastnn__=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it 0600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask; read from /proc where it can be (setting it to read it back, the
    portable way, briefly changes it for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fail(path: Any, why: str) -> ValueError:
    return ValueError(f"{os.fspath(path)} is not a valid fastnn model: {why}")


def read_network(cls: Any, path: Any) -> Any:
    with open(path, "rb") as f:  # FileNotFoundError as it is
        head = f.read(4)
    if head != b"PK\x03\x04":  # an .npz is a zip archive; never let numpy guess (it offers to unpickle)
        what = "a .npy array, not a saved model" if head[:4] == b"\x93NUM" else f"not an .npz archive (starts {head!r})"
        raise _fail(path, what)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(path, f"a damaged or truncated .npz archive ({exc})") from None
    with data:
        if "__fastnn__" not in data.files:
            raise _fail(path, "no fastnn header")
        try:
            meta = json.loads(str(data["__fastnn__"]))
            arrays = {name: data[name] for name in data.files if name != "__fastnn__"}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise _fail(path, f"damaged content ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(path, "wrong format tag")
    if meta.get("version") != FORMAT_VERSION:
        raise _fail(path, f"format version {meta.get('version')!r}, this fastnn reads {FORMAT_VERSION}")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        raise _fail(path, f"dtype must be float32 or float64; got {dtype!r}")
    predict_returns = meta.get("predict_returns", "array")  # files from before the field: arrays
    if predict_returns not in PREDICT_RETURNS:
        raise _fail(path, f"predict_returns must be one of {PREDICT_RETURNS}; got {predict_returns!r}")
    specs = meta.get("layers")
    if not isinstance(specs, list) or not specs:
        raise _fail(path, "no layers")
    net = cls(dtype=dtype, predict_returns=predict_returns)
    expected_names = set()
    for i, spec in enumerate(specs):
        if (
            not isinstance(spec, dict)
            or spec.get("type") not in LAYER_TYPES
            or not isinstance(spec.get("config"), dict)
        ):
            raise _fail(path, f"layer {i} has an unknown type or no config: {spec!r}")
        try:
            layer = build_layer(spec)
        except (TypeError, ValueError) as exc:
            raise _fail(path, f"layer {i} ({spec['type']}) config {spec['config']!r}: {exc}") from None
        for name in layer.state_names:
            key = f"layer{i}.{name}"
            expected_names.add(key)
            if key not in arrays:
                raise _fail(path, f"missing parameter {key}")
            value, want = arrays[key], getattr(layer, name)
            if value.shape != want.shape:
                raise _fail(path, f"{key} has shape {value.shape}; the architecture needs {want.shape}")
            if value.dtype != np.dtype(dtype):
                raise _fail(path, f"{key} has dtype {value.dtype}; the file says {dtype}")
            setattr(layer, name, np.ascontiguousarray(value))
        net.add(layer)
    extra = set(arrays) - expected_names
    if extra:
        raise _fail(path, f"unexpected arrays {sorted(extra)}")
    if meta.get("loss") is not None:
        net.use(meta["loss"])
    net.user_loss = meta.get("user_loss") if isinstance(meta.get("user_loss"), str) else None
    divisor = meta.get("input_divisor")
    net.input_divisor = float(divisor) if isinstance(divisor, (int, float)) and divisor > 0 else None
    found = meta.get("input_range")
    if isinstance(found, list) and len(found) == 2 and all(isinstance(v, (int, float)) for v in found):
        net.input_range = (float(found[0]), float(found[1]))
    return net
