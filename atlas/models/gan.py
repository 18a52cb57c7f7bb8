r"""Generative adversarial networks (Goodfellow et al., 2014) and DCGAN (Radford et al., 2016).

A generator $G$ maps noise $z \sim \mathcal N(0, I)$ to samples; a discriminator $D$
(here it outputs a logit, $\sigma(D(x))$ the probability that $x$ is real) is trained to
tell them from the data. The two play

$$
\min_G \max_D \; \mathbb E_{x}\big[\log \sigma(D(x))\big]
 + \mathbb E_{z}\big[\log\big(1 - \sigma(D(G(z)))\big)\big].
$$

For a fixed $G$ the best discriminator is $\sigma(D^*(x)) = p_{data}(x) / (p_{data}(x) +
p_G(x))$, and at $D^*$ the game's value is $2\,\mathrm{JS}(p_{data} \| p_G) - \log 4$:
the generator minimises a Jensen-Shannon divergence. Early in training $D$ wins easily,
$\sigma(D(G(z))) \approx 0$, and $\log(1 - \sigma(D(G(z))))$ is flat there, so the
generator is trained instead on the *non-saturating* loss
$-\mathbb E_z \log \sigma(D(G(z)))$: the same fixed point, strong gradients when it loses.
Both losses are the binary cross-entropy of $D$'s logits: $D$ with targets 1 (real) and 0
(generated), $G$ with targets 1 on its own samples.

`GAN.train_step` alternates the two. The generator's gradient comes through the
discriminator: $D$'s backward pass, asked for the gradient with respect to its input
(`require_input_grad`), hands $\partial L_G / \partial G(z)$ to $G$'s backward pass. No
copy of either network, no automatic differentiation: the layers' own backward passes.
"""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from atlas.arena import Arena
from atlas.checks import integer, positive
from atlas.initializers import Normal
from atlas.losses import BinaryCrossEntropy
from atlas.nn import (
    Activation,
    BatchNorm2D,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    Reshape,
    Sequential,
)
from atlas.optimizers import Adam
from atlas.views import part

#: DCGAN's initialisation: every weight from N(0, 0.02^2).
DCGAN_INIT = Normal(0.0, 0.02)


# The networks -----------------------------------------------------------------------------------
def mlp_generator(latent=2, hidden=128, out=2, *, seed=0, device="cpu"):
    """Noise ``(latent,)`` -> two ReLU layers of ``hidden`` -> a point ``(out,)``."""
    layers = [Dense(hidden), Activation("relu"), Dense(hidden), Activation("relu"), Dense(out)]
    return Sequential(layers, input_shape=(latent,), seed=seed, device=device, name="generator",
                      metadata={"generates": "points"})


def mlp_discriminator(inputs=2, hidden=128, *, seed=0, device="cpu"):
    """A point ``(inputs,)`` -> two Leaky ReLU layers of ``hidden`` -> one logit."""
    layers = [Dense(hidden), Activation("leaky_relu", 0.2), Dense(hidden),
              Activation("leaky_relu", 0.2), Dense(1)]
    return Sequential(layers, input_shape=(inputs,), seed=seed, device=device,
                      name="discriminator")


def dcgan_generator(latent=64, widths=(64, 32), *, seed=0, device="cpu"):
    """DCGAN's generator for 28x28 images: a dense layer to ``widths[0]`` maps of 7x7, then
    4x4 transposed convolutions at stride 2 (7 -> 14 -> 28), batch norm and ReLU between,
    tanh at the end (images in [-1, 1])."""
    first, second = widths
    layers = [Dense(first * 7 * 7, use_bias=False, weight_init=DCGAN_INIT),
              Reshape((first, 7, 7)), BatchNorm2D(), Activation("relu"),
              ConvTranspose2D(second, 4, stride=2, padding=1, use_bias=False,
                              weight_init=DCGAN_INIT),
              BatchNorm2D(), Activation("relu"),
              ConvTranspose2D(1, 4, stride=2, padding=1, weight_init=DCGAN_INIT),
              Activation("tanh")]
    return Sequential(layers, input_shape=(latent,), seed=seed, device=device, name="generator",
                      metadata={"generates": "images", "value_range": [-1.0, 1.0]})


def dcgan_discriminator(widths=(32, 64), *, seed=0, device="cpu"):
    """DCGAN's discriminator for 28x28 images: 4x4 convolutions at stride 2 (28 -> 14 -> 7)
    with Leaky ReLU (slope 0.2), no pooling, a dense logit."""
    first, second = widths
    layers = [Conv2D(first, 4, stride=2, padding=1, weight_init=DCGAN_INIT),
              Activation("leaky_relu", 0.2),
              Conv2D(second, 4, stride=2, padding=1, weight_init=DCGAN_INIT),
              Activation("leaky_relu", 0.2), Flatten(), Dense(1, weight_init=DCGAN_INIT)]
    return Sequential(layers, input_shape=(1, 28, 28), seed=seed, device=device,
                      name="discriminator")


# Training ----------------------------------------------------------------------------------------
class GAN:
    """A generator and a discriminator (two models on one device) and their two Adam
    optimizers.

    Parameters
    ----------
    generator : Sequential or Model
        Takes noise ``(latent,)``; its output shape is the data's.
    discriminator : Sequential or Model
        Takes the data, gives one logit per sample.
    lr : float
        Adam's learning rate for both (2e-4 in DCGAN), with ``beta1`` 0.5.
    seed : int
        Seeds the noise.
    """

    def __init__(self, generator, discriminator, *, lr=2e-4, beta1=0.5, seed=0):
        if generator.output_shapes[0] != discriminator.inputs_spec[0][0]:
            raise ValueError(f"the generator makes samples of shape "
                             f"{generator.output_shapes[0]} but the discriminator takes "
                             f"{discriminator.inputs_spec[0][0]}")
        if discriminator.output_shapes[0] != (1,):
            raise ValueError(f"the discriminator must give one logit per sample, not "
                             f"{discriminator.output_shapes[0]}")
        if generator.backend.name != discriminator.backend.name:
            raise ValueError("the generator and the discriminator must be on the same device")
        self.generator, self.discriminator = generator, discriminator
        self.discriminator.require_input_grad()  # its input gradient trains the generator
        self.backend = generator.backend
        self.latent = generator.inputs_spec[0][0][0]
        lr = positive(lr, "lr", "GAN")
        self.g_optimizer = Adam(lr, beta1=beta1)
        self.d_optimizer = Adam(lr, beta1=beta1)
        self.loss = BinaryCrossEntropy(from_logits=True)
        self.rng = np.random.default_rng(integer(seed, "seed", "GAN", minimum=0))
        self._targets = {}
        self._arena = Arena()

    def noise(self, n, rng=None):
        """``n`` latent vectors $z \\sim \\mathcal N(0, I)$ (host, the generator's dtype)."""
        rng = self.rng if rng is None else rng
        return rng.standard_normal((n, self.latent)).astype(self.generator.dtype)

    def train_step(self, real):
        """One discriminator step and one generator step on a batch of ``real`` samples
        (host array). Returns ``(d_loss, g_loss, d_real, d_fake)``: the two losses and the
        mean probability $D$ gives to real and to generated samples."""
        n = len(real)
        backend, G, D = self.backend, self.generator, self.discriminator
        with self._arena.step(tuple(real.shape)):
            fake = G.forward(backend.upload(self.noise(n)), training=True)

            # Discriminator: real and generated samples in one batch, targets 1 and 0.
            batch = backend.scratch((2 * n, *real.shape[1:]), D.dtype)
            backend.copy_into(part(batch, (0, n)), np.asarray(real, D.dtype))
            backend.copy_into(part(batch, (n, 2 * n)), fake)
            logits = D.forward(batch, training=True)
            d_loss, grad = self.loss(logits, self._target(2 * n, n), backend)
            D.backward(grad)
            self.d_optimizer.step(D.parameter_groups(), backend)
            probabilities = 1.0 / (1.0 + np.exp(-backend.to_numpy(logits).ravel()))

            # Generator: the non-saturating loss, its gradient through D's backward into G's.
            logits = D.forward(fake, training=True)
            g_loss, grad = self.loss(logits, self._target(n, n), backend)
            G.backward(D.backward(grad))
            self.g_optimizer.step(G.parameter_groups(), backend)
        return d_loss, g_loss, float(probabilities[:n].mean()), float(probabilities[n:].mean())

    def _target(self, rows, ones):
        """Targets ``(rows, 1)``: the first ``ones`` are 1, the rest 0 (kept per shape)."""
        key = (rows, ones)
        if key not in self._targets:
            target = np.zeros((rows, 1), self.generator.dtype)
            target[:ones] = 1.0
            self._targets[key] = self.backend.asarray(target)
        return self._targets[key]

    def fit(self, x, *, epochs=1, batch_size=64, progress=True, on_epoch=None):
        """Train on the samples ``x (N, *shape)`` for ``epochs`` passes in shuffled batches
        (the last, incomplete batch is dropped). ``on_epoch(epoch, gan)`` is called after
        each epoch (to draw samples for a figure, say). Returns the history: per epoch the
        mean ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` and ``seconds``, and per step
        ``step_d_loss`` and ``step_g_loss``."""
        epochs = integer(epochs, "epochs", "GAN.fit")
        batch_size = integer(batch_size, "batch_size", "GAN.fit")
        x = self._check_data(x)
        steps = len(x) // batch_size
        if steps == 0:
            raise ValueError(f"GAN.fit: {len(x)} samples make no full batch of {batch_size}")
        keys = ("d_loss", "g_loss", "d_real", "d_fake")
        history = {k: [] for k in (*keys, "seconds", "step_d_loss", "step_g_loss")}
        for epoch in range(epochs):
            start = time.perf_counter()
            order = self.rng.permutation(len(x))
            sums = np.zeros(4)
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                       disable=not progress, dynamic_ncols=True)
            for step in range(steps):
                values = self.train_step(x[order[step * batch_size:(step + 1) * batch_size]])
                sums += values
                history["step_d_loss"].append(values[0])
                history["step_g_loss"].append(values[1])
                if progress and (step % 20 == 0 or step == steps - 1):
                    bar.set_postfix({"d_loss": f"{sums[0] / (step + 1):.3f}",
                                     "g_loss": f"{sums[1] / (step + 1):.3f}",
                                     "D(real)": f"{sums[2] / (step + 1):.2f}",
                                     "D(fake)": f"{sums[3] / (step + 1):.2f}"}, refresh=False)
                bar.update(1)
            bar.close()
            for key, total in zip(keys, sums):
                history[key].append(float(total / steps))
            history["seconds"].append(time.perf_counter() - start)
            if on_epoch is not None:
                on_epoch(epoch, self)
        return history

    def _check_data(self, x):
        x = np.asarray(x)
        shape = self.discriminator.inputs_spec[0][0]
        if x.ndim == 0 or x.shape[1:] != tuple(shape):
            raise ValueError(f"GAN.fit: expected samples of shape (N, "
                             f"{', '.join(map(str, shape))}), got {x.shape}")
        if x.dtype.kind != "f":
            raise ValueError(f"GAN.fit: expected floating-point samples, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise ValueError("GAN.fit: the samples contain NaN or infinite values")
        return np.ascontiguousarray(x, dtype=self.discriminator.dtype)

    def sample(self, n, seed=0):
        """``n`` samples of the generator (inference mode: batch norm's running statistics)
        from the noise drawn with ``seed``."""
        return sample(self.generator, n, seed)


def sample(generator, n, seed=0):
    """``n`` samples of a (saved and loaded) generator from noise drawn with ``seed``."""
    n = integer(n, "n", "sample")
    latent = generator.inputs_spec[0][0][0]
    z = np.random.default_rng(seed).standard_normal((n, latent)).astype(generator.dtype)
    return generator.predict(z)


def write_samples(generator, path, n=64, seed=0):
    """Draw ``n`` samples of a saved generator (`atlas train gan|dcgan --save`) into an
    image file (PNG, SVG or PDF, by its suffix; written atomically): a square grid of
    images, or a scatter plot of 2-D points. Returns the path."""
    from atlas.figures import style
    from atlas.figures.registry import figure_path, write_figure

    kind = generator.metadata.get("generates")
    if kind not in ("images", "points"):
        raise ValueError(f"{generator.name} is not a generator saved by atlas train gan or "
                         f"dcgan (its metadata does not say what it generates)")
    path = figure_path(path)
    samples = sample(generator, n, seed)
    with style.context():
        if kind == "images":
            low, high = generator.metadata.get("value_range", (0.0, 1.0))
            side = math.ceil(math.sqrt(n))
            fig, axes = style.subplots(side, side, width=side * 0.6, height=side * 0.6,
                                       squeeze=False)
            for k, ax in enumerate(axes.ravel()):
                ax.axis("off")
                if k < n:
                    ax.imshow(samples[k, 0], cmap="gray", vmin=low, vmax=high)
        else:
            fig, ax = style.subplots(width=4.0, height=4.0)
            ax.scatter(samples[:, 0], samples[:, 1], s=3)
            ax.set(aspect="equal", title=f"{n} samples")
        return write_figure(fig, path)


# Measuring ---------------------------------------------------------------------------------------
def modes_covered(samples, centres, std, *, within=3.0, min_share=0.01):
    r"""How a generator covers a mixture of Gaussians: each sample is assigned to its
    nearest mode; a sample is of *high quality* if it lies within ``within`` standard
    deviations of it; a mode is *covered* if it received at least ``min_share`` of the
    samples as high-quality ones (Srivastava et al., 2017). Returns ``(covered, quality)``:
    the number of modes covered and the fraction of high-quality samples."""
    samples = np.asarray(samples, np.float64)
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= within * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return int(np.count_nonzero(counts >= min_share * len(samples))), float(good.mean())


def penultimate_features(classifier, images, batch_size=500):
    """The activations that feed a `Sequential` classifier's last layer (its logits):
    ``classifier.layers[:-1]`` in inference mode, one row per image."""
    images = np.ascontiguousarray(images, classifier.dtype)
    backend, rows = classifier.backend, []
    for start in range(0, len(images), batch_size):
        h = backend.asarray(images[start:start + batch_size])
        for layer in classifier.layers[:-1]:
            h = layer.forward(h, training=False)
        rows.append(backend.to_numpy(h).reshape(len(h), -1))
    return np.concatenate(rows).astype(np.float64)


def frechet_distance(a, b):
    r"""The Fréchet distance between Gaussians fitted to two sets of feature vectors,

    $$
    d^2 = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{tr}\big(\Sigma_a + \Sigma_b
          - 2 (\Sigma_a \Sigma_b)^{1/2}\big),
    $$

    (the FID of Heusel et al., 2017, with another network's features).
    $\operatorname{tr}(\Sigma_a \Sigma_b)^{1/2}$ is the sum of the square roots of the
    eigenvalues of the symmetric $\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}$, which has the same
    eigenvalues as $\Sigma_a \Sigma_b$."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = (np.atleast_2d(np.cov(v, rowvar=False)) for v in (a, b))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sum(np.sqrt(np.clip(middle, 0.0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2.0 * trace_root)


def fashion_mnist_fid(generator, classifier, n=5_000, seed=0):
    """``(distance, floor)``: the Fréchet distance between ``classifier``'s penultimate
    features of ``n`` generated images and of the first ``n`` Fashion-MNIST test images,
    and the same distance between those test images and the next ``n`` (two real samples:
    the floor the number can reach with ``n`` images). ``n`` is at most half the test
    set."""
    from atlas.data import load_fashion_mnist

    x_test, _ = load_fashion_mnist("test")
    n = min(integer(n, "n", "fashion_mnist_fid"), len(x_test) // 2)
    if n < 2:
        raise ValueError(f"fashion_mnist_fid: {len(x_test)} test images are too few for two "
                         f"halves of at least 2")
    real, other = x_test[:n], x_test[n:2 * n]
    features = [penultimate_features(classifier, _for_classifier(classifier, images))
                for images in (real, other, generated_images(generator, n, seed))]
    return frechet_distance(features[0], features[2]), frechet_distance(features[0], features[1])


def generated_images(generator, n, seed=0):
    """``n`` images of an image generator, mapped from its output range to [0, 1] (the
    range the classifiers were trained on)."""
    low, high = generator.metadata.get("value_range", (0.0, 1.0))
    return np.clip((sample(generator, n, seed) - low) / (high - low), 0.0, 1.0)


def class_histogram(generator, classifier, n=5_000, seed=0):
    """How many of ``n`` generated images ``classifier`` puts in each class."""
    logits = classifier.predict(_for_classifier(classifier, generated_images(generator, n, seed)))
    return np.bincount(logits.argmax(axis=1), minlength=logits.shape[1])


def _for_classifier(classifier, images):
    """Images ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` in the shape ``classifier`` takes."""
    shape = classifier.inputs_spec[0][0]
    return np.asarray(images, np.float32).reshape(len(images), *shape)


# The chapter's two runs ------------------------------------------------------------------------------
def train_ring(steps=3_000, batch_size=256, *, latent=2, lr=1e-3, seed=0, device="cpu",
               progress=True, on_epoch=None, epoch_steps=500):
    """The MLP GAN on `atlas.data.ring` (8 Gaussians): ``steps`` steps of ``batch_size``
    fresh samples, in "epochs" of ``epoch_steps`` steps. Returns ``(gan, history)``."""
    from atlas.data import ring

    steps = integer(steps, "steps", "train_ring")
    epoch_steps = min(integer(epoch_steps, "epoch_steps", "train_ring"), steps)
    gan = GAN(mlp_generator(latent, seed=seed, device=device),
              mlp_discriminator(seed=seed + 1, device=device), lr=lr, seed=seed)
    x, _ = ring(epoch_steps * batch_size, seed=seed)
    history = gan.fit(x, epochs=math.ceil(steps / epoch_steps), batch_size=batch_size,
                      progress=progress, on_epoch=on_epoch)
    return gan, history


def fashion_mnist_in_tanh_range(images=None):
    """Fashion-MNIST's training images ``(N, 1, 28, 28)`` scaled to [-1, 1] (the range of
    the generator's tanh), the first ``images`` of them if given."""
    from atlas.data import load_fashion_mnist

    x, _ = load_fashion_mnist("train")
    if images is not None:
        x = x[:integer(images, "images", "fashion_mnist_in_tanh_range")]
    return (2.0 * x.reshape(len(x), 1, 28, 28) - 1.0).astype(np.float32)


def train_dcgan(epochs=5, batch_size=64, *, images=None, latent=64, lr=2e-4, seed=0,
                device="cpu", progress=True, on_epoch=None):
    """DCGAN on Fashion-MNIST (all 60,000 training images, or the first ``images``).
    Returns ``(gan, history)``."""
    gan = GAN(dcgan_generator(latent, seed=seed, device=device),
              dcgan_discriminator(seed=seed + 1, device=device), lr=lr, seed=seed)
    history = gan.fit(fashion_mnist_in_tanh_range(images), epochs=epochs,
                      batch_size=batch_size, progress=progress, on_epoch=on_epoch)
    return gan, history
