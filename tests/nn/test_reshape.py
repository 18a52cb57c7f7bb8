import numpy as np
import pytest

from atlas.gradcheck import check_layer
from atlas.nn import ConvTranspose2D, Dense, Flatten, Input, Model, Reshape, Sequential, load


def test_reshape_keeps_values_in_order_and_passes_the_gradient_check(rng):
    layer = Reshape((3, 2, 5)).build((30,), dtype="float64", rng=rng)
    x = rng.standard_normal((1, 30))
    np.testing.assert_array_equal(layer.forward(x), x.reshape(1, 3, 2, 5))
    assert max(check_layer(layer, rng.standard_normal((3, 30))).values()) < 1e-9


def test_reshape_refuses_sizes_that_do_not_agree():
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(30,\) \(30 values\) "
                                         r"to \(4, 7\) \(28 values\)"):
        Sequential([Reshape((4, 7))], input_shape=(30,))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 28\), got \(2, 27\)"):
        Sequential([Reshape((4, 7))], input_shape=(28,)).predict(np.zeros((2, 27)))
    with pytest.raises(TypeError, match="tuple of positive integers"):
        Reshape(7)
    with pytest.raises(ValueError, match="shape must be"):
        Reshape((0, 7))


def test_a_generator_shaped_graph_saves_and_loads(tmp_path, rng):
    z = Input((5,))
    image = ConvTranspose2D(1, 2, stride=2)(Reshape((4, 3, 3))(Dense(36)(z)))
    model = Model(z, image)
    assert model.output_shapes == [(1, 6, 6)]
    model.save(tmp_path / "g.npz")
    x = rng.standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_array_equal(load(tmp_path / "g.npz").predict(x), model.predict(x))
    assert "reshape (Reshape)" in Sequential([Flatten(), Reshape((2, 2))],
                                             input_shape=(4,)).summary(print_fn=None)
