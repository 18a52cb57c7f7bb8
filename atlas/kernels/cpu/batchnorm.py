r"""Batch normalisation over the channel axis of a 3-D view ``(N, C, S)``.

After a dense layer the view is ``(N, features, 1)``; after a convolution it is
``(N, C, H*W)``. Statistics are taken over the ``M = N * S`` values of each channel.

$$
\hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad y = \gamma_c \hat x + \beta_c
$$

Training uses the batch's mean and biased variance and updates the running statistics as
PyTorch does (``running = (1 - momentum) * running + momentum * batch``, with the unbiased
variance); inference uses the running statistics.
"""

import math

from atlas.kernels.cpu import threads
from atlas.kernels.jit import kernel


def batchnorm_train_forward(x, gamma, beta, eps, momentum, running_mean, running_var,
                            y, xhat, inv_std):
    """Normalise with batch statistics; cache ``xhat`` and ``inv_std`` for the backward pass.
    Channels are independent: pieces of them run at once (`_train_forward` on each)."""
    threads.run(_train_forward, [(x, gamma, beta, eps, momentum, running_mean, running_var,
                                  y, xhat, inv_std, first, last)
                                 for first, last in _channel_pieces(x)])


def _channel_pieces(x):
    """Pieces of the channels of ``x (N, C, S)``, each of at least
    `threads.ELEMENTS_PER_PIECE` values."""
    n, c, s = x.shape
    return threads.split(c, threads.ELEMENTS_PER_PIECE // max(1, n * s))


@kernel
def _train_forward(x, gamma, beta, eps, momentum, running_mean, running_var, y, xhat, inv_std,
                   first, last):
    """`batchnorm_train_forward` for the channels ``first`` to ``last - 1``."""
    n, _, s = x.shape
    count = n * s
    for j in range(first, last):
        total = 0.0
        for i in range(n):
            for k in range(s):
                total += x[i, j, k]
        mean = total / count
        sq = 0.0
        for i in range(n):
            for k in range(s):
                d = x[i, j, k] - mean
                sq += d * d
        var = sq / count
        istd = 1.0 / math.sqrt(var + eps)
        inv_std[j] = istd
        g = gamma[j]
        b = beta[j]
        for i in range(n):
            for k in range(s):
                h = (x[i, j, k] - mean) * istd
                xhat[i, j, k] = h
                y[i, j, k] = g * h + b
        unbiased = sq / (count - 1) if count > 1 else var
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * unbiased


@kernel
def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps, y):
    r"""Inference: $y = \gamma (x - \mu_{run}) / \sqrt{\sigma^2_{run} + \epsilon} + \beta$."""
    n, c, s = x.shape
    for j in range(c):
        a = gamma[j] / math.sqrt(running_var[j] + eps)
        b = beta[j] - a * running_mean[j]
        for i in range(n):
            for k in range(s):
                y[i, j, k] = a * x[i, j, k] + b


def batchnorm_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):
    r"""Backward through the batch statistics (training mode).

    $$
    \frac{\partial L}{\partial \beta_c} = \sum dy, \quad
    \frac{\partial L}{\partial \gamma_c} = \sum dy\,\hat x, \quad
    dx = \frac{\gamma_c\,\sigma_c^{-1}}{M}\Big(M\,dy - \sum dy - \hat x \sum dy\,\hat x\Big)
    $$
    """
    threads.run(_backward, [(dy, xhat, gamma, inv_std, dx, dgamma, dbeta, first, last)
                            for first, last in _channel_pieces(dy)])


@kernel
def _backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta, first, last):
    """`batchnorm_backward` for the channels ``first`` to ``last - 1``."""
    n, _, s = dy.shape
    count = n * s
    for j in range(first, last):
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for i in range(n):
            for k in range(s):
                sum_dy += dy[i, j, k]
                sum_dy_xhat += dy[i, j, k] * xhat[i, j, k]
        dbeta[j] = sum_dy
        dgamma[j] = sum_dy_xhat
        factor = gamma[j] * inv_std[j] / count
        for i in range(n):
            for k in range(s):
                dx[i, j, k] = factor * (count * dy[i, j, k] - sum_dy - xhat[i, j, k] * sum_dy_xhat)
