"""Residual networks: their shape, their shortcuts, and their gradients."""

import numpy as np
import pytest

from atlas.gradcheck import numerical_gradient, relative_error
from atlas.models.resnet import conv_bn, residual_block, resnet
from atlas.nn import Add, Conv2D, Dense, Flatten, Input, Model
from atlas.optimizers import SGD


def test_depth_counts_weighted_layers_and_stages_halve_the_image():
    for depth in (8, 20):
        model = resnet(depth)
        convs = [layer for layer in model.layers if isinstance(layer, Conv2D)
                 and layer.kernel_size == (3, 3)]
        assert len(convs) + 1 == depth  # + the dense read-out
        shapes = {node.output.shape for node in model.nodes if node.layer.kind == "Add"}
        assert shapes == {(16, 28, 28), (32, 14, 14), (64, 7, 7)}
    plain = resnet(20, plain=True)
    assert not any(layer.kind == "Add" for layer in plain.layers)
    assert resnet(20).count_params() > plain.count_params()  # the two 1x1 projections
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2"):
        resnet(10)


def test_a_residual_block_has_exact_gradients_with_identity_and_projection(rng):
    image = Input((3, 6, 6))
    h = residual_block(image, 3)               # identity shortcut
    h = residual_block(h, 4, stride=2)         # projection: more channels, half the size
    model = Model(image, Dense(2)(Flatten()(h)), dtype="float64")
    assert sum(layer.kind == "Add" for layer in model.layers) == 2
    model.compile("mse", SGD(0.1))
    model.require_input_grad()
    x, t = rng.standard_normal((4, 3, 6, 6)), rng.random((4, 2))

    def loss():
        return model.compute_loss(model.forward(x, training=True), t)[0]

    _, grad = model.compute_loss(model.forward(x, training=True), t)
    dx = model.backward(grad)
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-6
    for layer in model.layers:
        for name, param in layer.params.items():
            error = relative_error(layer.grads[name].copy(), numerical_gradient(loss, param))
            assert error < 1e-6, (layer.name, name, error)


def test_the_identity_shortcut_carries_the_gradient_when_the_branch_is_zero(rng):
    """With the residual branch's weights at zero, the block is the identity and its input
    gradient is exactly the output gradient: the addition passes it through."""
    x = Input((2, 4, 4))
    branch = conv_bn(x, 2)
    model = Model(x, Add()([branch, x]), dtype="float64")
    model.layers[0].params["W"][...] = 0.0
    model.layers[1].params["gamma"][...] = 0.0
    model.require_input_grad()
    data = rng.standard_normal((3, 2, 4, 4))
    out = model.forward(data, training=True)
    np.testing.assert_allclose(out, data)
    dy = rng.standard_normal(out.shape)
    np.testing.assert_allclose(model.backward(dy), dy)
