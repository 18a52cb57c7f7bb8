"""CUDA twins of `pooling`: one thread per output element forward, one thread per input
element backward, which gathers from the windows that contain it: average pooling takes
each window's share, max pooling each gradient whose window recorded this pixel as its
maximum. One launch each, no atomics, and deterministic: overlapping windows that share a
maximum are added in the CPU's order (window rows, then columns), so the sums are the
CPU's. Either backward may write the gradient through an element-wise activation before
the pooling (the ``_chained`` entry points: each value times the activation's derivative
there, in the same launch)."""

import math

from numba import cuda

from atlas.kernels.cuda.launch import THREADS, blocks, no_values
from atlas.kernels.cuda.launcher import kernel
from atlas.kernels.scalar import NO_ACTIVATION, activation_derivative, pool_divisor


@cuda.jit(device=True)
def _unravel(t, shape):
    """``(n, c, h, w)`` of flat index ``t`` in an NCHW array of ``shape``."""
    w = t % shape[3]
    h = (t // shape[3]) % shape[2]
    c = (t // (shape[3] * shape[2])) % shape[1]
    n = t // (shape[3] * shape[2] * shape[1])
    return n, c, h, w


@cuda.jit(device=True)
def _windows_containing(h, k, stride, pad, out_size):
    """Output positions ``[lo, hi)`` whose window (size ``k``) covers input index ``h``."""
    lo = max(0, (h + pad - k + stride) // stride)
    hi = min(out_size, (h + pad) // stride + 1)
    return lo, hi


@kernel
def _maxpool2d_forward(x, kernel_size, stride, padding, y, argmax):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, c, p, q = _unravel(t, y.shape)
    height, width = x.shape[2], x.shape[3]
    h0 = p * stride[0] - padding[0]
    w0 = q * stride[1] - padding[1]
    best = -math.inf
    where = -1
    for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
        for w in range(max(w0, 0), min(w0 + kernel_size[1], width)):
            v = x[n, c, h, w]
            if where < 0 or v > best or (math.isnan(v) and not math.isnan(best)):
                best = v
                where = h * width + w
    y[n, c, p, q] = best
    argmax[n, c, p, q] = where


@kernel
def _maxpool2d_backward(dy, argmax, kernel_size, stride, padding, kind, alpha, z, x, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    n, c, h, w = _unravel(t, dx.shape)
    here = h * dx.shape[3] + w  # this pixel as argmax names it
    p_lo, p_hi = _windows_containing(h, kernel_size[0], stride[0], padding[0], dy.shape[2])
    q_lo, q_hi = _windows_containing(w, kernel_size[1], stride[1], padding[1], dy.shape[3])
    dx[n, c, h, w] = 0.0  # summed in place, in dx's own type, as on the CPU
    for p in range(p_lo, p_hi):
        for q in range(q_lo, q_hi):
            if argmax[n, c, p, q] == here:
                dx[n, c, h, w] += dy[n, c, p, q]
    if kind != NO_ACTIVATION:  # through the activation x = f(z) before the pooling
        dx[n, c, h, w] *= activation_derivative(kind, z[n, c, h, w], x[n, c, h, w], alpha)


@kernel
def _avgpool2d_forward(x, kernel_size, stride, padding, count_include_pad, y):
    t = cuda.grid(1)
    if t >= y.size:
        return
    n, c, p, q = _unravel(t, y.shape)
    height, width = x.shape[2], x.shape[3]
    h0 = p * stride[0] - padding[0]
    w0 = q * stride[1] - padding[1]
    total = 0.0
    for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
        for w in range(max(w0, 0), min(w0 + kernel_size[1], width)):
            total += x[n, c, h, w]
    y[n, c, p, q] = total / pool_divisor(p, q, height, width, kernel_size, stride, padding,
                                         count_include_pad)


@kernel
def _avgpool2d_backward(dy, kernel_size, stride, padding, count_include_pad, kind, alpha, z,
                        x, dx):
    t = cuda.grid(1)
    if t >= dx.size:
        return
    n, c, h, w = _unravel(t, dx.shape)
    height, width = dx.shape[2], dx.shape[3]
    p_lo, p_hi = _windows_containing(h, kernel_size[0], stride[0], padding[0], dy.shape[2])
    q_lo, q_hi = _windows_containing(w, kernel_size[1], stride[1], padding[1], dy.shape[3])
    total = 0.0
    for p in range(p_lo, p_hi):
        for q in range(q_lo, q_hi):
            total += dy[n, c, p, q] / pool_divisor(p, q, height, width, kernel_size, stride,
                                                   padding, count_include_pad)
    if kind != NO_ACTIVATION:  # through the activation x = f(z) before the pooling
        total *= activation_derivative(kind, z[n, c, h, w], x[n, c, h, w], alpha)
    dx[n, c, h, w] = total


@kernel
def _global_avgpool_forward(x, y):
    t = cuda.grid(1)
    if t < y.size:
        n = t // y.shape[1]
        c = t % y.shape[1]
        total = 0.0
        for s in range(x.shape[2]):
            total += x[n, c, s]
        y[n, c] = total / x.shape[2]


@kernel
def _global_avgpool_backward(dy, dx):
    t = cuda.grid(1)
    if t < dx.size:
        size = dx.shape[2]
        n = t // (dx.shape[1] * size)
        c = (t // size) % dx.shape[1]
        dx[n, c, t % size] = dy[n, c] / size


def maxpool2d_forward(x, kernel_size, stride, padding, y, argmax):
    _maxpool2d_forward[blocks(y.size), THREADS](x, kernel_size, stride, padding, y, argmax)


def maxpool2d_backward(dy, argmax, kernel_size, stride, padding, dx):
    nothing = no_values(dx.dtype, 4)
    maxpool2d_backward_chained(dy, argmax, kernel_size, stride, padding, NO_ACTIVATION, 0.0,
                               nothing, nothing, dx)


def maxpool2d_backward_chained(dy, argmax, kernel_size, stride, padding, kind, alpha, z, x,
                               dx):
    _maxpool2d_backward[blocks(dx.size), THREADS](dy, argmax, kernel_size, stride, padding,
                                                  kind, float(alpha), z, x, dx)


def avgpool2d_forward(x, kernel_size, stride, padding, count_include_pad, y):
    _avgpool2d_forward[blocks(y.size), THREADS](x, kernel_size, stride, padding,
                                                count_include_pad, y)


def avgpool2d_backward(dy, kernel_size, stride, padding, count_include_pad, dx):
    nothing = no_values(dx.dtype, 4)
    avgpool2d_backward_chained(dy, kernel_size, stride, padding, count_include_pad,
                               NO_ACTIVATION, 0.0, nothing, nothing, dx)


def avgpool2d_backward_chained(dy, kernel_size, stride, padding, count_include_pad, kind,
                               alpha, z, x, dx):
    _avgpool2d_backward[blocks(dx.size), THREADS](dy, kernel_size, stride, padding,
                                                  count_include_pad, kind, float(alpha), z,
                                                  x, dx)


def global_avgpool_forward(x, y):
    _global_avgpool_forward[blocks(y.size), THREADS](x, y)


def global_avgpool_backward(dy, dx):
    _global_avgpool_backward[blocks(dx.size), THREADS](dy, dx)
