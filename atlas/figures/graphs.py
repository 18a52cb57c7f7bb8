"""Figures of the chapters built on graphs: the degradation experiment of residual networks,
and visual question answering (its architecture, and scenes with the model's answers)."""

from __future__ import annotations

import numpy as np

from atlas.figures import style
from atlas.figures.registry import figure, recipe
from atlas.figures.trained import trained

#: The degradation experiment in miniature: the same budget for every network.
RESNET_RUN = {"images": recipe(4_000, 256), "validation_images": recipe(1_000, 200),
              "test_images": recipe(None, 500), "epochs": recipe(5, 1), "batch_size": 128,
              "lr": 0.05}
RESNET_DEPTHS = (8, 20)

#: The question-answering comparison: three models, the same scenes and epochs.
VQA_RUN = {"train_scenes": recipe(4_000, 200), "epochs": recipe(5, 1)}
VQA_TEST_SCENES = recipe(2_000, 200)


def resnet_run(depth, plain):
    """``(model, history)`` of a residual (or plain) network trained with `RESNET_RUN`."""
    from atlas.models.resnet import train_fashion_mnist

    def train():
        model, history, scores = train_fashion_mnist(depth, plain=plain, progress=False,
                                                     print_fn=None, **RESNET_RUN)
        history["test_accuracy"] = scores["accuracy"]
        return model, history

    return trained(f"{'plain' if plain else 'resnet'}-{depth}", train, RESNET_RUN)


@figure("resnet-degradation", "Training error (solid) and validation error (dashed) per "
        "epoch on Fashion-MNIST, of plain networks (left) and residual networks (right) of 8 "
        "and 20 layers, trained alike.", trains=True)
def resnet_degradation():
    fig, axes = style.subplots(1, 2, width=8.5, height=3.3, sharey=True)
    for ax, plain in zip(axes, (True, False)):
        for color, depth in zip(style.COLORS, RESNET_DEPTHS):
            _, history = resnet_run(depth, plain)
            epochs = np.arange(1, len(history["train_error"]) + 1)
            label = f"{'plain' if plain else 'ResNet'}-{depth}"
            ax.plot(epochs, 100 * np.array(history["train_error"]), color=color, label=label)
            ax.plot(epochs, 100 * (1 - np.array(history["val_accuracy"])), color=color,
                    linestyle="--")
        ax.set(xlabel="epoch", title="plain" if plain else "residual", xticks=epochs)
        ax.legend()
    axes[0].set_ylabel("error (%)")
    return fig


def vqa_run(variant):
    """``(model, history)`` of one variant trained with `VQA_RUN`; the history carries its
    test accuracy by question kind (``history["test"]``)."""
    from atlas.data.scenes import make_vqa
    from atlas.models import vqa

    def train():
        seed = 0
        data = (make_vqa("train", VQA_RUN["train_scenes"], seed=seed),
                make_vqa("validation", 1_000, seed=seed))
        model, history = vqa.train(variant, epochs=VQA_RUN["epochs"], seed=seed,
                                   progress=False, data=data)
        history["test"] = vqa.accuracy_by_kind(model, make_vqa("test", VQA_TEST_SCENES))
        return model, history

    return trained(f"vqa-{variant}", train, {**VQA_RUN, "test_scenes": VQA_TEST_SCENES})


@figure("vqa-architecture", "The question-answering model: a CNN encodes the scene, an "
        "embedding and an LSTM encode the question, and a dense read-out over both codes "
        "gives the answer.")
def vqa_architecture():
    from matplotlib.patches import FancyBboxPatch

    fig, ax = style.subplots(width=8.0, height=2.8)
    ax.set(xlim=(0, 10), ylim=(0, 4))
    ax.axis("off")
    boxes = {
        "image\n1x56x56": (0.1, 2.6), "conv 5x5x16\npool": (1.7, 2.6),
        "conv 3x3x32\npool (x2)": (3.3, 2.6), "dense 128": (4.9, 2.6),
        "question\n8 words": (0.1, 0.6), "embedding 32": (1.7, 0.6),
        "LSTM 64\nlast state": (3.3, 0.6), "concatenate\n192": (6.5, 1.6),
        "dense 128\nReLU": (8.1, 2.6), "answer\n17 words": (8.1, 0.6),
    }
    for text, (x, y) in boxes.items():
        ax.add_patch(FancyBboxPatch((x, y), 1.4, 0.8, boxstyle="round,pad=0.05",
                                    facecolor="#EAF2FB", edgecolor=style.COLORS[0]))
        ax.text(x + 0.7, y + 0.4, text, ha="center", va="center", fontsize=8)
    arrows = [((1.5, 3.0), (1.7, 3.0)), ((3.1, 3.0), (3.3, 3.0)), ((4.7, 3.0), (4.9, 3.0)),
              ((1.5, 1.0), (1.7, 1.0)), ((3.1, 1.0), (3.3, 1.0)), ((6.3, 3.0), (6.9, 2.4)),
              ((4.7, 1.0), (6.5, 1.8)), ((7.9, 2.2), (8.4, 2.6)), ((8.8, 2.6), (8.8, 1.4))]
    for start, end in arrows:
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "0.3"})
    return fig


@figure("vqa-examples", "Test scenes the question-answering model never saw, a question "
        "about each, the model's answer with its probability, and the true answer.",
        trains=True)
def vqa_examples():
    from atlas.data.scenes import ANSWERS, make_vqa
    from atlas.models import vqa

    model, _ = vqa_run("both")
    test = make_vqa("test", 8)
    fig, axes = style.subplots(2, 4, width=8.5, height=5.0)
    for ax, k in zip(axes.ravel(), range(0, 24, 3)):
        i = min(k + (k // 3) % 3, len(test) - 1)  # a mix of question kinds
        (word, p), *_ = vqa.answer(model, test.images[i], test.texts[i])
        ax.imshow(test.images[i, 0], cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        truth = ANSWERS[test.answers[i]]
        mark = "right" if word == truth else "wrong"
        ax.set_title(f"{test.texts[i]}\n{word} ({p:.2f}); truth {truth}: {mark}", fontsize=7)
    return fig
