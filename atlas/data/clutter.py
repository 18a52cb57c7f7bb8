"""Cluttered scenes for detection: Fashion-MNIST items pasted at several sizes into a larger
canvas, among fragments of other items and noise, with the true boxes. Seeded: the same
seed and split give the same scenes, and training scenes take their items from the
training images, test scenes from the test images.

A box is ``(label, top, left, size)``: a square of ``size`` pixels whose top-left corner is
at row ``top``, column ``left``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import zoom

from atlas.checks import integer

#: The canvas, and the sizes at which items are pasted (the item's 28x28 image scaled).
CANVAS = 112
SIZES = (28, 40, 56)
#: Items per scene, fragments of clutter per scene, and the noise's standard deviation.
ITEMS = (1, 3)
FRAGMENTS = 8
NOISE = 0.04


@dataclass
class Scenes:
    """``images (N, 1, CANVAS, CANVAS)`` in [0, 1] and, per image, its list of boxes."""

    images: np.ndarray
    boxes: list

    def __len__(self):
        return len(self.images)


def resize(image, size):
    """A square image resized to ``size x size`` (bilinear, values kept in [0, 1])."""
    if image.shape[0] == size:
        return image.astype(np.float32)
    return np.clip(zoom(image, size / image.shape[0], order=1), 0.0, 1.0).astype(np.float32)


def make_scenes(split="test", n=100, *, seed=0):
    """``n`` scenes whose items come from Fashion-MNIST's ``split`` ("train" or "test")."""
    from atlas.data import load_fashion_mnist

    if split not in ("train", "test"):
        raise ValueError(f"make_scenes: split must be 'train' or 'test', got {split!r}")
    n = integer(n, "n", "make_scenes")
    items, labels = load_fashion_mnist(split)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    images = np.empty((n, 1, CANVAS, CANVAS), np.float32)
    boxes = []
    for k in range(n):
        images[k, 0], scene_boxes = _scene(items, labels, rng)
        boxes.append(scene_boxes)
    return Scenes(images, boxes)


def _scene(items, labels, rng):
    canvas = np.abs(rng.normal(0.0, NOISE, (CANVAS, CANVAS))).astype(np.float32)
    for _ in range(FRAGMENTS):  # clutter: pieces of other items, never a whole one
        piece = rng.integers(6, 13)
        source = items[rng.integers(len(items))]
        r, c = rng.integers(0, 28 - piece, 2)
        top, left = rng.integers(0, CANVAS - piece, 2)
        region = canvas[top:top + piece, left:left + piece]
        np.maximum(region, 0.7 * source[r:r + piece, c:c + piece], out=region)
    boxes = []
    for _ in range(rng.integers(ITEMS[0], ITEMS[1] + 1)):
        size = int(rng.choice(SIZES))
        for _attempt in range(30):  # a place that overlaps no earlier item
            top, left = (int(v) for v in rng.integers(0, CANVAS - size + 1, 2))
            if all(overlap_area((top, left, size), box[1:]) == 0 for box in boxes):
                break
        else:
            continue
        index = rng.integers(len(items))
        region = canvas[top:top + size, left:left + size]
        np.maximum(region, resize(items[index], size), out=region)
        boxes.append((int(labels[index]), top, left, size))
    return canvas, boxes


def overlap_area(a, b):
    """Area shared by two squares ``(top, left, size)``."""
    rows = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    cols = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    return max(rows, 0) * max(cols, 0)


def iou(a, b):
    """Intersection over union of two squares ``(top, left, size)``."""
    shared = overlap_area(a, b)
    return shared / (a[2] ** 2 + b[2] ** 2 - shared)
