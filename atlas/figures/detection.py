"""Figures of the detection page: a scene's heat maps at three scales, and detections on
test scenes."""

from __future__ import annotations

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: The window classifier of the page: windows of this many training scenes, these epochs.
DETECT_RUN = {"scenes": recipe(2_000, 80), "epochs": recipe(5, 1)}
#: The probability a window needs to become a box on the page.
THRESHOLD = 0.9
#: The test scene the heat-map figure shows.
SHOWN_SCENE = 2


def detector_run():
    """``(model, history)`` of the window classifier trained with `DETECT_RUN`."""
    from atlas import detect

    def train():
        return detect.train(DETECT_RUN["scenes"], DETECT_RUN["epochs"], progress=False)

    return trained("detector", train, DETECT_RUN)


@figure("detection-heatmaps", "A test scene (left) and, for each item size the scan looks "
        "for, the probability of the most likely item class in the 28x28 window at each "
        "position of the scaled scene (one pixel per window, stride 4).", trains=True)
def detection_heatmaps():
    from atlas.data.clutter import make_scenes
    from atlas.detect import BACKGROUND, Scanner

    model, _ = detector_run()
    scenes = make_scenes("test", SHOWN_SCENE + 1)
    image = scenes.images[-1, 0]
    maps = Scanner(model).score_maps(image)
    fig, axes = style.subplots(1, len(maps) + 1, width=9.0, height=2.7)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("test scene", fontsize=9)
    for ax, (size, probabilities) in zip(axes[1:], maps.items()):
        heat = probabilities[..., :BACKGROUND].max(axis=-1)
        shown = ax.imshow(heat, cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"items of {size} px: {heat.shape[0]}x{heat.shape[1]} windows", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.colorbar(shown, ax=axes[1:], label="item probability", shrink=0.9)
    return fig


@figure("detection-scenes", "Detections on test scenes the classifier never saw (orange: "
        "class and probability, after non-maximum suppression, threshold 0.9) and the true "
        "boxes (dashed).", trains=True)
def detection_scenes():
    from atlas.data.clutter import make_scenes
    from atlas.detect import Scanner, detect, draw

    model, _ = detector_run()
    scenes = make_scenes("test", 6)
    scanner = Scanner(model)
    fig, axes = style.subplots(2, 3, width=8.0, height=5.6)
    for ax, image, truth in zip(axes.ravel(), scenes.images, scenes.boxes):
        draw(image[0], detect(scanner, image[0], threshold=THRESHOLD), truth, ax=ax)
    return fig


def scene_numbers():
    """Numbers the page reports, measured on the test scenes: precision and recall per
    threshold on 200 scenes, and the two scans timed on 20."""
    from atlas.data.clutter import make_scenes
    from atlas.detect import Scanner, precision_recall, time_scans

    model, _ = detector_run()
    rows = precision_recall(Scanner(model), make_scenes("test", 200),
                            thresholds=(0.5, 0.7, 0.9, 0.97, 0.99))
    return rows, time_scans(model, make_scenes("test", 20))
