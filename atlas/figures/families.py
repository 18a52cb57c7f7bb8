"""Importing this module registers every figure family (one module per page family)."""

from atlas.figures import (  # noqa: F401
    activations,
    backprop,
    convolution,
    detection,
    explain,
    fashion_mnist,
    generative,
    graphs,
    initialization,
    losses,
    optimization,
    recurrent,
    regularization,
    rl,
    search,
    textures,
)
