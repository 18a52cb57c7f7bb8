"""Convolution and pooling layers: float64 gradient checks over awkward geometries, shapes,
and clear errors for bad input."""

import numpy as np
import pytest

from atlas.gradcheck import check_layer
from atlas.nn import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Sequential,
    load,
)
from atlas.optimizers import Adam

CONV_CASES = [
    # (input (C, H, W), batch, layer)
    ((1, 5, 5), 1, Conv2D(2, 3, bias_init="normal")),  # stride 1, thin: the direct path
    ((4, 5, 4), 2, Conv2D(17, 3, padding=1, bias_init="normal")),  # stride 1 by im2col
    ((16, 6, 7), 2, Conv2D(17, 3, padding=1, bias_init="normal")),  # Winograd F(4x4, 3x3)
    ((16, 5, 5), 1, Conv2D(17, 5, padding="same", bias_init="normal")),  # and F(2x2, 5x5)
    ((3, 7, 6), 2, Conv2D(4, (3, 2), stride=(2, 1), padding=1, bias_init="normal")),
    ((2, 8, 7), 1, Conv2D(3, 3, stride=2, padding="same", dilation=1)),
    ((2, 9, 9), 2, Conv2D(2, 3, dilation=2, padding=(2, 1), use_bias=False)),
    ((2, 5, 4), 3, Conv2D(1, 1, stride=2, padding="valid")),
    ((2, 3, 4), 2, ConvTranspose2D(3, 3, stride=2, padding=1, output_padding=1,
                                   bias_init="normal")),
    ((1, 4, 3), 1, ConvTranspose2D(2, (2, 3), stride=(1, 2), dilation=(2, 1))),
    # Strided with enough channels for the channels-last path, both layers, odd sizes.
    ((16, 9, 8), 1, Conv2D(5, 4, stride=2, padding=1, bias_init="normal")),
    ((12, 7, 9), 2, Conv2D(3, 3, stride=(2, 3), padding=(1, 0), bias_init="normal")),
    ((3, 4, 3), 2, ConvTranspose2D(16, 4, stride=2, padding=1, bias_init="normal")),
]


@pytest.mark.parametrize("input_shape,batch,layer", CONV_CASES,
                         ids=[repr(case[2]).split("(")[0] + str(i)
                              for i, case in enumerate(CONV_CASES)])
def test_conv_layers_pass_the_float64_gradient_check(input_shape, batch, layer, rng):
    layer.build(input_shape, dtype="float64", rng=rng)
    errors = check_layer(layer, rng.standard_normal((batch, *input_shape)))
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("layer", [MaxPool2D(2), MaxPool2D(3, stride=2, padding=1),
                                   AvgPool2D((3, 2), stride=1, padding=(1, 0)),
                                   AvgPool2D(3, stride=2, padding=1, count_include_pad=False),
                                   GlobalAvgPool2D(), BatchNorm2D()])
def test_pooling_and_batchnorm2d_pass_the_gradient_check(layer, rng):
    layer.build((2, 7, 6), dtype="float64", rng=rng)
    # Distinct values, so no max-pooling window has a tie that the difference could straddle.
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0
    assert max(check_layer(layer, x).values()) < 1e-7


def test_same_padding_keeps_the_size_and_output_shapes():
    assert Conv2D(8, 5, padding="same").build((3, 28, 28)).output_shape == (8, 28, 28)
    assert Conv2D(8, 3, stride=2, padding="same").build((3, 7, 7)).output_shape == (8, 4, 4)
    assert ConvTranspose2D(4, 3, stride=2, padding=1, output_padding=1).build(
        (8, 7, 7)).output_shape == (4, 14, 14)
    assert MaxPool2D(2).build((3, 7, 7)).output_shape == (3, 3, 3)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"kernel \(5, dilation included\) is larger than the "
                                         r"padded input \(3 \+ 0 padding = 3\)"):
        Conv2D(2, 5).build((1, 3, 3))
    with pytest.raises(ValueError, match=r"expects images \(N, C, H, W\), got per-sample shape "
                                         r"\(28, 28\)"):
        Conv2D(2, 3).build((28, 28))
    layer = Conv2D(2, 3).build((3, 8, 8))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, 8, 8\), "
                                         r"got \(4, 1, 8, 8\)"):
        layer.forward(np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"got \(4, 3, 8\)"):
        layer.forward(np.zeros((4, 3, 8), np.float32))
    with pytest.raises(ValueError, match="padding must be"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv2D(2, 0)
    with pytest.raises(ValueError, match="at most half the pool size"):
        MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match="output_padding must be"):
        ConvTranspose2D(2, 3, stride=2, output_padding=2)


def test_a_cnn_summarises_trains_saves_and_loads(tmp_path, rng):
    model = Sequential([Conv2D(4, 3, padding="same"), BatchNorm2D(), MaxPool2D(2),
                        ConvTranspose2D(2, 2, stride=2), Flatten(), Dense(3)],
                       input_shape=(1, 6, 6))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 4, 6, 6)" in text and "(None, 2, 6, 6)" in text and "(None, 72)" in text
    model.compile("softmax_cross_entropy", Adam(0.01))
    x = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    y = np.arange(8) % 3
    first, _ = model.train_step(x, y)
    for _ in range(30):
        last, _ = model.train_step(x, y)
    assert last < first / 2
    path = model.save(tmp_path / "cnn.npz")
    np.testing.assert_allclose(load(path).predict(x), model.predict(x), rtol=1e-6)
