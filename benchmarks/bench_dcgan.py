"""DCGAN against PyTorch on the same CPU: the chapter's generator and discriminator, one
GAN training step (a discriminator step on real and generated images in one batch, then a
generator step through the updated discriminator, two Adam updates), and the new hot
kernel on its own, the 4x4 transposed convolution at stride 2.

    python benchmarks/bench_dcgan.py                  # 2 threads
    python benchmarks/bench_dcgan.py --threads 1

One epoch is 60,000 / 64 = 937 steps; its time here is the median step times 937.
"""

import argparse
import os

from common import COUNT, interleaved, report, torch_or_none

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=9)
parser.add_argument("--batch", type=COUNT, default=64)
args = parser.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

LATENT, G_WIDTHS, D_WIDTHS = 64, (64, 32), (32, 64)
STEPS_PER_EPOCH = 60_000 // 64


def torch_networks(torch):
    """The same networks as `atlas.models.gan.dcgan_generator` and `dcgan_discriminator`."""
    nn = torch.nn
    first, second = G_WIDTHS
    generator = nn.Sequential(
        nn.Linear(LATENT, first * 49, bias=False), nn.Unflatten(1, (first, 7, 7)),
        nn.BatchNorm2d(first), nn.ReLU(),
        nn.ConvTranspose2d(first, second, 4, 2, 1, bias=False), nn.BatchNorm2d(second), nn.ReLU(),
        nn.ConvTranspose2d(second, 1, 4, 2, 1), nn.Tanh())
    a, b = D_WIDTHS
    discriminator = nn.Sequential(
        nn.Conv2d(1, a, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(b * 49, 1))
    return generator, discriminator


def torch_gan_step(torch, real):
    G, D = torch_networks(torch)
    g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    n = len(real)
    real = torch.tensor(real)
    d_target = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)])
    g_target = torch.ones(n, 1)
    generator = torch.Generator().manual_seed(0)

    def step():
        fake = G(torch.randn(n, LATENT, generator=generator))
        d_opt.zero_grad()
        bce(D(torch.cat([real, fake.detach()])), d_target).backward()
        d_opt.step()
        g_opt.zero_grad()
        bce(D(fake), g_target).backward()
        g_opt.step()
    return step


def atlas_gan_step(real):
    from atlas.models.gan import GAN, dcgan_discriminator, dcgan_generator

    gan = GAN(dcgan_generator(LATENT, G_WIDTHS), dcgan_discriminator(D_WIDTHS))
    return lambda: gan.train_step(real)


def transposed_pair(torch, x, dy):
    """Forward and backward of ConvTranspose2D(64 -> 32, 4x4, stride 2, padding 1)."""
    from atlas.nn import ConvTranspose2D

    layer = ConvTranspose2D(G_WIDTHS[1], 4, stride=2, padding=1).build(x.shape[1:])

    def atlas_fn():
        layer.forward(x)
        layer.backward(dy)

    if torch is None:
        return [atlas_fn]
    module = torch.nn.ConvTranspose2d(G_WIDTHS[0], G_WIDTHS[1], 4, 2, 1)
    tx = torch.tensor(x, requires_grad=True)
    tdy = torch.tensor(dy)

    def torch_fn():
        tx.grad = None
        module.zero_grad()
        module(tx).backward(tdy)
    return [atlas_fn, torch_fn]


def main():
    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32)
    print(f"{args.threads} thread(s); medians of {args.repeats} steps, engines interleaved")
    fns = [atlas_gan_step(real)] + ([torch_gan_step(torch, real)] if torch else [])
    times = interleaved(fns, args.repeats)
    other = times[1] if torch else None
    report(f"DCGAN training step, batch {args.batch}", times[0], other)
    report(f"  one epoch ({STEPS_PER_EPOCH} steps, from the median)",
           times[0] * STEPS_PER_EPOCH, other * STEPS_PER_EPOCH if torch else None, unit="s")
    x = rng.standard_normal((args.batch, G_WIDTHS[0], 7, 7)).astype(np.float32)
    dy = rng.standard_normal((args.batch, G_WIDTHS[1], 14, 14)).astype(np.float32)
    times = interleaved(transposed_pair(torch, x, dy), args.repeats * 3)
    report("ConvTranspose2D 64->32 4x4/2, fwd+bwd", times[0], times[1] if torch else None)


if __name__ == "__main__":
    main()
