"""Convolutional networks of the CNN chapter: LeNet-5, the two-convolution network of the
TensorFlow tutorial, and VGG-16; trained on Fashion-MNIST images ``(N, 1, 28, 28)``."""

from __future__ import annotations

from atlas.nn import (
    Activation,
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Sequential,
)

#: Fashion-MNIST as a convolution sees it: one channel of 28x28 pixels.
IMAGE_SHAPE = (1, 28, 28)


def lenet5(input_shape=IMAGE_SHAPE, classes=10, device="cpu", seed=0, *, width=1, dropout=0.0):
    """LeNet-5 (LeCun et al., 1998) on 28x28 images: the first convolution pads by 2, so the
    feature maps are the paper's 28x28x6 -> 14x14x6 -> 10x10x16 -> 5x5x16; tanh units and
    average pooling ("subsampling"), then dense 120, 84 and ``classes`` logits. ``width``
    multiplies the channels of both convolutions (a hyperparameter search's knob);
    ``dropout`` > 0 puts dropout before the read-out."""
    layers = [Conv2D(6 * width, 5, padding=2), Activation("tanh"), AvgPool2D(2),
              Conv2D(16 * width, 5), Activation("tanh"), AvgPool2D(2), Flatten(),
              Dense(120), Activation("tanh"), Dense(84), Activation("tanh")]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(classes))
    return Sequential(layers, input_shape=input_shape, device=device, seed=seed, name="lenet5")


def two_conv_net(input_shape=IMAGE_SHAPE, classes=10, batch_norm=False, dropout=0.4,
                 device="cpu", seed=0):
    """The network of TensorFlow's "Build a CNN" tutorial: conv 5x5x32 "same" + ReLU,
    max-pool 2, conv 5x5x64 "same" + ReLU, max-pool 2, dense 1024 + ReLU, dropout 0.4,
    dense ``classes``. With ``batch_norm`` a `BatchNorm2D` follows each convolution (which
    then has no bias: the normalisation's shift replaces it)."""
    layers = []
    for filters in (32, 64):
        layers.append(Conv2D(filters, 5, padding="same", use_bias=not batch_norm,
                             weight_init="he_uniform"))
        if batch_norm:
            layers.append(BatchNorm2D())
        layers += [Activation("relu"), MaxPool2D(2)]
    layers += [Flatten(), Dense(1024, weight_init="he_uniform"), Activation("relu"),
               Dropout(dropout), Dense(classes)]
    return Sequential(layers, input_shape=input_shape, device=device, seed=seed,
                      name="cnn_bn" if batch_norm else "cnn")


def vgg16(input_shape=(3, 224, 224), classes=1000, device="cpu", seed=0, dtype="float32"):
    """VGG-16 (Simonyan and Zisserman, 2014), configuration D: thirteen 3x3 "same"
    convolutions with ReLU in five stages of 64, 128, 256, 512 and 512 channels, each stage
    ending in a 2x2 max-pool (224 -> 7), then dense 4096, 4096 and ``classes`` with dropout
    0.5: 138,357,544 parameters for 1000 classes."""
    layers = []
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [Conv2D(filters, 3, padding=1, weight_init="he_normal"),
                       Activation("relu")]
        layers.append(MaxPool2D(2))
    layers += [Flatten(), Dense(4096), Activation("relu"), Dropout(0.5),
               Dense(4096), Activation("relu"), Dropout(0.5), Dense(classes)]
    return Sequential(layers, input_shape=input_shape, device=device, seed=seed, dtype=dtype,
                      name="vgg16")


#: The models `train_fashion_mnist` and ``atlas train`` know, by name.
ARCHITECTURES = {"lenet": lenet5, "cnn": two_conv_net,
                 "cnn-bn": lambda **kw: two_conv_net(batch_norm=True, **kw)}


def fashion_mnist_images():
    """`atlas.models.mlp.fashion_mnist_splits` with the images shaped ``(N, 1, 28, 28)``."""
    from atlas.models.mlp import fashion_mnist_splits

    return [(x.reshape(len(x), *IMAGE_SHAPE), y) for x, y in fashion_mnist_splits()]


def train_fashion_mnist(architecture="cnn", epochs=8, batch_size=64, lr=1e-3,
                        weight_decay=1e-4, patience=None, seed=0, device="cpu", progress=True,
                        print_fn=print):
    """Train one of `ARCHITECTURES` on Fashion-MNIST: AdamW with a cosine schedule, the
    last 5,000 training images held out for validation, the test set used once at the end.

    Returns ``(model, history, test_scores)`` as `atlas.models.mlp.train_fashion_mnist`.
    """
    from atlas.optimizers import AdamW, CosineDecay

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of "
                         f"{sorted(ARCHITECTURES)}")
    (x_train, y_train), validation, (x_test, y_test) = fashion_mnist_images()
    model = ARCHITECTURES[architecture](device=device, seed=seed)
    model.compile(loss="softmax_cross_entropy",
                  optimizer=AdamW(lr=lr, weight_decay=weight_decay, schedule=CosineDecay(epochs)))
    if print_fn:
        model.summary(print_fn)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=validation, patience=patience, progress=progress)
    return model, history, model.evaluate(x_test, y_test, batch_size=256)


def feature_maps(model, x):
    """The output of every layer of ``model`` for inputs ``x``, in inference mode, as
    ``[(layer, array), ...]``: the intermediate feature maps the CNN pages draw."""
    out = model.backend.asarray(x, model.dtype)
    maps = []
    for layer in model.layers:
        out = layer.forward(out, training=False)
        maps.append((layer, model.backend.to_numpy(out)))
    return maps
