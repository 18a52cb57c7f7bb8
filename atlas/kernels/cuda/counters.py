"""Counting what a piece of code asks of the GPU: kernel launches, device allocations,
copies back to the host (each a synchronisation), copies from the host into device arrays
(from pageable memory: each waits for the GPU's queue) and views of device arrays made by
the engine (each a new numba-cuda array object: host time, see `atlas.views`).

The counts come from wrapping the engine's kernel launch (`launcher.Kernel`) and
numba-cuda's own allocation and copy functions for the duration of a ``with`` block, so
they are the same on a GPU and in Numba's simulator
(``NUMBA_ENABLE_CUDASIM=1``): `benchmarks/bench_gpu.py` prints them per training step, and
the tests hold a steady-state step to zero allocations.

>>> with device_work() as counts:  # doctest: +SKIP
...     model.train_step(x, y)
>>> counts["allocations"], counts["launches"]  # doctest: +SKIP
(0, 16)
"""

import contextlib
import os
import sys
from collections import Counter

from numba import cuda


def _patched():
    """``(owner, attribute, counter)`` for each entry point counted."""
    from atlas.kernels.cuda.launcher import Kernel

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceArray
    else:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray as DeviceArray
    return [(Kernel, "__getitem__", "launches"), (DeviceArray, "copy_to_host", "to_host"),
            (cuda, "device_array", "allocations"), (cuda, "to_device", "to_device"),
            (DeviceArray, "copy_to_device", "from_host"),
            (DeviceArray, "reshape", "views"), (DeviceArray, "__getitem__", "views")]


@contextlib.contextmanager
def device_work():
    """Count, inside the block, kernel launches (``launches``), ``cuda.device_array`` calls
    (``allocations``), ``cuda.to_device`` calls (``to_device``: an allocation and a copy),
    ``copy_to_host`` calls (``to_host``), ``copy_to_device`` calls from a host array
    (``from_host``; a copy between device arrays does not wait) and reshapes and slices of
    device arrays (``views``), these two as asked for by atlas's own code (numba-cuda's
    simulator copies and slices inside its own functions, which are not counted). Yields
    the `Counter`."""
    counts = Counter()
    patched = _patched()
    originals = [getattr(owner, name) for owner, name, _ in patched]

    def counted(function, key):
        def wrapper(*args, **kwargs):
            if key in ("views", "from_host"):  # only what atlas's own code asks for
                caller = sys._getframe(1).f_globals.get("__name__", "")
                counted = caller.split(".")[0] == "atlas"
                if key == "from_host":  # copy_to_device(self, ary): not from a device array
                    source = args[1] if len(args) > 1 else kwargs.get("ary")
                    counted = counted and not hasattr(source, "copy_to_host")
            else:
                counted = True
            if counted:
                counts[key] += 1
            return function(*args, **kwargs)
        return wrapper

    for (owner, name, key), function in zip(patched, originals):
        setattr(owner, name, counted(function, key))
    try:
        yield counts
    finally:
        for (owner, name, _), function in zip(patched, originals):
            setattr(owner, name, function)
