r"""Merging tensors: element-wise sum and product, and concatenation.

The merge layers (`atlas.nn.merge`) and the graph model's gradient bookkeeping (a tensor
that feeds several layers receives the sum of their gradients) use these kernels. All
arrays are flat (sum, product) or 2-D (concatenation): concatenating arrays of shape
$(A, B_k, C)$ along their middle axis is concatenating the columns of their
$(A, B_k C)$ views, so one pair of kernels serves every axis.
"""

from atlas.kernels.cpu import threads
from atlas.kernels.jit import kernel


@threads.elementwise
@kernel
def add(a, b, y):
    r"""$y_i = a_i + b_i$ (flat arrays; ``y`` may be ``a``)."""
    for i in range(y.size):
        y[i] = a[i] + b[i]


@threads.elementwise
@kernel
def multiply(a, b, y):
    r"""$y_i = a_i b_i$ (flat arrays). Also the backward pass of a product:
    $\partial L / \partial a = \partial L / \partial y \odot b$."""
    for i in range(y.size):
        y[i] = a[i] * b[i]


@kernel
def copy_columns(src, dst, offset):
    """``dst[r, offset + k] = src[r, k]``: place ``src (R, K)`` in ``dst (R, M)`` from column
    ``offset`` on (one input of a concatenation)."""
    rows, width = src.shape
    for r in range(rows):
        for k in range(width):
            dst[r, offset + k] = src[r, k]


@kernel
def take_columns(src, offset, dst):
    """``dst[r, k] = src[r, offset + k]``: the columns of ``src (R, M)`` that one input of a
    concatenation gave (its gradient)."""
    rows, width = dst.shape
    for r in range(rows):
        for k in range(width):
            dst[r, k] = src[r, offset + k]
