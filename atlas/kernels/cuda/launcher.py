"""How the engine launches its CUDA kernels: ``@kernel`` is numba-cuda's ``@cuda.jit`` with
a cheaper launch.

A launch through numba-cuda's dispatcher, ``k[grid, block](*args)``, cost 19-44 us of host
time on H200 machines (2026-11-30, ``benchmarks/bench_gpu.py --launch``; the same command
moved 2x from one machine to the next), against 6-9 us for a PyTorch kernel; the engine's
small models make 17-60 launches a training step, so that was most of a step. Profiled,
the time went to work that is the same at every launch of a kernel with the same argument
types: typing the arguments again, looking the CUDA context up, wrapping every device
array in an argument object, building a launch configuration. `Kernel` does that work
once per argument types and per grid and block, then per launch only reads each device
array's pointer, shape and strides into the argument list and calls the driver
(``cuda.core.launch``, as numba-cuda does): 8.9-9.2 us where the dispatcher took 18.8-21.4
us on the same machine.

The first launch of a kernel for new argument types goes through numba-cuda's dispatcher
(which compiles); so does every launch in Numba's CUDA simulator, with host arrays among
the arguments, or when ``ATLAS_CUDA_LAUNCH=numba`` is set (to compare, or to rule this
path out; ``atlas``, the default, is the engine's launch, and any other value is an error).

``ATLAS_CUDA_CACHE=1`` keeps the compiled kernels on disk (numba-cuda's ``cache=True``, in
``__pycache__`` or ``NUMBA_CACHE_DIR``), so that a new process does not compile them again.
It is off by default (``0``): it has not been measured on a GPU yet
(``benchmarks/bench_gpu.py --startup`` measures it), and like Numba's CPU cache it does
not notice a change in a device function defined in another module (delete the cache
after editing one).
"""

import ctypes
import functools
import os

import numpy as np
from numba import config as numba_config
from numba import cuda

_LAUNCH_PATHS = ("atlas", "numba")
_LAUNCH = os.environ.get("ATLAS_CUDA_LAUNCH", "atlas")
if _LAUNCH not in _LAUNCH_PATHS:
    raise ValueError(f"ATLAS_CUDA_LAUNCH must be one of {', '.join(_LAUNCH_PATHS)} (the "
                     f"engine's launch, numba-cuda's dispatcher), got {_LAUNCH!r}")
#: Launch through numba-cuda's dispatcher only (simulator, or asked for).
_DISPATCHER_ONLY = numba_config.ENABLE_CUDASIM or _LAUNCH == "numba"
_CACHE = os.environ.get("ATLAS_CUDA_CACHE", "0")
if _CACHE not in ("0", "1"):
    raise ValueError(f"ATLAS_CUDA_CACHE must be 0 (compile the kernels in each process) or 1 "
                     f"(keep them on disk), got {_CACHE!r}")

# What an argument becomes in the driver's argument list, by the Numba type of the argument.
_ARRAY, _INT64, _FLOAT64, _FLOAT32, _BOOLEAN, _OTHER = range(6)


def _kind(numba_type):
    from numba.cuda import types

    if isinstance(numba_type, types.Array):
        return _ARRAY
    return {types.int64: _INT64, types.float64: _FLOAT64, types.float32: _FLOAT32,
            types.boolean: _BOOLEAN}.get(numba_type, _OTHER)


def _key(arg):
    """What decides the compiled kernel an argument selects (its Numba type for a device
    array; for a scalar or a tuple, the Python types)."""
    numba_type = getattr(arg, "_numba_type_", None)  # cached on each device array
    if numba_type is not None:
        return numba_type
    if isinstance(arg, tuple):
        return tuple(type(a) for a in arg)
    return type(arg)


def _three(dims):
    """Grid or block dimensions as the driver takes them: ``(x, y, z)``."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))


class _Compiled:
    """One compiled kernel, ready to launch: the driver's handle and how to pass each
    argument."""

    def __init__(self, overload):
        from cuda.core import launch
        from numba.cuda._compat import CUDA_CORE_GE_1_0
        from numba.cuda.cudadrv import driver

        self.driver_launch = launch  # looked up once: an import per launch costs time too
        self.overload = overload
        self.handle = overload._codelibrary.get_cufunc().kernel
        self.types = overload.argument_types
        self.kinds = tuple(_kind(t) for t in self.types)
        self.stream = driver._to_core_stream(0)
        self.cooperative = {"is_cooperative" if CUDA_CORE_GE_1_0 else "cooperative_launch":
                            False}
        self.configs = {}

    def config(self, grid, block):
        key = (grid, block)
        if key not in self.configs:
            from cuda.core import LaunchConfig

            self.configs[key] = LaunchConfig(grid=_three(grid), block=_three(block),
                                             shmem_size=0, **self.cooperative)
        return self.configs[key]

    def launch(self, grid, block, args):
        params = []
        for kind, numba_type, value in zip(self.kinds, self.types, args):
            if kind == _ARRAY:  # as numba-cuda's _Kernel._prepare_args lays an array out
                view = value._strided_memory_view_shim
                params += (0, 0, view.size, view.dtype.itemsize, view.ptr)
                params += view.shape
                params += view._layout.strides_in_bytes
            elif kind == _INT64:
                params.append(ctypes.c_int64(value))
            elif kind == _FLOAT64:
                params.append(ctypes.c_double(value))
            elif kind == _FLOAT32:
                params.append(ctypes.c_float(value))
            elif kind == _BOOLEAN:
                params.append(value)
            else:
                self.overload._prepare_args(numba_type, value, self.stream, [], params)
        self.driver_launch(self.stream, self.config(grid, block), self.handle, *params)


class Kernel:
    """A ``@cuda.jit`` kernel launched as numba-cuda's own, ``k[grid, block](*args)``, with
    less host work per launch (see the module's docstring). Other attributes (``py_func``,
    ``overloads``, ...) are the dispatcher's."""

    def __init__(self, function):
        self.dispatcher = cuda.jit(function, cache=_CACHE == "1")
        self._compiled = {}  # argument keys -> _Compiled, or None: always the dispatcher
        functools.update_wrapper(self, function)

    def __getattr__(self, name):
        if name == "dispatcher":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __getitem__(self, launch_config):
        return functools.partial(self._launch, launch_config)

    def _launch(self, launch_config, *args):
        if _DISPATCHER_ONLY or len(launch_config) != 2:  # a stream or shared memory: numba's
            return self.dispatcher[launch_config](*args)
        key = tuple(_key(a) for a in args)
        compiled = self._compiled.get(key, False)
        if compiled:
            grid, block = launch_config
            return compiled.launch(grid, block, args)
        self.dispatcher[launch_config](*args)  # compiles if needed
        if compiled is False:
            self._compiled[key] = self._ready(args)

    def _ready(self, args):
        """The compiled kernel for ``args``, or None where the dispatcher must launch
        (host arrays, which it copies to the device and back)."""
        if any(isinstance(a, np.ndarray) for a in args):
            return None
        types = tuple(self.dispatcher.typeof_pyval(a) for a in args)
        overload = self.dispatcher.overloads.get(types)
        return None if overload is None else _Compiled(overload)


def kernel(function):
    """``@kernel``: the decorator of the engine's CUDA kernels (see `Kernel`)."""
    return Kernel(function)
