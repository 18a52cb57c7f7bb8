"""Launch configuration and small device helpers shared by the CUDA kernels."""

import os

import numpy as np
from numba import cuda
from numba.cuda.core import config

from atlas import arena
from atlas.kernels.cuda.launcher import kernel

# The engine launches small grids on purpose (a layer of ten units is one block), and
# numba-cuda warns at every launch of fewer than 128 blocks, which floods a training log:
# off, unless NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS says otherwise.
if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" not in os.environ:
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

#: Threads per block of the 1-D kernels (a multiple of the 32-thread warp).
THREADS = 256

#: Threads per block of the per-channel reductions (a power of two).
REDUCE_THREADS = 128


_NO_VALUES = {}


def no_values(dtype, ndim):
    """A device array of no values, of ``dtype`` and ``ndim`` axes (made once): an
    optional array argument a launch goes without (a product's ``bias``, the ``y`` of one
    without an activation, the ``partial`` of one whose sum is not cut, the activation's
    arrays of a backward kernel not chained to one, the cell state of an RNN or GRU)."""
    key = (np.dtype(dtype), ndim)
    if key not in _NO_VALUES:
        _NO_VALUES[key] = cuda.device_array((0,) * ndim, dtype)
    return _NO_VALUES[key]


def blocks(n, threads=THREADS):
    """Number of blocks of ``threads`` threads that cover ``n`` elements (at least one)."""
    return max(1, (n + threads - 1) // threads)


@cuda.jit(device=True)
def block_sum(shared, value):
    """Sum ``value`` over the threads of a block by a tree reduction in shared memory.

    ``shared`` holds ``blockDim.x`` elements and ``blockDim.x`` is a power of two. Every
    thread gets the total.
    """
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            shared[t] += shared[t + step]
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@kernel
def fill(a, value):
    """``a[:] = value`` for a 1-D array (``reshape(a.size)`` of any contiguous one)."""
    t = cuda.grid(1)
    if t < a.size:
        a[t] = value


def _device_array(shape, dtype):
    return cuda.device_array(shape, dtype=dtype)


def scratch(shape, dtype):
    """A device array for one kernel call: inside a training step, the step's array from
    its `atlas.arena.Arena` (nothing is allocated in a steady state); else a new one."""
    return arena.take(shape, dtype, _device_array)


def read_scalar(acc):
    """The value of a one-element device array, as a Python float."""
    return float(acc.copy_to_host()[0])


@kernel
def _add_scaled(total, acc, factor):
    total[0] += factor * acc[0]


class DeviceScalar:
    """A number computed on the GPU and left there: the one-element float64 device array
    ``acc`` times ``factor``, a number the host knows. ``float()`` copies it back (a
    synchronisation); `add_to` adds it into a running total on the device, without one.
    The CUDA losses return one where the CPU's return a float."""

    __slots__ = ("acc", "factor")

    def __init__(self, acc, factor=1.0):
        self.acc, self.factor = acc, factor

    def __float__(self):
        return read_scalar(self.acc) * self.factor

    def add_to(self, total, weight=1.0):
        """``total[0] += weight * self`` on the device (``total``: one float64 element)."""
        _add_scaled[1, 1](total, self.acc, self.factor * weight)
