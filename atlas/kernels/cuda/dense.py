r"""CUDA twins of `dense`.

The matrix products run in one of two kernels, with flags that select $A^\top$ or
$B^\top$ without copying (all the backward pass needs):

- the plain tiled product (read it first): each block computes a ``TILE x TILE`` tile of
  the output, one value per thread, staging ``TILE x TILE`` tiles of both operands through
  shared memory so that each element read from global memory is used ``TILE`` times;
- the register-blocked product, for outputs of at least `BLOCKED_MIN` rows and columns:
  each block computes ``BM x BN`` outputs, each of its 256 threads a ``TM x TN`` block of
  them held in registers, from ``BM x BK`` and ``BK x BN`` tiles in shared memory. Every
  value a thread loads from shared memory then feeds ``TM`` or ``TN`` multiply-adds
  instead of one, and the loads from global memory are coalesced for every transpose
  flag (consecutive threads read consecutive addresses of the operand as it is stored).
  Accumulators have the arrays' type (float32 products accumulate in float32).

Either kernel cuts a long sum into slices when its output alone would leave the GPU idle
(split-K): the dense layer's ``(64, 3136) x (3136, 1024)`` is 16 blocks of 64 x 64
outputs, a GPU runs hundreds at once, so each block of slice ``z`` sums only its part of
``K`` into ``partial[z]`` and one more kernel adds the slices, in a fixed order (the
result does not depend on which block finished first).
"""

import numpy as np
from numba import cuda

from atlas.kernels.cuda.launch import THREADS, blocks, scratch
from atlas.kernels.cuda.launcher import kernel

TILE = 16


def _make_matmul(dtype):
    """Compile-time dtype of the shared tiles: one matmul kernel per floating type."""

    @kernel
    def matmul(a, b, c, trans_a, trans_b, chunk, partial):
        # c (M, N) = op(a) (M, K) @ op(b) (K, N), op = transpose when the flag is set; with
        # slices of the sum (gridDim.z > 1), slice z = blockIdx.z (z * chunk <= k < (z + 1) *
        # chunk) goes to partial[z] instead.
        tile_a = cuda.shared.array((TILE, TILE), dtype)
        tile_b = cuda.shared.array((TILE, TILE), dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        z = cuda.blockIdx.z
        m, n = c.shape
        k_begin = z * chunk
        k_total = min(k_begin + chunk, a.shape[0] if trans_a else a.shape[1])
        acc = 0.0
        for start in range(k_begin, k_total, TILE):
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
            if cuda.gridDim.z == 1:
                c[row, col] = acc
            else:
                partial[z, row, col] = acc

    return matmul


#: The register-blocked product's tiles: a block computes BM x BN outputs in steps of BK
#: along the sum, with BM / TM x BN / TN = 256 threads of TM x TN outputs each.
BM, BN, BK, TM, TN = 64, 64, 16, 4, 4
BLOCKED_THREADS = (BM // TM) * (BN // TN)
#: Outputs with fewer rows or columns than this take the plain kernel (a 64 x 64 block
#: would be mostly idle).
BLOCKED_MIN = 64


def _make_stage(bk, threads):
    """The tile-staging device function for tiles ``bk`` deep, copied by ``threads``."""

    @cuda.jit(device=True)
    def stage(tile, src, k_major, start, limit, k, k_total, t):
        """``tile[kk, r]`` = the operand's value at index ``k + kk`` of the sum and
        ``start + r`` of the output (zero past ``limit`` or ``k_total``), for ``src``
        stored ``(K, ·)`` (``k_major``) or ``(·, K)``. Each of the block's threads copies
        ``tile.size / threads`` values, consecutive threads along ``src``'s contiguous
        axis."""
        width = tile.shape[1]
        for e in range(t, width * bk, threads):
            if k_major:
                kk, r = e // width, e % width
            else:
                r, kk = e // bk, e % bk
            if start + r < limit and k + kk < k_total:
                tile[kk, r] = src[k + kk, start + r] if k_major else src[start + r, k + kk]
            else:
                tile[kk, r] = 0

    return stage


def _make_blocked_matmul(dtype, tiles=(BM, BN, BK, TM, TN)):
    """The register-blocked product for one floating type and one tiling ``(bm, bn, bk,
    tm, tn)`` (see the module's docstring); it runs ``(bm // tm) * (bn // tn)`` threads a
    block."""
    bm, bn, bk, tm, tn = tiles
    threads = (bm // tm) * (bn // tn)
    stage = _make_stage(bk, threads)

    @kernel
    def matmul_blocked(a, b, c, trans_a, trans_b, chunk, partial):
        tile_a = cuda.shared.array((bk, bm), dtype)  # tile_a[kk, r] = op(a)[row0 + r, k + kk]
        tile_b = cuda.shared.array((bk, bn), dtype)  # tile_b[kk, q] = op(b)[k + kk, col0 + q]
        acc = cuda.local.array((tm, tn), dtype)
        a_frag = cuda.local.array(tm, dtype)
        b_frag = cuda.local.array(tn, dtype)
        t = cuda.threadIdx.x
        ty, tx = t // (bn // tn), t % (bn // tn)
        row0, col0, z = cuda.blockIdx.y * bm, cuda.blockIdx.x * bn, cuda.blockIdx.z
        m, n = c.shape
        k_begin = z * chunk
        k_total = min(k_begin + chunk, a.shape[0] if trans_a else a.shape[1])
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = 0
        for k in range(k_begin, k_total, bk):
            stage(tile_a, a, trans_a, row0, m, k, k_total, t)  # a (K, M) when transposed
            stage(tile_b, b, not trans_b, col0, n, k, k_total, t)  # b (K, N) when not
            cuda.syncthreads()
            for kk in range(bk):
                for i in range(tm):
                    a_frag[i] = tile_a[kk, ty * tm + i]
                for j in range(tn):
                    b_frag[j] = tile_b[kk, tx * tn + j]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += a_frag[i] * b_frag[j]
            cuda.syncthreads()
        for i in range(tm):
            row = row0 + ty * tm + i
            for j in range(tn):
                col = col0 + tx * tn + j
                if row < m and col < n:
                    if cuda.gridDim.z == 1:
                        c[row, col] = acc[i, j]
                    else:
                        partial[z, row, col] = acc[i, j]

    return matmul_blocked


_MATMUL = {np.dtype(np.float32): _make_matmul(np.float32),
           np.dtype(np.float64): _make_matmul(np.float64)}
_MATMUL_BLOCKED = {np.dtype(np.float32): _make_blocked_matmul(np.float32),
                   np.dtype(np.float64): _make_blocked_matmul(np.float64)}


#: A product whose output gives fewer blocks than this cuts its sum into slices: about two
#: blocks per multiprocessor of an H100 / H200 (132 of them).
FULL_GRID = 264
#: ... if its sum is at least this long: a shorter one is over before a second launch
#: (tens of microseconds of host time) would pay.
SPLIT_MIN_K = 1024


def _slices(grid_blocks, k_total, depth):
    """How many slices of the sum: enough to bring the grid to `FULL_GRID` blocks, each
    slice at least four tiles (``4 * depth``) deep; one for a grid already full or a sum
    shorter than `SPLIT_MIN_K`."""
    if grid_blocks >= FULL_GRID or k_total < SPLIT_MIN_K:
        return 1
    return max(1, min(-(-FULL_GRID // grid_blocks), k_total // (4 * depth)))


@kernel
def _sum_slices(partial, c):
    """``c = partial[0] + partial[1] + ...``, one thread per element of ``c``."""
    t = cuda.grid(1)
    m, n = c.shape
    if t < m * n:
        i, j = t // n, t % n
        total = partial[0, i, j]
        for z in range(1, partial.shape[0]):
            total += partial[z, i, j]
        c[i, j] = total


def matmul(a, b, c, trans_a=False, trans_b=False):
    """``c = op(a) @ op(b)`` on the device (``op`` transposes when its flag is set); ``c``
    is C-contiguous."""
    m, n = c.shape
    k_total = a.shape[0] if trans_a else a.shape[1]
    dtype = np.dtype(c.dtype)
    if min(m, n) >= BLOCKED_MIN:
        kernel, (rows, cols, depth), threads = _MATMUL_BLOCKED[dtype], (BM, BN, BK), \
            BLOCKED_THREADS
    else:
        kernel, (rows, cols, depth), threads = _MATMUL[dtype], (TILE, TILE, TILE), (TILE, TILE)
    grid = ((n + cols - 1) // cols, (m + rows - 1) // rows)
    slices = _slices(grid[0] * grid[1], k_total, depth)
    chunk = max(1, -(-k_total // (slices * depth))) * depth  # a whole number of tiles
    slices = max(1, -(-k_total // chunk))
    if slices == 1:
        kernel[grid, threads](a, b, c, trans_a, trans_b, chunk, _no_partial(dtype))
        return
    partial = scratch((slices, m, n), dtype)
    kernel[grid + (slices,), threads](a, b, c, trans_a, trans_b, chunk, partial)
    _sum_slices[blocks(m * n), THREADS](partial, c)


_NO_PARTIAL = {}


def _no_partial(dtype):
    """A ``(1, 1, 1)`` device array that stands for ``partial`` when the sum is not cut."""
    if dtype not in _NO_PARTIAL:
        _NO_PARTIAL[dtype] = cuda.device_array((1, 1, 1), dtype)
    return _NO_PARTIAL[dtype]


@kernel
def _add_bias(y, b):
    i = cuda.grid(1)
    n, m = y.shape
    if i < y.size:
        y[i // m, i % m] += b[i % m]


@kernel
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
