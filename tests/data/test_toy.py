import numpy as np
import pytest

from atlas.data import circles, moons, spirals, xor


@pytest.mark.parametrize("make", [xor, spirals, moons, circles])
def test_toy_sets_are_seeded_and_shaped(make):
    x1, y1 = make(seed=4)
    x2, y2 = make(seed=4)
    x3, _ = make(seed=5)
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, x3)
    assert x1.dtype == np.float32 and x1.ndim == 2 and x1.shape[1] == 2
    assert y1.shape == (x1.shape[0],) and set(np.unique(y1)) >= {0, 1}
