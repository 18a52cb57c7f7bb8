r"""The stacked denoising autoencoder (Vincent et al., 2010): greedy layer-wise
pretraining on unlabelled images, then the stack fine-tuned as a classifier.

Layer $k$ of the stack is the encoder of a denoising autoencoder trained on the codes of
the layers below it,

$$
h_k = \sigma(W_k h_{k-1} + b_k), \qquad
\min_{W_k, b_k, W'_k, b'_k}\; \mathbb E \,
\big\lVert g_k(\sigma(W_k \tilde h_{k-1} + b_k)) - h_{k-1} \big\rVert^2,
\quad \tilde h_{k-1} \sim q(\tilde h \mid h_{k-1}),
$$

with $h_0 = x$, masking noise $q$ and a decoder $g_k$ that is thrown away afterwards.
The pretrained $W_k, b_k$ then initialise a classifier (the same dense stack with a
softmax read-out on top), which is fine-tuned on the labelled images only. The method
exists for the case where labels are few and images many: `compare` trains the classifier
on ``labelled`` images from the pretrained weights and from a random initialisation, same
architecture and budget, over several seeds.
"""

from __future__ import annotations

import numpy as np

from atlas.checks import fraction, integer
from atlas.models.autoencoder import CODE, Corruption, encoder, fashion_mnist_pixels
from atlas.nn import Activation, Dense, Input, Model, Sequential
from atlas.optimizers import Adam, CosineDecay

#: The stack of the chapter: two sigmoid layers, as in Vincent et al. (smaller).
HIDDEN = (256, 128)


def classifier(hidden=HIDDEN, classes=10, *, seed=0, device="cpu"):
    """The dense stack ``784 -> hidden... -> classes`` with sigmoid units: what is pretrained
    layer by layer, then fine-tuned."""
    layers = []
    for units in hidden:
        layers += [Dense(integer(units, "hidden", "sdae.classifier")), Activation("sigmoid")]
    layers.append(Dense(classes))
    return Sequential(layers, input_shape=(784,), seed=seed, device=device, name="sdae-classifier")


def pretrain(x, hidden=HIDDEN, *, noise=0.3, epochs=5, batch_size=128, lr=1e-3, seed=0,
             device="cpu", progress=True):
    r"""Greedy layer-wise pretraining on the unlabelled images ``x (N, 784)`` in [0, 1]:
    layer $k$ is trained as a denoising autoencoder (masking noise ``noise``) on the codes
    $h_{k-1}$ of the layers already trained. Returns the encoders' weights, a list of
    ``(W, b)`` host arrays, and the reconstruction loss of each layer's last epoch."""
    noise = fraction(noise, "noise", "pretrain")
    weights, losses = [], []
    codes = np.asarray(x, np.float32)
    for k, units in enumerate(hidden):
        dae = denoising_layer(codes.shape[1], units, pixels=k == 0, seed=seed + k, device=device)
        dae.compile("mse", Adam(lr, schedule=CosineDecay(epochs)), metrics=())
        history = dae.fit(codes, codes, epochs=epochs, batch_size=batch_size,
                          transform=Corruption("mask", noise), progress=progress)
        losses.append(history["loss"][-1])
        dense = dae.layers[0]
        weights.append(tuple(dae.backend.to_numpy(dense.params[p]).copy() for p in ("W", "b")))
        codes = encoder(dae).predict(codes)
    return weights, losses


def denoising_layer(width, units, *, pixels=False, seed=0, device="cpu"):
    """One layer of the stack as a denoising autoencoder: ``width -> units`` (sigmoid, the
    layer named ``"code"``) and back to ``width`` (a sigmoid again where the inputs are
    pixels in [0, 1], else linear)."""
    inputs = Input((width,))
    code = Activation("sigmoid", name=CODE)(Dense(units)(inputs))
    out = Dense(width)(code)
    if pixels:
        out = Activation("sigmoid")(out)
    return Model(inputs, out, seed=seed, device=device, name=f"dae-{width}-{units}")


def fine_tune(x, y, validation, weights=None, hidden=HIDDEN, *, epochs=30, batch_size=64,
              lr=1e-3, seed=0, device="cpu", progress=True):
    """Train `classifier` on the labelled ``(x, y)``, starting from the pretrained
    ``weights`` (a list of ``(W, b)``, one per hidden layer) or, with None, from the
    usual random initialisation. Returns ``(model, history)``."""
    model = classifier(hidden, seed=seed, device=device)
    if weights is not None:
        dense = [layer for layer in model.layers if isinstance(layer, Dense)][:len(hidden)]
        if len(weights) != len(dense):
            raise ValueError(f"fine_tune: {len(weights)} pretrained layers for a stack of "
                             f"{len(dense)}")
        for layer, (W, b) in zip(dense, weights):
            model.backend.copy_into(layer.params["W"], W)
            model.backend.copy_into(layer.params["b"], b)
    model.compile("softmax_cross_entropy", Adam(lr, schedule=CosineDecay(epochs)))
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation,
                        progress=progress)
    return model, history


def compare(labelled=1_000, seeds=(0, 1, 2), *, pretrain_epochs=5, fine_tune_epochs=30,
            images=None, hidden=HIDDEN, noise=0.3, device="cpu", progress=False):
    """The experiment of the chapter: per seed, pretrain on all training images (labels
    unused; the first ``images`` of them if given), fine-tune on the first ``labelled`` of
    them, and train the same classifier from scratch on the same labelled images with the
    same budget. Returns ``(results, model)``: ``{"pretrained": [...], "scratch": [...]}``
    test accuracies (one per seed) and the pretraining losses per seed under
    ``"pretrain_loss"``; the pretrained classifier of the first seed."""
    labelled = integer(labelled, "labelled", "sdae.compare")
    (x, y), validation, (x_test, y_test) = fashion_mnist_pixels()
    unlabelled = x if images is None else x[:integer(images, "images", "sdae.compare")]
    results, kept = {"pretrained": [], "scratch": [], "pretrain_loss": []}, None
    for seed in seeds:
        weights, losses = pretrain(unlabelled, hidden, noise=noise, epochs=pretrain_epochs,
                                   seed=seed, device=device, progress=progress)
        results["pretrain_loss"].append(losses)
        for name, start in (("pretrained", weights), ("scratch", None)):
            model, _ = fine_tune(x[:labelled], y[:labelled], validation, start, hidden,
                                 epochs=fine_tune_epochs, seed=seed, device=device,
                                 progress=progress)
            results[name].append(float(model.evaluate(x_test, y_test)["accuracy"]))
            if kept is None:
                kept = model
    return results, kept
