"""The engine's CUDA kernel decorator (`atlas.kernels.cuda.launcher`). Its fast launch path
needs a GPU (checked on one: see DESIGN.md); here, what the simulator can check: a `Kernel`
is its dispatcher to every reader, launches through it, and lays launch dimensions out as
the driver takes them."""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from numba import cuda  # noqa: E402

from atlas.kernels.cuda import launcher  # noqa: E402
from atlas.kernels.cuda.launch import fill  # noqa: E402
from atlas.kernels.cuda.merge import _add  # noqa: E402


def test_a_kernel_shows_its_dispatchers_attributes():
    assert isinstance(fill, launcher.Kernel)
    assert fill.py_func is fill.dispatcher.py_func
    assert fill.__name__ == "fill" and "a[:] = value" in fill.__doc__


def test_a_kernel_launches_with_the_dispatchers_syntax():
    a = cuda.to_device(np.zeros(300, np.float32))
    fill[2, 256](a, 2.5)
    one, many = cuda.to_device(np.ones(15)), cuda.to_device(np.arange(15.0))
    total = cuda.device_array(15)
    _add[1, 256](one, many, total)
    np.testing.assert_array_equal(a.copy_to_host(), np.full(300, 2.5, np.float32))
    np.testing.assert_array_equal(total.copy_to_host(), 1 + np.arange(15.0))


@pytest.mark.parametrize("dims, expected", [(7, (7, 1, 1)), ((4, 2), (4, 2, 1)),
                                            ((3, 2, 5), (3, 2, 5)), ((np.int64(9),), (9, 1, 1))])
def test_launch_dimensions_become_three(dims, expected):
    assert launcher._three(dims) == expected


def test_arguments_that_select_one_compiled_kernel_share_a_key():
    assert launcher._key(3) == launcher._key(4) != launcher._key(3.0)
    assert launcher._key(True) != launcher._key(1)
    assert launcher._key((1, 2)) == launcher._key((5, 6)) != launcher._key((1, 2, 3))
    assert launcher._key(np.float32(1)) != launcher._key(1.0)


def _import_launcher(cache_setting):
    """Import the launcher in a new process with ``ATLAS_CUDA_CACHE`` set, launch a kernel
    declared with it, and return the process."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np; from numba import cuda; "
            "from atlas.kernels.cuda.launcher import kernel\n"
            "@kernel\ndef twice(a):\n    i = cuda.grid(1)\n    if i < a.size: a[i] *= 2\n"
            "a = cuda.to_device(np.arange(5.0)); twice[1, 32](a); print(a.copy_to_host().sum())")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "ATLAS_CUDA_CACHE": cache_setting}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)


def test_the_disk_cache_is_asked_for_with_1_and_other_values_are_refused():
    on = _import_launcher("1")
    assert on.returncode == 0 and on.stdout.strip() == "20.0", on.stderr
    wrong = _import_launcher("yes")
    assert wrong.returncode != 0
    assert "ATLAS_CUDA_CACHE must be 0" in wrong.stderr and "'yes'" in wrong.stderr
