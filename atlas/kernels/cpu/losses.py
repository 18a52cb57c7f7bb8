r"""Loss kernels. Each returns the loss value and writes its gradient with respect to the
prediction into a preallocated array.

Row-wise losses (the cross-entropies) take 2-D ``(N, K)`` arrays and average over the N
rows. Element-wise losses take flat arrays and a ``scale``: the loss is
``scale * sum(term)``, so ``scale = 1 / size`` gives the mean and ``scale = 0.5`` the
$\tfrac12 \sum$ of the classic backpropagation example.
"""

import math

from atlas.kernels import scalar
from atlas.kernels.jit import kernel

#: Probabilities are clipped to [EPS, 1 - EPS] before a logarithm.
EPS = 1e-12


@kernel
def softmax_cross_entropy(logits, labels, dlogits):
    r"""Softmax followed by cross-entropy, fused, for integer class labels.

    $$
    L = -\frac1N \sum_n \log \operatorname{softmax}(z_n)_{y_n}, \qquad
    \frac{\partial L}{\partial z_{nk}} = \frac{p_{nk} - [k = y_n]}{N}
    $$

    Fusing is what makes it stable: $\log\operatorname{softmax}(z)_k = z_k - m -
    \log\sum_j e^{z_j - m}$ never takes the logarithm of an underflowed probability.
    """
    n, k = logits.shape
    total = 0.0
    inv_n = 1.0 / n
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            m = max(m, logits[i, j])
        s = 0.0
        for j in range(k):
            s += math.exp(logits[i, j] - m)
        log_s = math.log(s)
        label = labels[i]
        total += log_s + m - logits[i, label]
        for j in range(k):
            dlogits[i, j] = math.exp(logits[i, j] - m - log_s) * inv_n
        dlogits[i, label] -= inv_n
    return total * inv_n


@kernel
def softmax_cross_entropy_soft(logits, targets, dlogits):
    r"""Softmax cross-entropy against target distributions (one-hot or soft) of shape (N, K).

    $$
    L = -\frac1N \sum_{n,k} t_{nk} \log \operatorname{softmax}(z_n)_k, \qquad
    \frac{\partial L}{\partial z_{nk}} = \frac{p_{nk} \sum_j t_{nj} - t_{nk}}{N}
    $$
    """
    n, k = logits.shape
    total = 0.0
    inv_n = 1.0 / n
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            m = max(m, logits[i, j])
        s = 0.0
        for j in range(k):
            s += math.exp(logits[i, j] - m)
        log_s = math.log(s)
        t_sum = 0.0
        row = 0.0
        for j in range(k):
            t = targets[i, j]
            t_sum += t
            row -= t * (logits[i, j] - m - log_s)
        total += row
        for j in range(k):
            p = math.exp(logits[i, j] - m - log_s)
            dlogits[i, j] = (p * t_sum - targets[i, j]) * inv_n
    return total * inv_n


@kernel
def sigmoid_binary_cross_entropy(logits, targets, scale, dlogits):
    r"""Sigmoid followed by binary cross-entropy, fused (flat arrays).

    $$
    L = s \sum_i \max(z_i, 0) - z_i t_i + \log(1 + e^{-|z_i|}), \qquad
    \frac{\partial L}{\partial z_i} = s\,(\sigma(z_i) - t_i)
    $$
    """
    total = 0.0
    for i in range(logits.size):
        z = logits[i]
        t = targets[i]
        total += max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))
        dlogits[i] = scale * (scalar.sigmoid(z) - t)
    return total * scale


@kernel
def binary_cross_entropy(probs, targets, scale, dprobs):
    r"""Binary cross-entropy on probabilities (flat arrays), clipped to [EPS, 1 - EPS].

    $$
    L = -s \sum_i t_i \log p_i + (1 - t_i) \log(1 - p_i), \qquad
    \frac{\partial L}{\partial p_i} = s\,\frac{p_i - t_i}{p_i (1 - p_i)}
    $$
    """
    total = 0.0
    for i in range(probs.size):
        p = min(max(probs[i], EPS), 1.0 - EPS)
        t = targets[i]
        total -= t * math.log(p) + (1.0 - t) * math.log(1.0 - p)
        dprobs[i] = scale * (p - t) / (p * (1.0 - p))
    return total * scale


@kernel
def squared_error(pred, target, scale, dpred):
    r"""$L = s \sum_i (y_i - t_i)^2$, $\partial L / \partial y_i = 2 s (y_i - t_i)$."""
    total = 0.0
    for i in range(pred.size):
        r = pred[i] - target[i]
        total += r * r
        dpred[i] = 2.0 * scale * r
    return total * scale


@kernel
def absolute_error(pred, target, scale, dpred):
    r"""$L = s \sum_i |y_i - t_i|$, $\partial L / \partial y_i = s \operatorname{sign}(y_i - t_i)$."""
    total = 0.0
    for i in range(pred.size):
        r = pred[i] - target[i]
        total += abs(r)
        dpred[i] = scale * scalar.sign(r)
    return total * scale


@kernel
def huber(pred, target, delta, scale, dpred):
    r"""Huber loss: quadratic for residuals within $\delta$, linear beyond
    (see `huber_value`)."""
    total = 0.0
    for i in range(pred.size):
        r = pred[i] - target[i]
        total += scalar.huber_value(r, delta)
        dpred[i] = scale * scalar.huber_derivative(r, delta)
    return total * scale


@kernel
def kl_divergence(target, pred, scale, dpred):
    r"""Kullback-Leibler divergence $\mathrm{KL}(p \,\|\, q)$ of the prediction q from
    the target p (flat arrays of probabilities; terms with $p_i = 0$ contribute 0).

    $$
    L = s \sum_i p_i \log \frac{p_i}{q_i}, \qquad
    \frac{\partial L}{\partial q_i} = -s\,\frac{p_i}{q_i}
    $$
    """
    total = 0.0
    for i in range(pred.size):
        p = target[i]
        q = max(pred[i], EPS)
        if p > 0:
            total += p * math.log(p / q)
        dpred[i] = -scale * p / q
    return total * scale


@kernel
def js_divergence(target, pred, scale, dpred):
    r"""Jensen-Shannon divergence, the symmetric, bounded cousin of KL.

    $$
    L = \frac{s}{2} \sum_i p_i \log\frac{p_i}{m_i} + q_i \log\frac{q_i}{m_i},
    \quad m = \tfrac12 (p + q), \qquad
    \frac{\partial L}{\partial q_i} = \frac{s}{2} \log\frac{q_i}{m_i}
    $$

    (the terms $-p/2m - q/2m + 1$ of the derivative cancel exactly).
    """
    total = 0.0
    for i in range(pred.size):
        p = target[i]
        q = max(pred[i], EPS)
        m = 0.5 * (p + q)
        term = q * math.log(q / m)
        if p > 0:
            term += p * math.log(p / m)
        total += term
        dpred[i] = 0.5 * scale * math.log(q / m)
    return 0.5 * total * scale


# The classification metric -------------------------------------------------------------------
@kernel
def count_correct(scores, labels, total):
    r"""``total[0] += `` the number of rows $i$ of ``scores (R, K)`` whose largest entry
    is at ``labels[i]`` (the first of equal largest entries, as ``argmax``): the correct
    predictions of a batch. A running total in an array, so that on a GPU it stays on the
    device from step to step and is read once when it is shown (`Network.fit`)."""
    rows, k = scores.shape
    hits = 0
    for i in range(rows):
        row = scores[i]
        best = 0
        for j in range(1, k):
            if row[j] > row[best]:
                best = j
        hits += best == labels[i]
    total[0] += hits
