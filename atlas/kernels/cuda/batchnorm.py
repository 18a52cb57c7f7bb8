"""CUDA twins of `batchnorm`: the sums over each channel spread over many blocks
(`reduce`), then one thread per value.

Training forward is two launches: `_statistics` (block ``(c, p)`` takes the mean and the
sum of squared deviations of its piece of channel ``c``; the channel's last block combines
the pieces in order, Chan's parallel formula, and updates the running statistics) and
`_normalize`. Backward is two: `_gradient_sums` (the sums of ``dy`` and ``dy x_hat``
per channel, which are ``dbeta`` and ``dgamma``) and `_input_gradient`.
"""

import math

import numpy as np
from numba import cuda

from atlas.kernels.cuda.launch import REDUCE_THREADS, THREADS, block_sum, blocks, scratch
from atlas.kernels.cuda.launcher import kernel
from atlas.kernels.cuda.reduce import (
    counters,
    last_to_finish,
    piece_bounds,
    pieces,
    this_piece,
)


@kernel
def _statistics(x, partial, counter, eps, momentum, running_mean, running_var, mean, inv_std):
    n, channels, s = x.shape
    count = n * s
    c, p, split, start, stop = this_piece(count)
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    flag = cuda.shared.array(1, dtype="int32")
    part = 0.0
    for t in range(start + cuda.threadIdx.x, stop, cuda.blockDim.x):
        part += x[t // s, c, t % s]
    piece_mean = block_sum(shared, part) / max(stop - start, 1)
    part = 0.0
    for t in range(start + cuda.threadIdx.x, stop, cuda.blockDim.x):
        d = x[t // s, c, t % s] - piece_mean
        part += d * d
    piece_m2 = block_sum(shared, part)
    if cuda.threadIdx.x == 0:
        partial[c, p, 0] = piece_mean
        partial[c, p, 1] = piece_m2
    if last_to_finish(counter, c, split, flag) and cuda.threadIdx.x == 0:
        total, mu, m2 = 0, 0.0, 0.0  # pieces 0..q-1 combined (Chan et al.)
        for q in range(split):
            first, last = piece_bounds(q, split, count)
            size = last - first
            if size == 0:
                continue
            delta = partial[c, q, 0] - mu
            combined = total + size
            mu += delta * size / combined
            m2 += partial[c, q, 1] + delta * delta * total * size / combined
            total = combined
        var = m2 / count
        mean[c] = mu
        inv_std[c] = 1.0 / math.sqrt(var + eps)
        unbiased = m2 / (count - 1) if count > 1 else var
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mu
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * unbiased


@cuda.jit(device=True)
def _value(t, shape):
    """``(i, c, k)``: the index of value ``t`` of an ``(N, C, S)`` array."""
    n, channels, s = shape
    return t // (channels * s), (t // s) % channels, t % s


@kernel
def _normalize(x, gamma, beta, mean, inv_std, y, xhat):
    t = cuda.grid(1)
    if t < x.size:
        i, c, k = _value(t, x.shape)
        h = (x[i, c, k] - mean[c]) * inv_std[c]
        xhat[i, c, k] = h
        y[i, c, k] = gamma[c] * h + beta[c]


@kernel
def _batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps, y):
    t = cuda.grid(1)
    if t < x.size:
        i, c, k = _value(t, x.shape)
        a = gamma[c] / math.sqrt(running_var[c] + eps)
        y[i, c, k] = a * x[i, c, k] + (beta[c] - a * running_mean[c])


@kernel
def _gradient_sums(dy, xhat, partial, counter, dgamma, dbeta):
    n, channels, s = dy.shape
    c, p, split, start, stop = this_piece(n * s)
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    flag = cuda.shared.array(1, dtype="int32")
    part_dy = 0.0
    part_dy_xhat = 0.0
    for t in range(start + cuda.threadIdx.x, stop, cuda.blockDim.x):
        g = dy[t // s, c, t % s]
        part_dy += g
        part_dy_xhat += g * xhat[t // s, c, t % s]
    sum_dy = block_sum(shared, part_dy)
    sum_dy_xhat = block_sum(shared, part_dy_xhat)
    if cuda.threadIdx.x == 0:
        partial[c, p, 0] = sum_dy
        partial[c, p, 1] = sum_dy_xhat
    if last_to_finish(counter, c, split, flag) and cuda.threadIdx.x == 0:
        sum_dy, sum_dy_xhat = 0.0, 0.0
        for q in range(split):
            sum_dy += partial[c, q, 0]
            sum_dy_xhat += partial[c, q, 1]
        dbeta[c] = sum_dy
        dgamma[c] = sum_dy_xhat


@kernel
def _input_gradient(dy, xhat, gamma, inv_std, dgamma, dbeta, dx):
    t = cuda.grid(1)
    if t < dy.size:
        i, c, k = _value(t, dy.shape)
        count = dy.shape[0] * dy.shape[2]
        factor = gamma[c] * inv_std[c] / count
        dx[i, c, k] = factor * (count * dy[i, c, k] - dbeta[c] - xhat[i, c, k] * dgamma[c])


def batchnorm_train_forward(x, gamma, beta, eps, momentum, running_mean, running_var,
                            y, xhat, inv_std):
    n, channels, s = x.shape
    split = pieces(n * s)
    partial = scratch((channels, split, 2), np.float64)
    mean = scratch(channels, np.float64)
    _statistics[(channels, split), REDUCE_THREADS](x, partial, counters(channels), eps,
                                                   momentum, running_mean, running_var, mean,
                                                   inv_std)
    _normalize[blocks(x.size), THREADS](x, gamma, beta, mean, inv_std, y, xhat)


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps, y):
    _batchnorm_eval_forward[blocks(x.size), THREADS](x, gamma, beta, running_mean,
                                                     running_var, eps, y)


def batchnorm_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):
    n, channels, s = dy.shape
    split = pieces(n * s)
    partial = scratch((channels, split, 2), np.float64)
    _gradient_sums[(channels, split), REDUCE_THREADS](dy, xhat, partial, counters(channels),
                                                      dgamma, dbeta)
    _input_gradient[blocks(dy.size), THREADS](dy, xhat, gamma, inv_std, dgamma, dbeta, dx)
