"""Test configuration. The CUDA twins run in Numba's CUDA simulator: the variable must be set
before anything imports numba, so it is set here, at the very top."""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import cudasim  # noqa: E402

cudasim.install()  # the simulator's blocks without its busy wait (see tests/cudasim.py)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
