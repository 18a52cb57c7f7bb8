"""Figures of the "what the layers see" pages: decision regions on the toy sets and the
data as hidden layers see it; inside LeNet-5: filters, the test images that excite units,
saliency, occlusion and class models."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure

#: The toy sets and the networks of growing depth and width drawn on them.
TOY_SETS = ("moons", "circles", "spirals")
ARCHITECTURES = ((), (3,), (16,), (16, 16))
TOY_STEPS = 600


def toy_data(name):
    from atlas import data

    kwargs = {"spirals": {"n": 300, "classes": 3, "noise": 0.2}, "moons": {"n": 200},
              "circles": {"n": 200}}[name]
    return getattr(data, name)(seed=0, **kwargs)


def toy_network(hidden, classes, *, view=None, seed=0):
    """A tanh MLP on 2-D points (float64); with ``view``, a last hidden layer of 2 tanh
    units (named "view") before the read-out, to be plotted."""
    from atlas.nn import Activation, Dense, Sequential

    layers = []
    for units in hidden:
        layers += [Dense(units), Activation("tanh")]
    if view:
        layers += [Dense(2), Activation("tanh", name="view")]
    layers.append(Dense(classes))
    return Sequential(layers, input_shape=(2,), dtype="float64", seed=seed, name="toy")


def train_toy(model, x, y, steps=TOY_STEPS):
    """Full-batch Adam for ``steps`` steps; returns the training accuracy."""
    from atlas.optimizers import Adam

    model.compile("softmax_cross_entropy", Adam(0.03))
    model.fit(x, y, epochs=steps, batch_size=len(x), progress=False)
    return model.evaluate(x, y)["accuracy"]


def _regions(ax, model, x, y):
    span = np.abs(x).max() * 1.15
    grid = np.linspace(-span, span, 150)
    gx, gy = np.meshgrid(grid, grid)
    predicted = model.predict(np.stack([gx.ravel(), gy.ravel()], 1)).argmax(1).reshape(gx.shape)
    colors = np.array(style.COLORS[:3])
    from matplotlib.colors import ListedColormap

    ax.contourf(gx, gy, predicted, levels=np.arange(-0.5, 3), cmap=ListedColormap(colors),
                alpha=0.25)
    ax.scatter(x[:, 0], x[:, 1], c=colors[y], s=6, edgecolor="none")
    ax.set(xticks=[], yticks=[], aspect="equal")
    ax.grid(False)


@figure("separating-regions", "Decision regions of tanh networks of growing depth and width "
        "(columns: no hidden layer, one of 3 units, one of 16, two of 16) on three toy sets "
        "(rows), each trained the same way; the title gives the training accuracy.")
def separating_regions():
    fig, axes = style.subplots(len(TOY_SETS), len(ARCHITECTURES), width=8.0, height=6.2)
    for row, name in zip(axes, TOY_SETS):
        x, y = toy_data(name)
        for ax, hidden in zip(row, ARCHITECTURES):
            model = toy_network(hidden, int(y.max()) + 1)
            accuracy = train_toy(model, x, y)
            _regions(ax, model, x, y)
            label = "-".join(map(str, (2, *hidden, int(y.max()) + 1)))
            ax.set_title(f"{name} {label}: {100 * accuracy:.0f}%", fontsize=8)
    return fig


@figure("separating-hidden", "What the layers do to the data: the points in the input plane "
        "(left) and in a hidden layer of two tanh units near the end of a trained network "
        "(right), where the classes are (nearly) separable by straight lines.")
def separating_hidden():
    from atlas.explain import activations

    fig, axes = style.subplots(2, 2, width=6.4, height=6.0)
    for row, name in zip(axes, ("circles", "spirals")):
        x, y = toy_data(name)
        model = toy_network((16, 16), int(y.max()) + 1, view=True)
        accuracy = train_toy(model, x, y, steps=1_000)
        view = activations(model, x, len(model.layers) - 2)
        colors = np.array(style.COLORS[:3])
        for ax, points, title in ((row[0], x, f"{name}: input"),
                                  (row[1], view, f"2-unit hidden layer ({100 * accuracy:.0f}%)")):
            ax.scatter(points[:, 0], points[:, 1], c=colors[y], s=6, edgecolor="none")
            ax.set_title(title, fontsize=9)
            ax.set(xticks=[], yticks=[])
    return fig


def lenet():
    """The CNN page's LeNet-5 (trained and cached by its figures) and the test images."""
    from atlas.figures.convolution import lenet_run
    from atlas.models.cnn import fashion_mnist_images

    model, _ = lenet_run()
    _, _, (x, y) = fashion_mnist_images()
    return model, x, y


#: The units of LeNet-5's second convolution (after tanh) whose top images are shown.
UNITS = (0, 5, 11)
#: Test images of the saliency and occlusion figure.
EXAMPLES = (0, 2, 8, 17)


def _image(ax, image, title=None, cmap="gray_r", **kwargs):
    style.image(ax, image, title, fontsize=7, cmap=cmap, **kwargs)


@figure("lenet-top-images", "Inside LeNet-5: its six first-layer filters (top row), and for "
        "three channels of its second convolution, the six test images that excite them most "
        "(one row each).", trains=True)
def lenet_top_images():
    from atlas.explain import top_images

    model, x, _ = lenet()
    filters = model.backend.to_numpy(model.layers[0].params["W"])[:, 0]
    fig, axes = style.subplots(1 + len(UNITS), 6, width=6.0, height=4.6)
    for ax, w in zip(axes[0], filters):
        _image(ax, w, cmap="RdBu_r", vmin=-np.abs(filters).max(), vmax=np.abs(filters).max())
    axes[0, 0].set_ylabel("filters", fontsize=8)
    for row, unit in zip(axes[1:], UNITS):
        order, strength = top_images(model, x, 4, unit)
        for ax, k, s in zip(row, order, strength):
            _image(ax, x[k, 0], f"{s:.2f}")
        row[0].set_ylabel(f"channel {unit}", fontsize=8)
    return fig


@figure("saliency-occlusion", "Four test images (top), LeNet-5's saliency for its true class "
        "(middle: the largest input gradient of the class score) and the drop in that class's "
        "probability when a grey 6x6 patch covers each place (bottom; occlusion, Zeiler and "
        "Fergus).", trains=True)
def saliency_occlusion():
    from atlas.data import FASHION_MNIST
    from atlas.explain import occlusion, saliency

    model, x, y = lenet()
    fig, axes = style.subplots(3, len(EXAMPLES), width=6.4, height=5.4)
    for column, k in enumerate(EXAMPLES):
        drop, base = occlusion(model, x[k], y[k])
        _image(axes[0, column], x[k, 0], f"{FASHION_MNIST.classes[y[k]]}: p = {base:.2f}")
        _image(axes[1, column], saliency(model, x[k], y[k]), cmap="magma")
        _image(axes[2, column], drop, f"largest drop {drop.max():.2f}", cmap="RdBu_r",
               vmin=-1, vmax=1)
    return fig


@figure("class-models", "Class model visualisation: for each class, the image LeNet-5 scores "
        "highest after 200 steps of gradient ascent on the class logit with an L2 penalty, "
        "from a faint random start.", trains=True)
def class_models():
    from atlas.data import FASHION_MNIST
    from atlas.explain import class_model

    model, _, _ = lenet()
    fig, axes = style.subplots(2, 5, width=7.5, height=3.4)
    for label, ax in enumerate(axes.ravel()):
        image, scores = class_model(model, label)
        limit = np.abs(image).max()
        _image(ax, image[0], f"{FASHION_MNIST.classes[label]} ({scores[-1]:.1f})",
               cmap="RdBu_r", vmin=-limit, vmax=limit)
    return fig
