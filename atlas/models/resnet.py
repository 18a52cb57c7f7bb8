r"""Residual networks (He et al., 2015) for 28x28 images, and their plain twins.

A residual block computes $y = \operatorname{relu}(F(x) + s(x))$, with $F$ two 3x3
convolutions (each followed by batch normalisation, the first by a ReLU) and $s$ the
shortcut: the identity, or a 1x1 convolution with batch normalisation (a *projection*)
where the block changes the number of channels or the resolution. Its gradient keeps a
direct path to the input,

$$
\frac{\partial L}{\partial x} = \frac{\partial L}{\partial z}
\Big(\frac{\partial F}{\partial x} + I\Big), \qquad z = F(x) + x,
$$

so a deep stack of blocks can start out as (nearly) the identity and learn corrections
to it, where a plain stack has to learn the identity through its convolutions first.

`resnet(depth)` follows the paper's CIFAR networks: $6n + 2$ weighted layers (a 3x3
convolution, three stages of $n$ blocks at 16, 32 and 64 channels, the last two starting
with stride 2: 28 -> 14 -> 7, global average pooling, a dense layer). ``plain=True`` gives
the same network without shortcuts: the twin of the degradation experiment.
"""

from __future__ import annotations

from atlas.checks import integer
from atlas.nn import (
    Activation,
    Add,
    BatchNorm2D,
    Conv2D,
    Dense,
    GlobalAvgPool2D,
    Input,
    Model,
)

#: Fashion-MNIST as a convolution sees it: one channel of 28x28 pixels.
IMAGE_SHAPE = (1, 28, 28)
#: Channels of the three stages.
WIDTHS = (16, 32, 64)


def conv_bn(x, filters, stride=1, kernel=3):
    """A convolution ("same" padding, no bias: the normalisation's shift replaces it)
    followed by batch normalisation."""
    x = Conv2D(filters, kernel, stride=stride, padding="same", use_bias=False,
               weight_init="he_normal")(x)
    return BatchNorm2D()(x)


def residual_block(x, filters, stride=1, shortcut=True):
    """Two 3x3 convolutions with batch norm, plus the shortcut (identity, or a 1x1
    projection where the shape changes), then ReLU. Without ``shortcut``: the plain
    block."""
    y = Activation("relu")(conv_bn(x, filters, stride))
    y = conv_bn(y, filters)
    if shortcut:
        same_shape = stride == 1 and x.shape[0] == filters
        y = Add()([y, x if same_shape else conv_bn(x, filters, stride, kernel=1)])
    return Activation("relu")(y)


def resnet(depth=20, *, plain=False, input_shape=IMAGE_SHAPE, classes=10, widths=WIDTHS,
           device="cpu", seed=0, dtype="float32"):
    """The residual network of ``depth`` weighted layers ($6n + 2$: 8, 14, 20, 32, ...), or
    with ``plain`` its twin without shortcuts."""
    depth = integer(depth, "depth", "resnet", minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"resnet: depth must be 6n + 2 (8, 14, 20, 26, 32, ...), got {depth}")
    blocks = (depth - 2) // 6
    image = Input(input_shape, name="image")
    h = Activation("relu")(conv_bn(image, widths[0]))
    for stage, filters in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            h = residual_block(h, filters, stride, shortcut=not plain)
    logits = Dense(classes)(GlobalAvgPool2D()(h))
    return Model(image, logits, device=device, seed=seed, dtype=dtype,
                 name=f"{'plain' if plain else 'resnet'}-{depth}")


def train_fashion_mnist(depth=20, *, plain=False, epochs=10, batch_size=128, lr=0.05,
                        weight_decay=1e-4, images=None, validation_images=None, test_images=None,
                        patience=None, seed=0, device="cpu", progress=True, print_fn=print):
    """Train `resnet` on Fashion-MNIST with SGD, momentum 0.9 and a cosine schedule (the
    paper's optimiser, shortened), on the first ``images`` training images (all 55,000 by
    default), validating on the 5,000 held out (or the first ``validation_images`` of
    them), testing on the 10,000 test images (or the first ``test_images``).

    Returns ``(model, history, test_scores)``; ``history`` also has ``train_error`` per
    epoch (1 - running training accuracy).
    """
    from atlas.models.cnn import fashion_mnist_images
    from atlas.optimizers import SGD, CosineDecay

    (x, y), validation, (x_test, y_test) = fashion_mnist_images()
    if images is not None:
        images = integer(images, "images", "train_fashion_mnist")
        x, y = x[:images], y[:images]
    if validation_images is not None:
        validation_images = integer(validation_images, "validation_images", "train_fashion_mnist")
        validation = tuple(a[:validation_images] for a in validation)
    if test_images is not None:
        test_images = integer(test_images, "test_images", "train_fashion_mnist")
        x_test, y_test = x_test[:test_images], y_test[:test_images]
    model = resnet(depth, plain=plain, device=device, seed=seed)
    model.compile("softmax_cross_entropy",
                  SGD(lr, momentum=0.9, weight_decay=weight_decay, schedule=CosineDecay(epochs)))
    if print_fn:
        model.summary(print_fn)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation,
                        patience=patience, progress=progress)
    history["train_error"] = [1.0 - a for a in history["accuracy"]]
    return model, history, model.evaluate(x_test, y_test, batch_size=256)
