r"""Sums over each channel of an ``(N, C, S)`` array, spread over many blocks, in a fixed
order: batch norm's statistics and a transposed convolution's bias gradient.

One block per channel leaves most of a GPU idle when there are few channels, each thread
adding hundreds of values one after another (LeNet-5's first convolution, whose bias
gradient was such a sum: 6 channels of 50,176 values each, for 132 multiprocessors).
Here the ``N S`` values of channel ``c`` are cut into `pieces` of consecutive values;
block ``(c, p)`` reduces piece ``p`` and writes its part to ``partial[c, p]``; the last
block of channel ``c`` to finish (each block counts itself in ``counter[c]`` after a
memory fence, `last_to_finish`) adds the parts in the order of the pieces and finishes
the channel. So the sums take one launch, and their values do not depend on which block
finished last.
"""

import numpy as np
from numba import cuda

from atlas.kernels.cuda.launch import REDUCE_THREADS, block_sum, scratch
from atlas.kernels.cuda.launcher import kernel

#: Values of a channel per piece (32 per thread of a block) ...
PIECE = 32 * REDUCE_THREADS
#: ... and at most this many pieces per channel.
MAX_PIECES = 64


def pieces(count):
    """How many pieces a channel of ``count`` values is cut into."""
    return max(1, min(MAX_PIECES, -(-count // PIECE)))


@cuda.jit(device=True)
def piece_bounds(p, pieces, count):
    """``(start, stop)`` of piece ``p`` of ``pieces`` over ``count`` values (lengths differ
    by at most one)."""
    return p * count // pieces, (p + 1) * count // pieces


@cuda.jit(device=True)
def this_piece(count):
    """``(c, p, pieces, start, stop)`` of the calling block ``(c, p)``: its channel, its
    piece of the channel's ``count`` values, and where that piece starts and stops."""
    c, p, split = cuda.blockIdx.x, cuda.blockIdx.y, cuda.gridDim.y
    start, stop = piece_bounds(p, split, count)
    return c, p, split, start, stop


@cuda.jit(device=True)
def last_to_finish(counter, c, pieces, flag):
    """Called by every thread of a block once its part is written: whether this block is
    the last of the ``pieces`` blocks that count themselves in ``counter[c]`` to get here
    (it then reads the others' parts, which their fences made visible: every thread
    fences its own writes, and the block's first thread counts the block once all have).
    The last resets ``counter[c]`` to zero for the next launch. ``flag`` is a
    one-element shared array. (Also the end of a matrix product whose sum is cut into
    slices, `gemm`: one counter per tile of the output.)"""
    cuda.threadfence()
    cuda.syncthreads()
    if cuda.threadIdx.x == 0 and cuda.threadIdx.y == 0:
        ticket = cuda.atomic.add(counter, c, 1)
        last = ticket == pieces - 1
        flag[0] = 1 if last else 0
        if last:
            counter[c] = 0
    cuda.syncthreads()
    return flag[0] == 1


_COUNTERS = []


def counters(channels):
    """One int32 counter per channel (or tile), all zero (each launch leaves them at
    zero), in one device array that every launch shares (made once, grown if needed)."""
    if not _COUNTERS or _COUNTERS[0].size < channels:
        _COUNTERS[:] = [cuda.to_device(np.zeros(max(channels, 256), np.int32))]
    return _COUNTERS[0]


@cuda.jit(device=True)
def finish_sum(part, partial, counter, out):
    """The ending of a sum in pieces, called by every thread of block ``(c, p)`` with its
    ``part``: the block's parts added in shared memory into ``partial[c, p]``, and the
    last block of channel ``c`` to finish writes ``out[c]``, the pieces added in order."""
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    flag = cuda.shared.array(1, dtype="int32")
    c, p, pieces = cuda.blockIdx.x, cuda.blockIdx.y, cuda.gridDim.y
    total = block_sum(shared, part)
    if cuda.threadIdx.x == 0:
        partial[c, p] = total
    if last_to_finish(counter, c, pieces, flag) and cuda.threadIdx.x == 0:
        total = 0.0
        for q in range(pieces):
            total += partial[c, q]
        out[c] = total


@kernel
def _channel_sums(y, partial, counter, out):
    n, channels, s = y.shape
    c, _, _, start, stop = this_piece(n * s)
    part = 0.0
    for t in range(start + cuda.threadIdx.x, stop, cuda.blockDim.x):
        part += y[t // s, c, t % s]
    finish_sum(part, partial, counter, out)


def channel_sums(y, out):
    """``out[c] = y[:, c].sum()`` for an ``(N, C, S)`` device array ``y``."""
    n, channels, s = y.shape
    split = pieces(n * s)
    partial = scratch((channels, split), np.float64)
    _channel_sums[(channels, split), REDUCE_THREADS](y, partial, counters(channels), out)
