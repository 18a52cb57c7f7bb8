r"""Parameter updates of the optimizers, in place, on flat arrays.

Each step kernel updates one parameter array ``param`` from its gradient ``grad`` and the
optimizer's state arrays for it. ``weight_decay`` adds $\lambda\theta$ to the gradient
(L2 regularisation), except in `adam_step` with ``decoupled`` (AdamW), where the
parameters decay directly: $\theta \leftarrow \theta - \eta\lambda\theta$.
"""

import math

import numpy as np

from atlas.kernels.cpu import threads
from atlas.kernels.jit import kernel


@threads.elementwise
@kernel
def sgd_step(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    r"""SGD, with optional momentum and Nesterov momentum (PyTorch's formulation).

    $$
    g = \nabla + \lambda\theta, \quad v \leftarrow \mu v + g, \quad
    \theta \leftarrow \theta - \eta \,(g + \mu v \text{ if Nesterov else } v)
    $$

    With ``momentum = 0`` this is plain gradient descent and ``velocity`` is unused.
    """
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i]
        if momentum != 0.0:
            v = momentum * velocity[i] + g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        param[i] -= lr * g


@threads.elementwise
@kernel
def rmsprop_step(param, grad, square_avg, lr, rho, eps, weight_decay):
    r"""RMSProp: $s \leftarrow \rho s + (1-\rho) g^2$, $\theta \leftarrow \theta - \eta g / (\sqrt{s} + \epsilon)$."""
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i]
        s = rho * square_avg[i] + (1.0 - rho) * g * g
        square_avg[i] = s
        param[i] -= lr * g / (math.sqrt(s) + eps)


@threads.elementwise
@kernel
def adagrad_step(param, grad, sum_sq, lr, eps, weight_decay):
    r"""Adagrad: $G \leftarrow G + g^2$, $\theta \leftarrow \theta - \eta g / (\sqrt{G} + \epsilon)$."""
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i]
        s = sum_sq[i] + g * g
        sum_sq[i] = s
        param[i] -= lr * g / (math.sqrt(s) + eps)


@threads.elementwise
@kernel
def adadelta_step(param, grad, square_avg, delta_avg, lr, rho, eps, weight_decay):
    r"""Adadelta: a step whose units match the parameters'.

    $$
    s \leftarrow \rho s + (1-\rho) g^2, \quad
    \Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{s + \epsilon}}\, g, \quad
    u \leftarrow \rho u + (1-\rho) \Delta^2, \quad
    \theta \leftarrow \theta - \eta \Delta
    $$
    """
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i]
        s = rho * square_avg[i] + (1.0 - rho) * g * g
        square_avg[i] = s
        delta = math.sqrt(delta_avg[i] + eps) / math.sqrt(s + eps) * g
        delta_avg[i] = rho * delta_avg[i] + (1.0 - rho) * delta * delta
        param[i] -= lr * delta


@threads.elementwise
@kernel
def adam_step(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    r"""Adam (and AdamW with ``decoupled``), with bias correction at step t = ``step`` >= 1.

    $$
    m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
    \theta \leftarrow \theta - \eta\,\frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}
    $$
    """
    c1 = 1.0 / (1.0 - beta1**step)
    c2 = 1.0 / (1.0 - beta2**step)
    for i in range(param.size):
        if decoupled:
            param[i] -= lr * weight_decay * param[i]
            g = grad[i]
        else:
            g = grad[i] + weight_decay * param[i]
        mi = beta1 * m[i] + (1.0 - beta1) * g
        vi = beta2 * v[i] + (1.0 - beta2) * g * g
        m[i] = mi
        v[i] = vi
        param[i] -= lr * (mi * c1) / (math.sqrt(vi * c2) + eps)


@kernel
def squared_norm(x, total):
    r"""``total[0] +=`` $\sum_i x_i^2$ of a flat array (``total`` a one-element float64
    array): the parameters' norms add up in one place, read once, for clipping by global
    norm."""
    acc = 0.0
    for i in range(x.size):
        acc += x[i] * x[i]
    total[0] += acc


@threads.elementwise
@kernel
def clip_to_norm(x, total, max_norm):
    r"""``x *= max_norm / (sqrt(total[0]) + 1e-12)`` when $\sqrt{\text{total}_0}$, the
    global norm that `squared_norm` summed, exceeds ``max_norm``; else ``x`` is left alone."""
    norm = np.sqrt(total[0])
    if norm > max_norm:
        factor = max_norm / (norm + 1e-12)
        for i in range(x.size):
            x[i] *= factor


@threads.elementwise
@kernel
def fill(x, value):
    """``x[:] = value`` in place (flat array)."""
    for i in range(x.size):
        x[i] = value


@threads.elementwise
@kernel
def scale(x, factor):
    """``x *= factor`` in place (flat array)."""
    for i in range(x.size):
        x[i] *= factor
