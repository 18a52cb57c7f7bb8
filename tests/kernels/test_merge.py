"""Merge kernels: sums, products and column copies against NumPy, and their CUDA twins."""

import numpy as np
import pytest

from atlas.kernels import cpu

from .twins import assert_twins_agree


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_add_and_multiply_match_numpy(size, rng):
    a, b = rng.standard_normal(size), rng.standard_normal(size)
    y = np.empty(size)
    cpu.add(a, b, y)
    np.testing.assert_array_equal(y, a + b)
    cpu.multiply(a, b, y)
    np.testing.assert_array_equal(y, a * b)
    before = a.copy()
    cpu.add(a, b, a)  # in place: y may be the first input
    np.testing.assert_array_equal(a, before + b)


def test_columns_round_trip_and_concatenate_any_axis(rng):
    parts = [rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 5, 4))]
    out = np.empty((3, 7, 4))
    offset = 0
    for part in parts:  # axis 1 of (3, k, 4): the columns of the (3, 4k) views
        cpu.copy_columns(part.reshape(3, -1), out.reshape(3, -1), offset)
        offset += part[0].size
    np.testing.assert_array_equal(out, np.concatenate(parts, axis=1))
    back = np.empty((3, 20))
    cpu.take_columns(out.reshape(3, -1), 8, back)
    np.testing.assert_array_equal(back.reshape(3, 5, 4), parts[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_cuda_twins(dtype, rng):
    a, b = rng.standard_normal(37).astype(dtype), rng.standard_normal(37).astype(dtype)
    assert_twins_agree("add", a, b, np.empty_like(a))
    assert_twins_agree("multiply", a, b, np.empty_like(a))
    src = rng.standard_normal((4, 3)).astype(dtype)
    assert_twins_agree("copy_columns", src, np.zeros((4, 9), dtype), 5)
    assert_twins_agree("take_columns", rng.standard_normal((4, 9)).astype(dtype), 2,
                       np.empty((4, 5), dtype))
