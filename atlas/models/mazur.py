"""The 2-2-2 network of Matt Mazur's step-by-step backpropagation example, in the engine.

Two inputs (0.05, 0.10), a hidden layer of two sigmoid units, two sigmoid outputs with
targets (0.01, 0.99); squared error $E = \\tfrac12 \\sum (t - o)^2$; plain gradient
descent with learning rate 0.5; the biases (0.35 and 0.60) are not updated.

The published weights ``w1..w8`` map onto the engine's ``W (in, out)`` matrices as
``W1 = [[w1, w3], [w2, w4]]`` and ``W2 = [[w5, w7], [w6, w8]]`` (``w1`` joins input 1 to
hidden unit 1, ``w2`` input 2 to hidden unit 1, and so on).
"""

from __future__ import annotations

import numpy as np

from atlas.losses import MSE
from atlas.nn import Activation, Dense, Sequential
from atlas.optimizers import SGD

INPUTS = np.array([[0.05, 0.10]])
TARGETS = np.array([[0.01, 0.99]])
INITIAL_WEIGHTS = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30,
                   "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}
BIASES = (0.35, 0.60)
LEARNING_RATE = 0.5

#: The post's numbers that follow exactly from its method (see `train`).
PUBLISHED = {
    "out_o1": 0.75136507, "out_o2": 0.772928465, "error": 0.298371109,
    "w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
    "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121,
}


def build(device="cpu"):
    """The network with the published initial weights, in float64, biases frozen."""
    model = Sequential([Dense(2), Activation("sigmoid"), Dense(2), Activation("sigmoid")],
                       input_shape=(2,), device=device, dtype="float64", name="mazur")
    w = INITIAL_WEIGHTS
    hidden, output = model.layers[0], model.layers[2]
    backend = model.backend
    backend.copy_into(hidden.params["W"], [[w["w1"], w["w3"]], [w["w2"], w["w4"]]])
    backend.copy_into(output.params["W"], [[w["w5"], w["w7"]], [w["w6"], w["w8"]]])
    backend.copy_into(hidden.params["b"], [BIASES[0]] * 2)
    backend.copy_into(output.params["b"], [BIASES[1]] * 2)
    hidden.freeze("b")
    output.freeze("b")
    return model.compile(loss=MSE(reduction="sum", factor=0.5),
                         optimizer=SGD(lr=LEARNING_RATE), metrics=())


def weights(model):
    """The eight weights ``{"w1": ..., "w8": ...}`` of the model, by the post's names."""
    W1 = model.backend.to_numpy(model.layers[0].params["W"])
    W2 = model.backend.to_numpy(model.layers[2].params["W"])
    return {"w1": W1[0, 0], "w2": W1[1, 0], "w3": W1[0, 1], "w4": W1[1, 1],
            "w5": W2[0, 0], "w6": W2[1, 0], "w7": W2[0, 1], "w8": W2[1, 1]}


def forward_pass(model):
    """Every intermediate number of the forward pass: ``net_h``, ``out_h``, ``net_o``,
    ``out_o`` (arrays of two) and the total ``error``."""
    x = model.backend.asarray(INPUTS)
    values = {}
    for key, layer in zip(("net_h", "out_h", "net_o", "out_o"), model.layers):
        x = layer.forward(x, training=False)
        values[key] = model.backend.to_numpy(x)[0].copy()
    values["error"], _ = model.loss(x, TARGETS, model.backend)
    return values


def backward_pass(model):
    """The gradients of the error with respect to every weight, by the post's names
    (``dE/dw1`` ... ``dE/dw8``), at the model's current weights."""
    out = model.forward(model.backend.asarray(INPUTS), training=True)
    _, grad = model.loss(out, TARGETS, model.backend)
    model.backward(grad)
    g1 = model.backend.to_numpy(model.layers[0].grads["W"])
    g2 = model.backend.to_numpy(model.layers[2].grads["W"])
    return {"w1": g1[0, 0], "w2": g1[1, 0], "w3": g1[0, 1], "w4": g1[1, 1],
            "w5": g2[0, 0], "w6": g2[1, 0], "w7": g2[0, 1], "w8": g2[1, 1]}


def train(steps, device="cpu"):
    """Train for ``steps`` updates; return ``(model, errors)`` where ``errors[k]`` is the total
    error after ``k`` updates (``errors[0]`` is the initial 0.298371109).

    Each update is one gradient step on all eight weights at once, every gradient taken at the
    weights before the step (so the hidden-layer deltas use the original w5..w8), which is
    what the post does for its first update. The error after one update, and after 10,000,
    is what that method gives; the post's own figures for those two (0.291027924 and
    0.0000351085) do not both follow from it: the textbook's backpropagation page explains.
    """
    model = build(device)
    x = model.backend.asarray(INPUTS)
    errors = [forward_pass(model)["error"]]
    for _ in range(steps):
        model.train_step(x, TARGETS)
        errors.append(forward_pass(model)["error"])
    return model, np.array(errors)
