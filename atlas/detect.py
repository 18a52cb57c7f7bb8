r"""Finding things in a scene: a classifier slid over the image at several scales, and the
same classifier run as a fully convolutional network.

The classifier sees 28x28 windows and says which of the 10 Fashion-MNIST classes, or
*background* (class 10), each one shows. To find items of size $s$, the scene is scaled
by $28 / s$ and every window at a stride of 4 pixels is classified; a window whose best
item class has probability above a threshold becomes a box of size $s$ in the scene, and
non-maximum suppression keeps the best of boxes that overlap.

The classifier is convolutions and pooling without padding, then dense layers. A dense
layer over a $C \times 4 \times 4$ map is a 4x4 convolution with $C$ input channels, and a
dense layer after it a 1x1 convolution: `fully_convolutional` copies the weights into that
form, and the network then runs over a whole scaled scene in one pass, giving the scores
of every window at once. Window positions $4i$ and $4(i+1)$ share most of their pixels and
so most of their first-layer work; the sliding scan computes that work once per window,
the convolutional pass once per scene. The scores are the same numbers.
"""

from __future__ import annotations

import time

import numpy as np

from atlas.checks import fraction, integer
from atlas.data.clutter import CANVAS, SIZES, iou, overlap_area, resize
from atlas.explain import probabilities

WINDOW = 28
STRIDE = 4
BACKGROUND = 10
CLASSES = 11


def classifier(*, seed=0, device="cpu", dtype="float32"):
    """The window classifier: two valid 5x5 convolutions with ReLU and 2x2 max-pooling
    (28 -> 24 -> 12 -> 8 -> 4), a dense layer of 128 and the 11 logits (10 items and
    background). Its total stride is 4, the scan's."""
    from atlas.nn import Activation, Conv2D, Dense, Flatten, MaxPool2D, Sequential

    layers = [Conv2D(16, 5, weight_init="he_uniform"), Activation("relu"), MaxPool2D(2),
              Conv2D(32, 5, weight_init="he_uniform"), Activation("relu"), MaxPool2D(2),
              Flatten(), Dense(128, weight_init="he_uniform"), Activation("relu"),
              Dense(CLASSES)]
    return Sequential(layers, input_shape=(1, WINDOW, WINDOW), seed=seed, device=device,
                      dtype=dtype, name="window-classifier")


def fully_convolutional(model, height, width):
    """``model`` (a `classifier`) as a network of convolutions over ``height x width``
    images: each dense layer becomes a convolution with the same weights,
    ``W (in, out)`` over a flattened ``(C, kh, kw)`` map becoming ``W.T`` shaped
    ``(out, C, kh, kw)``. Its output ``(N, 11, OH, OW)`` holds the logits of the windows
    at rows and columns ``0, 4, 8, ...``."""
    from atlas.nn import Conv2D, Dense, Flatten, Sequential
    from atlas.nn.sequential import layer_from_config

    layers, shape = [], None
    for layer in model.layers:
        if isinstance(layer, Flatten):
            shape = layer.input_shape
            continue
        if isinstance(layer, Dense):
            channels, kh, kw = shape
            layers.append(Conv2D(layer.params["W"].shape[1], (kh, kw)))
            shape = (layer.params["W"].shape[1], 1, 1)
        else:
            layers.append(layer_from_config({"class": type(layer).__name__,
                                             "config": {**layer.get_config(), "name": None}}))
    net = Sequential(layers, input_shape=(1, height, width), device=model.backend.name,
                     dtype=model.dtype.name, name="fully-convolutional")
    backend = net.backend
    for source, target in zip((l for l in model.layers if l.params), (l for l in net.layers
                                                                      if l.params)):
        W, b = (backend.to_numpy(source.params[k]) for k in ("W", "b"))
        if isinstance(source, Dense):
            W = W.T.reshape(target.params["W"].shape)
        backend.copy_into(target.params["W"], W)
        backend.copy_into(target.params["b"], b)
    return net


# Scanning ---------------------------------------------------------------------------------------------
def scales(sizes=SIZES):
    """``(item size, scaled scene side)`` per size: the scene is scaled by ``28 / size``."""
    return [(size, round(CANVAS * WINDOW / size)) for size in sizes]


def windows(image):
    """Every 28x28 window of ``image (H, W)`` at stride 4, as ``(OH * OW, 1, 28, 28)``,
    row by row, and the grid's shape ``(OH, OW)``."""
    height, width = image.shape
    rows, cols = (height - WINDOW) // STRIDE + 1, (width - WINDOW) // STRIDE + 1
    view = np.lib.stride_tricks.sliding_window_view(image, (WINDOW, WINDOW))
    picked = view[::STRIDE, ::STRIDE][:rows, :cols]
    return np.ascontiguousarray(picked.reshape(rows * cols, 1, WINDOW, WINDOW)), (rows, cols)


class Scanner:
    """Scores every window of a scene at every scale, by ``method`` "sliding" (crop each
    window, classify the batch) or "fcn" (one pass of the fully convolutional network per
    scale; the networks are built once per scaled size and kept)."""

    def __init__(self, model, method="fcn", sizes=SIZES):
        if method not in ("sliding", "fcn"):
            raise ValueError(f"method must be 'sliding' or 'fcn', got {method!r}")
        self.model, self.method, self.sizes = model, method, tuple(sizes)
        self._nets = {}

    def score_maps(self, image):
        """Per item size, the class probabilities of every window: ``(OH, OW, 11)``."""
        maps = {}
        for size, side in scales(self.sizes):
            scaled = resize(image, side)
            if self.method == "sliding":
                crops, grid = windows(scaled)
                logits = self.model.predict(crops, batch_size=1024).reshape(*grid, CLASSES)
                maps[size] = probabilities(logits)
            else:
                if side not in self._nets:
                    self._nets[side] = fully_convolutional(self.model, side, side)
                logits = self._nets[side].predict(scaled[None, None])[0]
                maps[size] = probabilities(np.moveaxis(logits, 0, -1))
        return maps


def detect(scanner, image, *, threshold=0.5, overlap=0.3):
    """Boxes ``(label, score, top, left, size)`` found in ``image (H, W)`` by ``scanner``:
    `boxes_from_maps` of its score maps."""
    return boxes_from_maps(scanner.score_maps(image), threshold=threshold, overlap=overlap)


def boxes_from_maps(maps, *, threshold=0.5, overlap=0.3):
    """Every window whose most likely item class has probability at least ``threshold``,
    mapped back to the scene, then non-maximum suppression (a box is dropped if it overlaps
    a better one with IoU above ``overlap``)."""
    threshold = fraction(threshold, "threshold", "detect")
    candidates = []
    for size, scores_of_windows in maps.items():
        factor = size / WINDOW
        items = scores_of_windows[..., :BACKGROUND]
        labels, scores = items.argmax(axis=-1), items.max(axis=-1)
        for i, j in zip(*np.nonzero(scores >= threshold)):
            candidates.append((int(labels[i, j]), float(scores[i, j]),
                               round(i * STRIDE * factor), round(j * STRIDE * factor), size))
    return non_maximum_suppression(candidates, overlap)


def non_maximum_suppression(boxes, overlap=0.3, contained=0.7):
    """Greedy NMS: take the best-scoring box, drop every box that overlaps it with IoU above
    ``overlap`` or lies more than ``contained`` inside it (a small box found inside a large
    one at another scale has a small IoU with it), repeat. Class-agnostic: items in these
    scenes do not overlap."""
    kept = []
    for box in sorted(boxes, key=lambda b: -b[1]):
        if all(iou(box[2:], k[2:]) <= overlap and inside(box[2:], k[2:]) <= contained
               for k in kept):
            kept.append(box)
    return kept


def inside(a, b):
    """The share of the smaller of two squares ``(top, left, size)`` covered by the other."""
    return overlap_area(a, b) / min(a[2], b[2]) ** 2


def draw(image, detections, truth, path=None, ax=None):
    """The scene with the true boxes (dashed, grey) and the detections (solid, labelled
    with class and probability): on ``ax``, or into the image file ``path`` (PNG, SVG or
    PDF, written atomically; its path is returned)."""
    from matplotlib.patches import Rectangle

    from atlas.data import FASHION_MNIST
    from atlas.figures import style
    from atlas.figures.registry import figure_path, write_figure

    figure = None
    if ax is None:
        path = figure_path(path) if path is not None else None
        with style.context():
            figure, ax = style.subplots(width=4.5, height=4.5)
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for _, top, left, size in truth:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False,
                               edgecolor="0.6", linestyle="--", linewidth=1))
    for label, score, top, left, size in detections:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False,
                               edgecolor="#E69F00", linewidth=1.5))
        ax.text(left, top - 1.5, f"{FASHION_MNIST.classes[label]} {score:.2f}", color="#E69F00",
                fontsize=6, va="bottom")
    return ax if path is None else write_figure(figure, path)


# Measuring ----------------------------------------------------------------------------------------------
def match(detections, truth, *, min_iou=0.5):
    """True positives of one scene: detections (best first) matched to unmatched true boxes
    with IoU at least ``min_iou`` and the same label. Returns ``(hits, located)``: the
    matches with the right class, and those counting location only."""
    hits = located = 0
    free_class, free_box = list(truth), list(truth)
    for label, _, top, left, size in sorted(detections, key=lambda d: -d[1]):
        box = (top, left, size)
        same = [t for t in free_class if t[0] == label and iou(box, t[1:]) >= min_iou]
        if same:
            free_class.remove(same[0])
            hits += 1
        near = [t for t in free_box if iou(box, t[1:]) >= min_iou]
        if near:
            free_box.remove(near[0])
            located += 1
    return hits, located


def precision_recall(scanner, scenes, thresholds=(0.5, 0.7, 0.9), *, overlap=0.3):
    """Per threshold: ``(threshold, precision, recall, located recall)`` over ``scenes``,
    a detection being right when its box has IoU >= 0.5 with a true box of its class."""
    maps = [scanner.score_maps(image[0]) for image in scenes.images]
    rows = []
    for threshold in thresholds:
        found = hits = located = 0
        for scene_maps, truth in zip(maps, scenes.boxes):
            detections = boxes_from_maps(scene_maps, threshold=threshold, overlap=overlap)
            h, l = match(detections, truth)
            found, hits, located = found + len(detections), hits + h, located + l
        total = sum(len(b) for b in scenes.boxes)
        rows.append((threshold, hits / found if found else 1.0, hits / total, located / total))
    return rows


def time_scans(model, scenes, repeats=3):
    """Seconds per scene of the sliding scan and of the fully convolutional pass (best of
    ``repeats`` passes over ``scenes``, after one warm-up pass that builds the networks),
    and the largest difference between their probabilities."""
    sliding, fcn = Scanner(model, "sliding"), Scanner(model, "fcn")
    results, maps = {}, {}
    for name, scanner in (("sliding", sliding), ("fcn", fcn)):
        maps[name] = [scanner.score_maps(image[0]) for image in scenes.images]
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            for image in scenes.images:
                scanner.score_maps(image[0])
            best = min(best, time.perf_counter() - start)
        results[name] = best / len(scenes)
    difference = max(float(np.max(np.abs(a[s] - b[s])))
                     for a, b in zip(maps["sliding"], maps["fcn"]) for s in a)
    return results["sliding"], results["fcn"], difference


# Training -----------------------------------------------------------------------------------------------
def training_windows(scenes, *, negatives=3, seed=0):
    """Labelled 28x28 windows cut from ``scenes`` at every scale: a window whose box has
    IoU >= 0.65 with an item is that item's class, one with IoU < 0.3 with every item is
    background (``negatives`` of those per item window, drawn at random), the rest are not
    used. Returns ``(x (N, 1, 28, 28), y (N,))``."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for image, truth in zip(scenes.images, scenes.boxes):
        positives, background = [], []
        for size, side in scales():
            crops, (rows, cols) = windows(resize(image[0], side))
            factor = size / WINDOW
            for k in range(rows * cols):
                box = (round((k // cols) * STRIDE * factor), round((k % cols) * STRIDE * factor),
                       size)
                overlaps = [iou(box, t[1:]) for t in truth]
                best = int(np.argmax(overlaps)) if overlaps else -1
                if overlaps and overlaps[best] >= 0.65:
                    positives.append((crops[k], truth[best][0]))
                elif not overlaps or max(overlaps) < 0.3:
                    background.append(crops[k])
        count = min(len(background), negatives * max(len(positives), 1))
        chosen = rng.choice(len(background), count, replace=False)
        xs += [c for c, _ in positives] + [background[i] for i in chosen]
        ys += [label for _, label in positives] + [BACKGROUND] * count
    return np.stack(xs).astype(np.float32), np.array(ys, dtype=np.int64)


def train(scenes=2_000, epochs=4, *, batch_size=64, lr=1e-3, seed=0, device="cpu",
          progress=True):
    """Train `classifier` on windows of ``scenes`` training scenes (items from the training
    images) with Adam and a cosine schedule, validating on windows of 200 other scenes.
    Returns ``(model, history)``."""
    from atlas.data.clutter import make_scenes
    from atlas.optimizers import Adam, CosineDecay

    scenes = integer(scenes, "scenes", "detect.train")
    x, y = training_windows(make_scenes("train", scenes, seed=seed), seed=seed)
    validation = training_windows(make_scenes("train", 200, seed=seed + 1), seed=seed + 1)
    model = classifier(seed=seed, device=device)
    model.compile("softmax_cross_entropy", Adam(lr, schedule=CosineDecay(epochs)))
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation,
                        progress=progress)
    history["windows"] = len(x)
    history["background_share"] = float(np.mean(y == BACKGROUND))
    return model, history
