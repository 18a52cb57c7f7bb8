"""The one place where the CPU kernels' compiler options are set.

``fastmath=True`` would let LLVM assume there are no NaNs or infinities, which silently breaks
``np.isnan`` checks; the flag set below keeps those checks working and still lets LLVM
vectorise reductions (``reassoc``) and fuse multiply-adds (``contract``).
"""

from numba import njit

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Decorator for a serial CPU kernel or a scalar function shared with the CUDA kernels.
kernel = njit(cache=True, fastmath=FASTMATH)

#: Decorator for a CPU kernel whose outer loop is a ``prange``.
parallel_kernel = njit(cache=True, fastmath=FASTMATH, parallel=False)
