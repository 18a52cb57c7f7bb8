r"""The matrix product every CUDA layer runs, $C = \operatorname{op}(A)\,\operatorname{op}(B)$,
with its operands read, and its output written, through small device functions chosen
when the kernel is made: the *operands* and *epilogues* of `atlas.kernels.cuda.operands`
(a dense layer's matrices; a convolution's arrays read as matrices, an implicit-GEMM
convolution). A `Product` is one pair of operands and one epilogue, and the module ends
with the products the layers run.

The kernels, in the order to read them:

- `_make_tiled`: each block computes a ``TILE x TILE`` tile of the output, one value per
  thread, staging ``TILE x TILE`` tiles of both operands through shared memory so that
  each value read from global memory is used ``TILE`` times;
- `_make_blocked`, for outputs of at least `BLOCKED_MIN` rows and columns: each block
  computes ``BM x BN`` outputs, each of its 256 threads a ``TM x TN`` block of them held
  in registers, from ``BM x BK`` and ``BK x BN`` tiles in shared memory. Every value a
  thread loads from shared memory then feeds ``TM`` or ``TN`` multiply-adds instead of
  one, and the loads from global memory are coalesced for every operand (consecutive
  threads read along the operand's contiguous axis).

Accumulators have the arrays' type (float32 products accumulate in float32). Either
kernel cuts a long sum into slices when its output alone would leave the GPU idle
(split-K): the dense layer's ``(64, 3136) x (3136, 1024)`` is 16 blocks of 64 x 64
outputs, a GPU runs hundreds at once, so each block of slice ``z`` sums only its part of
``K`` into ``partial[z]``, and the last of a tile's blocks to finish adds the tile's
slices, in a fixed order (the result does not depend on which block finished last), and
writes them through the epilogue: one launch, as without slices.
"""

import numpy as np
from numba import cuda, int32, uint32

from atlas.kernels.cuda.launch import no_values, scratch
from atlas.kernels.cuda.launcher import kernel
from atlas.kernels.cuda.operands import (
    CHANNELS,
    MATRIX,
    MATRIX_AND_BIAS_ROW_OUT,
    MATRIX_AND_ONES,
    MATRIX_OUT,
    NO_ACTIVATION,
    NO_GEOMETRY,
    PATCHES,
    PATCHES_T,
    PATCHES_T_AND_ONES,
    PLANES_OUT,
    SPREAD,
    WEIGHTS,
    WEIGHTS_AND_BIAS_COLUMN_OUT,
    WEIGHTS_OUT,
    WEIGHTS_T,
)
from atlas.kernels.cuda.reduce import counters, last_to_finish

TILE = 16

#: The register-blocked product's tiles: a block computes BM x BN outputs in steps of BK
#: along the sum, with BM / TM x BN / TN = 256 threads of TM x TN outputs each.
BM, BN, BK, TM, TN = 64, 64, 16, 4, 4
BLOCKED_THREADS = (BM // TM) * (BN // TN)
#: Outputs with fewer rows or columns than this take the tiled kernel (a 64 x 64 block
#: would be mostly idle).
BLOCKED_MIN = 64

#: Rows, columns and terms of a sum are bounded, and decoded (`_split`), in 32-bit
#: arithmetic, their digits kept as signed 32-bit integers; one more row or column of ones
#: may be read.
INDEX_LIMIT = 2**31 - 1

#: A product whose output gives fewer blocks than this cuts its sum into slices: about two
#: blocks per multiprocessor of an H100 / H200 (132 of them).
FULL_GRID = 264
#: ... if its sum is at least this long: a shorter one is over before a second launch
#: (tens of microseconds of host time) would pay.
SPLIT_MIN_K = 1024


# Kernels -------------------------------------------------------------------------------
def _make_copy(operand):
    """The device function through which the kernels stage ``operand``,
    ``copy(tile, i, j, src, k_major, geometry, r, k, row, term, rows, k_end)``:
    ``tile[i, j] = op(src)[r, k]`` at the decoded ``row`` and ``term``, for row ``r`` of
    ``rows`` (the last of them the row of ones when the operand has one), and zero past the
    rows or the sum (``k >= k_end``): the tile's padding. The kernels give ``r``, ``k``
    and their bounds as unsigned 32-bit integers: a 64-bit compare is two instructions and
    its operands four registers (with them the blocked products took 64-94 registers,
    without them 56-80: `MATMUL.blocked` fits four blocks on a multiprocessor, the
    convolutions' three)."""
    at, ones = operand.at, operand.ones

    @cuda.jit(device=True)
    def copy(tile, i, j, src, k_major, geometry, r, k, row, term, rows, k_end):
        if r < rows - ones and k < k_end:
            tile[i, j] = at(src, k_major, geometry, r, k, row, term)
        elif ones and r == rows - 1 and k < k_end:
            tile[i, j] = 1
        else:
            tile[i, j] = 0

    return copy


def _device_functions(operand):
    """An operand's device functions as a kernel calls them (a kernel cannot look up a
    Python object's attributes): decode a row, decode a term, advance a term, copy a
    value into a tile."""
    return operand.row.decode, operand.term.decode, operand.term.advance, _make_copy(operand)


def _make_tiled(dtype, operand_a, operand_b, store, activate):
    """The tiled product for one floating type, two operands and an epilogue (``store``,
    then ``activate``: see `operands.Epilogue`)."""
    a_row, a_term, a_advance, a_copy = _device_functions(operand_a)
    b_row, b_term, b_advance, b_copy = _device_functions(operand_b)
    zero = np.dtype(dtype).type(0)

    @kernel
    def product_tiled(a, b, c, bias, y, alpha, geometry, a_k_major, b_k_major, m, n, k_total,
                      chunk, partial, counters):
        # c (m, n) = op(a) (m, K) @ op(b) (K, n); with slices of the sum (gridDim.z > 1),
        # slice z = blockIdx.z (z * chunk <= k < (z + 1) * chunk) goes to partial[z], and
        # the tile's last block to finish adds the slices (`_last_of_the_slices`).
        tile_a = cuda.shared.array((TILE, TILE), dtype)
        tile_b = cuda.shared.array((TILE, TILE), dtype)
        last = cuda.shared.array(1, int32)
        tx, ty = uint32(cuda.threadIdx.x), uint32(cuda.threadIdx.y)  # unsigned: see
        # `_make_blocked` (here 32 registers instead of 39: eight blocks, not six)
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        z = cuda.blockIdx.z
        k_begin = z * chunk
        k_end = min(k_begin + chunk, k_total)
        acc = zero
        # This thread's row of op(a) and column of op(b), and the term of each it stages
        # (k_begin + tx of op(a), k_begin + ty of op(b), then TILE further at each tile),
        # decoded once: no division inside the loop.
        a_decoded = a_row(a, a_k_major, geometry, row)
        b_decoded = b_row(b, b_k_major, geometry, col)
        a_k = a_term(a, a_k_major, geometry, k_begin + tx)
        b_k = b_term(b, b_k_major, geometry, k_begin + ty)
        a_tile = a_term(a, a_k_major, geometry, TILE)
        b_tile = b_term(b, b_k_major, geometry, TILE)
        for start in range(k_begin, k_end, TILE):
            a_copy(tile_a, ty, tx, a, a_k_major, geometry, uint32(row), uint32(start + tx),
                   a_decoded, a_k, uint32(m), uint32(k_end))
            b_copy(tile_b, ty, tx, b, b_k_major, geometry, uint32(col), uint32(start + ty),
                   b_decoded, b_k, uint32(n), uint32(k_end))
            a_k = a_advance(a, a_k_major, geometry, a_k, a_tile)
            b_k = b_advance(b, b_k_major, geometry, b_k, b_tile)
            cuda.syncthreads()
            for kk in range(TILE):
                acc += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()
        inside = row < m and col < n
        if cuda.gridDim.z > 1:
            if inside:
                partial[z, row, col] = acc
            if not _last_of_the_slices(counters, last):
                return
            if inside:
                acc = _sliced_total(partial, row, col)
        if inside:
            store(c, row, col, acc, bias)
            activate(c, row, col, y, alpha)

    return product_tiled


@cuda.jit(device=True)
def _last_of_the_slices(counters, flag):
    """Called by every thread of a block of a product whose sum is cut into slices, once
    its slice is written to ``partial``: whether this block is the last of its tile's
    (its ``gridDim.z`` blocks along ``z``) to get there, which then adds the slices and
    writes the tile through the epilogue (`reduce.last_to_finish`, one counter a tile).
    The sum of the slices took a launch of its own before: two launches of LeNet-5's
    training step, five of the two-convolution network's."""
    tile = cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x
    return last_to_finish(counters, tile, cuda.gridDim.z, flag)


@cuda.jit(device=True)
def _sliced_total(partial, row, col):
    """``partial[0, row, col] + partial[1, row, col] + ...``, in that order: the same
    total whichever block finished last."""
    total = partial[0, row, col]
    for z in range(1, partial.shape[0]):
        total += partial[z, row, col]
    return total


def _make_stage(operand, bk, width, threads):
    """The tile-staging device functions of an operand, ``(begin, stage)``, for tiles
    ``bk`` deep and ``width`` wide copied by ``threads`` threads (a multiple of both).

    Each of the block's threads copies ``steps`` values of a tile, consecutive threads
    along ``src``'s contiguous axis: thread ``t`` starts at value ``t`` of the tile in
    that order and moves ``threads`` values on at each step, which keeps its place across
    the contiguous axis and moves it a constant ``stride`` down the other one. So along
    the rows (``r_fast``) a thread stages one row, at terms ``stride`` apart that go on
    from one tile to the next (``steps * stride = bk``); along the sum, one term a tile
    (``bk`` further at the next), at rows ``stride`` apart that start again at each tile.
    What a thread keeps from one tile to the next, ``(row, row_step, term, term_step)``,
    all decoded (see `Index`), comes from ``begin`` and is given back by ``stage``."""
    decode_row, decode_term, advance_term, copy = _device_functions(operand)
    advance_row, r_fast = operand.row.advance, operand.r_fast
    steps = width * bk // threads
    assert steps * threads == width * bk and threads % width == 0 and threads % bk == 0

    @cuda.jit(device=True)
    def begin(src, k_major, geometry, start, k_begin, t):
        """Thread ``t``'s first row and term, from the tile at ``(start, k_begin)``, and
        the steps it moves them by."""
        if r_fast(k_major):  # the row stays: its step (0) is never used, there for the type
            return (decode_row(src, k_major, geometry, start + t % width),
                    decode_row(src, k_major, geometry, 0),
                    decode_term(src, k_major, geometry, k_begin + t // width),
                    decode_term(src, k_major, geometry, threads // width))
        return (decode_row(src, k_major, geometry, start + t // bk),
                decode_row(src, k_major, geometry, threads // bk),
                decode_term(src, k_major, geometry, k_begin + t % bk),
                decode_term(src, k_major, geometry, bk))

    @cuda.jit(device=True)
    def stage(tile, src, k_major, geometry, start, limit, k, k_end, t, kept):
        """``tile[kk, r] = op(src)[start + r, k + kk]`` (zero past ``limit`` or
        ``k_end``), from and to what thread ``t`` keeps between tiles."""
        row_at, row_step, term_at, term_step = kept
        if r_fast(k_major):  # one row, terms stride apart
            kk, r = uint32(t // width), uint32(t % width)
            for _ in range(steps):
                copy(tile, kk, r, src, k_major, geometry, uint32(start + r), uint32(k + kk),
                     row_at, term_at, uint32(limit), uint32(k_end))
                kk += uint32(threads // width)
                term_at = advance_term(src, k_major, geometry, term_at, term_step)
            return kept[0], row_step, term_at, term_step
        r, kk = uint32(t // bk), uint32(t % bk)  # one term, rows stride apart
        for _ in range(steps):
            copy(tile, kk, r, src, k_major, geometry, uint32(start + r), uint32(k + kk),
                 row_at, term_at, uint32(limit), uint32(k_end))
            r += uint32(threads // bk)
            row_at = advance_row(src, k_major, geometry, row_at, row_step)
        next_term = advance_term(src, k_major, geometry, term_at, term_step)
        return kept[0], row_step, next_term, term_step

    return begin, stage


@cuda.jit(device=True)
def _owned(first, i, run, gap):
    """Where the ``i``-th of a thread's rows (or columns) lies in its block's output: in
    runs of ``run`` from ``first``, ``gap`` apart."""
    return first + uint32(i // run * gap + i % run)


def _make_blocked(dtype, operand_a, operand_b, store, activate, tiles=(BM, BN, BK, TM, TN)):
    """The register-blocked product for one floating type, two operands, an epilogue and
    one tiling ``(bm, bn, bk, tm, tn)`` (see the module's docstring); it runs
    ``(bm // tm) * (bn // tn)`` threads a block.

    A thread's ``tm`` rows lie in runs of at most four, one run in each ``bm // (tm //
    4)`` rows of the block (``tn`` columns likewise): with 8 x 8 outputs a thread, rows
    ``4 ty .. 4 ty + 3`` and ``64 + 4 ty ..``, so that the 16-byte shared loads of a
    warp's threads fall in distinct banks (eight consecutive values a thread, 32 bytes
    apart, would meet two to a bank)."""
    bm, bn, bk, tm, tn = tiles
    threads = (bm // tm) * (bn // tn)
    run_m, run_n = min(tm, 4), min(tn, 4)
    gap_m, gap_n = bm // (tm // run_m), bn // (tn // run_n)
    begin_a, stage_a = _make_stage(operand_a, bk, bm, threads)
    begin_b, stage_b = _make_stage(operand_b, bk, bn, threads)

    @kernel
    def product_blocked(a, b, c, bias, y, alpha, geometry, a_k_major, b_k_major, m, n,
                        k_total, chunk, partial, counters):
        tile_a = cuda.shared.array((bk, bm), dtype)  # tile_a[kk, r] = op(a)[row0 + r, k + kk]
        tile_b = cuda.shared.array((bk, bn), dtype)  # tile_b[kk, q] = op(b)[k + kk, col0 + q]
        last = cuda.shared.array(1, int32)
        acc = cuda.local.array((tm, tn), dtype)
        a_frag = cuda.local.array(tm, dtype)
        b_frag = cuda.local.array(tn, dtype)
        t = cuda.threadIdx.x
        ty, tx = t // (bn // tn), t % (bn // tn)
        # Indices into the tiles are unsigned: Numba turns a negative signed index into one
        # counted from the end (a compare and an add an access) and cannot tell that these
        # never are. Unsigned, the innermost loop is 151 instructions for its 128 FFMA (184
        # signed), and with the staging's indices unsigned too the kernel fits three or
        # four blocks on a multiprocessor instead of two (tests/kernels/ptx_check.py).
        a_first, b_first = uint32(ty * run_m), uint32(tx * run_n)  # first row, column
        row0, col0, z = cuda.blockIdx.y * bm, cuda.blockIdx.x * bn, cuda.blockIdx.z
        k_begin = z * chunk
        k_end = min(k_begin + chunk, k_total)
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = 0
        a_kept = begin_a(a, a_k_major, geometry, row0, k_begin, t)
        b_kept = begin_b(b, b_k_major, geometry, col0, k_begin, t)
        for k in range(k_begin, k_end, bk):
            a_kept = stage_a(tile_a, a, a_k_major, geometry, row0, m, k, k_end, t, a_kept)
            b_kept = stage_b(tile_b, b, b_k_major, geometry, col0, n, k, k_end, t, b_kept)
            cuda.syncthreads()
            # Not `for kk in range(bk)`: NVVM unrolls this loop (eight steps at a time), not
            # that one (tests/kernels/ptx_check.py --resources checks).
            kk = uint32(0)
            while kk < bk:
                for i in range(tm):
                    a_frag[i] = tile_a[kk, _owned(a_first, i, run_m, gap_m)]
                for j in range(tn):
                    b_frag[j] = tile_b[kk, _owned(b_first, j, run_n, gap_n)]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += a_frag[i] * b_frag[j]
                kk += uint32(1)
            cuda.syncthreads()
        sliced = cuda.gridDim.z > 1
        for i in range(tm):
            row = row0 + _owned(a_first, i, run_m, gap_m)
            for j in range(tn):
                col = col0 + _owned(b_first, j, run_n, gap_n)
                if row < m and col < n:
                    if sliced:
                        partial[z, row, col] = acc[i, j]
                    else:
                        store(c, row, col, acc[i, j], bias)
        if sliced:  # the tile's last block adds the slices (`_last_of_the_slices`)
            if not _last_of_the_slices(counters, last):
                return
            for i in range(tm):
                row = row0 + _owned(a_first, i, run_m, gap_m)
                for j in range(tn):
                    col = col0 + _owned(b_first, j, run_n, gap_n)
                    if row < m and col < n:
                        store(c, row, col, _sliced_total(partial, row, col), bias)
        # Then the activation of what was stored (nothing, without one), in a loop of its
        # own, so that the one above keeps the accumulators in registers (`operands.Epilogue`).
        for i in range(tm):
            row = row0 + _owned(a_first, i, run_m, gap_m)
            for j in range(tn):
                col = col0 + _owned(b_first, j, run_n, gap_n)
                if row < m and col < n:
                    activate(c, row, col, y, alpha)

    return product_blocked


def _slices(grid_blocks, k_total, depth):
    """How many slices of the sum: enough to bring the grid to `FULL_GRID` blocks, each
    slice at least four tiles (``4 * depth``) deep; one for a grid already full or a sum
    shorter than `SPLIT_MIN_K`."""
    if grid_blocks >= FULL_GRID or k_total < SPLIT_MIN_K:
        return 1
    return max(1, min(-(-FULL_GRID // grid_blocks), k_total // (4 * depth)))


class Product:
    r"""A product $C = \operatorname{op}(A)\operatorname{op}(B)$ for one pair of operands
    and one epilogue: its tiled and blocked kernels per floating type (compiled on first
    use). A product made with an
    activation code ``kind`` also writes the activation of its output, or, made with
    ``derivative``, multiplies its output by the activation's derivative (see
    `operands.Epilogue`); `activated` and `chained` make, and keep, those variants."""

    def __init__(self, operand_a, operand_b, epilogue, kind=NO_ACTIVATION, derivative=False):
        self.operands, self.epilogue = (operand_a, operand_b), epilogue
        self.kind, self.derivative = kind, derivative
        ends = (epilogue.store, epilogue.then(kind, derivative))
        types = (np.dtype(np.float32), np.dtype(np.float64))
        self.tiled = {t: _make_tiled(t.type, operand_a, operand_b, *ends) for t in types}
        self.blocked = {t: _make_blocked(t.type, operand_a, operand_b, *ends) for t in types}
        self._variants = {}

    def __repr__(self):
        kind = "" if self.kind == NO_ACTIVATION else \
            f", kind={self.kind}{', derivative' if self.derivative else ''}"
        return f"Product({self.operands[0]!r}, {self.operands[1]!r}, {self.epilogue!r}{kind})"

    def activated(self, kind):
        """This product with its epilogue writing the activation of code ``kind`` too."""
        return self._variant(kind, False)

    def chained(self, kind):
        """This product with its epilogue multiplying each output by the derivative of the
        activation of code ``kind``."""
        return self._variant(kind, True)

    def _variant(self, kind, derivative):
        if (kind, derivative) not in self._variants:
            self._variants[kind, derivative] = Product(*self.operands, self.epilogue, kind,
                                                       derivative)
        return self._variants[kind, derivative]

    def __call__(self, a, b, c, m, n, k_total, *, bias=None, activation=None, chain=None,
                 geometry=NO_GEOMETRY, a_k_major=False, b_k_major=True):
        """Write ``op(a) @ op(b)`` (``m x k_total`` times ``k_total x n``) into ``c``
        through the epilogue, which adds ``bias`` (a forward product) or writes the ones'
        row or column into it (a gradient product). ``activation = (kind, alpha, y)``: a
        forward product also writes ``y = f(c)``, ``f`` the activation of code ``kind``
        (`scalar.ACTIVATION_CODES`, with its parameter ``alpha``) and ``y`` shaped as
        ``c``. ``chain = (kind, alpha, saved)``: an input gradient's product writes ``c
        f'(z)`` instead, ``f'`` computed from ``saved`` (`scalar.chain_saved`), shaped as
        ``c``. ``a_k_major`` / ``b_k_major``: whether a `MATRIX` operand is stored with the
        sum's index first (``a`` transposed; ``b`` not transposed, the default)."""
        if activation is not None and chain is not None:
            raise ValueError("a product applies an activation (forward) or its derivative "
                             "(backward), not both")
        if activation is not None or chain is not None:
            kind, alpha, y = chain if activation is None else activation
            variant = self._variant(kind, activation is None)
            return variant._run(a, b, c, m, n, k_total, bias, y, float(alpha), geometry,
                                a_k_major, b_k_major)
        return self._run(a, b, c, m, n, k_total, bias, no_values(c.dtype, len(c.shape)), 0.0,
                         geometry, a_k_major, b_k_major)

    def _run(self, a, b, c, m, n, k_total, bias, y, alpha, geometry, a_k_major, b_k_major):
        if max(m, n, k_total) >= INDEX_LIMIT:
            raise ValueError(f"a CUDA matrix product indexes its rows, columns and sum in 32 "
                             f"bits: {m} x {k_total} times {k_total} x {n} is too large")
        dtype = np.dtype(c.dtype)
        bias = no_values(dtype, 1) if bias is None else bias
        if min(m, n) >= BLOCKED_MIN:
            kernel, (rows, cols, depth), threads = self.blocked[dtype], (BM, BN, BK), \
                BLOCKED_THREADS
        else:
            kernel, (rows, cols, depth), threads = self.tiled[dtype], (TILE,) * 3, (TILE, TILE)
        grid = ((n + cols - 1) // cols, (m + rows - 1) // rows)
        slices = _slices(grid[0] * grid[1], k_total, depth)
        chunk = max(1, -(-k_total // (slices * depth))) * depth  # a whole number of tiles
        slices = max(1, -(-k_total // chunk))
        arguments = (bias, y, alpha, geometry, a_k_major, b_k_major, m, n, k_total, chunk)
        tiles = counters(grid[0] * grid[1])
        if slices == 1:
            kernel[grid, threads](a, b, c, *arguments, no_values(dtype, 3), tiles)
            return
        partial = scratch((slices, m, n), c.dtype)
        kernel[grid + (slices,), threads](a, b, c, *arguments, partial, tiles)


#: The products the layers run: a dense layer's (every plain matrix product, and the
#: weight and bias gradients in one), and a convolution's (forward, the weight and bias
#: gradients, the input gradient; a transposed convolution runs the same products in
#: another order, its weight gradient without the bias's, see `conv`).
MATMUL = Product(MATRIX, MATRIX, MATRIX_OUT)
DENSE_GRADIENTS = Product(MATRIX_AND_ONES, MATRIX, MATRIX_AND_BIAS_ROW_OUT)
CONV = Product(WEIGHTS, PATCHES, PLANES_OUT)
CONV_GRADIENTS = Product(CHANNELS, PATCHES_T_AND_ONES, WEIGHTS_AND_BIAS_COLUMN_OUT)
CONV_WEIGHTS = Product(CHANNELS, PATCHES_T, WEIGHTS_OUT)
CONV_INPUT = Product(WEIGHTS_T, SPREAD, PLANES_OUT)


def matmul(a, b, c, trans_a=False, trans_b=False, bias=None, activation=None, chain=None):
    """``c = op(a) @ op(b)`` (+ ``bias`` per column) on the device (``op`` transposes when
    its flag is set), and ``y = f(c)`` for ``activation = (kind, alpha, y)``, or ``c``
    times ``f'`` for ``chain = (kind, alpha, saved)`` (see `Product`); ``c`` is
    C-contiguous."""
    m, n = c.shape
    MATMUL(a, b, c, m, n, a.shape[0] if trans_a else a.shape[1], bias=bias,
           activation=activation, chain=chain, a_k_major=trans_a, b_k_major=not trans_b)
