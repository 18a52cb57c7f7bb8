"""Figures of the convolution, transposed-convolution, pooling and CNN pages."""

from __future__ import annotations

import numpy as np

from atlas.data import load_fashion_mnist
from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained
from atlas.nn import AvgPool2D, Conv2D, ConvTranspose2D, MaxPool2D

#: The course's edge-detection examples.
SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
PREWITT_HORIZONTAL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float32)
EDGE_IMAGE = np.array([[5, 5, 5, 0, 0, 0]] * 6, dtype=np.float32)
STEP_IMAGE = np.array([[40] * 3] * 3 + [[10] * 3] * 3, dtype=np.float32)
#: The 4x4 pooling example.
POOL_IMAGE = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)


def apply_filter(image, kernel, **conv_args):
    """``image (H, W)`` convolved (cross-correlated) with one ``kernel`` by `Conv2D`."""
    layer = Conv2D(1, kernel.shape, use_bias=False, **conv_args).build((1, *image.shape))
    layer.params["W"][...] = kernel
    return layer.forward(np.ascontiguousarray(image[None, None], np.float32))[0, 0]


def pool(image, layer):
    layer.build((1, *image.shape))
    return layer.forward(np.ascontiguousarray(image[None, None], np.float32))[0, 0]


def _grid(ax, values, title, cmap="Greys", fmt="{:g}"):
    """Draw a small matrix with its values written in the cells."""
    ax.imshow(values, cmap=cmap)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="tab:red")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=9)


@figure("edge-detection", "The course's example: the 6x6 image (three columns of 5, three of "
        "0) convolved with the Sobel filter gives a 4x4 map whose middle columns (20) mark "
        "the vertical edge.")
def edge_detection():
    fig, axes = style.subplots(1, 3, width=7.5, height=2.8)
    _grid(axes[0], EDGE_IMAGE, "image 6x6")
    _grid(axes[1], SOBEL, "Sobel filter 3x3", cmap="coolwarm")
    _grid(axes[2], apply_filter(EDGE_IMAGE, SOBEL), "output 4x4")
    return fig


@figure("edges-fashion", "Sobel (vertical edges) and Prewitt (horizontal edges) filters "
        "applied by Conv2D to a Fashion-MNIST test image, with padding 1 (same size).")
def edges_fashion():
    x, _ = load_fashion_mnist("test")
    image = x[0]
    fig, axes = style.subplots(1, 3, width=7.5, height=2.8)
    panels = [(image, "image 28x28"), (apply_filter(image, SOBEL, padding=1), "Sobel"),
              (apply_filter(image, PREWITT_HORIZONTAL, padding=1), "Prewitt (horizontal)")]
    for ax, (values, title) in zip(axes, panels):
        ax.imshow(values, cmap="gray" if ax is axes[0] else "coolwarm")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    return fig


@figure("stride-padding", "Output size of a 3x3 convolution on a 7x7 input, computed by "
        "Conv2D, for strides 1 and 2 and paddings 0 and 1 (the ones mark the positions read).")
def stride_padding():
    image = np.ones((7, 7), np.float32)
    fig, axes = style.subplots(1, 4, width=8.0, height=2.4)
    for ax, (stride, padding) in zip(axes, [(1, 0), (1, 1), (2, 0), (2, 1)]):
        out = apply_filter(image, np.ones((3, 3), np.float32), stride=stride, padding=padding)
        _grid(ax, out, f"stride {stride}, padding {padding}: {out.shape[0]}x{out.shape[1]}")
    return fig


@figure("transposed-conv", "A transposed convolution (ConvTranspose2D, stride 2, kernel of "
        "ones 3x3) maps a 2x2 input to 5x5: each input pixel stamps a scaled copy of the "
        "kernel, and overlaps add up.")
def transposed_conv():
    x = np.array([[1, 2], [3, 4]], np.float32)
    layer = ConvTranspose2D(1, 3, stride=2, use_bias=False).build((1, 2, 2))
    layer.params["W"][...] = 1.0
    y = layer.forward(x[None, None])[0, 0]
    fig, axes = style.subplots(1, 2, width=6.0, height=3.0)
    _grid(axes[0], x, "input 2x2")
    _grid(axes[1], y, "output 5x5")
    return fig


@figure("pooling-example", "2x2 max pooling and average pooling with stride 2 on the 4x4 "
        "example, computed by MaxPool2D and AvgPool2D.")
def pooling_example():
    fig, axes = style.subplots(1, 3, width=7.0, height=2.6)
    _grid(axes[0], POOL_IMAGE, "input 4x4")
    _grid(axes[1], pool(POOL_IMAGE, MaxPool2D(2)), "max pool 2x2, stride 2")
    _grid(axes[2], pool(POOL_IMAGE, AvgPool2D(2)), "average pool 2x2, stride 2",
          fmt="{:.2f}")
    return fig


#: The CNN page's LeNet-5: trained briefly, enough for its filters to take shape.
LENET_EPOCHS = recipe(2, 1)


def lenet_run():
    """``(model, history)`` of LeNet-5 trained for `LENET_EPOCHS` epochs (cached)."""
    from atlas.models.cnn import train_fashion_mnist

    def train():
        model, history, scores = train_fashion_mnist("lenet", epochs=LENET_EPOCHS,
                                                     progress=False, print_fn=None)
        history["test_accuracy"] = scores["accuracy"]
        return model, history

    return trained("lenet5", train, {"epochs": LENET_EPOCHS})


@figure("lenet-feature-maps", "LeNet-5 after two epochs on Fashion-MNIST: its six learned "
        "5x5 filters (top) and the six feature maps they produce from a test image, "
        "after tanh (bottom).", trains=True)
def lenet_feature_maps():
    from atlas.models.cnn import feature_maps

    model, _ = lenet_run()
    x, _ = load_fashion_mnist("test")
    maps = feature_maps(model, x[:1].reshape(1, 1, 28, 28))
    filters = model.backend.to_numpy(model.layers[0].params["W"])[:, 0]
    activations = maps[1][1][0]
    fig, axes = style.subplots(2, 6, width=7.5, height=2.9)
    for k in range(6):
        for row, values, cmap in ((0, filters[k], "coolwarm"), (1, activations[k], "gray")):
            ax = axes[row, k]
            ax.imshow(values, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[0, k].set_title(f"filter {k + 1}", fontsize=8)
    return fig
