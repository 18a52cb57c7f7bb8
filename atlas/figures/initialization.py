"""Figures of the initialisation page: how activations spread through a deep network under
each initialiser."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure
from atlas.nn import Activation, Dense, Sequential

#: The schemes compared, as the engine's initialiser names and arguments.
SCHEMES = {
    "uniform ±0.05": {"name": "uniform", "low": -0.05, "high": 0.05},
    "normal σ = 1": {"name": "normal", "std": 1.0},
    "Glorot (Xavier) uniform": "glorot_uniform",
    "Kaiming (He) normal": "he_normal",
}

DEPTH = 10
WIDTH = 256


def activation_statistics(activation, weight_init, depth=DEPTH, width=WIDTH, batch=512, seed=0):
    """Standard deviation of the activations after each of ``depth`` layers of ``width``
    units (biases zero), for standard normal inputs; also the last layer's activations."""
    layers = []
    for _ in range(depth):
        layers += [Dense(width, weight_init=weight_init, bias_init="zeros"), Activation(activation)]
    model = Sequential(layers, input_shape=(width,), dtype="float64", seed=seed, name="deep")
    x = np.random.default_rng(seed).standard_normal((batch, width))
    stds = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        if isinstance(layer, Activation):
            stds.append(float(np.std(x)))
    return np.array(stds), x


@figure("init-activations", "Standard deviation of the activations through ten layers of "
        "256 units, under each initialiser, for tanh and ReLU networks (log scale).")
def init_activations():
    fig, axes = style.subplots(1, 2, width=9.0, height=3.4)
    for ax, activation in zip(axes, ("tanh", "relu")):
        for color, (label, spec) in zip(style.COLORS, SCHEMES.items()):
            stds, _ = activation_statistics(activation, spec)
            ax.semilogy(np.arange(1, DEPTH + 1), stds, marker="o", markersize=3, color=color,
                        label=label)
        ax.set(title=f"{activation} network", xlabel="layer", ylabel="std of activations")
    axes[0].legend()
    return fig


@figure("init-histograms", "Histograms of the tenth tanh layer's activations under each "
        "initialiser: saturated at ±1, collapsed to 0, or spread out.")
def init_histograms():
    fig, axes = style.subplots(1, len(SCHEMES), width=10.0, height=2.6, sharey=True)
    for ax, color, (label, spec) in zip(axes, style.COLORS, SCHEMES.items()):
        _, last = activation_statistics("tanh", spec)
        ax.hist(last.ravel(), bins=np.linspace(-1, 1, 41), color=color, density=True)
        ax.set(title=label, xlabel="activation")
        ax.title.set_fontsize(9)
    return fig
