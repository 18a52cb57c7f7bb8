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
    """`batchnorm_train_forward` for the channels ``first`` to ``last - 1``.

    Each sum runs over the contiguous rows ``x[i, j]`` (views, which LLVM vectorises; the
    same loops indexing ``x[i, j, k]`` took 1.2-1.8x as long); the mean's sum adds each
    row's partial sum, in the data's precision, into a float64 total."""
    n, _, s = x.shape
    count = n * s
    for j in range(first, last):
        total = 0.0
        for i in range(n):
            total += _row_sum(x[i, j])
        mean = total / count
        sq = 0.0
        for i in range(n):
            row = x[i, j]
            for k in range(s):
                d = row[k] - mean
                sq += d * d
        var = sq / count
        istd = 1.0 / math.sqrt(var + eps)
        inv_std[j] = istd
        g = gamma[j]
        b = beta[j]
        for i in range(n):
            row, normalised, out = x[i, j], xhat[i, j], y[i, j]
            for k in range(s):
                h = (row[k] - mean) * istd
                normalised[k] = h
                out[k] = g * h + b
        unbiased = sq / (count - 1) if count > 1 else var
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * unbiased


@kernel
def _row_sum(row):
    """The sum of a 1-D array, in its dtype."""
    total = row.dtype.type(0)
    for k in range(row.size):
        total += row[k]
    return total


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
    """`batchnorm_backward` for the channels ``first`` to ``last - 1``, over row views as
    `_train_forward`."""
    n, _, s = dy.shape
    count = n * s
    for j in range(first, last):
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for i in range(n):
            grad, normalised = dy[i, j], xhat[i, j]
            part = part_xhat = grad.dtype.type(0)
            for k in range(s):
                part += grad[k]
                part_xhat += grad[k] * normalised[k]
            sum_dy += part
            sum_dy_xhat += part_xhat
        dbeta[j] = sum_dy
        dgamma[j] = sum_dy_xhat
        factor = gamma[j] * inv_std[j] / count
        for i in range(n):
            grad, normalised, out = dy[i, j], xhat[i, j], dx[i, j]
            for k in range(s):
                out[k] = factor * (count * grad[k] - sum_dy - normalised[k] * sum_dy_xhat)
