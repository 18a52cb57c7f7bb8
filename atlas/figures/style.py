"""One look for every figure: sizes, colours, fonts."""

from __future__ import annotations

import contextlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

#: A colour-blind-safe cycle (Okabe and Ito), one colour per curve.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
          "#000000"]

RC = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
    "svg.fonttype": "path",
    "image.cmap": "viridis",
}


@contextlib.contextmanager
def context():
    """Matplotlib settings for one figure (restored afterwards)."""
    with matplotlib.rc_context(RC):
        yield


def subplots(nrows=1, ncols=1, width=7.0, height=3.6, **kwargs):
    """``plt.subplots`` with the figure size in inches and a constrained layout."""
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)


def image(ax, pixels, title=None, *, fontsize=8, frame=True, **imshow):
    """``pixels`` shown on ``ax`` as a picture: no ticks, no grid, an optional small title,
    and with ``frame=False`` no axis lines either. ``imshow`` goes to ``ax.imshow``."""
    ax.imshow(pixels, **imshow)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if not frame:
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=fontsize)
