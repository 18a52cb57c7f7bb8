"""Figures of the backpropagation page: Mazur's 2-2-2 network learning."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure
from atlas.models import mazur

STEPS = 10_000


@figure("mazur-error", "Total error of the 2-2-2 network over 10,000 gradient-descent "
        "updates (learning rate 0.5), computed by atlas.models.mazur.")
def mazur_error():
    _, errors = mazur.train(STEPS)
    fig, ax = style.subplots(width=6.5, height=3.3)
    steps = np.arange(len(errors))
    ax.loglog(steps[1:], errors[1:], color=style.COLORS[0])
    ax.scatter([1, STEPS], [errors[1], errors[STEPS]], color=style.COLORS[3], zorder=3)
    ax.annotate(f"after 1 update: {errors[1]:.9f}", (1, errors[1]), xytext=(8, -14),
                textcoords="offset points", fontsize=8)
    ax.annotate(f"after {STEPS:,}: {errors[STEPS]:.4e}", (STEPS, errors[STEPS]),
                xytext=(-150, 10), textcoords="offset points", fontsize=8)
    ax.set(xlabel="updates", ylabel="total error E", title="the 2-2-2 network learns its targets")
    return fig
