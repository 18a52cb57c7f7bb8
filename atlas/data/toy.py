"""Small two-dimensional data sets for classification, generated from a seed.

Each returns ``(x, y)``: points ``(n, 2)`` float32 and integer labels ``(n,)``.
"""

from __future__ import annotations

import numpy as np


def xor(n=200, noise=0.1, seed=0):
    """Four clusters at the corners of the unit square; label = XOR of the coordinates."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    x = corners + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), (corners[:, 0] ^ corners[:, 1]).astype(np.int64)


def spirals(n=300, classes=3, noise=0.2, seed=0):
    """``classes`` interleaved spiral arms (the CS231n example), ``n`` points in all."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.0, 1.0, n)
    theta = y * 2 * np.pi / classes + 4.0 * r + noise * rng.standard_normal(n)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return x.astype(np.float32), y.astype(np.int64)


def moons(n=200, noise=0.1, seed=0):
    """Two interleaving half circles."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    x = x + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def circles(n=200, noise=0.05, factor=0.5, seed=0):
    """A small circle inside a large one (radius ratio ``factor``)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = rng.uniform(0.0, 2 * np.pi, n)
    r = np.where(y == 1, factor, 1.0)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1) + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def ring(n=1_000, modes=8, radius=2.0, std=0.02, seed=0):
    """A mixture of ``modes`` Gaussians (standard deviation ``std``) evenly spaced on a
    circle of ``radius``: the toy distribution of GAN papers, whose modes a generator may
    drop. The label of a point is its mode; `ring_centres` gives the means."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, modes, n)
    x = ring_centres(modes, radius)[y] + std * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def ring_centres(modes=8, radius=2.0):
    """The ``(modes, 2)`` means of `ring`."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)
