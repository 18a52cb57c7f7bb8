"""Multi-layer perceptrons for Fashion-MNIST (and any flat input)."""

from __future__ import annotations

from atlas.nn import Activation, Dense, Dropout, Flatten, Sequential


def mlp(hidden=(256,), input_shape=(28, 28), classes=10, activation="relu", dropout=0.0,
        device="cpu", seed=0):
    """``Flatten -> [Dense -> activation -> Dropout] * len(hidden) -> Dense(classes)``.

    The output is logits: pair it with the softmax cross-entropy loss. Hidden weights use
    Kaiming (He) initialisation, suited to ReLU.
    """
    layers = [Flatten()]
    for units in hidden:
        layers += [Dense(units, weight_init="he_uniform"), Activation(activation)]
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(classes))
    return Sequential(layers, input_shape=input_shape, device=device, seed=seed, name="mlp")
