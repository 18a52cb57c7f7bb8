import numpy as np
import pytest

from atlas import optimizers
from atlas.kernels import cpu

from .twins import assert_twins_agree


def reference_steps(name, p, grads, lr, wd=0.0):
    """The textbook update rules, in NumPy, applied to a sequence of gradients."""
    p = p.copy()
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = g + (0.0 if name == "adamw" else wd) * p
        if name == "sgd":
            p -= lr * g
        elif name == "momentum":
            s1 = 0.9 * s1 + g
            p -= lr * s1
        elif name == "nesterov":
            s1 = 0.9 * s1 + g
            p -= lr * (g + 0.9 * s1)
        elif name == "rmsprop":
            s1 = 0.9 * s1 + 0.1 * g**2
            p -= lr * g / (np.sqrt(s1) + 1e-8)
        elif name == "adagrad":
            s1 += g**2
            p -= lr * g / (np.sqrt(s1) + 1e-10)
        elif name == "adadelta":
            s1 = 0.9 * s1 + 0.1 * g**2
            d = np.sqrt(s2 + 1e-6) / np.sqrt(s1 + 1e-6) * g
            s2 = 0.9 * s2 + 0.1 * d**2
            p -= lr * d
        else:  # adam, adamw
            if name == "adamw":
                p -= lr * wd * p
            s1 = 0.9 * s1 + 0.1 * g
            s2 = 0.999 * s2 + 0.001 * g**2
            p -= lr * (s1 / (1 - 0.9**t)) / (np.sqrt(s2 / (1 - 0.999**t)) + 1e-8)
    return p


OPTIMIZERS = {
    "sgd": lambda wd: optimizers.SGD(0.1, weight_decay=wd),
    "momentum": lambda wd: optimizers.Momentum(0.1, weight_decay=wd),
    "nesterov": lambda wd: optimizers.Nesterov(0.1, weight_decay=wd),
    "rmsprop": lambda wd: optimizers.RMSProp(0.1, weight_decay=wd),
    "adagrad": lambda wd: optimizers.Adagrad(0.1, weight_decay=wd),
    "adadelta": lambda wd: optimizers.Adadelta(0.1, weight_decay=wd),
    "adam": lambda wd: optimizers.Adam(0.1, weight_decay=wd),
    "adamw": lambda wd: optimizers.AdamW(0.1, weight_decay=wd),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_optimizer_matches_reference(name, wd, rng):
    p0 = rng.standard_normal(13)
    grads = [rng.standard_normal(13) for _ in range(5)]
    p, g = p0.copy(), np.empty(13)
    opt = OPTIMIZERS[name](wd)
    for grad in grads:
        g[:] = grad
        opt.step([("p", p, g)])
    np.testing.assert_allclose(p, reference_steps(name, p0, grads, 0.1, wd), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_descend_a_quadratic(name):
    p = np.array([3.0, -2.0])
    g = np.empty(2)
    opt = OPTIMIZERS[name](0.0)
    opt.lr = {"adadelta": 1.0, "adagrad": 0.5}.get(name, 0.05)
    for _ in range(3000 if name == "adadelta" else 300):  # Adadelta's first steps are ~sqrt(eps)
        g[:] = 2 * p * [1.0, 10.0]
        opt.step([("p", p, g)])
    assert np.linalg.norm(p) < 0.5, (name, p)


def test_clipping_by_global_norm():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    ga, gb = a.copy(), b.copy()
    opt = optimizers.SGD(1.0, clip_norm=1.0)
    opt.step([("a", np.zeros(2), ga), ("b", np.zeros(2), gb)])
    assert opt.last_grad_norm == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([ga, gb]), [0.6, 0, 0, 0.8])


def test_schedules():
    assert optimizers.StepDecay(10, 0.5)(25) == 0.25
    cosine = optimizers.CosineDecay(10, floor=0.1)
    assert cosine(0) == 1.0 and cosine(10) == pytest.approx(0.1) and cosine(5) == pytest.approx(0.55)
    opt = optimizers.SGD(0.2, schedule=cosine)
    opt.progress = 5
    assert opt.current_lr == pytest.approx(0.11)
    with pytest.raises(ValueError, match=r"lr \(the learning rate\) must be a finite number > 0"):
        optimizers.Adam(lr=0)


def test_optimizer_cuda_twins(rng):
    def arrays(k):
        return [rng.standard_normal(17) for _ in range(k)]
    p, g, s = arrays(3)
    assert_twins_agree("sgd_step", p, g, s, 0.1, 0.9, True, 0.01)
    assert_twins_agree("rmsprop_step", p, g, np.abs(s), 0.1, 0.9, 1e-8, 0.01)
    assert_twins_agree("adagrad_step", p, g, np.abs(s), 0.1, 1e-10, 0.01)
    assert_twins_agree("adadelta_step", p, g, np.abs(s), np.abs(s), 1.0, 0.9, 1e-6, 0.01)
    assert_twins_agree("adam_step", p, g, s, np.abs(s), 0.1, 0.9, 0.999, 1e-8, 0.01, True, 3)
    assert_twins_agree("squared_norm", g, np.full(1, 2.0))
    assert_twins_agree("scale", g, 0.5)
    assert_twins_agree("fill", g, -1.5)
    assert_twins_agree("clip_to_norm", g, np.full(1, 4.0 * (g.astype(np.float64) ** 2).sum()),
                       0.5)
    assert_twins_agree("clip_to_norm", g, np.full(1, 0.01), 0.5)  # below the limit: unchanged
    total = np.full(1, 2.0)
    cpu.squared_norm(g, total)
    assert total[0] == pytest.approx(2.0 + (g.astype(np.float64) ** 2).sum())
