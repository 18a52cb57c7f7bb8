"""The CNN chapter's architectures: shapes, parameter counts, feature maps."""

import numpy as np
import pytest

from atlas.models import lenet5, two_conv_net, vgg16
from atlas.models.cnn import ARCHITECTURES, feature_maps, train_fashion_mnist


def test_lenet5_has_the_papers_feature_map_sizes():
    model = lenet5()
    shapes = [layer.output_shape for layer in model.layers]
    assert (6, 28, 28) in shapes and (6, 14, 14) in shapes
    assert (16, 10, 10) in shapes and (16, 5, 5) in shapes
    assert model.count_params() == 61_706


def test_two_conv_net_matches_the_tutorial_and_batch_norm_variant():
    model = two_conv_net()
    assert model.layers[-1].output_shape == (10,)
    assert model.count_params() == 3_274_634
    with_bn = two_conv_net(batch_norm=True)
    kinds = [layer.kind for layer in with_bn.layers]
    assert kinds.count("BatchNorm2D") == 2


def test_vgg16_stages_and_exact_parameter_count():
    model = vgg16(input_shape=(3, 224, 224))
    shapes = [layer.output_shape for layer in model.layers if layer.kind == "MaxPool2D"]
    assert shapes == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14),
                      (512, 7, 7)]
    assert model.layers[0].output_shape == (64, 224, 224)
    assert model.count_params() == 138_357_544


def test_feature_maps_returns_every_layer_output(rng):
    model = lenet5()
    x = rng.random((2, 1, 28, 28), dtype=np.float32)
    maps = feature_maps(model, x)
    assert [layer for layer, _ in maps] == model.layers
    assert maps[0][1].shape == (2, 6, 28, 28)
    np.testing.assert_allclose(maps[-1][1], model.predict(x), rtol=1e-6)


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        train_fashion_mnist("resnet")
    assert set(ARCHITECTURES) == {"lenet", "cnn", "cnn-bn"}
