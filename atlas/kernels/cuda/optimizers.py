"""CUDA twins of `optimizers`: one thread per parameter."""

import math

from numba import cuda

from atlas.kernels.cuda import launch
from atlas.kernels.cuda.launch import THREADS, blocks
from atlas.kernels.cuda.launcher import kernel


@kernel
def _sgd_step(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    i = cuda.grid(1)
    if i < param.size:
        g = grad[i] + weight_decay * param[i]
        if momentum != 0.0:
            v = momentum * velocity[i] + g
            velocity[i] = v
            g = g + momentum * v if nesterov else v
        param[i] -= lr * g


@kernel
def _rmsprop_step(param, grad, square_avg, lr, rho, eps, weight_decay):
    i = cuda.grid(1)
    if i < param.size:
        g = grad[i] + weight_decay * param[i]
        s = rho * square_avg[i] + (1.0 - rho) * g * g
        square_avg[i] = s
        param[i] -= lr * g / (math.sqrt(s) + eps)


@kernel
def _adagrad_step(param, grad, sum_sq, lr, eps, weight_decay):
    i = cuda.grid(1)
    if i < param.size:
        g = grad[i] + weight_decay * param[i]
        s = sum_sq[i] + g * g
        sum_sq[i] = s
        param[i] -= lr * g / (math.sqrt(s) + eps)


@kernel
def _adadelta_step(param, grad, square_avg, delta_avg, lr, rho, eps, weight_decay):
    i = cuda.grid(1)
    if i < param.size:
        g = grad[i] + weight_decay * param[i]
        s = rho * square_avg[i] + (1.0 - rho) * g * g
        square_avg[i] = s
        delta = math.sqrt(delta_avg[i] + eps) / math.sqrt(s + eps) * g
        delta_avg[i] = rho * delta_avg[i] + (1.0 - rho) * delta * delta
        param[i] -= lr * delta


@kernel
def _adam_step(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, c1, c2):
    i = cuda.grid(1)
    if i < param.size:
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
def _squared_norm(x, acc):
    i = cuda.grid(1)
    if i < x.size:
        cuda.atomic.add(acc, 0, x[i] * x[i])


@kernel
def _clip_to_norm(x, total, max_norm):
    i = cuda.grid(1)
    if i < x.size:
        norm = math.sqrt(total[0])
        if norm > max_norm:
            x[i] *= max_norm / (norm + 1e-12)


@kernel
def _scale(x, factor):
    i = cuda.grid(1)
    if i < x.size:
        x[i] *= factor


def sgd_step(param, grad, velocity, lr, momentum, nesterov, weight_decay):
    _sgd_step[blocks(param.size), THREADS](param, grad, velocity, lr, momentum, nesterov,
                                           weight_decay)


def rmsprop_step(param, grad, square_avg, lr, rho, eps, weight_decay):
    _rmsprop_step[blocks(param.size), THREADS](param, grad, square_avg, lr, rho, eps, weight_decay)


def adagrad_step(param, grad, sum_sq, lr, eps, weight_decay):
    _adagrad_step[blocks(param.size), THREADS](param, grad, sum_sq, lr, eps, weight_decay)


def adadelta_step(param, grad, square_avg, delta_avg, lr, rho, eps, weight_decay):
    _adadelta_step[blocks(param.size), THREADS](param, grad, square_avg, delta_avg, lr, rho, eps,
                                                weight_decay)


def adam_step(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    # The bias corrections are per step, not per element: computed once on the host.
    c1 = 1.0 / (1.0 - beta1**step)
    c2 = 1.0 / (1.0 - beta2**step)
    _adam_step[blocks(param.size), THREADS](param, grad, m, v, lr, beta1, beta2, eps,
                                            weight_decay, decoupled, c1, c2)


def squared_norm(x, total):
    _squared_norm[blocks(x.size), THREADS](x, total)


def clip_to_norm(x, total, max_norm):
    _clip_to_norm[blocks(x.size), THREADS](x, total, max_norm)


def fill(x, value):
    launch.fill[blocks(x.size), THREADS](x, value)


def scale(x, factor):
    _scale[blocks(x.size), THREADS](x, factor)
