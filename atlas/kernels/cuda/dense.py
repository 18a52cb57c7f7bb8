r"""CUDA twins of `dense`: the products run in `gemm` (read it for the kernels).

The forward pass is one product whose epilogue adds the bias; the backward pass is two
products with a transpose flag each (read without copying) and a sum per column for the
bias gradient.
"""

from numba import cuda

from atlas.kernels.cuda.gemm import matmul
from atlas.kernels.cuda.launch import blocks
from atlas.kernels.cuda.launcher import kernel

#: The column sums' blocks: ``COLUMNS`` columns side by side (consecutive threads read
#: consecutive addresses), each summed by ``ROW_GROUPS`` threads over every
#: ``ROW_GROUPS``-th row.
COLUMNS, ROW_GROUPS = 32, 8


@kernel
def _column_sums(dy, db):
    """``db[j] = sum_i dy[i, j]``: thread ``(tx, ty)`` of block ``b`` sums rows ``ty,
    ty + ROW_GROUPS, ...`` of column ``32 b + tx``, then the first row of threads adds the
    ``ROW_GROUPS`` parts in order (the result does not depend on the threads' timing)."""
    parts = cuda.shared.array((ROW_GROUPS, COLUMNS), dtype="float64")
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * COLUMNS + tx
    n, m = dy.shape
    part = 0.0
    if j < m:
        for i in range(ty, n, ROW_GROUPS):
            part += dy[i, j]
    parts[ty, tx] = part
    cuda.syncthreads()
    if ty == 0 and j < m:
        total = parts[0, tx]
        for g in range(1, ROW_GROUPS):
            total += parts[g, tx]
        db[j] = total


def column_sums(dy, db):
    """``db = dy.sum(axis=0)`` on the device (the bias gradient of a dense layer)."""
    _column_sums[blocks(dy.shape[1], COLUMNS), (COLUMNS, ROW_GROUPS)](dy, db)


def dense_forward(x, W, b, y):
    matmul(x, W, y, bias=b)


def dense_backward_input(dy, W, dx):
    matmul(dy, W, dx, trans_b=True)


def dense_backward_params(x, dy, dW, db):
    matmul(x, dy, dW, trans_a=True)
    column_sums(dy, db)
