"""The CUDA simulator's thread blocks, without its busy wait, and in a shuffled order.

Numba's simulator runs each thread of a block as a Python thread, and its
``BlockManager.run`` waits for them by polling them in a loop that never lets go of the
GIL of its own accord: the threads only run when the interpreter takes the GIL from the
poller (every ``sys.getswitchinterval()``). How long a kernel then takes is a matter of
luck. One block of 256 threads of the blocked product (128 x 128 x 8 tiles, 8 x 8
outputs a thread; `tests/kernels/test_dense.py`) took more than 300 s at the default
switch interval, 32 s at 0.5 ms, 13 s at 50 ms, 74 s at 0.5 s, and one test of it took
24 s on its own and 619 s in a CI run. `run` below is the simulator's own method (numba-cuda
0.30.4), line for line, with one change: after each round of polling, the poller sleeps
for no time (``time.sleep(0)``), which hands the GIL to the threads. The same block
then takes 2.6-3.0 s, every time.

The simulator also runs a grid's blocks one after the other in the order of their
indices, where a GPU runs them side by side and lets any of them finish last: a kernel
that counts on that order (that the last block to finish a sum is the one of highest
index, say) would pass in the simulator and fail on a GPU. So `install` also hands the
simulator's launcher a grid walked in a shuffled order (`GridInAnyOrder`, seeded: the
same tests see the same orders).

`install` puts both in place when the installed numba-cuda is the one `run` was copied
from, and leaves the simulator alone otherwise (the tests are then only slower, and see
the blocks in order).
"""

import time

import numpy as np

#: The numba-cuda release whose ``BlockManager.run`` `run` is a copy of.
COPIED_FROM = "0.30.4"


def run(self, grid_point, *args):
    """``BlockManager.run`` of numba-cuda 0.30.4, with ``time.sleep(0)`` after each round
    of polling (see the module's docstring)."""
    from numba.cuda.simulator.kernel import BlockThread

    # Create all threads
    threads = set()
    livethreads = set()
    blockedthreads = set()
    for block_point in np.ndindex(*self._block_dim):

        def target():
            self._f(*args)

        t = BlockThread(target, self, grid_point, block_point, self._debug)
        t.start()
        threads.add(t)
        livethreads.add(t)

    while livethreads:
        for t in livethreads:
            if t.syncthreads_blocked:
                blockedthreads.add(t)
            elif t.exception:
                # Abort all other simulator threads on exception,
                # do *not* join immediately to facilitate debugging.
                for t_other in threads:
                    t_other.abort = True
                    t_other.syncthreads_blocked = False
                    t_other.syncthreads_event.set()

                raise t.exception[0].with_traceback(t.exception[1])
        if livethreads == blockedthreads:
            for t in blockedthreads:
                t.syncthreads_blocked = False
                t.syncthreads_event.set()
            blockedthreads = set()
        livethreads = set([t for t in livethreads if t.is_alive()])
        time.sleep(0)  # the one change: let the block's threads run
    # Final check for exceptions in case any were set prior to thread
    # finishing, before we could check it
    for t in threads:
        if t.exception:
            raise t.exception[0].with_traceback(t.exception[1])


class GridInAnyOrder:
    """NumPy as the simulator's launcher sees it (the module's ``np``), but for
    ``ndindex``, with which the launcher walks the grid's blocks (and nothing else: the
    blocks' threads are walked by `run`, which has the real ``np``): the same points in a
    shuffled order, from a generator seeded once."""

    def __init__(self, numpy, seed=0):
        self._numpy = numpy
        self._rng = numpy.random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self._numpy, name)

    def ndindex(self, *shape):
        points = list(self._numpy.ndindex(*shape))
        return iter([points[i] for i in self._rng.permutation(len(points))])


def install():
    """Use `run` for the simulator's blocks and `GridInAnyOrder` for its grids; True if it
    did (the simulator in use and numba-cuda the release `run` was copied from)."""
    from importlib.metadata import PackageNotFoundError, version

    from numba import config

    try:
        installed = version("numba-cuda")
    except PackageNotFoundError:
        return False
    if not config.ENABLE_CUDASIM or installed != COPIED_FROM:
        return False
    from numba.cuda.simulator import kernel

    global REPLACED
    if kernel.BlockManager.run is not run:
        REPLACED = kernel.BlockManager.run
    kernel.BlockManager.run = run
    if not isinstance(kernel.np, GridInAnyOrder):
        kernel.np = GridInAnyOrder(kernel.np)
    return True


#: The simulator's own ``BlockManager.run``, once `install` replaced it.
REPLACED = None


def main(argv):
    """``python -m tests.cudasim [--original] [SWITCH_INTERVAL]``: time one 256-thread block
    of the blocked product (128 x 128 x 8 tiles, 8 x 8 outputs a thread) in the simulator,
    with `run` or, with ``--original``, the simulator's own method, at the given
    ``sys.setswitchinterval`` (the interpreter's 0.005 s by default)."""
    import os
    import sys

    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    from numba import cuda

    from atlas.kernels.cuda import gemm, launch, reduce

    if "--original" not in argv:
        install()
    numbers = [float(a) for a in argv if not a.startswith("--")]
    if numbers:
        sys.setswitchinterval(numbers[0])
    tiling = bm, bn, bk, tm, tn = 128, 128, 8, 8, 8
    m, n, k = bm, bn, 2 * bk + 3
    ends = gemm.MATRIX_OUT.store, gemm.MATRIX_OUT.activation(gemm.NO_ACTIVATION)
    kernel = gemm._make_blocked(np.float64, gemm.MATRIX, gemm.MATRIX, *ends, tiling)
    rng = np.random.default_rng(0)
    a, b = cuda.to_device(rng.standard_normal((m, k))), cuda.to_device(rng.standard_normal((k, n)))
    c = cuda.device_array((m, n))
    start = time.perf_counter()
    kernel[(1, 1), (bm // tm) * (bn // tn)](a, b, c, launch.no_values(np.float64, 1),
                                           launch.no_values(np.float64, 2), 0.0,
                                           gemm.NO_GEOMETRY, False, True, m, n, k, k,
                                           launch.no_values(np.float64, 3),
                                           reduce.counters(1))
    seconds = time.perf_counter() - start
    error = np.abs(c.copy_to_host() - a.copy_to_host() @ b.copy_to_host()).max()
    print(f"{'the simulator' if '--original' in argv else 'tests.cudasim'}'s blocks, switch "
          f"interval {sys.getswitchinterval()} s: one block in {seconds:.1f} s "
          f"(largest error {error:.1e})")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
