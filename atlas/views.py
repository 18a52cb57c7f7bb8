"""Reshaped views of arrays, made once per array and shape.

A layer hands its kernels views of its arrays: a flat vector for the element-wise kernels,
a matrix for a product. Reshaping a NumPy array costs a fraction of a microsecond, but
reshaping a GPU array builds a new numba-cuda device array on the host (numba-cuda's
slicing of a device array took about 35 us on an H200, as long as a kernel launch), and a
LeNet-5 training step asked for 51 of them. The arrays of a training step are the same
from step to step (the parameters, their gradients, the `atlas.arena`'s temporaries), so
`reshaped` keeps each device array's views on the array itself, and a steady-state step
makes none.

>>> import numpy as np
>>> flat(np.zeros((2, 3))).shape
(6,)
"""

from __future__ import annotations

import numpy as np


def reshaped(x, *shape):
    """``x.reshape(*shape)`` (a view of the same values); for a device array, the view made
    the first time and kept on ``x`` (``x._atlas_views``), so the same view every time."""
    if isinstance(x, np.ndarray):
        return x.reshape(shape)
    views = x.__dict__.setdefault("_atlas_views", {})
    view = views.get(shape)
    if view is None:
        view = views[shape] = x if tuple(x.shape) == shape else x.reshape(shape)
    return view


def flat(x):
    """A 1-D view of a contiguous array (what the element-wise kernels take)."""
    if isinstance(x, np.ndarray):  # the CPU's every step: no detour through reshaped
        return x.reshape(x.size)
    return reshaped(x, x.size)


def channel_view(x):
    """A 3-D view ``(N, C, S)`` of ``(N, C, ...)``: dense features or image channels alike."""
    return reshaped(x, x.shape[0], x.shape[1], x.size // (x.shape[0] * x.shape[1]))


def part(x, index):
    """``x[index]`` for an integer ``index``, ``x[start:stop]`` for ``index = (start,
    stop)``: a view along the first axis, kept on a device array as `reshaped` keeps
    its views."""
    if isinstance(x, np.ndarray):
        return x[index] if isinstance(index, int) else x[index[0]:index[1]]
    views = x.__dict__.setdefault("_atlas_views", {})
    key = ("part", index)
    view = views.get(key)
    if view is None:
        view = views[key] = x[index] if isinstance(index, int) else x[index[0]:index[1]]
    return view
