"""Run a CPU kernel and its CUDA twin on copies of the same inputs and compare every output."""

import numpy as np

import atlas.kernels.cpu as cpu

try:
    from numba import cuda

    import atlas.kernels.cuda as gpu
except ImportError:  # numba-cuda is an optional extra
    cuda = gpu = None


def assert_twins_agree(name, *args, rtol=1e-5, atol=1e-6, scratch=()):
    """Call ``cpu.<name>(*args)`` and ``cuda.<name>(*args)`` on copies; compare results.

    Array arguments are copied (to the device for the twin); after the calls every array
    argument (inputs and outputs alike) and the return value must agree, except the
    workspaces at the positions ``scratch``, whose contents each backend lays out its own way.
    """
    assert gpu is not None, "numba-cuda is not installed (pip install 'atlas[cuda]')"
    host = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    device = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    expected = getattr(cpu, name)(*host)
    got = getattr(gpu, name)(*device)
    if expected is not None:  # a CUDA loss leaves its value on the device until float()
        np.testing.assert_allclose(float(got), expected, rtol=rtol, atol=atol,
                                   err_msg=f"{name} value")
    for i, (h, d) in enumerate(zip(host, device)):
        if isinstance(h, np.ndarray) and i not in scratch:
            np.testing.assert_allclose(d.copy_to_host(), h, rtol=rtol, atol=atol,
                                       err_msg=f"{name} argument {i}")


def activation_pair(shape, kind, alpha, rng, dtype=np.float64):
    """``(z, x)``: a random input of the activation of code ``kind`` and its output, ``x =
    f(z)`` as the CPU's kernel computes it (a `*_chained` kernel's CUDA twin reads one of
    the two, its CPU twin both, so they must agree)."""
    z = rng.standard_normal(shape).astype(dtype)
    x = np.empty_like(z)
    cpu.activation_forward(z.reshape(-1), kind, alpha, x.reshape(-1))
    return z, x
