"""CUDA twins of `losses`.

One thread per element (per row for the cross-entropies) writes its gradient and adds its
term of the loss into a float64 accumulator with ``cuda.atomic.add``; the launcher copies
the total back and returns it as a float, as the CPU kernel does.
"""

import math

from numba import cuda

from atlas.kernels import scalar
from atlas.kernels.cpu.losses import EPS
from atlas.kernels.cuda.launch import THREADS, DeviceScalar, blocks, scalar_accumulator
from atlas.kernels.cuda.launcher import kernel


@cuda.jit(device=True)
def _log_sum_exp_row(logits, i):
    """(max, log of the sum of exponentials shifted by it) of row i."""
    k = logits.shape[1]
    m = logits[i, 0]
    for j in range(1, k):
        m = max(m, logits[i, j])
    s = 0.0
    for j in range(k):
        s += math.exp(logits[i, j] - m)
    return m, math.log(s)


@kernel
def _softmax_cross_entropy(logits, labels, dlogits, acc):
    i = cuda.grid(1)
    n, k = logits.shape
    if i < n:
        m, log_s = _log_sum_exp_row(logits, i)
        label = labels[i]
        cuda.atomic.add(acc, 0, log_s + m - logits[i, label])
        for j in range(k):
            dlogits[i, j] = math.exp(logits[i, j] - m - log_s) / n
        dlogits[i, label] -= 1.0 / n


@kernel
def _softmax_cross_entropy_soft(logits, targets, dlogits, acc):
    i = cuda.grid(1)
    n, k = logits.shape
    if i < n:
        m, log_s = _log_sum_exp_row(logits, i)
        t_sum = 0.0
        row = 0.0
        for j in range(k):
            t_sum += targets[i, j]
            row -= targets[i, j] * (logits[i, j] - m - log_s)
        cuda.atomic.add(acc, 0, row)
        for j in range(k):
            p = math.exp(logits[i, j] - m - log_s)
            dlogits[i, j] = (p * t_sum - targets[i, j]) / n


@kernel
def _sigmoid_binary_cross_entropy(logits, targets, scale, dlogits, acc):
    i = cuda.grid(1)
    if i < logits.size:
        z = logits[i]
        t = targets[i]
        cuda.atomic.add(acc, 0, max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z))))
        dlogits[i] = scale * (scalar.sigmoid(z) - t)


@kernel
def _binary_cross_entropy(probs, targets, scale, dprobs, acc):
    i = cuda.grid(1)
    if i < probs.size:
        p = min(max(probs[i], EPS), 1.0 - EPS)
        t = targets[i]
        cuda.atomic.add(acc, 0, -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p)))
        dprobs[i] = scale * (p - t) / (p * (1.0 - p))


@kernel
def _squared_error(pred, target, scale, dpred, acc):
    i = cuda.grid(1)
    if i < pred.size:
        r = pred[i] - target[i]
        cuda.atomic.add(acc, 0, r * r)
        dpred[i] = 2.0 * scale * r


@kernel
def _absolute_error(pred, target, scale, dpred, acc):
    i = cuda.grid(1)
    if i < pred.size:
        r = pred[i] - target[i]
        cuda.atomic.add(acc, 0, abs(r))
        dpred[i] = scale * scalar.sign(r)


@kernel
def _huber(pred, target, delta, scale, dpred, acc):
    i = cuda.grid(1)
    if i < pred.size:
        r = pred[i] - target[i]
        cuda.atomic.add(acc, 0, scalar.huber_value(r, delta))
        dpred[i] = scale * scalar.huber_derivative(r, delta)


@kernel
def _kl_divergence(target, pred, scale, dpred, acc):
    i = cuda.grid(1)
    if i < pred.size:
        p = target[i]
        q = max(pred[i], EPS)
        if p > 0:
            cuda.atomic.add(acc, 0, p * math.log(p / q))
        dpred[i] = -scale * p / q


@kernel
def _js_divergence(target, pred, scale, dpred, acc):
    i = cuda.grid(1)
    if i < pred.size:
        p = target[i]
        q = max(pred[i], EPS)
        m = 0.5 * (p + q)
        term = q * math.log(q / m)
        if p > 0:
            term += p * math.log(p / m)
        cuda.atomic.add(acc, 0, term)
        dpred[i] = 0.5 * scale * math.log(q / m)


def _run(kernel, n, *args, factor=1.0):
    """Launch a loss kernel over ``n`` items; its value, ``factor`` times the sum of the
    terms it adds into a device accumulator, stays on the device (`DeviceScalar`)."""
    acc = scalar_accumulator()
    kernel[blocks(n), THREADS](*args, acc)
    return DeviceScalar(acc, factor)


def softmax_cross_entropy(logits, labels, dlogits):
    n = logits.shape[0]
    return _run(_softmax_cross_entropy, n, logits, labels, dlogits, factor=1.0 / n)


def softmax_cross_entropy_soft(logits, targets, dlogits):
    n = logits.shape[0]
    return _run(_softmax_cross_entropy_soft, n, logits, targets, dlogits, factor=1.0 / n)


def sigmoid_binary_cross_entropy(logits, targets, scale, dlogits):
    return _run(_sigmoid_binary_cross_entropy, logits.size, logits, targets, scale, dlogits,
                factor=scale)


def binary_cross_entropy(probs, targets, scale, dprobs):
    return _run(_binary_cross_entropy, probs.size, probs, targets, scale, dprobs, factor=scale)


def squared_error(pred, target, scale, dpred):
    return _run(_squared_error, pred.size, pred, target, scale, dpred, factor=scale)


def absolute_error(pred, target, scale, dpred):
    return _run(_absolute_error, pred.size, pred, target, scale, dpred, factor=scale)


def huber(pred, target, delta, scale, dpred):
    return _run(_huber, pred.size, pred, target, delta, scale, dpred, factor=scale)


def kl_divergence(target, pred, scale, dpred):
    return _run(_kl_divergence, pred.size, target, pred, scale, dpred, factor=scale)


def js_divergence(target, pred, scale, dpred):
    return _run(_js_divergence, pred.size, target, pred, scale, dpred, factor=0.5 * scale)


@kernel
def _count_correct(scores, labels, total):
    i = cuda.grid(1)
    if i < scores.shape[0]:
        best = 0
        for j in range(1, scores.shape[1]):
            if scores[i, j] > scores[i, best]:
                best = j
        if best == labels[i]:
            cuda.atomic.add(total, 0, 1.0)


def count_correct(scores, labels, total):
    """One thread per row adds one to the device's ``total[0]`` when the row's argmax is its
    label; nothing is copied back."""
    _count_correct[blocks(scores.shape[0]), THREADS](scores, labels, total)
