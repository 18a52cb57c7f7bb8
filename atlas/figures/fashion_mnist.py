"""Figures of the tensors page and the MLP-on-Fashion-MNIST page."""

from __future__ import annotations

import numpy as np

from atlas.data import FASHION_MNIST, load_fashion_mnist
from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained
from atlas.models.mlp import fashion_mnist_splits, train_fashion_mnist

CLASSES = FASHION_MNIST.classes


def one_hot(labels, classes=10):
    """``(N, classes)`` float32 matrix with a 1 in each row's label column."""
    labels = np.asarray(labels)
    out = np.zeros((labels.size, classes), np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out


@figure("fashion-samples", "Eight test images of each of Fashion-MNIST's ten classes, as the "
        "engine's IDX reader loads them.")
def fashion_samples():
    x, y = load_fashion_mnist("test")
    fig, axes = style.subplots(10, 8, width=6.0, height=8.0)
    for row, name in enumerate(CLASSES):
        for col, index in enumerate(np.flatnonzero(y == row)[:8]):
            ax = axes[row, col]
            ax.imshow(x[index], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return fig


@figure("one-hot", "The first twelve test labels as integers and as a one-hot matrix "
        "(12 x 10), the target the softmax cross-entropy compares with.")
def one_hot_figure():
    _, y = load_fashion_mnist("test")
    labels = y[:12]
    fig, ax = style.subplots(width=6.0, height=3.6)
    ax.imshow(one_hot(labels), cmap="Blues", vmin=0, vmax=1.3, aspect="auto")
    ax.set_xticks(range(10), [f"{k}\n{name}" for k, name in enumerate(CLASSES)], fontsize=6)
    ax.set_yticks(range(len(labels)), [f"{lab} ({CLASSES[lab]})" for lab in labels], fontsize=7)
    ax.grid(False)
    for i, label in enumerate(labels):
        ax.text(label, i, "1", ha="center", va="center", fontsize=7, color="white")
    ax.set(xlabel="class", ylabel="label")
    return fig


#: The page's model: `atlas train mlp` with its defaults.
MLP_SETTINGS = {"hidden": (512, 256), "dropout": 0.2, "epochs": recipe(20, 1), "batch_size": 128}


def mlp_run():
    """The MLP trained with `train_fashion_mnist` at `MLP_SETTINGS` (cached)."""
    def train():
        model, history, _ = train_fashion_mnist(**MLP_SETTINGS, progress=False, print_fn=None)
        return model, history
    return trained("mlp-fashion-mnist", train, MLP_SETTINGS)


def test_predictions():
    """``(x_test, y_test, predicted labels)`` of the trained MLP."""
    model, _ = mlp_run()
    _, _, (x, y) = fashion_mnist_splits()
    return x, y, model.predict(x).argmax(axis=1)


def confusion_matrix(labels, predicted, classes=10):
    """``counts[true, predicted]``."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


@figure("mlp-curves", "Loss and accuracy of the MLP on its training images and the 5,000 "
        "held-out validation images, per epoch.", trains=True)
def mlp_curves():
    _, history = mlp_run()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (left, right) = style.subplots(1, 2, width=9.0, height=3.3)
    left.plot(epochs, history["loss"], marker=".", label="training (with dropout)")
    left.plot(epochs, history["val_loss"], marker=".", label="validation")
    right.plot(epochs, history["accuracy"], marker=".", label="training (with dropout)")
    right.plot(epochs, history["val_accuracy"], marker=".", label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    left.legend()
    return fig


@figure("mlp-confusion", "Confusion matrix of the trained MLP on the 10,000 test images.",
        trains=True)
def mlp_confusion():
    _, y, predicted = test_predictions()
    counts = confusion_matrix(y, predicted)
    fig, ax = style.subplots(width=6.5, height=5.6)
    ax.imshow(counts, cmap="Blues")
    ax.grid(False)
    ax.set_xticks(range(10), CLASSES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(10), CLASSES, fontsize=8)
    for i in range(10):
        for j in range(10):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true")
    return fig


@figure("mlp-misclassified", "The first sixteen test images the trained MLP gets wrong, "
        "with the true and the predicted class.", trains=True)
def mlp_misclassified():
    x, y, predicted = test_predictions()
    wrong = np.flatnonzero(predicted != y)[:16]
    fig, axes = style.subplots(2, 8, width=9.0, height=3.0)
    for ax, index in zip(axes.flat, wrong):
        ax.imshow(x[index], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{CLASSES[y[index]]}\n→ {CLASSES[predicted[index]]}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    return fig
