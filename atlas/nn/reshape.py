"""Layers that only change the shape of their input: no arithmetic, the same values in the
same order (the backward pass reshapes the gradient back)."""

from __future__ import annotations

import math

from atlas.checks import integer
from atlas.nn.layer import Layer
from atlas.views import reshaped


class Flatten(Layer):
    """Reshape each sample to a vector: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=True):
        self.check_input(x)
        return reshaped(x, x.shape[0], self.output_shape[0])

    def backward(self, dy):
        return reshaped(dy, dy.shape[0], *self.input_shape)


class Reshape(Layer):
    """Reshape each sample to ``shape``: ``(N, 6272) -> (N, 128, 7, 7)`` after the dense
    layer of a DCGAN generator, say. The sizes must agree: ``prod(shape)`` equals the
    number of values in a sample.

    Parameters
    ----------
    shape : tuple of int
        The per-sample output shape (no batch axis).
    """

    def __init__(self, shape, name=None):
        super().__init__(name)
        if isinstance(shape, str) or not hasattr(shape, "__iter__"):
            raise TypeError(f"Reshape: shape must be a tuple of positive integers, got {shape!r}")
        self.shape = tuple(integer(d, "shape", "Reshape") for d in shape)
        if not self.shape:
            raise ValueError("Reshape: shape must have at least one axis")

    def compute_output_shape(self, input_shape):
        if math.prod(input_shape) != math.prod(self.shape):
            raise ValueError(f"Reshape: cannot reshape samples of shape {tuple(input_shape)} "
                             f"({math.prod(input_shape)} values) to {self.shape} "
                             f"({math.prod(self.shape)} values)")
        return self.shape

    def forward(self, x, training=True):
        self.check_input(x)
        return reshaped(x, x.shape[0], *self.shape)

    def backward(self, dy):
        return reshaped(dy, dy.shape[0], *self.input_shape)

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name}
