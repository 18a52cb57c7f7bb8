r"""Fully connected layer kernels: $y = x W + b$.

Shapes: ``x (N, in)``, ``W (in, out)``, ``b (out,)``, ``y (N, out)``. The matrix products
go to BLAS (Numba's ``np.dot`` calls SciPy's), the bias loops are compiled. BLAS splits
each product over the threads itself (`atlas.kernels.cpu.threads.using_blas_threads`): for
a dense layer's few large products it does better than pieces of the batch, each of which
would pack the whole weight matrix (the two-convolution network's 3136 x 1024 layer,
forward / backward: 4.2 / 7.1 ms against 6.5 / 10.3 ms on two cores).
"""

import numpy as np

from atlas.kernels.cpu import threads
from atlas.kernels.cpu.activations import _chain, activation_forward
from atlas.kernels.jit import kernel


@threads.using_blas_threads
@kernel
def dense_forward(x, W, b, y):
    r"""Forward pass: $y = x W + b$ (the bias broadcast over the batch)."""
    np.dot(x, W, y)
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            y[i, j] += b[j]


def dense_forward_activated(x, W, b, kind, alpha, z, y):
    r"""A dense layer and the element-wise activation after it: $z = x W + b$, then $y =
    f(z)$, $f$ the activation of code ``kind`` (see `scalar`), as `atlas.nn.Sequential`
    runs the two layers. Here the two kernels in turn; the CUDA twin writes ``y`` in the
    product's epilogue, one launch for both."""
    dense_forward(x, W, b, z)
    activation_forward(z.reshape(-1), kind, alpha, y.reshape(-1))


@threads.using_blas_threads
@kernel
def dense_backward_input(dy, W, dx):
    r"""Gradient with respect to the input: $dx = dy\, W^\top$ ``(N, in)``.

    A separate kernel, so that the first layer of a network, whose input needs no
    gradient, skips this product (a third of its backward pass).
    """
    np.dot(dy, W.T, dx)


def dense_backward_input_chained(dy, W, kind, alpha, z, x, dx):
    r"""The input gradient through the element-wise activation before the layer, $x =
    f(z)$: $dz = (dy\, W^\top) \odot f'(z)$, into ``dx`` (as `atlas.nn.Sequential`
    runs the two layers' backward). Here `dense_backward_input`, then the activation's
    loop over ``dx`` in place; the CUDA twin multiplies in the product's epilogue, one
    launch for both."""
    dense_backward_input(dy, W, dx)
    _chain(kind, alpha, z, x, dx)


@threads.using_blas_threads
@kernel
def dense_backward_params(x, dy, dW, db):
    r"""Gradients with respect to the parameters (overwritten, not accumulated):

    $$
    dW = x^\top dy \quad (in, out), \qquad db = \textstyle\sum_n dy_n \quad (out,)
    $$
    """
    np.dot(x.T, dy, dW)
    _column_sums(dy, db)


@kernel
def _column_sums(m, out):
    """``out[j] = sum over i of m[i, j]`` (a bias gradient), row by row so that it vectorises."""
    rows, cols = m.shape
    for j in range(cols):
        out[j] = 0.0
    for i in range(rows):
        for j in range(cols):
            out[j] += m[i, j]
