import numpy as np
import pytest

from atlas.gradcheck import check_layer
from atlas.kernels import cpu
from atlas.kernels.scalar import ACTIVATION_CODES, ELU, RELU, SWISH, TANH
from atlas.nn import Dense

from .twins import activation_pair, assert_twins_agree

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 3, 11), (13, 17, 9)]


@pytest.mark.parametrize("n,d_in,d_out", SHAPES)
def test_dense_matches_numpy(n, d_in, d_out, rng):
    x = rng.standard_normal((n, d_in))
    W = rng.standard_normal((d_in, d_out))
    b = rng.standard_normal(d_out)
    dy = rng.standard_normal((n, d_out))
    y = np.empty((n, d_out))
    cpu.dense_forward(x, W, b, y)
    np.testing.assert_allclose(y, x @ W + b, rtol=1e-12)
    dx, dW, db = np.empty_like(x), np.full_like(W, np.nan), np.full_like(b, np.nan)
    cpu.dense_backward_input(dy, W, dx)
    cpu.dense_backward_params(x, dy, dW, db)
    np.testing.assert_allclose(dx, dy @ W.T, rtol=1e-12)
    np.testing.assert_allclose(dW, x.T @ dy, rtol=1e-12)
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-12)


def test_the_dense_layer_and_its_activation_in_one_call(rng):
    """``dense_forward_activated``: the layer's output ``z = x W + b`` and its activation
    ``y = f(z)``, here tanh and ELU with its scale."""
    x, W, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    z, y = np.empty((5, 4)), np.empty((5, 4))
    cpu.dense_forward_activated(x, W, b, TANH, 0.0, z, y)
    np.testing.assert_allclose(z, x @ W + b, rtol=1e-12)
    np.testing.assert_allclose(y, np.tanh(z), rtol=1e-12)
    cpu.dense_forward_activated(x, W, b, ELU, 0.7, z, y)
    np.testing.assert_allclose(y, np.where(z > 0, z, 0.7 * np.expm1(z)), rtol=1e-12)


def test_the_input_gradient_through_the_activation_before_the_layer_in_one_call(rng):
    """``dense_backward_input_chained``: with ``x = f(z)`` the layer's input, the gradient
    with respect to ``z``, ``(dy W^T) f'(z)``, here tanh and ELU with its scale."""
    dy, W = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    for kind, alpha, derivative in [(TANH, 0.0, lambda z: 1 - np.tanh(z) ** 2),
                                    (ELU, 0.7, lambda z: np.where(z > 0, 1, 0.7 * np.exp(z)))]:
        z, x = activation_pair((5, 3), kind, alpha, rng)
        dz = np.empty((5, 3))
        cpu.dense_backward_input_chained(dy, W, kind, alpha, z, x, dz)
        np.testing.assert_allclose(dz, dy @ W.T * derivative(z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n,d_in,d_out", SHAPES)
def test_dense_gradcheck(n, d_in, d_out, rng):
    layer = Dense(d_out, bias_init="normal").build((d_in,), dtype="float64", rng=rng)
    errors = check_layer(layer, rng.standard_normal((n, d_in)))
    assert max(errors.values()) < 1e-7, errors


def test_dense_without_bias(rng):
    layer = Dense(3, use_bias=False).build((4,), dtype="float64", rng=rng)
    x = rng.standard_normal((2, 4))
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"])
    assert set(layer.params) == {"W"}
    assert max(check_layer(layer, x).values()) < 1e-7


def test_dense_rejects_wrong_shapes_and_dtypes(rng):
    layer = Dense(3).build((4,))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\), got \(2, 5\)"):
        layer.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="expected dtype float32, got float64"):
        layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Flatten"):
        Dense(3).build((1, 2, 2))  # images; (T, F) sequences are time-distributed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,d_in,d_out", [(1, 3, 2), (5, 17, 3), (37, 5, 41),
                                          (66, 9, 70)])  # the last: the blocked product
def test_dense_cuda_twin(n, d_in, d_out, dtype, rng):
    """Forward adds the bias in the product's epilogue; backward's bias gradient comes out
    of the weight gradient's product, as the row of a column of ones appended to ``x``
    (with 70 output columns and 9 + 1 rows in the last shape: two blocks of the tiled
    kernel, the ones' row in the second)."""
    x = rng.standard_normal((n, d_in)).astype(dtype)
    W = rng.standard_normal((d_in, d_out)).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    dy = rng.standard_normal((n, d_out)).astype(dtype)
    tolerance = {"atol": 1e-5} if dtype == np.float32 else {}  # sums of 70 float32 terms
    assert_twins_agree("dense_forward", x, W, b, np.empty((n, d_out), dtype), **tolerance)
    assert_twins_agree("dense_backward_input", dy, W, np.empty_like(x), **tolerance)
    assert_twins_agree("dense_backward_params", x, dy, np.empty_like(W), np.empty_like(b),
                       **tolerance)


@pytest.mark.parametrize("function", sorted(ACTIVATION_CODES))
def test_dense_with_each_activation_cuda_twin(function, rng):
    """The product's epilogue writes the layer's output and its activation (each code
    compiles its own product, `gemm.Product.activated`)."""
    x, W, b = rng.standard_normal((5, 17)), rng.standard_normal((17, 3)), rng.standard_normal(3)
    assert_twins_agree("dense_forward_activated", x, W, b, ACTIVATION_CODES[function], 0.3,
                       np.empty((5, 3)), np.empty((5, 3)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("function", sorted(ACTIVATION_CODES))
def test_dense_input_gradient_through_each_activation_cuda_twin(function, rng):
    """The input gradient's product multiplies each output by the derivative of the
    activation before the layer, from its output (sigmoid, tanh) or its input (the rest:
    `scalar.chain_saved`)."""
    kind = ACTIVATION_CODES[function]
    z, x = activation_pair((5, 3), kind, 0.3, rng)
    dy, W = rng.standard_normal((5, 17)), rng.standard_normal((3, 17))
    assert_twins_agree("dense_backward_input_chained", dy, W, kind, 0.3, z, x,
                       np.empty((5, 3)), rtol=1e-12, atol=1e-12)


def test_dense_with_an_activation_cuda_twin_blocked_and_split(rng, monkeypatch):
    """The activation through the register-blocked kernel (a thread's outputs read back
    after they are written, `operands.Epilogue`) and through the kernel that adds the
    slices of a split sum; and the input gradient through an activation before the
    layer (its derivative applied the same way) in the same three products."""
    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 100)
    for n, d_in, d_out in [(66, 9, 70), (3, 250, 5), (64, 300, 64)]:  # blocked, split twice
        x, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
        b = rng.standard_normal(d_out)
        assert_twins_agree("dense_forward_activated", x, W, b, RELU, 0.0,
                           np.empty((n, d_out)), np.empty((n, d_out)), rtol=1e-12,
                           atol=1e-12)
        # The input gradient through an activation, the same three products: (n, d_out)
        # outputs of sums of d_in terms (dy is (n, d_in), W^T (d_in, d_out)).
        z, x = activation_pair((n, d_out), SWISH, 1.5, rng)
        dy, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in))
        assert_twins_agree("dense_backward_input_chained", dy, W, SWISH, 1.5, z, x,
                           np.empty((n, d_out)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m, n, k, dtype", [(70, 65, 20, np.float32), (64, 130, 17, np.float32),
                                            (66, 64, 9, np.float64)])
def test_the_register_blocked_cuda_product_matches_numpy_for_every_transpose_flag(m, n, k,
                                                                                  dtype, rng):
    from numba import cuda

    from atlas.kernels.cuda import gemm

    assert min(m, n) >= gemm.BLOCKED_MIN  # so matmul takes the blocked kernel
    for trans_a in (False, True):
        for trans_b in (False, True):
            a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
            c = cuda.device_array((m, n), dtype)
            gemm.matmul(cuda.to_device(a), cuda.to_device(b), c, trans_a, trans_b)
            expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
            np.testing.assert_allclose(c.copy_to_host(), expected, rtol=1e-5, atol=1e-5,
                                       err_msg=f"trans_a={trans_a} trans_b={trans_b}")


@pytest.mark.parametrize("tiling", [(64, 64, 8, 4, 4), (128, 64, 8, 8, 4), (128, 128, 8, 8, 8)])
def test_the_register_blocked_product_in_the_other_tilings_the_benchmark_times(tiling, rng):
    """The tilings `benchmarks/bench_gpu.py --products` times beside the shipped one,
    each operand staged both ways (along its rows and along the sum), on a grid of two
    blocks with ragged edges (two along the rows, then two along the columns): a
    thread's 8 rows lie in two runs of four, 64 apart (`gemm._make_blocked`)."""
    from numba import cuda

    from atlas.kernels.cuda import gemm, launch, reduce

    bm, bn, bk, tm, tn = tiling
    k = 2 * bk + 3
    ends = gemm.MATRIX_OUT.store, gemm.MATRIX_OUT.activation(gemm.NO_ACTIVATION)
    kernel = gemm._make_blocked(np.float64, gemm.MATRIX, gemm.MATRIX, *ends, tiling)
    no_bias, no_y, no_partial = (launch.no_values(np.float64, ndim) for ndim in (1, 2, 3))
    for trans_a, trans_b, m, n in ((False, False, bm + 3, bn - 5),
                                   (True, True, bm - 5, bn + 1)):
        a = rng.standard_normal((k, m) if trans_a else (m, k))
        b = rng.standard_normal((n, k) if trans_b else (k, n))
        c = cuda.to_device(np.full((m, n), np.nan))
        grid = (-(-n // bn), -(-m // bm))
        kernel[grid, (bm // tm) * (bn // tn)](cuda.to_device(a), cuda.to_device(b), c,
                                              no_bias, no_y, 0.0, gemm.NO_GEOMETRY,
                                              trans_a, not trans_b, m, n, k, k, no_partial,
                                              reduce.counters(grid[0] * grid[1]))
        expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
        np.testing.assert_allclose(c.copy_to_host(), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"trans_a={trans_a} trans_b={trans_b}")


@pytest.mark.parametrize("m, n, k", [(5, 7, 300), (64, 66, 130), (1, 3, 200)])
def test_a_small_output_with_a_long_sum_is_split_into_slices_and_still_exact(m, n, k, rng,
                                                                              monkeypatch):
    """Split-K: too few output blocks to fill a GPU, so the sum is cut into slices that
    separate blocks add up, and the last block of each tile to finish adds the slices;
    it leaves the tiles' counters at zero for the next product. (The threshold on the
    sum's length is lowered so that the simulator runs small shapes.)"""
    from numba import cuda

    from atlas.kernels.cuda import gemm, reduce

    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 100)

    blocked = min(m, n) >= gemm.BLOCKED_MIN
    tile = (gemm.BM, gemm.BN, gemm.BK) if blocked else (gemm.TILE,) * 3
    grid_blocks = -(-m // tile[0]) * -(-n // tile[1])
    assert gemm._slices(grid_blocks, k, tile[2]) > 1
    flags = [(False, False), (True, True)] if blocked else [(False, False), (False, True),
                                                            (True, False), (True, True)]
    for trans_a, trans_b in flags:
        a = rng.standard_normal((k, m) if trans_a else (m, k))
        b = rng.standard_normal((n, k) if trans_b else (k, n))
        c = cuda.device_array((m, n), np.float64)
        gemm.matmul(cuda.to_device(a), cuda.to_device(b), c, trans_a, trans_b)
        expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
        np.testing.assert_allclose(c.copy_to_host(), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"trans_a={trans_a} trans_b={trans_b}")
        assert not reduce.counters(grid_blocks).copy_to_host().any()


def test_a_split_sum_is_the_same_to_the_bit_whichever_block_finishes_last(rng, monkeypatch):
    """The slices are added in their own order by whichever block of the tile finishes
    last: the simulator runs the grid's blocks in a new shuffled order at each launch
    (`tests/cudasim.py`), as a GPU lets any of them finish last, and the product of 15
    slices comes out the same to the bit every time (added in the order they finished,
    the float64 totals would differ in their last bits)."""
    from numba import cuda

    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 100)
    assert gemm._slices(1, 1000, gemm.TILE) == 15
    a, b = cuda.to_device(rng.standard_normal((5, 1000))), cuda.to_device(rng.standard_normal((1000, 7)))
    totals = []
    for _ in range(3):
        c = cuda.device_array((5, 7), np.float64)
        gemm.matmul(a, b, c)
        totals.append(c.copy_to_host())
    for total in totals[1:]:
        np.testing.assert_array_equal(total, totals[0])


def test_the_bias_is_added_after_the_slices_of_a_split_sum_are_added(rng, monkeypatch):
    """A dense forward whose sum is cut into slices writes through the same epilogue:
    the bias is added once, to the total; backward, the ones' row of the weight gradient's
    product, summed over slices, is the bias gradient."""
    from numba import cuda

    import atlas.kernels.cuda as gpu
    from atlas.kernels.cuda import gemm

    monkeypatch.setattr(gemm, "SPLIT_MIN_K", 100)
    for n, d_in, d_out in [(3, 250, 5), (64, 300, 64)]:  # tiled, then blocked
        x, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
        b = rng.standard_normal(d_out)
        y = cuda.device_array((n, d_out), np.float64)
        gemm.matmul(cuda.to_device(x), cuda.to_device(W), y, bias=cuda.to_device(b))
        np.testing.assert_allclose(y.copy_to_host(), x @ W + b, rtol=1e-12, atol=1e-12)
    for n, d_in, d_out in [(250, 3, 5), (300, 64, 63)]:  # sums over the batch, then both
        x, dy = rng.standard_normal((n, d_in)), rng.standard_normal((n, d_out))
        dW, db = cuda.device_array((d_in, d_out)), cuda.device_array(d_out)
        gpu.dense_backward_params(cuda.to_device(x), cuda.to_device(dy), dW, db)
        np.testing.assert_allclose(dW.copy_to_host(), x.T @ dy, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db.copy_to_host(), dy.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_a_product_too_large_for_32_bit_indices_is_refused_before_it_runs():
    """The products bound and decode their indices in 32-bit arithmetic (`operands._split`), so
    a product with a dimension of 2**31 - 1 or more is refused with the sizes named."""
    from numba import cuda

    from atlas.kernels.cuda import gemm

    a = cuda.device_array((1, 1), np.float32)
    with pytest.raises(ValueError, match=r"32 bits: 4294967296 x 1 times 1 x 1"):
        gemm.MATMUL(a, a, a, 2**32, 1, 1)
    with pytest.raises(ValueError, match=r"32 bits: 1 x 2147483647 times"):
        gemm.MATMUL(a, a, a, 1, 1, 2**31 - 1)
