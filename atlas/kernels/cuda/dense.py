r"""CUDA twins of `dense`.

The matrix products run in one tiled kernel: each block computes a ``TILE x TILE`` tile of
the output, staging ``TILE x TILE`` tiles of both operands through shared memory so that
each element read from global memory is used ``TILE`` times. Flags select
$A^\top$ or $B^\top$ without copying, which is all the backward pass needs.
"""

import numpy as np
from numba import cuda

from atlas.kernels.cuda.launch import THREADS, blocks

TILE = 16


def _make_matmul(dtype):
    """Compile-time dtype of the shared tiles: one matmul kernel per floating type."""

    @cuda.jit
    def matmul(a, b, c, trans_a, trans_b):
        # c (M, N) = op(a) (M, K) @ op(b) (K, N), op = transpose when the flag is set.
        tile_a = cuda.shared.array((TILE, TILE), dtype)
        tile_b = cuda.shared.array((TILE, TILE), dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        m, n = c.shape
        k_total = a.shape[0] if trans_a else a.shape[1]
        acc = 0.0
        for start in range(0, k_total, TILE):
            k = start + tx
            if row < m and k < k_total:
                tile_a[ty, tx] = a[k, row] if trans_a else a[row, k]
            else:
                tile_a[ty, tx] = 0
            k = start + ty
            if col < n and k < k_total:
                tile_b[ty, tx] = b[col, k] if trans_b else b[k, col]
            else:
                tile_b[ty, tx] = 0
            cuda.syncthreads()
            for kk in range(TILE):
                acc += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()
        if row < m and col < n:
            c[row, col] = acc

    return matmul


_MATMUL = {np.dtype(np.float32): _make_matmul(np.float32),
           np.dtype(np.float64): _make_matmul(np.float64)}


def matmul(a, b, c, trans_a=False, trans_b=False):
    """``c = op(a) @ op(b)`` on the device (``op`` transposes when its flag is set)."""
    m, n = c.shape
    grid = ((n + TILE - 1) // TILE, (m + TILE - 1) // TILE)
    _MATMUL[np.dtype(c.dtype)][grid, (TILE, TILE)](a, b, c, trans_a, trans_b)


@cuda.jit
def _add_bias(y, b):
    i = cuda.grid(1)
    n, m = y.shape
    if i < y.size:
        y[i // m, i % m] += b[i % m]


@cuda.jit
def _column_sums(dy, db):
    j = cuda.grid(1)
    n, m = dy.shape
    if j < m:
        total = 0.0
        for i in range(n):
            total += dy[i, j]
        db[j] = total


def dense_forward(x, W, b, y):
    matmul(x, W, y)
    _add_bias[blocks(y.size), THREADS](y, b)


def dense_backward_input(dy, W, dx):
    matmul(dy, W, dx, trans_b=True)


def dense_backward_params(x, dy, dW, db):
    matmul(x, dy, dW, trans_a=True)
    _column_sums[blocks(dy.shape[1]), THREADS](dy, db)
