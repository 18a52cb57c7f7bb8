import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from atlas import losses
from atlas.gradcheck import numerical_gradient, relative_error
from atlas.kernels import cpu

from .twins import assert_twins_agree


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _distributions(rng, shape):
    p = rng.uniform(0.05, 1, shape)
    return p / p.sum(1, keepdims=True)


def cases(rng):
    """(loss, prediction, target, reference value) for every loss, on awkward shapes."""
    z = rng.standard_normal((5, 7))
    labels = rng.integers(0, 7, 5)
    onehot = np.eye(7)[labels]
    y, t = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    b = rng.integers(0, 2, (3, 5)).astype(float)
    p, q = _distributions(rng, (4, 3)), _distributions(rng, (4, 3))
    m = (p + q) / 2
    logp = np.log(_softmax(z))
    sig = 1 / (1 + np.exp(-y))
    r = y - t
    return [
        (losses.SoftmaxCrossEntropy(), z, labels, -logp[np.arange(5), labels].mean()),
        (losses.SoftmaxCrossEntropy(), z, onehot, -(onehot * logp).sum() / 5),
        (losses.BinaryCrossEntropy(), y, b, -(b * np.log(sig) + (1 - b) * np.log(1 - sig)).mean()),
        (losses.BinaryCrossEntropy(from_logits=False), sig, b,
         -(b * np.log(sig) + (1 - b) * np.log(1 - sig)).mean()),
        (losses.MSE(), y, t, (r**2).mean()),
        (losses.MSE(reduction="sum", factor=0.5), y, t, 0.5 * (r**2).sum()),
        (losses.L1(), y, t, np.abs(r).mean()),
        (losses.Huber(delta=0.7), y, t,
         np.where(np.abs(r) <= 0.7, 0.5 * r**2, 0.7 * (np.abs(r) - 0.35)).mean()),
        (losses.KLDivergence(), q, p, (p * np.log(p / q)).sum() / 4),
        (losses.JSDivergence(), q, p, 0.5 * ((p * np.log(p / m)).sum() + (q * np.log(q / m)).sum()) / 4),
    ]


def test_every_loss_matches_its_formula_and_passes_gradcheck(rng):
    for loss, pred, target, expected in cases(rng):
        value, grad = loss(pred, target)
        assert value == pytest.approx(expected, rel=1e-10), type(loss).__name__
        numeric = numerical_gradient(lambda: loss(pred, target)[0], pred)
        assert relative_error(grad, numeric) < 1e-7, type(loss).__name__


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    value, grad = losses.SoftmaxCrossEntropy()(z, np.array([2]))
    assert value == pytest.approx(2000.0) and np.all(np.isfinite(grad))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (4, 3), elements=st.floats(-30, 30)),
       arrays(np.float64, (4, 3), elements=st.floats(-30, 30)))
def test_losses_are_non_negative(y, t):
    for loss in (losses.MSE(), losses.L1(), losses.Huber()):
        assert loss(y, t)[0] >= 0
    labels = np.abs(t[:, 0]).astype(np.int64) % 3
    assert losses.SoftmaxCrossEntropy()(y, labels)[0] >= 0
    p, q = np.exp(y) / np.exp(y).sum(), np.exp(t) / np.exp(t).sum()
    assert losses.KLDivergence()(q, p)[0] >= -1e-12
    assert -1e-12 <= losses.JSDivergence()(q, p)[0] <= np.log(2) + 1e-12


def test_bad_targets_get_clear_errors():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\)"):
        losses.SoftmaxCrossEntropy()(z, np.array([0, 3]))
    with pytest.raises(ValueError, match="class labels must be integers"):
        losses.SoftmaxCrossEntropy()(z, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target shape \(2, 2\) does not match prediction shape \(2, 3\)"):
        losses.MSE()(z, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get_loss("hinge")


def test_loss_cuda_twins(rng):
    z = rng.standard_normal((5, 7))
    labels = rng.integers(0, 7, 5)
    assert_twins_agree("softmax_cross_entropy", z, labels, np.empty_like(z))
    assert_twins_agree("softmax_cross_entropy_soft", z, _distributions(rng, (5, 7)), np.empty_like(z))
    y, t = rng.standard_normal(11), rng.standard_normal(11)
    b = rng.integers(0, 2, 11).astype(float)
    p, q = _distributions(rng, (1, 11))[0], _distributions(rng, (1, 11))[0]
    assert_twins_agree("sigmoid_binary_cross_entropy", y, b, 0.1, np.empty(11))
    assert_twins_agree("binary_cross_entropy", 1 / (1 + np.exp(-y)), b, 0.1, np.empty(11))
    assert_twins_agree("squared_error", y, t, 0.5, np.empty(11))
    assert_twins_agree("absolute_error", y, t, 0.5, np.empty(11))
    assert_twins_agree("huber", y, t, 0.8, 0.5, np.empty(11))
    assert_twins_agree("kl_divergence", p, q, 1.0, np.empty(11))
    assert_twins_agree("js_divergence", p, q, 1.0, np.empty(11))
    assert cpu.squared_error(y, t, 1.0, np.empty(11)) == pytest.approx(((y - t) ** 2).sum())


def test_a_cuda_loss_over_many_blocks_is_their_sum_in_order_every_time(rng):
    """Past one piece (`reduce.PIECE` items) a loss runs on several blocks, and the last
    to finish adds their sums in block order: the value agrees with the CPU's, is the
    same from call to call, and needs no zeroed accumulator (the arrays are reused, as in
    a training step's arena)."""
    from numba import cuda

    import atlas.kernels.cuda as gpu
    from atlas.arena import Arena
    from atlas.kernels.cuda.reduce import PIECE, pieces

    size = 2 * PIECE + 37
    assert pieces(size) == 3
    y, t = rng.standard_normal(size), rng.standard_normal(size)
    assert_twins_agree("squared_error", y, t, 0.5, np.empty(size), rtol=1e-12)
    arena, dy, dt = Arena(), cuda.to_device(y), cuda.to_device(t)
    values = []
    for _ in range(3):
        with arena.step("loss"):
            values.append(float(gpu.squared_error(dy, dt, 1.0, cuda.device_array(size))))
    assert arena.allocations == 2  # the accumulator and the blocks' sums, once
    assert values[0] == values[1] == values[2] == pytest.approx(((y - t) ** 2).sum(), rel=1e-12)
    rows = PIECE + 1  # the cross-entropy's items are rows
    z, labels = rng.standard_normal((rows, 3)), rng.integers(0, 3, rows)
    assert_twins_agree("softmax_cross_entropy", z, labels, np.empty_like(z), rtol=1e-12)


def test_count_correct_adds_the_rows_whose_argmax_is_the_label(rng):
    scores = np.array([[0.1, 0.7, 0.2], [2.0, 2.0, 1.0], [0.0, -1.0, 3.0], [5.0, 1.0, 0.0]],
                      np.float32)
    total = np.array([10.0])
    cpu.count_correct(scores, np.array([1, 1, 2, 1]), total)  # a tie goes to the first
    assert total[0] == 12.0
    scores = rng.standard_normal((37, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 37)
    total = np.zeros(1)
    cpu.count_correct(scores, labels, total)
    assert total[0] == np.count_nonzero(scores.argmax(1) == labels)
    assert_twins_agree("count_correct", scores, labels, np.array([3.0]))
