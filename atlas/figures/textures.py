"""Figures of the style-transfer page: textures synthesised from random features, style
transfer, and the two losses over the optimisation."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: Image side and L-BFGS iterations of every run on the page.
STYLE_RUN = {"size": recipe(128, 32), "steps": recipe(100, 4)}
TEXTURES = ("hubble", "brick", "gravel")
#: (content, style, style weight) of the transfers.
TRANSFERS = (("astronaut", "hubble", 1e5), ("cat", "gravel", 1e5))


def style_run(style_name, content=None, style_weight=1e3):
    """``(features, history)``: a texture (``content`` None) or a transfer, with the image in
    ``history["image"]`` and the losses per evaluation."""
    from atlas.style_transfer import random_features, synthesize

    def train():
        image, history = synthesize(style_name, content, style_weight=style_weight, **STYLE_RUN)
        history["image"] = np.round(image, 4).tolist()
        return random_features(STYLE_RUN["size"]), history

    name = f"texture-{style_name}" if content is None else f"style-{content}-{style_name}"
    return trained(name, train, {**STYLE_RUN, "weight": style_weight})


def _show(ax, image, title):
    """An RGB image ``(3, H, W)`` in [0, 1], titled."""
    style.image(ax, np.clip(np.moveaxis(np.asarray(image), 0, 2), 0, 1), title)


@figure("texture-synthesis", "Textures synthesised from noise by matching the Gram matrices "
        "of one layer of random filters (1 to 11 pixels): each source image (top) and the "
        "synthesis (bottom).", trains=True)
def texture_synthesis():
    from atlas.style_transfer import load_image

    fig, axes = style.subplots(2, len(TEXTURES), width=6.6, height=4.6)
    for column, name in enumerate(TEXTURES):
        _, history = style_run(name)
        _show(axes[0, column], load_image(name, STYLE_RUN["size"]), f"{name} (source)")
        _show(axes[1, column], history["image"], "synthesised")
    return fig


@figure("style-transfer", "Style transfer with random features: the content image, the "
        "style image and the result, which keeps the content's layout and takes the style's "
        "colours and local texture.", trains=True)
def style_transfer():
    from atlas.style_transfer import load_image

    size = STYLE_RUN["size"]
    fig, axes = style.subplots(len(TRANSFERS), 3, width=6.6, height=2.3 * len(TRANSFERS))
    for row, (content, name, weight) in zip(axes, TRANSFERS):
        _, history = style_run(name, content, weight)
        _show(row[0], load_image(content, size), f"content: {content}")
        _show(row[1], load_image(name, size), f"style: {name}")
        _show(row[2], history["image"], "result")
    return fig


@figure("style-losses", "The content and style losses at every evaluation of L-BFGS, for "
        "the two transfers (the style loss on a log scale).", trains=True)
def style_losses():
    fig, axes = style.subplots(1, 2, width=7.5, height=3.0, sharey=False)
    for color, (content, name, weight) in zip(style.COLORS, TRANSFERS):
        _, history = style_run(name, content, weight)
        label = f"{content} + {name}"
        axes[0].plot(history["content_loss"], color=color, label=label)
        axes[1].plot(np.array(history["style_loss"]) * weight, color=color, label=label)
    axes[0].set(xlabel="evaluation", ylabel="content loss")
    axes[1].set(yscale="log", xlabel="evaluation", ylabel="weighted style loss")
    axes[1].legend()
    return fig
