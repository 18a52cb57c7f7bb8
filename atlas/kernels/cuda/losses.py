"""CUDA twins of `losses`.

Each thread writes the gradient of its elements (rows, for the cross-entropies) and adds
up their terms of the loss; the terms are then summed as `reduce` sums a channel
(`reduce.finish_sum`, one channel): each block's threads in shared memory, each block's
sum into ``partial``, and the last block to finish adds the blocks' sums, in order, into
a one-element float64 accumulator (no atomic additions: the loss does not depend on which
block finished first, and the accumulator needs no zeroing first). The value stays on the
device (`DeviceScalar`); ``float()`` copies it back, as the CPU kernel returns a float.
"""

import math

import numpy as np
from numba import cuda

from atlas.kernels import scalar
from atlas.kernels.cpu.losses import EPS
from atlas.kernels.cuda.launch import REDUCE_THREADS, THREADS, DeviceScalar, blocks, scratch
from atlas.kernels.cuda.launcher import kernel
from atlas.kernels.cuda.reduce import counters, finish_sum, pieces, this_piece


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


@cuda.jit(device=True)
def _items(count):
    """``(first, stop, step)`` of the calling thread's items among ``count``: its block's
    piece of them (`reduce.this_piece`), one thread after another."""
    _, _, _, start, stop = this_piece(count)
    return start + cuda.threadIdx.x, stop, cuda.blockDim.x


@kernel
def _softmax_cross_entropy(logits, labels, dlogits, partial, counter, acc):
    n, k = logits.shape
    first, stop, step = _items(n)
    part = 0.0
    for i in range(first, stop, step):
        m, log_s = _log_sum_exp_row(logits, i)
        label = labels[i]
        part += log_s + m - logits[i, label]
        for j in range(k):
            dlogits[i, j] = math.exp(logits[i, j] - m - log_s) / n
        dlogits[i, label] -= 1.0 / n
    finish_sum(part, partial, counter, acc)


@kernel
def _softmax_cross_entropy_soft(logits, targets, dlogits, partial, counter, acc):
    n, k = logits.shape
    first, stop, step = _items(n)
    part = 0.0
    for i in range(first, stop, step):
        m, log_s = _log_sum_exp_row(logits, i)
        t_sum = 0.0
        row = 0.0
        for j in range(k):
            t_sum += targets[i, j]
            row -= targets[i, j] * (logits[i, j] - m - log_s)
        part += row
        for j in range(k):
            p = math.exp(logits[i, j] - m - log_s)
            dlogits[i, j] = (p * t_sum - targets[i, j]) / n
    finish_sum(part, partial, counter, acc)


@kernel
def _sigmoid_binary_cross_entropy(logits, targets, scale, dlogits, partial, counter, acc):
    first, stop, step = _items(logits.size)
    part = 0.0
    for i in range(first, stop, step):
        z = logits[i]
        t = targets[i]
        part += max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))
        dlogits[i] = scale * (scalar.sigmoid(z) - t)
    finish_sum(part, partial, counter, acc)


@kernel
def _binary_cross_entropy(probs, targets, scale, dprobs, partial, counter, acc):
    first, stop, step = _items(probs.size)
    part = 0.0
    for i in range(first, stop, step):
        p = min(max(probs[i], EPS), 1.0 - EPS)
        t = targets[i]
        part += -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))
        dprobs[i] = scale * (p - t) / (p * (1.0 - p))
    finish_sum(part, partial, counter, acc)


@kernel
def _squared_error(pred, target, scale, dpred, partial, counter, acc):
    first, stop, step = _items(pred.size)
    part = 0.0
    for i in range(first, stop, step):
        r = pred[i] - target[i]
        part += r * r
        dpred[i] = 2.0 * scale * r
    finish_sum(part, partial, counter, acc)


@kernel
def _absolute_error(pred, target, scale, dpred, partial, counter, acc):
    first, stop, step = _items(pred.size)
    part = 0.0
    for i in range(first, stop, step):
        r = pred[i] - target[i]
        part += abs(r)
        dpred[i] = scale * scalar.sign(r)
    finish_sum(part, partial, counter, acc)


@kernel
def _huber(pred, target, delta, scale, dpred, partial, counter, acc):
    first, stop, step = _items(pred.size)
    part = 0.0
    for i in range(first, stop, step):
        r = pred[i] - target[i]
        part += scalar.huber_value(r, delta)
        dpred[i] = scale * scalar.huber_derivative(r, delta)
    finish_sum(part, partial, counter, acc)


@kernel
def _kl_divergence(target, pred, scale, dpred, partial, counter, acc):
    first, stop, step = _items(pred.size)
    part = 0.0
    for i in range(first, stop, step):
        p = target[i]
        q = max(pred[i], EPS)
        if p > 0:
            part += p * math.log(p / q)
        dpred[i] = -scale * p / q
    finish_sum(part, partial, counter, acc)


@kernel
def _js_divergence(target, pred, scale, dpred, partial, counter, acc):
    first, stop, step = _items(pred.size)
    part = 0.0
    for i in range(first, stop, step):
        p = target[i]
        q = max(pred[i], EPS)
        m = 0.5 * (p + q)
        term = q * math.log(q / m)
        if p > 0:
            term += p * math.log(p / m)
        part += term
        dpred[i] = 0.5 * scale * math.log(q / m)
    finish_sum(part, partial, counter, acc)


def _run(kernel, n, *args, factor=1.0):
    """Launch a loss kernel over ``n`` items; its value, ``factor`` times the sum of its
    terms, stays on the device (`DeviceScalar`)."""
    split = pieces(n)
    acc, partial = scratch((1,), np.float64), scratch((1, split), np.float64)
    kernel[(1, split), REDUCE_THREADS](*args, partial, counters(1), acc)
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
