import numpy as np
import pytest

from atlas import initializers as init


def test_fans_for_dense_conv_and_transposed_conv_weights():
    assert init.compute_fans((784, 256)) == (784, 256)  # dense (in, out)
    assert init.compute_fans((32, 3, 5, 5)) == (75, 800)  # conv (C_out, C_in, kh, kw)
    assert init.compute_fans((3, 32, 5, 5)) == (800, 75)  # transposed (C_in, C_out, kh, kw)


@pytest.mark.parametrize("name,std", [
    ("glorot_uniform", np.sqrt(2 / (400 + 300))), ("glorot_normal", np.sqrt(2 / 700)),
    ("he_uniform", np.sqrt(2 / 400)), ("he_normal", np.sqrt(2 / 400)),
    ("uniform", 0.1 / np.sqrt(12)), ("normal", 0.05),
])
def test_variance_of_each_scheme(name, std):
    w = init.get_initializer(name)((400, 300), np.random.default_rng(0))
    assert w.dtype == np.float32 and w.shape == (400, 300)
    assert w.std() == pytest.approx(std, rel=0.02)


def test_truncated_normal_stays_within_two_std():
    w = init.TruncatedNormal(std=0.5)((200, 200), np.random.default_rng(0))
    assert np.abs(w).max() <= 1.0 and w.std() == pytest.approx(0.5 * 0.8796, rel=0.02)


def test_constant_zeros_and_config_round_trip():
    assert np.all(init.get_initializer("zeros")((3,), None) == 0)
    c = init.Constant(0.35)
    assert np.all(init.get_initializer(c.get_config())((2,), None) == np.float32(0.35))
    with pytest.raises(ValueError, match="unknown initializer 'lecun'"):
        init.get_initializer("lecun")
