"""The one place where the CPU kernels' compiler options are set.

The kernels are serial (no ``parallel=True``) and release the GIL (``nogil=True``): the
engine's parallelism is `atlas.kernels.cpu.threads`, a pool of Python threads that run a
kernel on pieces of its work at once. Numba's own ``prange`` pool was tried first: run right
after an OpenBLAS product, its OpenMP threads and OpenBLAS's spin-waited against each other,
and a ReLU over 64x256 values took 4 ms instead of 15 us (a training epoch of the
784-256-10 MLP: 23 s instead of 0.9 s). The element-wise kernels are branch-free loops
that LLVM vectorises.

The on-disk cache is keyed by each kernel's source file, not by these options nor by the
files of the functions it calls: after changing them (or a function of `scalar`), delete
the ``__pycache__`` folders under ``atlas/kernels`` (kernels compiled without ``nogil``
kept the GIL, and two threads ran one after the other; a kernel kept the old
`scalar.counter_uniform` it was compiled with).

``error_model="numpy"``: a float division by zero gives inf or NaN, as in NumPy, instead of
Python's ZeroDivisionError. The check for that exception is a branch in every division,
and it kept LLVM from vectorising any loop that divides: the float32 tanh of `scalar` ran
at 3.5 ns per element with it and 0.2 ns without it.

``fastmath=True`` would let LLVM assume there are no NaNs or infinities, which silently breaks
``np.isnan`` checks; the flag set below keeps those checks working and still lets LLVM
vectorise reductions (``reassoc``) and fuse multiply-adds (``contract``).
"""

from numba import njit

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Decorator for a serial CPU kernel or a scalar function shared with the CUDA kernels.
kernel = njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
