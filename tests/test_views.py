"""`atlas.views`: reshaped views and parts of arrays, kept on a device array so that a
steady-state training step makes no new ones."""

import numpy as np
import pytest

from atlas.views import channel_view, flat, part, reshaped


def test_numpy_arrays_are_reshaped_each_time_and_share_their_values():
    x = np.arange(12.0).reshape(3, 4)
    v = reshaped(x, 2, 6)
    assert v.shape == (2, 6) and np.shares_memory(v, x)
    assert flat(x).shape == (12,) and channel_view(np.zeros((2, 3, 4, 5))).shape == (2, 3, 20)
    np.testing.assert_array_equal(part(x, 1), [4, 5, 6, 7])
    np.testing.assert_array_equal(part(x, (1, 3)), x[1:3])


def test_a_device_array_keeps_its_views_and_they_write_through():
    cuda = pytest.importorskip("numba.cuda")
    x = cuda.to_device(np.arange(12.0).reshape(3, 4))
    v = reshaped(x, 2, 6)
    assert reshaped(x, 2, 6) is v and flat(x) is flat(x) and v is not flat(x)
    assert reshaped(x, 3, 4) is x  # already of that shape
    assert part(x, (0, 2)) is part(x, (0, 2)) and part(x, -1) is part(x, -1)
    assert part(x, (0, 2)).shape == (2, 4) and part(x, -1).shape == (4,)
    flat(x).copy_to_device(np.zeros(12))  # a view writes into the array's own values
    np.testing.assert_array_equal(x.copy_to_host(), np.zeros((3, 4)))
