"""Reading saved networks: every field is checked before anything is built."""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from .layers import LAYER_TYPES


def _fail(path: Any, why: str) -> ValueError:
    return ValueError(f"{os.fspath(path)} is not a valid fastnn model: {why}")


def read_network(cls: Any, path: Any) -> Any:
    from .network import FORMAT, FORMAT_VERSION

    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(path, f"cannot be read as .npz ({exc})") from None
    with data:
        if not isinstance(data, np.lib.npyio.NpzFile) or "__fastnn__" not in data.files:
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
    specs = meta.get("layers")
    if not isinstance(specs, list) or not specs:
        raise _fail(path, "no layers")
    net = cls(dtype=dtype)
    expected_names = set()
    for i, spec in enumerate(specs):
        if (
            not isinstance(spec, dict)
            or spec.get("type") not in LAYER_TYPES
            or not isinstance(spec.get("config"), dict)
        ):
            raise _fail(path, f"layer {i} has an unknown type or no config: {spec!r}")
        layer_cls = LAYER_TYPES[spec["type"]]
        config = dict(spec["config"])
        if layer_cls.param_names:
            config["initializer"] = np.zeros  # nothing random while loading
        try:
            layer = layer_cls(**config)
        except (TypeError, ValueError) as exc:
            raise _fail(path, f"layer {i} ({spec['type']}) config {spec['config']!r}: {exc}") from None
        for name in layer.param_names:
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
    return net
