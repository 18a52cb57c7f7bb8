r"""Merge layers: several tensors in, one out. `Add`, `Multiply`, `Concatenate`.

They exist for graphs (`atlas.Model`): a residual block adds its input to what its
convolutions made of it, a question-answering model concatenates an image's code and a
question's. Their gradients are the chain rule at its simplest:

$$
y = \sum_k x_k:\ \frac{\partial L}{\partial x_k} = \frac{\partial L}{\partial y}, \qquad
y = \prod_k x_k:\ \frac{\partial L}{\partial x_k} = \frac{\partial L}{\partial y} \odot
\prod_{j \ne k} x_j,
$$

and a concatenation hands each input back its own slice of $\partial L / \partial y$.
"""

from __future__ import annotations

import math

from atlas.backend import flat
from atlas.checks import integer
from atlas.nn.layer import Layer


class _Merge(Layer):
    """Takes a list of at least two tensors (``takes_list``)."""

    takes_list = True

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ValueError(f"{self.kind} merges two or more tensors, got {len(shapes)}")
        return self.merged_shape(shapes)

    def merged_shape(self, shapes):
        """Element-wise merges need one shape for all."""
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{self.kind} needs inputs of one shape, got "
                             f"{', '.join(str((None, *s)) for s in shapes)}")
        return shapes[0]

    def check_inputs(self, xs):
        if len(xs) != len(self.input_shape):
            raise ValueError(f"{self.kind} was built for {len(self.input_shape)} inputs, got "
                             f"{len(xs)}")
        for x, shape in zip(xs, self.input_shape):
            if tuple(x.shape[1:]) != shape or x.shape[0] != xs[0].shape[0]:
                raise ValueError(f"{self.kind} expected inputs of shapes "
                                 f"{', '.join(str(('N', *s)) for s in self.input_shape)}, got "
                                 f"{', '.join(str(tuple(a.shape)) for a in xs)}")


class Add(_Merge):
    r"""The element-wise sum of its inputs, $y = \sum_k x_k$ (all of one shape)."""

    def forward(self, xs, training=True):
        self.check_inputs(xs)
        y = self.backend.scratch(tuple(xs[0].shape), self.dtype)
        self.backend.kernels.add(flat(xs[0]), flat(xs[1]), flat(y))
        for x in xs[2:]:
            self.backend.kernels.add(flat(y), flat(x), flat(y))
        self._count = len(xs)
        return y

    def backward(self, dy):
        return [dy] * self._count


class Multiply(_Merge):
    r"""The element-wise product of its inputs, $y = \prod_k x_k$ (all of one shape)."""

    def forward(self, xs, training=True):
        self.check_inputs(xs)
        self._xs = list(xs)
        y = self.backend.scratch(tuple(xs[0].shape), self.dtype)
        self.backend.kernels.multiply(flat(xs[0]), flat(xs[1]), flat(y))
        for x in xs[2:]:
            self.backend.kernels.multiply(flat(y), flat(x), flat(y))
        return y

    def backward(self, dy):
        grads = []
        for k in range(len(self._xs)):
            others = [x for j, x in enumerate(self._xs) if j != k]
            d = self.backend.scratch(tuple(dy.shape), self.dtype)
            self.backend.kernels.multiply(flat(dy), flat(others[0]), flat(d))
            for x in others[1:]:
                self.backend.kernels.multiply(flat(d), flat(x), flat(d))
            grads.append(d)
        return grads


class Concatenate(_Merge):
    """Its inputs side by side along ``axis`` (of the full array, batch axis included:
    -1, the default, is the features of vectors; 1 is the channels of images). All other
    axes must agree.

    Parameters
    ----------
    axis : int
        Any axis but the batch axis (0).
    """

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = integer(axis, "axis", "Concatenate", minimum=-(1 << 30))
        if self.axis == 0:
            raise ValueError("Concatenate: axis 0 is the batch; concatenate along another axis")

    def _sample_axis(self, rank):
        """The axis among the per-sample axes (0-based), or a ValueError."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ValueError(f"Concatenate: axis {self.axis} does not exist for inputs with "
                             f"{rank} axes per sample (plus the batch)")
        return axis

    def merged_shape(self, shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(f"Concatenate needs inputs with the same number of axes, got "
                             f"{', '.join(str((None, *s)) for s in shapes)}")
        axis = self._sample_axis(ranks.pop())
        others = {s[:axis] + s[axis + 1:] for s in shapes}
        if len(others) != 1:
            raise ValueError(f"Concatenate along axis {self.axis} needs the other axes to "
                             f"agree, got {', '.join(str((None, *s)) for s in shapes)}")
        first = shapes[0]
        return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])

    def _columns(self, a, shape):
        """``a`` as the ``(rows, columns)`` matrix whose columns are concatenated."""
        axis = self._sample_axis(len(shape))
        rows = a.shape[0] * math.prod(shape[:axis])
        return a.reshape(rows, a.size // rows)

    def forward(self, xs, training=True):
        self.check_inputs(xs)
        y = self.backend.scratch((xs[0].shape[0], *self.output_shape), self.dtype)
        out = self._columns(y, self.output_shape)
        offset = 0
        for x, shape in zip(xs, self.input_shape):
            part = self._columns(x, shape)
            self.backend.kernels.copy_columns(part, out, offset)
            offset += part.shape[1]
        return y

    def backward(self, dy):
        grad = self._columns(dy, self.output_shape)
        grads, offset = [], 0
        for shape in self.input_shape:
            dx = self.backend.scratch((dy.shape[0], *shape), self.dtype)
            part = self._columns(dx, shape)
            self.backend.kernels.take_columns(grad, offset, part)
            offset += part.shape[1]
            grads.append(dx)
        return grads

    def get_config(self):
        return {"axis": self.axis, "name": self.name}
