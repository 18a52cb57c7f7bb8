"""Saving and loading models: arrays plus a JSON config in one ``.npz`` file, no pickle.

The file is a NumPy ``.npz`` archive holding every parameter and buffer under
``"<layer index>.<name>"`` and the model's config as JSON bytes under ``"__atlas__"``.
It is written atomically (`atomic_write`) and read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from atlas.io import atomic_write

#: The formats a model file may declare: a stack of layers, or a graph of them.
FORMATS = ("atlas.Sequential", "atlas.Model")
VERSION = 1
CONFIG_KEY = "__atlas__"
#: The first bytes of every zip archive, hence of every ``.npz`` file.
ZIP_MAGIC = b"PK\x03\x04"


def save_model(model, path):
    """Write ``model``'s config and arrays to ``path`` atomically; return the path."""
    config = model.get_config()
    kind = "atlas.Model" if "nodes" in config else "atlas.Sequential"
    header = {"format": kind, "version": VERSION, "config": config}
    arrays = {CONFIG_KEY: np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for i, layer in enumerate(model.layers):
        for store in (layer.params, layer.buffers):
            for name, value in store.items():
                arrays[f"{i}.{name}"] = model.backend.to_numpy(value)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def read_model_file(path):
    """``(config, arrays)`` of a saved model, with clear errors for missing or corrupt files."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not an atlas model file (.npz)")
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != ZIP_MAGIC:
        what = "an empty file" if not magic else f"a file that starts with {magic!r}"
        raise ValueError(f"{path} is not an atlas model file: that is a .npz (zip) archive "
                         f"written by model.save(), and this is {what}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable atlas model file (corrupt or truncated?): "
                         f"{error}") from error
    if CONFIG_KEY not in arrays:
        raise ValueError(f"{path} is an .npz archive but not an atlas model file "
                         f"(it has no {CONFIG_KEY!r} entry)")
    try:
        header = json.loads(arrays.pop(CONFIG_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the model config is corrupt: {error}") from error
    if header.get("format") not in FORMATS or header.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported format {header.get('format')!r} version "
                         f"{header.get('version')!r}; expected one of {FORMATS} version "
                         f"{VERSION}")
    return header["config"], arrays


def architecture(config):
    """The part of a config that must match for weights to fit: the layers, the input
    shapes and (for a graph) how the layers are wired; names do not matter."""
    wiring = {key: config[key] for key in ("nodes", "outputs") if key in config}
    return {"inputs": [list(shape) for shape in input_shapes(config)], **wiring,
            "layers": [{"class": layer["class"],
                        "config": {k: v for k, v in layer["config"].items() if k != "name"}}
                       for layer in config["layers"]]}


def input_shapes(config):
    """The per-sample input shapes a config declares (one for a `Sequential`)."""
    if "inputs" in config:
        return [tuple(spec["shape"]) for spec in config["inputs"]]
    return [tuple(config["input_shape"])]


def describe(config):
    """A one-line description of an architecture, for error messages."""
    layers = ", ".join(f"{layer['class']}{_short(layer['config'])}" for layer in config["layers"])
    shapes = ", ".join(map(str, input_shapes(config)))
    return f"input {shapes} -> [{layers}]"


def _short(config):
    keys = [k for k in ("units", "function", "rate") if k in config]
    return "(" + ", ".join(str(config[k]) for k in keys) + ")" if keys else ""
