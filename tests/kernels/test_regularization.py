import numpy as np
import pytest

from atlas.gradcheck import check_layer
from atlas.kernels import cpu
from atlas.kernels.scalar import ELU
from atlas.nn import BatchNorm, Dropout

from .twins import activation_pair, assert_twins_agree


def test_dropout_is_inverted_and_masks_the_gradient(rng):
    x = rng.standard_normal(10_000)
    u = rng.random(10_000)
    y, mask = np.empty_like(x), np.empty_like(x)
    cpu.dropout_forward(x, u, 0.3, y, mask)
    kept = u >= 0.3
    np.testing.assert_allclose(y, np.where(kept, x / 0.7, 0.0))
    assert abs(kept.mean() - 0.7) < 0.02
    dx = np.empty_like(x)
    cpu.dropout_backward(np.ones_like(x), mask, dx)
    np.testing.assert_allclose(dx, np.where(kept, 1 / 0.7, 0.0))


def test_dropout_layer_identity_at_inference_and_seeded(rng):
    layer = Dropout(0.5).build((6,), rng=np.random.default_rng(0))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    assert layer.forward(x, training=False) is x
    a = Dropout(0.5).build((6,), rng=np.random.default_rng(7)).forward(x)
    b = Dropout(0.5).build((6,), rng=np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"rate must be a finite number in \[0, 1\)"):
        Dropout(1.0)


def test_random_uniform_is_a_uniform_stream_per_key_the_same_on_both_backends():
    """The counter-based generator dropout draws from: values in [0, 1) with the moments
    and the histogram of a uniform distribution, no correlation between neighbours or
    between the streams of two keys, and the CUDA twin's numbers equal the CPU's."""
    u, v = np.empty(200_000), np.empty(200_000)
    cpu.random_uniform(2024, u)
    cpu.random_uniform(2025, v)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    counts = np.histogram(u, 20, (0, 1))[0]
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 45  # 19 degrees of freedom: exceeded with probability ~0.001
    assert abs(np.corrcoef(u[1:], u[:-1])[0, 1]) < 0.01
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    single = np.empty(1000, np.float32)
    cpu.random_uniform(2024, single)
    assert single.max() < 1.0  # 24-bit values: exact in float32, never rounded up to 1
    np.testing.assert_allclose(single, u[:1000], atol=0)
    assert_twins_agree("random_uniform", 2024, np.empty(777), rtol=0, atol=0)


def test_a_dropout_layer_drops_the_same_units_on_the_cpu_and_the_gpu(rng):
    """Its uniforms come from a key the layer's generator draws (one number a step), made
    into numbers where the model runs: the same seed, the same mask, on either device."""
    from atlas.nn import Sequential

    x = rng.standard_normal((5, 9))
    masks = []
    for device in ("cpu", "cuda"):
        model = Sequential([Dropout(0.4)], input_shape=(9,), device=device, dtype="float64",
                           seed=3)
        y = model.backend.to_numpy(model.forward(model.backend.asarray(x), training=True))
        masks.append(y != 0)
    np.testing.assert_array_equal(masks[0], masks[1])
    assert 0.3 < masks[0].mean() < 0.9


# Batch of 3, not 2: with two values per channel the output is +-1 whatever x is, and
# the gradient with respect to x vanishes (so a relative error says nothing).
@pytest.mark.parametrize("shape", [(3, 3), (7, 1), (3, 4, 5), (2, 3, 2, 3)])
def test_batchnorm_matches_formula_and_gradcheck(shape, rng):
    layer = BatchNorm().build(shape[1:], dtype="float64", rng=rng)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, shape[1])
    layer.params["beta"][:] = rng.standard_normal(shape[1])
    x = rng.standard_normal(shape) * 3 + 1
    axes = tuple(i for i in range(len(shape)) if i != 1)
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    mean, var = x.mean(axes), x.var(axes)
    expected = (layer.params["gamma"].reshape(bshape) * (x - mean.reshape(bshape))
                / np.sqrt(var.reshape(bshape) + 1e-5) + layer.params["beta"].reshape(bshape))
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-10, atol=1e-12)
    count = x.size // shape[1]
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * mean)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.9 + 0.1 * var * count / (count - 1))
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors


def test_batchnorm_inference_uses_running_statistics(rng):
    layer = BatchNorm().build((3,), dtype="float64")
    layer.buffers["running_mean"][:] = [1.0, 2.0, 3.0]
    layer.buffers["running_var"][:] = [4.0, 1.0, 0.25]
    x = rng.standard_normal((5, 3))
    y = layer.forward(x, training=False)
    np.testing.assert_allclose(y, (x - [1, 2, 3]) / np.sqrt(np.array([4, 1, 0.25]) + 1e-5))
    with pytest.raises(ValueError, match="more than one value per channel"):
        layer.forward(np.zeros((1, 3)), training=True)


@pytest.mark.parametrize("piece", [None, 4])
def test_regularization_cuda_twins(piece, rng, monkeypatch):
    """Dropout and batch norm against the CPU; batch norm's sums per channel in one piece,
    then (``piece`` = 4 values) in four pieces of 3 or 4 of a channel's 15 values, combined
    by the channel's last block."""
    from atlas.kernels.cuda import reduce

    if piece:
        monkeypatch.setattr(reduce, "PIECE", piece)
        assert reduce.pieces(15) == 4
    x = rng.standard_normal(50)
    assert_twins_agree("dropout_forward", x, rng.random(50), 0.4, np.empty(50), np.empty(50))
    assert_twins_agree("dropout_backward", x, rng.random(50), np.empty(50))
    z, x_act = activation_pair(50, ELU, 0.7, rng)  # through an activation before dropout
    assert_twins_agree("dropout_backward_chained", x, rng.random(50), ELU, 0.7, z, x_act,
                       np.empty(50))
    x3 = 3.0 + rng.standard_normal((3, 2, 5))  # a mean far from zero: deviations, not squares
    g, b = rng.uniform(0.5, 2, 2), rng.standard_normal(2)
    assert_twins_agree("batchnorm_train_forward", x3, g, b, 1e-5, 0.1, np.zeros(2), np.ones(2),
                       np.empty_like(x3), np.empty_like(x3), np.empty(2), rtol=1e-12,
                       atol=1e-12)
    assert_twins_agree("batchnorm_eval_forward", x3, g, b, rng.standard_normal(2),
                       rng.uniform(0.5, 2, 2), 1e-5, np.empty_like(x3))
    assert_twins_agree("batchnorm_backward", rng.standard_normal((3, 2, 5)), x3, g,
                       rng.uniform(0.5, 2, 2), np.empty_like(x3), np.empty(2), np.empty(2),
                       rtol=1e-12, atol=1e-12)


def test_cuda_channel_sums_in_pieces_match_numpy(rng, monkeypatch):
    """The convolution's bias gradient: each channel's 2 x 13 values cut into pieces of
    7 or 6 (the last block of each channel adds them), then in one piece; the counters are
    left at zero for the next launch."""
    from numba import cuda

    from atlas.kernels.cuda import reduce

    y = rng.standard_normal((2, 5, 13))
    for piece, expected_pieces in ((7, 4), (reduce.PIECE, 1)):
        monkeypatch.setattr(reduce, "PIECE", piece)
        assert reduce.pieces(26) == expected_pieces
        out = cuda.device_array(5)
        reduce.channel_sums(cuda.to_device(y), out)
        np.testing.assert_allclose(out.copy_to_host(), y.sum(axis=(0, 2)), rtol=1e-12)
        assert not reduce.counters(5).copy_to_host().any()
