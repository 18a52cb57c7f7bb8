"""Figures of the dropout and batch-normalisation pages: small Fashion-MNIST experiments."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained
from atlas.models.mlp import fashion_mnist_splits, mlp
from atlas.nn import Activation, BatchNorm, Dense, Flatten, Sequential
from atlas.optimizers import SGD, Adam

#: The overfitting experiment: few images, a wide network, many epochs.
OVERFIT_IMAGES = 1_000
OVERFIT_EPOCHS = recipe(60, 3)


def overfit_run(dropout):
    """Train 784-512-512-10 on the first 1,000 training images, with ``dropout``;
    validation on the 5,000 held-out images after every epoch."""
    def train():
        (x, y), validation, _ = fashion_mnist_splits()
        model = mlp((512, 512), dropout=dropout, seed=0)
        model.compile("softmax_cross_entropy", Adam(lr=1e-3))
        history = model.fit(x[:OVERFIT_IMAGES], y[:OVERFIT_IMAGES], epochs=OVERFIT_EPOCHS,
                            batch_size=50, validation_data=validation, progress=False)
        return model, history
    return trained(f"overfit-dropout-{dropout:g}", train,
                   {"images": OVERFIT_IMAGES, "epochs": OVERFIT_EPOCHS})


@figure("dropout-curves", "Training and validation loss of a 784-512-512-10 network on 1,000 "
        "Fashion-MNIST images, without dropout and with dropout 0.5.", trains=True)
def dropout_curves():
    fig, (left, right) = style.subplots(1, 2, width=9.0, height=3.3)
    for color, rate in zip(style.COLORS, (0.0, 0.5)):
        _, history = overfit_run(rate)
        epochs = np.arange(1, len(history["loss"]) + 1)
        label = "no dropout" if rate == 0 else f"dropout {rate:g}"
        left.plot(epochs, history["loss"], color=color, linestyle="--", label=f"{label}, train")
        left.plot(epochs, history["val_loss"], color=color, label=f"{label}, validation")
        right.plot(epochs, history["accuracy"], color=color, linestyle="--",
                   label=f"{label}, train")
        right.plot(epochs, history["val_accuracy"], color=color, label=f"{label}, validation")
    left.set(yscale="log", xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.6, 1.01))
    left.legend()
    return fig


#: The batch-normalisation experiment: a deep ReLU network, plain SGD, two learning rates.
BN_DEPTH = 6
BN_IMAGES = recipe(10_000, 1_000)
BN_EPOCHS = recipe(8, 2)
BN_RATES = (0.01, 0.1)


def deep_mlp(batchnorm, depth=BN_DEPTH, width=256, seed=0):
    """``depth`` hidden layers of ``width`` ReLU units, each with batch norm before the ReLU
    when ``batchnorm``."""
    layers = [Flatten()]
    for _ in range(depth):
        layers.append(Dense(width, weight_init="he_normal", use_bias=not batchnorm))
        if batchnorm:
            layers.append(BatchNorm())
        layers.append(Activation("relu"))
    layers.append(Dense(10))
    return Sequential(layers, input_shape=(28, 28), seed=seed, name="deep_mlp")


def batchnorm_run(batchnorm, lr):
    def train():
        (x, y), validation, _ = fashion_mnist_splits()
        model = deep_mlp(batchnorm)
        model.compile("softmax_cross_entropy", SGD(lr=lr))
        history = model.fit(x[:BN_IMAGES], y[:BN_IMAGES], epochs=BN_EPOCHS, batch_size=64,
                            validation_data=validation, progress=False)
        return model, history
    return trained(f"batchnorm-{'on' if batchnorm else 'off'}-lr{lr:g}", train,
                   {"images": BN_IMAGES, "epochs": BN_EPOCHS, "depth": BN_DEPTH})


@figure("batchnorm-curves", "A six-layer ReLU network trained with plain SGD on 10,000 "
        "Fashion-MNIST images, with and without batch normalisation, at two learning rates.",
        trains=True)
def batchnorm_curves():
    fig, (left, right) = style.subplots(1, 2, width=9.0, height=3.3)
    for color, (batchnorm, lr) in zip(style.COLORS, [(b, lr) for lr in BN_RATES
                                                      for b in (False, True)]):
        _, history = batchnorm_run(batchnorm, lr)
        label = f"{'with' if batchnorm else 'without'} BN, η = {lr:g}"
        epochs = np.arange(1, len(history["loss"]) + 1)
        left.plot(epochs, history["loss"], color=color, marker=".", label=label)
        right.plot(epochs, history["val_accuracy"], color=color, marker=".", label=label)
    left.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    left.legend()
    return fig
