"""Figures of the unsupervised chapter: autoencoders against PCA, a 2-D code, denoising,
the stacked denoising autoencoder with few labels, a GAN on a ring of Gaussians, DCGAN on
Fashion-MNIST."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: Autoencoders: every model of the comparison trained alike.
AE_RUN = {"images": recipe(20_000, 1_000), "epochs": recipe(8, 1), "batch_size": 128,
          "lr": 2e-3}
CODE_SIZES = (2, 8, 32)
#: The corruptions of the denoising figure.
NOISES = (("mask", 0.5), ("gaussian", 0.3))

#: The stacked denoising autoencoder: 1,000 labels, all images unlabelled, three seeds.
SDAE_RUN = {"labelled": 1_000, "seeds": recipe((0, 1, 2), (0,)),
            "pretrain_epochs": recipe(5, 1), "fine_tune_epochs": recipe(30, 2),
            "images": recipe(None, 2_000)}

#: The GAN on a ring of 8 Gaussians, and DCGAN on Fashion-MNIST.
RING_RUN = {"steps": recipe(3_000, 600), "epoch_steps": recipe(500, 100), "batch_size": 256}
DCGAN_RUN = {"epochs": recipe(4, 1), "images": recipe(None, 1_280), "batch_size": 64}
#: The fixed noise whose images the DCGAN figure follows over the epochs.
GRID_SEED, GRID_SIZE = 2016, 16


def autoencoder_run(kind, code_size, corruption=None):
    """``(model, history)``: a ``"dense"`` or ``"conv"`` autoencoder with ``code_size``
    units, trained with `AE_RUN` (denoising with ``corruption``, a ``(kind, level)``
    pair); ``history["test_error"]`` is its test mean squared error per pixel."""
    from atlas.models import autoencoder

    noise = None if corruption is None else autoencoder.Corruption(*corruption)

    def train():
        model, history, error = autoencoder.train(kind, code_size, corruption=noise,
                                                  progress=False, print_fn=None, **AE_RUN)
        history["test_error"] = error
        return model, history

    name = f"{kind}-ae-{code_size}" + ("" if noise is None else f"-{noise.kind}")
    return trained(name, train, {**AE_RUN, "corruption": corruption})


def pca_errors():
    """Test mean squared error per pixel of PCA with each of `CODE_SIZES` components,
    fitted on the same training images as the autoencoders."""
    from atlas.models.autoencoder import fashion_mnist_pixels, pca_reconstruction_error

    (x, _), _, (x_test, _) = fashion_mnist_pixels()
    x = x[:AE_RUN["images"]]
    return {k: pca_reconstruction_error(x, x_test, k) for k in CODE_SIZES}


def _image_row(axes, images, label):
    for ax, image in zip(axes, images):
        style.image(ax, np.asarray(image).reshape(28, 28), frame=False, cmap="gray_r", vmin=0,
                    vmax=1)
    axes[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)


def _test_images(count=10):
    """The first test image of each class (``count`` of them), flat, in [0, 1]."""
    from atlas.models.autoencoder import fashion_mnist_pixels

    _, _, (x, y) = fashion_mnist_pixels()
    return x[[int(np.flatnonzero(y == c)[0]) for c in range(count)]]


@figure("autoencoder-reconstructions", "Test images (top) and their reconstructions "
        "through a code of 32 numbers: the dense and the convolutional autoencoder, and PCA "
        "with 32 components fitted on the same training images.", trains=True)
def autoencoder_reconstructions():
    from atlas.models.autoencoder import fashion_mnist_pixels

    originals = _test_images()
    (x, _), _, _ = fashion_mnist_pixels()
    x = x[:AE_RUN["images"]].astype(np.float64)
    mean = x.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    top = vectors[:, ::-1][:, :32]
    rows = [("test image", originals),
            ("dense AE", autoencoder_run("dense", 32)[0].predict(originals)),
            ("conv AE", autoencoder_run("conv", 32)[0].predict(originals.reshape(-1, 1, 28, 28))),
            ("PCA", np.clip(mean + (originals - mean) @ top @ top.T, 0, 1))]
    fig, axes = style.subplots(len(rows), len(originals), width=8.0, height=3.6)
    for row, (label, images) in zip(axes, rows):
        _image_row(row, images, label)
    return fig


@figure("autoencoder-vs-pca", "Test reconstruction error (mean squared error per pixel) "
        "against the size of the code: the dense and convolutional autoencoders, and PCA, "
        "the best linear code.", trains=True)
def autoencoder_vs_pca():
    fig, ax = style.subplots(width=6.0, height=3.4)
    pca = pca_errors()
    ax.plot(CODE_SIZES, [pca[k] for k in CODE_SIZES], "o-", label="PCA", color="0.4")
    for kind, label in (("dense", "dense autoencoder"), ("conv", "convolutional autoencoder")):
        errors = [autoencoder_run(kind, k)[1]["test_error"] for k in CODE_SIZES]
        ax.plot(CODE_SIZES, errors, "o-", label=label)
    ax.set(xscale="log", xticks=CODE_SIZES, xticklabels=[str(k) for k in CODE_SIZES],
           xlabel="code size", ylabel="test MSE per pixel")
    ax.legend()
    return fig


@figure("autoencoder-codes", "The 2-number codes the dense autoencoder gives the 10,000 "
        "test images, coloured by their class (which it never saw).", trains=True)
def autoencoder_codes():
    from atlas.data import FASHION_MNIST
    from atlas.models.autoencoder import encoder, fashion_mnist_pixels

    _, _, (x, y) = fashion_mnist_pixels()
    codes = encoder(autoencoder_run("dense", 2)[0]).predict(x)
    colors = [*style.COLORS[:7], "#999999", "#882255", "#44AA99"]
    fig, ax = style.subplots(width=6.5, height=5.0)
    for c, name in enumerate(FASHION_MNIST.classes):
        points = codes[y == c]
        ax.scatter(points[:, 0], points[:, 1], s=2, color=colors[c], label=name, alpha=0.6,
                   rasterized=True)
    ax.set(xlabel="code 1", ylabel="code 2")
    ax.legend(markerscale=5, loc="best", ncols=2)
    return fig


@figure("denoising", "Denoising autoencoders (dense, code 32) on test images: the corrupted "
        "input, the network's output and the clean image, for masking noise (half the "
        "pixels set to 0) and Gaussian noise (standard deviation 0.3).", trains=True)
def denoising():
    from atlas.models.autoencoder import Corruption

    originals = _test_images(8)
    rng = np.random.default_rng(0)
    fig, axes = style.subplots(6, len(originals), width=7.0, height=5.6)
    for k, noise in enumerate(NOISES):
        noisy = Corruption(*noise)(originals, rng)
        output = autoencoder_run("dense", 32, noise)[0].predict(noisy)
        name = f"{noise[0]} {noise[1]:g}"
        _image_row(axes[3 * k], noisy, f"{name}: input")
        _image_row(axes[3 * k + 1], output, "output")
        _image_row(axes[3 * k + 2], originals, "clean")
    return fig


def sdae_run():
    """``(model, history)``: `atlas.models.sdae.compare` with `SDAE_RUN`; the model is
    the pretrained and fine-tuned classifier of the first seed, the history holds the test
    accuracies per seed (``pretrained``, ``scratch``)."""
    from atlas.models import sdae

    def train():
        results, model = sdae.compare(**SDAE_RUN)
        return model, results

    return trained("sdae", train, SDAE_RUN)


@figure("sdae-few-labels", "Test accuracy of the same classifier (784-256-128-10, sigmoid) "
        "trained on 1,000 labelled images, from greedy layer-wise denoising pretraining on "
        "the unlabelled images and from a random start, one dot per seed.", trains=True)
def sdae_few_labels():
    _, history = sdae_run()
    fig, ax = style.subplots(width=5.0, height=3.2)
    for x, key in enumerate(("scratch", "pretrained")):
        values = 100 * np.array(history[key])
        ax.plot(np.full(len(values), x), values, "o", color=style.COLORS[x], alpha=0.8)
        ax.hlines(values.mean(), x - 0.2, x + 0.2, color=style.COLORS[x])
        ax.annotate(f"{values.mean():.1f}%", (x + 0.22, values.mean()), va="center", fontsize=8)
    ax.set(xticks=[0, 1], xticklabels=["random start", "SDAE pretrained"], xlim=(-0.5, 1.7),
           ylabel="test accuracy (%)")
    return fig


def ring_run():
    """``(generator, history)`` of the MLP GAN on the ring of 8 Gaussians; the history
    keeps 1,000 samples after every "epoch" of `RING_RUN`'s ``epoch_steps`` steps."""
    from atlas.models import gan

    def train():
        snapshots = []
        model, history = gan.train_ring(progress=False, on_epoch=lambda e, g: snapshots.append(
            np.round(g.sample(1_000, seed=1), 4).tolist()), **RING_RUN)
        history["samples"] = snapshots
        return model.generator, history

    return trained("gan-ring", train, RING_RUN)


@figure("gan-ring", "Samples of the MLP generator (blue) against the ring of 8 Gaussians "
        "it learns (grey) over training, with the modes covered (of 8) and the share of "
        "samples within three standard deviations of a mode.", trains=True)
def gan_ring():
    from atlas.data import ring, ring_centres
    from atlas.models.gan import modes_covered

    _, history = ring_run()
    real, _ = ring(1_000, seed=99)
    snapshots = history["samples"]
    shown = sorted({0, len(snapshots) // 3, 2 * len(snapshots) // 3, len(snapshots) - 1})
    fig, axes = style.subplots(1, len(shown), width=8.5, height=2.6, sharey=True)
    for ax, k in zip(np.atleast_1d(axes), shown):
        points = np.array(snapshots[k])
        covered, quality = modes_covered(points, ring_centres(), 0.02)
        ax.scatter(real[:, 0], real[:, 1], s=2, color="0.7", rasterized=True)
        ax.scatter(points[:, 0], points[:, 1], s=2, color=style.COLORS[0], alpha=0.5,
                   rasterized=True)
        steps = (k + 1) * RING_RUN["epoch_steps"]
        ax.set(title=f"step {steps}: {covered}/8 modes, {100 * quality:.0f}%", aspect="equal",
               xlim=(-3, 3), ylim=(-3, 3))
        ax.title.set_fontsize(8)
    return fig


def dcgan_run():
    """``(generator, history)`` of DCGAN on Fashion-MNIST with `DCGAN_RUN`; the history
    keeps the images of `GRID_SIZE` fixed noise vectors after every epoch."""
    from atlas.models import gan

    def train():
        grids = []
        model, history = gan.train_dcgan(progress=False, on_epoch=lambda e, g: grids.append(
            np.round(g.sample(GRID_SIZE, seed=GRID_SEED)[:, 0], 3).tolist()), **DCGAN_RUN)
        history["grids"] = grids
        return model.generator, history

    return trained("dcgan", train, DCGAN_RUN)


@figure("dcgan-samples", "DCGAN's images of the same 16 noise vectors after each epoch on "
        "Fashion-MNIST (one row per epoch).", trains=True)
def dcgan_samples():
    _, history = dcgan_run()
    grids = history["grids"]
    fig, axes = style.subplots(len(grids), GRID_SIZE, width=8.5, height=0.6 * len(grids) + 0.3,
                               squeeze=False)
    for epoch, (row, images) in enumerate(zip(axes, grids)):
        _image_row(row, (np.array(images) + 1) / 2, f"epoch {epoch + 1}")
    return fig


@figure("dcgan-losses", "DCGAN's two losses at every step (thin) and averaged over 50 "
        "steps (thick): the discriminator's on real and generated images, the generator's "
        "non-saturating loss.", trains=True)
def dcgan_losses():
    _, history = dcgan_run()
    fig, ax = style.subplots(width=7.0, height=3.2)
    for key, label, color in (("step_d_loss", "discriminator", style.COLORS[0]),
                              ("step_g_loss", "generator", style.COLORS[1])):
        values = np.array(history[key])
        window = min(50, len(values))
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(values, color=color, alpha=0.2, linewidth=0.5)
        ax.plot(np.arange(window - 1, len(values)), smooth, color=color, label=label)
    ax.axhline(np.log(2), color="0.4", linestyle=":", linewidth=1)
    ax.set(xlabel="step", ylabel="binary cross-entropy")
    ax.legend()
    return fig
