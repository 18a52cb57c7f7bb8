"""Models that figures need trained, trained once and kept beside the figures.

``atlas figures`` writes each trained model to ``<out>/models/<name>-<recipe>.npz`` with its
history in ``<name>-<recipe>.json``; the figures of the same family, later runs, and the
pages that report on the run load them instead of training again. ``<recipe>`` is a hash of
the training settings, so a model trained with other settings is never reused: changing a
recipe retrains. Deleting the folder retrains everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from atlas.figures.registry import DEFAULT_OUT
from atlas.io import atomic_write
from atlas.nn import load

_directory = DEFAULT_OUT / "models"
_memory: dict = {}


@contextlib.contextmanager
def directory(path):
    """Keep trained models under ``path`` inside the ``with`` block."""
    global _directory
    previous, _directory = _directory, Path(path)
    try:
        yield
    finally:
        _directory = previous


def paths(name, recipe=None):
    """Where the model ``name`` trained with the settings ``recipe`` (JSON-serialisable)
    and its history are kept."""
    if recipe is not None:
        text = json.dumps(recipe, sort_keys=True, default=str)
        name = f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    return _directory / f"{name}.npz", _directory / f"{name}.json"


def trained(name, train, recipe=None):
    """``(model, history)`` for ``name`` trained with the settings ``recipe``: from memory,
    from disk, or by calling ``train()`` (which returns them) and saving the result
    atomically."""
    weights, history_path = paths(name, recipe)
    key = weights.resolve()
    if key in _memory:
        return _memory[key]
    if weights.exists() and history_path.exists():
        result = load(weights), json.loads(history_path.read_text())
    else:
        model, history = train()
        model.save(weights)
        text = json.dumps(history, indent=1, sort_keys=True)
        atomic_write(history_path, lambda f: f.write(text.encode()))
        result = model, history
    _memory[key] = result
    return result
