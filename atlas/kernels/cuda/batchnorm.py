"""CUDA twins of `batchnorm`: one block per channel, its threads
striding over the channel's ``N * S`` values and reducing through shared memory."""

import math

from numba import cuda

from atlas.kernels.cuda.launch import REDUCE_THREADS, block_sum
from atlas.kernels.cuda.launcher import kernel


@kernel
def _batchnorm_train_forward(x, gamma, beta, eps, momentum, running_mean, running_var,
                             y, xhat, inv_std):
    j = cuda.blockIdx.x
    n, c, s = x.shape
    count = n * s
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    part = 0.0
    for t in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        part += x[t // s, j, t % s]
    mean = block_sum(shared, part) / count
    part = 0.0
    for t in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        d = x[t // s, j, t % s] - mean
        part += d * d
    sq = block_sum(shared, part)
    var = sq / count
    istd = 1.0 / math.sqrt(var + eps)
    for t in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        h = (x[t // s, j, t % s] - mean) * istd
        xhat[t // s, j, t % s] = h
        y[t // s, j, t % s] = gamma[j] * h + beta[j]
    if cuda.threadIdx.x == 0:
        inv_std[j] = istd
        unbiased = sq / (count - 1) if count > 1 else var
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * unbiased


@kernel
def _batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps, y):
    j = cuda.blockIdx.x
    n, c, s = x.shape
    a = gamma[j] / math.sqrt(running_var[j] + eps)
    b = beta[j] - a * running_mean[j]
    for t in range(cuda.threadIdx.x, n * s, cuda.blockDim.x):
        y[t // s, j, t % s] = a * x[t // s, j, t % s] + b


@kernel
def _batchnorm_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):
    j = cuda.blockIdx.x
    n, c, s = dy.shape
    count = n * s
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    part_dy = 0.0
    part_dy_xhat = 0.0
    for t in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        g = dy[t // s, j, t % s]
        part_dy += g
        part_dy_xhat += g * xhat[t // s, j, t % s]
    sum_dy = block_sum(shared, part_dy)
    sum_dy_xhat = block_sum(shared, part_dy_xhat)
    factor = gamma[j] * inv_std[j] / count
    for t in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        i = t // s
        k = t % s
        dx[i, j, k] = factor * (count * dy[i, j, k] - sum_dy - xhat[i, j, k] * sum_dy_xhat)
    if cuda.threadIdx.x == 0:
        dbeta[j] = sum_dy
        dgamma[j] = sum_dy_xhat


def batchnorm_train_forward(x, gamma, beta, eps, momentum, running_mean, running_var,
                            y, xhat, inv_std):
    _batchnorm_train_forward[x.shape[1], REDUCE_THREADS](
        x, gamma, beta, eps, momentum, running_mean, running_var, y, xhat, inv_std)


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps, y):
    _batchnorm_eval_forward[x.shape[1], REDUCE_THREADS](
        x, gamma, beta, running_mean, running_var, eps, y)


def batchnorm_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):
    _batchnorm_backward[dy.shape[1], REDUCE_THREADS](dy, xhat, gamma, inv_std, dx, dgamma, dbeta)
