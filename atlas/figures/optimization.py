"""Figures of the gradient-descent and optimizer pages.

Every trajectory is produced by the engine's own optimizers (`atlas.optimizers`), stepping
a two-element parameter vector on a surface whose gradient is written out below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from atlas import optimizers
from atlas.data import spirals
from atlas.figures import style
from atlas.figures.registry import figure
from atlas.nn import Activation, Dense, Sequential


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: its value and gradient, a start point and the plotting window."""

    name: str
    value: callable
    gradient: callable
    start: tuple
    window: tuple  # (xmin, xmax, ymin, ymax)
    minimum: tuple


def _bowl_value(p):
    x, y = p
    return 0.5 * (x ** 2 + 10.0 * y ** 2)


def _bowl_gradient(p):
    return np.array([p[0], 10.0 * p[1]])


def _rosenbrock_value(p):
    x, y = p
    return (1 - x) ** 2 + 100.0 * (y - x ** 2) ** 2


def _rosenbrock_gradient(p):
    x, y = p
    return np.array([-2 * (1 - x) - 400.0 * x * (y - x ** 2), 200.0 * (y - x ** 2)])


def _saddle_value(p):
    x, y = p
    return x ** 2 - y ** 2 + 0.25 * y ** 4


def _saddle_gradient(p):
    x, y = p
    return np.array([2 * x, -2 * y + y ** 3])


#: An ill-conditioned bowl (curvatures 1 and 10), Rosenbrock's valley, and a saddle point.
SURFACES = {
    "bowl": Surface("elongated bowl", _bowl_value, _bowl_gradient, (-4.5, 1.5),
                    (-5, 5, -2.2, 2.2), (0.0, 0.0)),
    "rosenbrock": Surface("Rosenbrock", _rosenbrock_value, _rosenbrock_gradient, (-1.5, 2.0),
                          (-2, 2, -1, 3), (1.0, 1.0)),
    "saddle": Surface("saddle", _saddle_value, _saddle_gradient, (-2.0, 1e-3),
                      (-2.5, 2.5, -2.2, 2.2), (0.0, np.sqrt(2.0))),
}


def trajectory(optimizer, surface, steps):
    """The points visited by ``optimizer`` from ``surface.start``: an array ``(steps + 1, 2)``."""
    theta = np.array(surface.start, dtype=np.float64)
    grad = np.empty_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        grad[:] = surface.gradient(theta)
        optimizer.step([("theta", theta, grad)])
        path.append(theta.copy())
    return np.array(path)


def draw_surface(ax, surface, levels=24):
    x0, x1, y0, y1 = surface.window
    xs, ys = np.meshgrid(np.linspace(x0, x1, 101), np.linspace(y0, y1, 101))
    zs = surface.value((xs, ys))
    zs = np.log1p(zs - zs.min())  # log levels show the valley floor and the walls
    ax.contour(xs, ys, zs, levels=levels, colors="0.75", linewidths=0.6)
    ax.plot(*surface.minimum, marker="*", color="black", markersize=9, linestyle="none")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=surface.name)
    ax.grid(False)


@figure("learning-rate", "Gradient descent on the elongated bowl with a learning rate too "
        "small, about right, and too large (the steepest curvature is 10, so steps above "
        "2/10 diverge).")
def learning_rate():
    surface = SURFACES["bowl"]
    rates = {"too small (η = 0.01)": 0.01, "about right (η = 0.15)": 0.15,
             "too large (η = 0.205)": 0.205}
    fig, axes = style.subplots(1, 3, width=10.0, height=3.2, sharey=True)
    for ax, color, (label, lr) in zip(axes, style.COLORS, rates.items()):
        path = trajectory(optimizers.SGD(lr=lr), surface, steps=40)
        draw_surface(ax, surface)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, color=color, linewidth=1)
        loss = surface.value(path[-1])
        ax.set_title(f"{label}\nloss after 40 steps: {loss:.3g}")
    return fig


#: The racers: the same constructor arguments as on the optimizers page.
RACERS = {
    "SGD": lambda lr: optimizers.SGD(lr=lr),
    "Momentum": lambda lr: optimizers.Momentum(lr=lr, momentum=0.9),
    "Nesterov": lambda lr: optimizers.Nesterov(lr=lr, momentum=0.9),
    "RMSProp": lambda lr: optimizers.RMSProp(lr=lr * 10, rho=0.9),
    "Adagrad": lambda lr: optimizers.Adagrad(lr=lr * 50),
    "Adadelta": lambda lr: optimizers.Adadelta(lr=1.0, rho=0.95),
    "Adam": lambda lr: optimizers.Adam(lr=lr * 10),
}

#: Base learning rate and number of steps per surface (each optimizer scales the base rate
#: to the size its update rule needs: adaptive methods take steps of about ``lr`` each).
RACE_SETTINGS = {"bowl": (0.02, 150), "rosenbrock": (0.001, 600), "saddle": (0.02, 150)}


@cache
def race(surface_name):
    """``{optimizer: trajectory}`` of every racer on one surface (computed once per process:
    the two race figures and the page share it; treat the arrays as read-only)."""
    surface = SURFACES[surface_name]
    lr, steps = RACE_SETTINGS[surface_name]
    return {name: trajectory(make(lr), surface, steps) for name, make in RACERS.items()}


def loss_above_minimum(surface, path):
    """The loss above the surface's minimum at every point of ``path``."""
    return np.array([surface.value(p) for p in path]) - surface.value(np.array(surface.minimum))


@figure("optimizer-race", "Seven optimizers from the same start on three surfaces, each "
        "path computed by the engine's update kernels.")
def optimizer_race():
    fig, axes = style.subplots(1, 3, width=11.0, height=3.8)
    for ax, surface_name in zip(axes, SURFACES):
        surface = SURFACES[surface_name]
        draw_surface(ax, surface)
        for color, (name, path) in zip(style.COLORS, race(surface_name).items()):
            ax.plot(path[:, 0], path[:, 1], color=color, linewidth=1.2, label=name)
        ax.plot(*surface.start, marker="o", color="black", markersize=4)
    axes[0].legend(loc="lower right", ncols=2)
    return fig


@figure("optimizer-loss", "Loss against step for each optimizer on the three surfaces "
        "(log scale), from the same runs as the race.")
def optimizer_loss():
    fig, axes = style.subplots(1, 3, width=11.0, height=3.2)
    for ax, surface_name in zip(axes, SURFACES):
        surface = SURFACES[surface_name]
        for color, (name, path) in zip(style.COLORS, race(surface_name).items()):
            gap = loss_above_minimum(surface, path)
            ax.semilogy(np.maximum(gap, 1e-12), color=color, label=name)
        ax.set(title=surface.name, xlabel="step", ylabel="loss - minimum")
    axes[0].legend(ncols=2)
    return fig


def minibatch_run(batch_size, epochs=30, seed=0):
    """Train a small MLP on the spirals with SGD at ``batch_size``; the loss after every
    update and the loss over the whole set after every epoch."""
    x, y = spirals(n=300, classes=3, noise=0.2, seed=seed)
    x = x.astype(np.float64)
    model = Sequential([Dense(64), Activation("relu"), Dense(3)], input_shape=(2,),
                       dtype="float64", seed=seed, name="spirals")
    model.compile("softmax_cross_entropy", optimizers.SGD(lr=0.1 * np.sqrt(batch_size / 32)))
    rng = np.random.default_rng(seed)
    steps, epoch_loss = [], []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            steps.append(model.train_step(x[batch], y[batch])[0])
        epoch_loss.append(model.evaluate(x, y)["loss"])
    return np.array(steps), np.array(epoch_loss)


@figure("minibatch", "SGD on the three spirals with batches of 4, 32 and all 300 points: "
        "the noisy per-update loss and the loss over the whole set per epoch.")
def minibatch():
    fig, (left, right) = style.subplots(1, 2, width=9.0, height=3.3)
    for color, batch_size in zip(style.COLORS, (4, 32, 300)):
        steps, epoch_loss = minibatch_run(batch_size)
        left.plot(np.linspace(0, len(epoch_loss), len(steps)), steps, color=color,
                  linewidth=0.6, alpha=0.8, label=f"batch {batch_size}")
        right.plot(np.arange(1, len(epoch_loss) + 1), epoch_loss, color=color,
                   marker=".", label=f"batch {batch_size}")
    left.set(title="loss of each mini-batch", xlabel="epoch", ylabel="cross-entropy")
    right.set(title="loss on the whole set", xlabel="epoch")
    left.legend()
    return fig
