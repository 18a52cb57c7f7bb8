"""CUDA twins of `activations`: one thread per element (or per row
for softmax, per channel for the PReLU slope gradient). The formulas are the shared ones of
`scalar`."""

import math

from numba import cuda

from atlas.kernels import scalar
from atlas.kernels.cuda.launch import REDUCE_THREADS, THREADS, block_sum, blocks
from atlas.kernels.cuda.launcher import kernel


@kernel
def _activation_forward(x, kind, alpha, y):
    i = cuda.grid(1)
    if i < x.size:
        y[i] = scalar.activation(kind, x[i], alpha)


@kernel
def _activation_backward(x, y, dy, kind, alpha, dx):
    i = cuda.grid(1)
    if i < x.size:
        dx[i] = dy[i] * scalar.activation_derivative(kind, x[i], y[i], alpha)


@kernel
def _prelu_forward(x, alpha, y):
    i = cuda.grid(1)
    n, c, s = x.shape
    if i < x.size:
        k = i % s
        j = (i // s) % c
        b = i // (s * c)
        v = x[b, j, k]
        y[b, j, k] = v if v > 0 else alpha[j] * v


@kernel
def _prelu_backward(x, alpha, dy, dx, dalpha):
    # One block per channel: the input gradient element-wise, the slope gradient reduced.
    j = cuda.blockIdx.x
    n, c, s = x.shape
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    acc = 0.0
    for t in range(cuda.threadIdx.x, n * s, cuda.blockDim.x):
        b = t // s
        k = t % s
        v = x[b, j, k]
        if v > 0:
            dx[b, j, k] = dy[b, j, k]
        else:
            dx[b, j, k] = alpha[j] * dy[b, j, k]
            acc += dy[b, j, k] * v
    total = block_sum(shared, acc)
    if cuda.threadIdx.x == 0:
        dalpha[j] = total


@kernel
def _softmax_forward(x, y):
    i = cuda.grid(1)
    n, k = x.shape
    if i < n:
        m = x[i, 0]
        for j in range(1, k):
            m = max(m, x[i, j])
        total = 0.0
        for j in range(k):
            e = math.exp(x[i, j] - m)
            y[i, j] = e
            total += e
        for j in range(k):
            y[i, j] /= total


@kernel
def _softmax_backward(y, dy, dx):
    i = cuda.grid(1)
    n, k = y.shape
    if i < n:
        dot = 0.0
        for j in range(k):
            dot += dy[i, j] * y[i, j]
        for j in range(k):
            dx[i, j] = y[i, j] * (dy[i, j] - dot)


def activation_forward(x, kind, alpha, y):
    _activation_forward[blocks(x.size), THREADS](x, kind, alpha, y)


def activation_backward(x, y, dy, kind, alpha, dx):
    _activation_backward[blocks(x.size), THREADS](x, y, dy, kind, alpha, dx)


def prelu_forward(x, alpha, y):
    _prelu_forward[blocks(x.size), THREADS](x, alpha, y)


def prelu_backward(x, alpha, dy, dx, dalpha):
    _prelu_backward[x.shape[1], REDUCE_THREADS](x, alpha, dy, dx, dalpha)


def softmax_forward(x, y):
    _softmax_forward[blocks(x.shape[0]), THREADS](x, y)


def softmax_backward(y, dy, dx):
    _softmax_backward[blocks(y.shape[0]), THREADS](y, dy, dx)
