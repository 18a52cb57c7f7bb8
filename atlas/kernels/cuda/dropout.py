"""CUDA twins of `dropout`: one thread per element."""

from numba import cuda

from atlas.kernels import scalar
from atlas.kernels.cuda.launch import THREADS, blocks, no_values
from atlas.kernels.cuda.launcher import kernel


@kernel
def _random_uniform(key, u):
    i = cuda.grid(1)
    if i < u.size:
        u[i] = scalar.counter_uniform(key, i)


@kernel
def _dropout_forward(x, u, p, y, mask):
    i = cuda.grid(1)
    if i < x.size:
        m = 1.0 / (1.0 - p) if u[i] >= p else 0.0
        mask[i] = m
        y[i] = m * x[i]


@kernel
def _dropout_backward(dy, mask, kind, alpha, z, x, dx):
    i = cuda.grid(1)
    if i < dy.size:
        grad = mask[i] * dy[i]
        if kind != scalar.NO_ACTIVATION:  # through the activation x = f(z) before
            grad *= scalar.activation_derivative(kind, z[i], x[i], alpha)
        dx[i] = grad


def dropout_forward(x, u, p, y, mask):
    _dropout_forward[blocks(x.size), THREADS](x, u, p, y, mask)


def dropout_backward(dy, mask, dx):
    nothing = no_values(dx.dtype, 1)
    dropout_backward_chained(dy, mask, scalar.NO_ACTIVATION, 0.0, nothing, nothing, dx)


def dropout_backward_chained(dy, mask, kind, alpha, z, x, dx):
    _dropout_backward[blocks(dy.size), THREADS](dy, mask, kind, float(alpha), z, x, dx)


def random_uniform(key, u):
    _random_uniform[blocks(u.size), THREADS](key, u)
