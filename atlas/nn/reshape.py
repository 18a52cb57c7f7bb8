"""Layers that only change the shape of their input."""

from __future__ import annotations

import math

from atlas.nn.layer import Layer


class Flatten(Layer):
    """Reshape each sample to a vector: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=True):
        self.check_input(x)
        return x.reshape(x.shape[0], self.output_shape[0])

    def backward(self, dy):
        return dy.reshape(dy.shape[0], *self.input_shape)
