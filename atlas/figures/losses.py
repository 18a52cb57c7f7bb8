"""Figures of the losses page: regression losses against the residual, classification losses
against the logit, and the two divergences against a moving distribution."""

from __future__ import annotations

import numpy as np

from atlas import losses
from atlas.figures import style
from atlas.figures.registry import figure


def elementwise_curve(loss, pred, target):
    """Per-element loss value and gradient for each prediction in ``pred`` (float64).

    With ``reduction="sum"`` and one element per call the engine's value is the term itself.
    """
    values, grads = [], []
    for p in pred:
        value, grad = loss(np.array([[p]]), np.array([[target]]))
        values.append(value)
        grads.append(grad[0, 0])
    return np.array(values), np.array(grads)


@figure("losses", "Regression losses against the residual, and the binary cross-entropy "
        "against the logit, each with its gradient, from the engine's loss kernels.")
def losses_figure():
    r = np.linspace(-3.0, 3.0, 241)
    fig, (left, middle, right) = style.subplots(1, 3, width=9.5, height=3.3)
    regression = {"MSE": losses.MSE(reduction="sum"), "L1": losses.L1(reduction="sum"),
                  "Huber (δ = 1)": losses.Huber(delta=1.0, reduction="sum")}
    for color, (label, loss) in zip(style.COLORS, regression.items()):
        value, grad = elementwise_curve(loss, r, 0.0)
        left.plot(r, value, color=color, label=label)
        middle.plot(r, grad, color=color, label=label)
    left.set(title="loss against the residual", xlabel="prediction - target", ylim=(-0.2, 4.5))
    middle.set(title="its gradient", xlabel="prediction - target")
    left.legend()
    z = np.linspace(-6.0, 6.0, 241)
    bce = losses.BinaryCrossEntropy(from_logits=True, reduction="sum")
    for color, target in zip(style.COLORS[3:], (1.0, 0.0)):
        value, grad = elementwise_curve(bce, z, target)
        right.plot(z, value, color=color, label=f"loss, t = {target:g}")
        right.plot(z, grad, color=color, linestyle="--", label=f"gradient, t = {target:g}")
    right.set(title="binary cross-entropy on a logit", xlabel="logit z")
    right.legend()
    return fig


@figure("divergences", "KL and JS divergence between a fixed distribution p and a moving "
        "distribution q, as the engine computes them.")
def divergences():
    p = np.array([[0.7, 0.2, 0.1]])
    shifts = np.linspace(0.0, 1.0, 101)
    kl, js = [], []
    for s in shifts:
        # q slides from p to the (nearly) opposite distribution.
        q = (1 - s) * p + s * np.array([[0.02, 0.08, 0.90]])
        kl.append(losses.KLDivergence()(q, p)[0])
        js.append(losses.JSDivergence()(q, p)[0])
    fig, ax = style.subplots(width=6.0, height=3.3)
    ax.plot(shifts, kl, label="KL(p ‖ q)")
    ax.plot(shifts, js, label="JS(p, q)")
    ax.axhline(np.log(2), color="gray", linestyle=":", label="log 2, the bound of JS")
    ax.set(xlabel="how far q has moved away from p", ylabel="divergence (nats)")
    ax.legend()
    return fig
