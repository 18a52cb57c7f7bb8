r"""One pool of threads for the CPU kernels.

A kernel whose work splits into independent pieces (the samples of a batch, say) runs the
pieces at once, one per thread, each piece a call of a serial ``@njit`` kernel, which
releases the GIL (``nogil``) and calls BLAS on its own slice with BLAS limited to one
thread. So the machine's cores are shared by one pool, the engine's, instead of two that
fight: OpenBLAS's threads spin-wait for a while after every product, and a parallel
kernel started then gets half a core (a ReLU over 64x256 values took 4 ms instead of
15 us when Numba's OpenMP pool ran after OpenBLAS's).

Measured on the 2-core reference machine, forward / backward of one convolution in ms,
serial with one BLAS thread, serial with OpenBLAS's two, and two pieces here:

=================================================  ============  ============  ===========
convolution                                        serial, 1     serial, 2     2 pieces
=================================================  ============  ============  ===========
(64, 32, 14, 14) 5x5 -> 64 (im2col)                24.2 / 45.5   14.2 / 28.9   13.4 / 24.3
(64, 1, 28, 28) 5x5 -> 32 (direct)                 2.1 / 5.6     1.7 / 10.7    1.2 / 2.9
(128, 16, 28, 28) 3x3 -> 16 (direct)               8.2 / 17.3    8.8 / 19.2    4.5 / 9.3
(128, 32, 14, 14) 4x4 stride 2 -> 64 (im2col)      9.2 / 18.4    6.1 / 13.1    6.0 / 11.5
=================================================  ============  ============  ===========

The pool must not fight BLAS's threads: run inside a training step, OpenBLAS's own threads
kept spinning after each product of a dense layer, and the two-convolution network's
second convolution took 27 ms instead of 14 (two pieces; the step 100 ms instead of 62).
So the engine's BLAS runs on one thread, except inside the kernels whose few large
products BLAS splits better than pieces of the batch would (dense layers, the input
projection and weight gradients of the recurrent layers: `using_blas_threads`), and its
threads go to sleep soon after a product (``OPENBLAS_THREAD_TIMEOUT`` below). The
recurrent layers' time loops run on pieces of the batch, each with its own product per
step (`atlas.kernels.cpu.recurrent`).

The number of threads is what the engine's BLAS was configured with when this module was
imported (``OPENBLAS_NUM_THREADS``, else the cores); `set_threads` changes it. The BLAS
that Numba's ``np.dot`` calls is SciPy's (``scipy.linalg.cython_blas``), a library apart
from NumPy's: the user's own NumPy products keep their threads (SciPy's ``linalg`` runs on
one thread while atlas is loaded).
"""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# OpenBLAS's threads spin-wait 2^28 cycles (about 0.1 s) after each product before they
# sleep, so a product with BLAS's threads (a dense layer, a recurrent step) left a core
# busy through the pool's next kernels: the question-answering model's step, an LSTM
# followed by convolutions, took 90 ms instead of 43 on two cores. 2^16 cycles (tens of
# microseconds) instead: long enough to span the gate arithmetic between the products of
# an LSTM's steps (LSTM H=256 forward+backward on two threads: 28-30 ms with 2^16-2^24,
# 35-38 ms with 2^4, which wakes the threads for every step). The library reads it when it
# loads, so `atlas/__init__.py` sets it first thing (kept if the user set it; too late if
# SciPy's BLAS was loaded before atlas); here again for a direct import of the kernels.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

import scipy  # noqa: E402
import scipy.linalg.cython_blas  # noqa: E402, F401  (load the BLAS Numba calls, to control it)
from threadpoolctl import ThreadpoolController  # noqa: E402


def _engine_blas():
    """threadpoolctl's controllers of the BLAS libraries SciPy loaded (the engine's)."""
    libraries = [lib for lib in ThreadpoolController().lib_controllers
                 if lib.user_api == "blas"]
    scipy_dir = os.path.dirname(os.path.dirname(scipy.__file__))
    own = [lib for lib in libraries if lib.filepath.startswith(scipy_dir)
           and "scipy" in os.path.basename(os.path.dirname(lib.filepath))]
    return own or libraries


#: Fewest values per piece of an element-wise kernel: below it a piece takes less time
#: than handing it to a thread (a few microseconds).
ELEMENTS_PER_PIECE = 1 << 15

_BLAS = _engine_blas()
_threads = max([lib.num_threads for lib in _BLAS] or [os.cpu_count() or 1])
_pool: ThreadPoolExecutor | None = None


def _set_blas(n):
    for lib in _BLAS:
        lib.set_num_threads(n)


_set_blas(1)


def count() -> int:
    """How many threads the CPU kernels use."""
    return _threads


def set_threads(n: int):
    """Use ``n`` threads (``n >= 1``) from now on."""
    global _threads, _pool
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    if _pool is not None:
        _pool.shutdown()
        _pool = None
    _threads = n


@contextlib.contextmanager
def blas_threads():
    """Let BLAS use the pool's thread count inside the block (for kernels made of a few
    large products, which BLAS splits better than pieces of the batch would; nothing to
    switch on one thread)."""
    if _threads == 1:
        yield
        return
    _set_blas(_threads)
    try:
        yield
    finally:
        _set_blas(1)


_NUMPY_BLAS = [lib for lib in ThreadpoolController().lib_controllers
               if lib.user_api == "blas" and lib.filepath not in {b.filepath for b in _BLAS}]


@contextlib.contextmanager
def numpy_blas_on_one_thread():
    """NumPy's own BLAS on one thread inside the block: for a user's NumPy products that
    run between the engine's kernels.

    NumPy's BLAS is a library apart from the engine's, loaded with NumPy, before atlas can
    shorten its threads' spin-wait (``OPENBLAS_THREAD_TIMEOUT`` above): after each product
    its threads keep a core busy for about 0.1 s, through whatever kernels come next. On
    one thread its threads never wake. Style transfer's objective (Gram matrices of
    float64 maps with NumPy, then the network's backward pass), two threads, on and off
    interleaved in one process, four runs: 343 -> 295, 377 -> 361, 357 -> 336 and
    395 -> 350 ms an evaluation (medians); the backward pass alone after the objective's
    products took 126-146 ms against 74-83 with the timeout set before Python started.
    (Where atlas was imported before NumPy, as by the ``atlas`` command, NumPy's BLAS has
    the short spin-wait too, and this only keeps its products on one thread.)"""
    before = [lib.num_threads for lib in _NUMPY_BLAS]
    for lib in _NUMPY_BLAS:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_NUMPY_BLAS, before):
            lib.set_num_threads(n)


def split(n, minimum=1):
    """``[(start, stop), ...]``: ``range(n)`` in at most `count` contiguous, nearly equal
    pieces of at least ``minimum`` items (one piece when ``n`` is small)."""
    parts = max(1, min(_threads, n // max(minimum, 1)))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def run(function, arguments):
    """``function(*args)`` for every tuple in ``arguments``, at once on the pool's threads
    (the first on the calling thread); returns when all are done and raises the first
    exception any of them raised.

    One piece alone (a batch of one image, too small to cut) runs on the calling thread
    with `blas_threads`: the pool's other threads would be idle, so its products take
    them. Style transfer's loss and gradient on a 256x256 image, five convolutions of a
    batch of one, two threads, before and after in one process: 488 -> 444 and 492 ->
    473 ms (medians of six, interleaved; the gathers and ``col2im`` around the products
    stay on one thread). Switching BLAS's threads costs about 5 us a call, and OpenBLAS
    keeps products below 2^18 multiply-adds on one thread anyway."""
    if len(arguments) == 1:
        with blas_threads():
            function(*arguments[0])
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="atlas-kernels")
    futures = [_pool.submit(function, *args) for args in arguments[1:]]
    try:
        function(*arguments[0])
    finally:
        for future in futures:
            future.result()


def partials(out, parts):
    """``[out, scratch, ...]``: where each of ``parts`` pieces writes its share of a sum
    (the first piece into ``out`` itself); add them with `reduce_into`."""
    return [out] + [np.empty_like(out) for _ in range(parts - 1)]


def reduce_into(out, shares):
    """``out += sum(shares[1:])`` (``shares`` from `partials`)."""
    for share in shares[1:]:
        out += share


def workspaces(cols, parts):
    """``cols`` cut into ``parts`` equal 1-D workspaces, one per piece."""
    size = cols.size // parts
    return [cols[k * size:(k + 1) * size] for k in range(parts)]


def _wrapping(kernel, wrapper):
    """``wrapper`` named and documented as ``kernel``, whose source it shows (``py_func``:
    what `atlas.textbook.source_of` reads), decorators included."""
    functools.update_wrapper(wrapper, kernel, updated=())
    wrapper.py_func = getattr(kernel, "py_func", kernel)
    return wrapper


def elementwise(kernel):
    """Decorator: run an element-wise ``kernel`` over flat arrays on pieces at once. Every
    1-D array argument with as many values as the first argument is cut into the same
    pieces; the other arguments go whole to every piece. Not for a kernel that sums into
    one value (the pieces would add to it at the same time)."""

    def on_pieces(*args):
        n = args[0].size
        parts = split(n, ELEMENTS_PER_PIECE)
        if len(parts) == 1:
            return kernel(*args)
        run(kernel, [tuple(a[s:e] if _cut(a, n) else a for a in args) for s, e in parts])
    return _wrapping(kernel, on_pieces)


def over_batch(kernel):
    """Decorator: run ``kernel`` on pieces of the batch at once. Every array argument whose
    leading axis has the length of the first argument's is cut along it into the same
    pieces (the samples); the other arguments go whole to every piece."""

    def on_pieces(*args):
        n = len(args[0])
        parts = split(n, ELEMENTS_PER_PIECE // max(1, args[0].size // max(n, 1)))
        if len(parts) == 1:
            return kernel(*args)
        run(kernel, [tuple(a[s:e] if _batched(a, n) else a for a in args) for s, e in parts])
    return _wrapping(kernel, on_pieces)


def using_blas_threads(kernel):
    """Decorator: run ``kernel`` with `blas_threads` (its products get the threads)."""

    def with_threads(*args):
        with blas_threads():
            return kernel(*args)
    return _wrapping(kernel, with_threads)


def _cut(a, n):
    return isinstance(a, np.ndarray) and a.ndim == 1 and a.size == n


def _batched(a, n):
    return isinstance(a, np.ndarray) and a.ndim >= 2 and a.shape[0] == n
