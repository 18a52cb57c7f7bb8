"""Pooling kernels against naive loops, the course's 2x2 example, and the CUDA twins."""

import numpy as np
import pytest

from atlas.kernels import cpu
from atlas.kernels.scalar import GELU, RELU, SIGMOID, TANH

from .twins import activation_pair, assert_twins_agree, cuda, gpu

# (kernel, stride, padding) on a 7x6 input: non-overlapping, overlapping, padded.
GEOMETRIES = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 0))]


def output_hw(hw, kernel, stride, padding):
    return tuple((s + 2 * p - k) // st + 1 for s, k, st, p in zip(hw, kernel, stride, padding))


def naive_pool(x, kernel, stride, padding, reduce):
    n, c, h, w = x.shape
    oh, ow = output_hw((h, w), kernel, stride, padding)
    y = np.empty((n, c, oh, ow))
    for p in range(oh):
        for q in range(ow):
            r0, s0 = p * stride[0] - padding[0], q * stride[1] - padding[1]
            window = x[:, :, max(r0, 0):r0 + kernel[0], max(s0, 0):s0 + kernel[1]]
            y[:, :, p, q] = reduce(window, r0, s0)
    return y


@pytest.mark.parametrize("kernel,stride,padding", GEOMETRIES)
def test_max_and_average_pooling_match_naive_loops(kernel, stride, padding, rng):
    x = rng.standard_normal((2, 3, 7, 6))
    oh, ow = output_hw((7, 6), kernel, stride, padding)
    y = np.empty((2, 3, oh, ow))
    argmax = np.empty(y.shape, np.int64)
    cpu.maxpool2d_forward(x, kernel, stride, padding, y, argmax)
    np.testing.assert_array_equal(
        y, naive_pool(x, kernel, stride, padding, lambda win, *_: win.max(axis=(2, 3))))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1),
                                                     argmax.reshape(2, 3, -1), 2),
                                  y.reshape(2, 3, -1))
    for include in (True, False):
        def mean(win, r0, s0, include=include):
            if not include:
                return win.mean(axis=(2, 3))
            rows = min(r0 + kernel[0], 7 + padding[0]) - r0
            cols = min(s0 + kernel[1], 6 + padding[1]) - s0
            return win.sum(axis=(2, 3)) / (rows * cols)
        cpu.avgpool2d_forward(x, kernel, stride, padding, include, y)
        np.testing.assert_allclose(y, naive_pool(x, kernel, stride, padding, mean), rtol=1e-12)


@pytest.mark.parametrize("kernel,stride,padding", GEOMETRIES)
def test_pooling_backward_is_the_adjoint(kernel, stride, padding, rng):
    """For the (piecewise) linear maps, <dy, J x> = <J^T dy, x> with J fixed by argmax."""
    x = rng.standard_normal((2, 3, 7, 6))
    oh, ow = output_hw((7, 6), kernel, stride, padding)
    y, dy = np.empty((2, 3, oh, ow)), rng.standard_normal((2, 3, oh, ow))
    dx = np.empty_like(x)
    argmax = np.empty(y.shape, np.int64)
    cpu.maxpool2d_forward(x, kernel, stride, padding, y, argmax)
    cpu.maxpool2d_backward(dy, argmax, kernel, stride, padding, dx)
    assert np.sum(dy * y) == pytest.approx(np.sum(dx * x), rel=1e-12)
    for include in (True, False):
        cpu.avgpool2d_forward(x, kernel, stride, padding, include, y)
        cpu.avgpool2d_backward(dy, kernel, stride, padding, include, dx)
        assert np.sum(dy * y) == pytest.approx(np.sum(dx * x), rel=1e-12)


def test_max_pooling_2x2_stride_2_on_the_4x4_example():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float64)
    y = np.empty((1, 1, 2, 2))
    cpu.maxpool2d_forward(x[None, None], (2, 2), (2, 2), (0, 0), y, np.empty(y.shape, np.int64))
    np.testing.assert_array_equal(y[0, 0], [[6, 8], [3, 4]])


@pytest.mark.parametrize("kernel,stride,padding", GEOMETRIES)
def test_max_pooling_ties_go_to_the_first_maximum(kernel, stride, padding, rng):
    x = rng.integers(0, 2, (2, 3, 7, 6)).astype(np.float32)  # ReLU-like: ties everywhere
    oh, ow = output_hw((7, 6), kernel, stride, padding)
    y, argmax = np.empty((2, 3, oh, ow), np.float32), np.empty((2, 3, oh, ow), np.int64)
    cpu.maxpool2d_forward(x, kernel, stride, padding, y, argmax)
    for p in range(oh):
        for q in range(ow):
            r0, s0 = p * stride[0] - padding[0], q * stride[1] - padding[1]
            rows = np.arange(max(r0, 0), min(r0 + kernel[0], 7))
            cols = np.arange(max(s0, 0), min(s0 + kernel[1], 6))
            flat = (rows[:, None] * 6 + cols[None, :]).ravel()  # row-major window order
            first = flat[np.argmax(x.reshape(2, 3, -1)[:, :, flat], axis=2)]
            np.testing.assert_array_equal(argmax[:, :, p, q], first)


def test_max_pooling_propagates_nan():
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    y = np.empty((1, 1, 1, 1))
    cpu.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), y, np.empty(y.shape, np.int64))
    assert np.isnan(y[0, 0, 0, 0])


def test_global_average_pooling(rng):
    x = rng.standard_normal((2, 3, 5))
    y, dx = np.empty((2, 3)), np.empty_like(x)
    cpu.global_avgpool_forward(x, y)
    np.testing.assert_allclose(y, x.mean(axis=2))
    cpu.global_avgpool_backward(np.ones((2, 3)), dx)
    np.testing.assert_allclose(dx, np.full_like(x, 0.2))


def test_the_pooling_gradients_through_the_activation_before_the_pooling(rng):
    """The ``*_chained`` kernels: the pooling's input gradient times the derivative of the
    activation whose output the pooling read (ReLU, and sigmoid)."""
    z = rng.standard_normal((2, 3, 6, 7))
    x, dy = np.maximum(z, 0), rng.standard_normal((2, 3, 3, 3))
    y, argmax = np.empty(dy.shape), np.empty(dy.shape, np.int64)
    cpu.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), y, argmax)
    plain, chained = np.empty_like(x), np.empty_like(x)
    cpu.maxpool2d_backward(dy, argmax, (2, 2), (2, 2), (0, 0), plain)
    cpu.maxpool2d_backward_chained(dy, argmax, (2, 2), (2, 2), (0, 0), RELU, 0.0, z, x,
                                   chained)
    np.testing.assert_array_equal(chained, plain * (z > 0))
    x = 1 / (1 + np.exp(-z))
    cpu.avgpool2d_backward(dy, (3, 3), (2, 2), (1, 1), True, plain)
    cpu.avgpool2d_backward_chained(dy, (3, 3), (2, 2), (1, 1), True, SIGMOID, 0.0, z, x,
                                   chained)
    np.testing.assert_allclose(chained, plain * x * (1 - x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,padding", GEOMETRIES[1:])
def test_pooling_cuda_twins(kernel, stride, padding, dtype, rng):
    x = rng.standard_normal((1, 2, 7, 6)).astype(dtype)
    oh, ow = output_hw((7, 6), kernel, stride, padding)
    y, dy = np.empty((1, 2, oh, ow), dtype), rng.standard_normal((1, 2, oh, ow)).astype(dtype)
    argmax = np.empty(y.shape, np.int64)
    assert_twins_agree("maxpool2d_forward", x, kernel, stride, padding, y, argmax)
    cpu.maxpool2d_forward(x, kernel, stride, padding, y, argmax)
    assert_twins_agree("maxpool2d_backward", dy, argmax, kernel, stride, padding,
                       np.empty_like(x))
    for include in (True, False):
        assert_twins_agree("avgpool2d_forward", x, kernel, stride, padding, include, y)
        assert_twins_agree("avgpool2d_backward", dy, kernel, stride, padding, include,
                           np.empty_like(x))
    # Backward through an activation before the pooling (its input x = f(z)).
    z, x_act = activation_pair(x.shape, GELU, 0.0, rng, dtype)
    cpu.maxpool2d_forward(x_act, kernel, stride, padding, y, argmax)
    assert_twins_agree("maxpool2d_backward_chained", dy, argmax, kernel, stride, padding,
                       GELU, 0.0, z, x_act, np.empty_like(x))
    z, x_act = activation_pair(x.shape, TANH, 0.0, rng, dtype)
    assert_twins_agree("avgpool2d_backward_chained", dy, kernel, stride, padding, False, TANH,
                       0.0, z, x_act, np.empty_like(x))
    x3 = x.reshape(1, 2, -1)
    assert_twins_agree("global_avgpool_forward", x3, np.empty((1, 2), dtype))
    assert_twins_agree("global_avgpool_backward", dy[:, :, 0, 0].copy(), np.empty_like(x3))


@pytest.mark.parametrize("kernel,stride,padding", GEOMETRIES[1:])
def test_max_pooling_cuda_backward_adds_shared_maxima_in_the_cpus_order(kernel, stride,
                                                                          padding, rng):
    """Overlapping windows on ties (random zeros and ones) share their maxima: the CUDA
    gather adds each pixel's gradients in the CPU's order and type, so the two agree to
    the bit in float32 (an atomic scatter would add them in any order)."""
    x = rng.integers(0, 2, (2, 3, 7, 6)).astype(np.float32)
    oh, ow = output_hw((7, 6), kernel, stride, padding)
    dy = rng.standard_normal((2, 3, oh, ow)).astype(np.float32)
    y, argmax = np.empty(dy.shape, np.float32), np.empty(dy.shape, np.int64)
    cpu.maxpool2d_forward(x, kernel, stride, padding, y, argmax)
    counts = np.zeros(x.size, np.int64)
    np.add.at(counts, (np.arange(6)[:, None] * 42 + argmax.reshape(6, -1)).ravel(), 1)
    assert counts.max() >= 2  # the premise: some pixel is the maximum of several windows
    expected, got = np.empty_like(x), cuda.device_array_like(x)
    cpu.maxpool2d_backward(dy, argmax, kernel, stride, padding, expected)
    gpu.maxpool2d_backward(cuda.to_device(dy), cuda.to_device(argmax), kernel, stride,
                           padding, got)
    np.testing.assert_array_equal(got.copy_to_host(), expected)
