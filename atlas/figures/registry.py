"""The figure registry behind ``atlas figures``.

Each figure is a function that takes no argument and returns a matplotlib ``Figure``; the
:func:`figure` decorator registers it under a name, and :func:`render` writes it to
``<out>/<name>.svg``. Rendering is deterministic: every figure seeds its own random
generators, and SVGs are written without a date and with a fixed hash salt, so a second run
writes the same bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atlas.io import atomic_write

#: With ``ATLAS_QUICK_FIGURES=1`` in the environment, figures that train models train small
#: ones (see `recipe`) and go to ``build/quick-figures``: what `make test` builds the site
#: with, so that CI checks that every page builds and renders without the minutes of
#: training the real figures take. `make run` draws the real ones into ``figures/``.
QUICK = os.environ.get("ATLAS_QUICK_FIGURES", "") not in ("", "0")

#: Where ``atlas figures`` writes, relative to the working directory (the repository root).
DEFAULT_OUT = Path("build/quick-figures") if QUICK else Path("figures")


def recipe(full, quick):
    """``full``, or ``quick`` when the figures are drawn quickly (``ATLAS_QUICK_FIGURES=1``):
    a training budget (epochs, steps, images) that differs between the two."""
    return quick if QUICK else full


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its file name (without ``.svg``), a one-line caption, the
    function that draws it, and whether drawing it trains a model on Fashion-MNIST."""

    name: str
    caption: str
    draw: Callable
    trains: bool = False

    def filename(self):
        return f"{self.name}.svg"


FIGURES: dict[str, FigureSpec] = {}


def figure(name, caption, *, trains=False):
    """Register the decorated function as the figure ``name``."""
    def register(draw):
        if name in FIGURES:
            raise ValueError(f"two figures are named {name!r}: "
                             f"{FIGURES[name].draw.__module__} and {draw.__module__}")
        FIGURES[name] = FigureSpec(name, caption, draw, trains)
        return draw
    return register


def all_figures():
    """Every registered figure, in registration order (the families are imported here)."""
    from atlas.figures import families  # noqa: F401  (importing registers them)
    return dict(FIGURES)


def select(names=None):
    """The figures named in ``names`` (all when None); an unknown name is an error that
    lists the known ones."""
    figures = all_figures()
    if not names:
        return list(figures.values())
    unknown = [n for n in names if n not in figures]
    if unknown:
        raise KeyError(f"no figure named {', '.join(map(repr, unknown))}; "
                       f"known figures: {', '.join(figures)}")
    return [figures[n] for n in names]


def to_svg_bytes(fig):
    """The figure as SVG bytes, with no date and a fixed hash salt (same bytes every run)."""
    return to_bytes(fig, "svg")


def to_bytes(fig, fmt):
    """The figure as ``fmt`` ("svg", "png" or "pdf") bytes, without a date (the same bytes
    every run); the figure is closed."""
    import matplotlib
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    metadata = {"svg": {"Date": None, "Creator": "atlas figures"},
                "pdf": {"CreationDate": None, "Creator": "atlas figures"},
                "png": {"Software": "atlas figures"}}[fmt]
    with matplotlib.rc_context({"svg.hashsalt": "deep-learning-atlas"}):
        fig.savefig(buffer, format=fmt, metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


#: The file types `write_figure` writes, by suffix.
FORMATS = (".png", ".svg", ".pdf")


def figure_path(path):
    """``path`` as a `Path` if its suffix is one of `FORMATS`, else a ValueError that says
    which are: checked before the work of drawing, not after."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"cannot write {path}: give a file name ending in "
                         f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return path


def write_figure(fig, path):
    """Write ``fig`` to ``path`` (PNG, SVG or PDF by its suffix) atomically; return the
    path. The figure is closed."""
    path = figure_path(path)
    data = to_bytes(fig, path.suffix.lower()[1:])
    return atomic_write(path, lambda f: f.write(data))


def render(spec, out=DEFAULT_OUT):
    """Draw ``spec`` and write it atomically to ``out/<name>.svg``; return the path."""
    from atlas.figures import style, trained

    with style.context(), trained.directory(Path(out) / "models"):
        fig = spec.draw()
    data = to_svg_bytes(fig)
    return atomic_write(Path(out) / spec.filename(), lambda f: f.write(data))
