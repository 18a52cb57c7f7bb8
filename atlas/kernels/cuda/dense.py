r"""CUDA twins of `dense`: the products run in `gemm` (read it for the kernels).

The forward pass is one product whose epilogue adds the bias (and, with an activation
after the layer, writes its output too: `dense_forward_activated`); the backward pass is two
products with a transpose flag each (read without copying), the first giving the weight
and the bias gradients together (the input with a column of ones, $[x, 1]^\top dy$), the
second the input gradient (multiplied in its epilogue by the derivative of an activation
before the layer: `dense_backward_input_chained`).
"""

from atlas.kernels.cuda.gemm import DENSE_GRADIENTS, matmul
from atlas.kernels.scalar import chain_saved


def dense_forward(x, W, b, y):
    matmul(x, W, y, bias=b)


def dense_forward_activated(x, W, b, kind, alpha, z, y):
    matmul(x, W, z, bias=b, activation=(kind, alpha, y))


def dense_backward_input(dy, W, dx):
    matmul(dy, W, dx, trans_b=True)


def dense_backward_input_chained(dy, W, kind, alpha, z, x, dx):
    matmul(dy, W, dx, trans_b=True, chain=(kind, alpha, chain_saved(kind, z, x)))


def dense_backward_params(x, dy, dW, db):
    """``[dW; db] = [x, 1]^T dy`` in one product (see `gemm.DENSE_GRADIENTS`)."""
    n, d_in = x.shape
    DENSE_GRADIENTS(x, dy, dW, d_in + 1, dy.shape[1], n, bias=db, a_k_major=True)
