r"""Autoencoders: networks trained to give back their input through a narrow code.

An autoencoder is an encoder $h = f(x)$ and a decoder $\hat x = g(h)$ trained to minimise
the reconstruction error $\lVert g(f(x)) - x \rVert^2$; with a code smaller than the input
it must keep what matters about $x$ and drop the rest. A *linear* autoencoder with a code
of $k$ units can do no better than principal component analysis with $k$ components (the
projection on the top $k$ eigenvectors of the data's covariance), so PCA is the baseline a
nonlinear one has to beat (`pca_reconstruction_error`).

A *denoising* autoencoder (Vincent et al., 2008) is trained to give back the clean $x$
from a corrupted $\tilde x \sim q(\tilde x \mid x)$ (`Corruption`: masking noise sets a
random fraction of the pixels to zero, Gaussian noise adds $\mathcal N(0, \sigma^2)$), so
it cannot copy its input and has to learn what images of the data set look like.

The models here take Fashion-MNIST images in $[0, 1]$ and end in a sigmoid; the code is a
linear dense layer named ``"code"`` (`encoder` cuts the model there).
"""

from __future__ import annotations

import numpy as np

from atlas.checks import fraction, integer, positive
from atlas.nn import (
    Activation,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    Input,
    Model,
    Reshape,
)

#: The pixels of a Fashion-MNIST image, flat (dense autoencoder) or as one channel.
PIXELS = 784
IMAGE_SHAPE = (1, 28, 28)

#: The name of the code layer: `encoder` keeps the model up to its output.
CODE = "code"


def dense_autoencoder(code_size=32, hidden=(256,), *, seed=0, device="cpu", dtype="float32"):
    """Dense encoder ``784 -> hidden... -> code_size`` (ReLU, linear code) and the mirror
    decoder ``code_size -> ...hidden -> 784`` ending in a sigmoid; takes flat images."""
    code_size = integer(code_size, "code_size", "dense_autoencoder")
    hidden = tuple(integer(h, "hidden", "dense_autoencoder") for h in hidden)
    image = Input((PIXELS,), name="image")
    h = image
    for units in hidden:
        h = Activation("relu")(Dense(units, weight_init="he_uniform")(h))
    h = Dense(code_size, name=CODE)(h)
    for units in reversed(hidden):
        h = Activation("relu")(Dense(units, weight_init="he_uniform")(h))
    reconstruction = Activation("sigmoid")(Dense(PIXELS)(h))
    return Model(image, reconstruction, seed=seed, device=device, dtype=dtype,
                 name=f"dense-ae-{code_size}")


def conv_autoencoder(code_size=32, *, channels=(16, 32), seed=0, device="cpu", dtype="float32"):
    """Convolutional encoder (two 3x3 convolutions at stride 2: 28 -> 14 -> 7, then a dense
    code) and the mirror decoder (a dense layer back to 7x7 maps, two 4x4 transposed
    convolutions at stride 2: 7 -> 14 -> 28, a sigmoid); takes ``(N, 1, 28, 28)`` images."""
    code_size = integer(code_size, "code_size", "conv_autoencoder")
    first, second = (integer(c, "channels", "conv_autoencoder") for c in channels)
    image = Input(IMAGE_SHAPE, name="image")
    h = Activation("relu")(Conv2D(first, 3, stride=2, padding="same",
                                  weight_init="he_uniform")(image))
    h = Activation("relu")(Conv2D(second, 3, stride=2, padding="same",
                                  weight_init="he_uniform")(h))
    code = Dense(code_size, name=CODE)(Flatten()(h))
    h = Activation("relu")(Dense(second * 7 * 7, weight_init="he_uniform")(code))
    h = Reshape((second, 7, 7))(h)
    h = Activation("relu")(ConvTranspose2D(first, 4, stride=2, padding=1,
                                           weight_init="he_uniform")(h))
    reconstruction = Activation("sigmoid")(ConvTranspose2D(1, 4, stride=2, padding=1)(h))
    return Model(image, reconstruction, seed=seed, device=device, dtype=dtype,
                 name=f"conv-ae-{code_size}")


def encoder(model):
    """The model from its input to its ``"code"`` layer, sharing the autoencoder's layers
    (and so its weights): ``encoder(model).predict(x)`` are the codes of ``x``."""
    nodes = [node for node in getattr(model, "nodes", ()) if node.layer.name == CODE]
    if not nodes:
        raise ValueError(f"{model.name} has no layer named {CODE!r}: not an autoencoder of "
                         f"atlas.models.autoencoder")
    return Model(model.inputs, nodes[0].output, device=model.backend.name,
                 dtype=model.dtype.name, name=f"{model.name}-encoder")


class Corruption:
    r"""The corruption $q(\tilde x \mid x)$ of a denoising autoencoder, drawn afresh for
    every batch (pass it to ``fit(transform=...)``).

    Parameters
    ----------
    kind : {"mask", "gaussian"}
        ``"mask"``: each pixel is set to 0 with probability ``level`` (Vincent et al.'s
        masking noise); ``"gaussian"``: $\tilde x = \operatorname{clip}(x + \epsilon,
        0, 1)$ with $\epsilon \sim \mathcal N(0, \text{level}^2)$.
    level : float
        The masked fraction (in [0, 1)) or the noise's standard deviation.
    """

    KINDS = ("mask", "gaussian")

    def __init__(self, kind="mask", level=0.3):
        if kind not in self.KINDS:
            raise ValueError(f"Corruption: kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.level = (fraction(level, "level", "Corruption") if kind == "mask"
                      else positive(level, "level", "Corruption"))

    def __call__(self, x, rng):
        if self.kind == "mask":
            return x * (rng.random(x.shape) >= self.level).astype(x.dtype)
        noisy = x + rng.normal(0.0, self.level, x.shape).astype(x.dtype)
        return np.clip(noisy, 0.0, 1.0)

    def __repr__(self):
        return f"Corruption({self.kind!r}, {self.level:g})"


def pca_reconstruction_error(x_train, x_test, code_size):
    r"""Mean squared error per pixel of the test images projected on the top ``code_size``
    principal components of the training images and back,
    $\hat x = \mu + V_k V_k^\top (x - \mu)$: the best any linear code of that size does."""
    code_size = integer(code_size, "code_size", "pca_reconstruction_error")
    train = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    test = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    mean = train.mean(axis=0)
    covariance = np.cov(train - mean, rowvar=False)
    _, vectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    top = vectors[:, ::-1][:, :code_size]
    centred = test - mean
    reconstruction = centred @ top @ top.T
    return float(np.mean((reconstruction - centred) ** 2))


def reconstruction_error(model, x, batch_size=1024):
    """Mean squared error per pixel of ``model``'s reconstructions of ``x``."""
    out = model.predict(x, batch_size=batch_size)
    return float(np.mean((out.astype(np.float64) - x) ** 2))


def fashion_mnist_pixels(flat=True):
    """Fashion-MNIST in ``[0, 1]``: ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``,
    images flat ``(N, 784)`` or ``(N, 1, 28, 28)``."""
    from atlas.models.mlp import fashion_mnist_splits

    shape = (PIXELS,) if flat else IMAGE_SHAPE
    return [(x.reshape(len(x), *shape), y) for x, y in fashion_mnist_splits()]


def train(kind="dense", code_size=32, *, corruption=None, epochs=10, batch_size=128, lr=1e-3,
          images=None, seed=0, device="cpu", progress=True, print_fn=print):
    """Train a ``"dense"`` or ``"conv"`` autoencoder on Fashion-MNIST with Adam and a cosine
    schedule, on the first ``images`` training images (all 55,000 by default); with a
    `Corruption`, a denoising one. Returns ``(model, history, test_error)``: the test set's
    mean squared error per pixel (on clean inputs)."""
    from atlas.optimizers import Adam, CosineDecay

    builders = {"dense": dense_autoencoder, "conv": conv_autoencoder}
    if kind not in builders:
        raise ValueError(f"unknown autoencoder {kind!r}; choose one of {sorted(builders)}")
    (x, _), (x_val, _), (x_test, _) = fashion_mnist_pixels(flat=kind == "dense")
    if images is not None:
        x = x[:integer(images, "images", "autoencoder.train")]
    model = builders[kind](code_size, seed=seed, device=device)
    model.compile("mse", Adam(lr, schedule=CosineDecay(epochs)), metrics=())
    if print_fn:
        model.summary(print_fn)
    history = model.fit(x, x, epochs=epochs, batch_size=batch_size, transform=corruption,
                        validation_data=(x_val, x_val), progress=progress)
    return model, history, reconstruction_error(model, x_test)
