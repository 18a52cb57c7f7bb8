"""Device selection, array placement and dispatch to the kernels.

A `Backend` is what a layer talks to: it allocates arrays on its device, moves data
there and back, and exposes the kernels of its device as ``backend.kernels``: the module
`cpu` or its twin `cuda`, which have the same function
names and argument lists. Layers never import Numba.

>>> from atlas.backend import get_backend
>>> cpu = get_backend("cpu")
>>> cpu.zeros((2, 3), "float32").shape
(2, 3)
"""

from __future__ import annotations

import importlib

import numpy as np

from atlas import arena
from atlas.views import channel_view, flat  # noqa: F401  (the layers import them from here)

DEVICES = ("cpu", "cuda")


class BackendError(RuntimeError):
    """Asked for a device that this machine cannot provide (the message says why)."""


class Backend:
    """Arrays and kernels of one device.

    Parameters
    ----------
    name : {"cpu", "cuda"}
    kernels : module
        `cpu` or `cuda`.
    """

    def __init__(self, name, kernels):
        self.name = name
        self.kernels = kernels

    def __repr__(self):
        return f"Backend({self.name!r})"

    # Placement -------------------------------------------------------------------------
    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def scratch(self, shape, dtype, zero=False):
        """An array that lives for one training step: a layer's output or gradient, a
        kernel's temporary. Inside a step it comes from the network's `atlas.arena.Arena`
        (the same array as in the previous step, so nothing is allocated); outside, it is
        new. Zeroed when ``zero`` is true, else uninitialised."""
        array = arena.take(shape, dtype, self.empty)
        if zero:
            self.kernels.fill(flat(array), 0.0)
        return array

    def asarray(self, array, dtype=None):
        """``array`` on this device, contiguous (a view where no copy is needed)."""
        return np.ascontiguousarray(array, dtype=dtype)

    def upload(self, array, dtype=None):
        """``array`` on this device for one training step (a batch, its targets): as
        `asarray`, but a copy to a GPU goes into a `scratch` array, so that a steady-state
        step allocates nothing."""
        return np.ascontiguousarray(array, dtype=dtype)

    def to_numpy(self, array):
        """A NumPy array on the host with the values of ``array``."""
        return np.asarray(array)

    def copy_into(self, dst, src):
        """Overwrite device array ``dst`` with the values of ``src`` (a host array, or an
        array on this device)."""
        dst[...] = src

    def add_scaled(self, total, value, weight=1.0):
        """``total[0] += weight * value`` where ``total`` lives (a one-element float64
        array), for a ``value`` a kernel returned: a float here, a `DeviceScalar` left on
        the GPU by the CUDA kernels (added there, with no copy back)."""
        total[0] += weight * float(value)


class CUDABackend(Backend):
    """Arrays live in GPU memory (Numba device arrays); kernels are the ``@cuda.jit`` twins."""

    def __init__(self, kernels, cuda):
        super().__init__("cuda", kernels)
        self._cuda = cuda

    def empty(self, shape, dtype):
        return self._cuda.device_array(shape, dtype=np.dtype(dtype))

    def zeros(self, shape, dtype):
        return self._cuda.to_device(np.zeros(shape, dtype=dtype))

    def asarray(self, array, dtype=None):
        if _on_device(array):
            return array
        return self._cuda.to_device(np.ascontiguousarray(array, dtype=dtype))

    def upload(self, array, dtype=None):
        if _on_device(array):
            return array
        host = np.ascontiguousarray(array, dtype=dtype)
        out = self.scratch(host.shape, host.dtype)
        out.copy_to_device(host)
        return out

    def to_numpy(self, array):
        if _on_device(array):
            return array.copy_to_host()
        return np.asarray(array)

    def add_scaled(self, total, value, weight=1.0):
        value.add_to(total, weight)

    def copy_into(self, dst, src):
        if _on_device(src):
            dst.copy_to_device(src)
        else:
            dst.copy_to_device(np.ascontiguousarray(src, dtype=dst.dtype))


def _on_device(array):
    """Whether ``array`` is a Numba device array (real or simulated: both have copy_to_host)."""
    return hasattr(array, "copy_to_host")


_CACHE: dict[str, Backend] = {}


def get_backend(device: str | Backend = "cpu") -> Backend:
    """The backend for ``device`` ("cpu", the default, or "cuda").

    Raises
    ------
    BackendError
        For "cuda" when numba-cuda is not installed or no GPU (nor the CUDA simulator,
        ``NUMBA_ENABLE_CUDASIM=1``) is available; the message says which.
    ValueError
        For a name other than "cpu" or "cuda".
    """
    if isinstance(device, Backend):
        return device
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device not in _CACHE:
        _CACHE[device] = _make(device)
    return _CACHE[device]


def _make(device):
    if device == "cpu":
        return Backend("cpu", importlib.import_module("atlas.kernels.cpu"))
    try:
        from numba import cuda
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise BackendError(
            "device 'cuda' needs numba-cuda, which is not installed: "
            "pip install 'atlas[cuda]' (or use device='cpu')"
        ) from error
    if not cuda.is_available():
        raise BackendError(
            "device 'cuda' asked for, but numba.cuda.is_available() is False: no NVIDIA GPU "
            "and driver were found on this machine (use device='cpu', or set "
            "NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in Numba's simulator)"
        )
    return CUDABackend(importlib.import_module("atlas.kernels.cuda"), cuda)


def cuda_available() -> bool:
    """Whether `get_backend` can give the "cuda" backend on this machine."""
    try:
        get_backend("cuda")
    except BackendError:
        return False
    return True
