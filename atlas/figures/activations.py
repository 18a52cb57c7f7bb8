"""Figures of the activations page: each function and its derivative, as the engine computes them."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure
from atlas.nn import Activation

#: The activations the course covers, in the order the page discusses them.
SHOWN = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "swish", "softplus", "gelu")


def activation_and_derivative(function, x, alpha=None):
    """``f(x)`` and ``f'(x)`` from the engine's `Activation` layer, in float64.

    The derivative is the layer's backward pass applied to a gradient of ones.
    """
    layer = Activation(function, alpha).build((x.size,), dtype="float64")
    y = layer.forward(np.asarray(x, np.float64)[None, :], training=False)
    dx = layer.backward(np.ones_like(y))
    return y[0], dx[0]


@figure("activations", "Each activation (solid) and its derivative (dashed), computed by the "
        "engine's forward and backward kernels.")
def activations():
    x = np.linspace(-4.0, 4.0, 401)
    fig, axes = style.subplots(2, 4, width=9.0, height=4.4, sharex=True)
    for ax, name in zip(axes.flat, SHOWN):
        alpha = 0.1 if name == "leaky_relu" else None  # 0.01 is invisible at this scale
        y, dy = activation_and_derivative(name, x, alpha)
        ax.plot(x, y, color=style.COLORS[0], label="f(x)")
        ax.plot(x, dy, color=style.COLORS[3], linestyle="--", label="f'(x)")
        ax.set_title(name if alpha is None else f"{name} (α = {alpha})")
        ax.set_ylim(-1.6, 4.1)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
    axes[0, 0].legend(loc="upper left")
    for ax in axes[1]:
        ax.set_xlabel("x")
    return fig
