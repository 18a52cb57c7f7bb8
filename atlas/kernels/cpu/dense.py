r"""Fully connected layer kernels: $y = x W + b$.

Shapes: ``x (N, in)``, ``W (in, out)``, ``b (out,)``, ``y (N, out)``. The matrix products
go to BLAS (Numba's ``np.dot`` calls SciPy's), the bias loops are compiled. The entry points
run on pieces at once (`atlas.kernels.cpu.threads`): rows of the batch for the forward pass
and the input gradient, rows of $dW$ (one per input feature) for the weight gradient.
"""

import numpy as np

from atlas.kernels.cpu import threads
from atlas.kernels.jit import kernel

#: Fewest rows per piece: below it, a piece's product is too small to be worth a thread.
ROWS_PER_PIECE = 16


@kernel
def _affine(x, W, b, y):
    r"""$y = x W + b$ (the bias broadcast over the rows)."""
    np.dot(x, W, y)
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            y[i, j] += b[j]


@kernel
def _product(a, b, out):
    """``out = a @ b``."""
    np.dot(a, b, out)


@kernel
def _product_transposed(a, b, out):
    """``out = a @ b.T``."""
    np.dot(a, b.T, out)


def dense_forward(x, W, b, y):
    r"""Forward pass: $y = x W + b$, `_affine` on pieces of the batch."""
    threads.run(_affine, [(x[s:e], W, b, y[s:e])
                         for s, e in threads.split(len(x), ROWS_PER_PIECE)])


def dense_backward_input(dy, W, dx):
    r"""Gradient with respect to the input: $dx = dy\, W^\top$ ``(N, in)``.

    A separate kernel, so that the first layer of a network, whose input needs no
    gradient, skips this product (a third of its backward pass).
    """
    threads.run(_product_transposed, [(dy[s:e], W, dx[s:e])
                                      for s, e in threads.split(len(dy), ROWS_PER_PIECE)])


def dense_backward_params(x, dy, dW, db):
    r"""Gradients with respect to the parameters (overwritten, not accumulated):

    $$
    dW = x^\top dy \quad (in, out), \qquad db = \textstyle\sum_n dy_n \quad (out,)
    $$

    Row $i$ of $dW$ is column $i$ of $x$ times $dy$: the rows split into independent
    pieces, each reading its rows of a contiguous copy of $x^\top$.
    """
    x_t = np.ascontiguousarray(x.T)
    threads.run(_product, [(x_t[s:e], dy, dW[s:e])
                           for s, e in threads.split(len(x_t), ROWS_PER_PIECE)])
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
