r"""Max, average and global average pooling over NCHW images.

A pooling window of size $k_h \times k_w$ slides with stride $(s_h, s_w)$ over each channel,
with ``padding = (p_h, p_w)`` on both sides; the output has
$OH = \lfloor (H + 2p_h - k_h) / s_h \rfloor + 1$ rows (likewise columns). Windows may
overlap (stride smaller than the kernel).

Max pooling keeps, for each window, the largest value and remembers where it was
(``argmax``, a flat index into the ``H x W`` plane); its backward pass sends the gradient
there and nowhere else:

$$
y_{p,q} = \max_{(i,j) \in \text{window}(p,q)} x_{i,j}, \qquad
\frac{\partial L}{\partial x_{i,j}} = \sum_{(p,q):\ \text{argmax}_{p,q} = (i,j)}
\frac{\partial L}{\partial y_{p,q}}.
$$

Padding counts as $-\infty$ for max pooling. A NaN in a window is the window's maximum (it
propagates, as in PyTorch). Average pooling divides by the window's size, counting the
padded positions when ``count_include_pad`` is true (PyTorch's default) and only the real
ones otherwise; its backward pass spreads each output's gradient evenly over its window.
"""

import math

import numpy as np

from atlas.kernels.jit import kernel
from atlas.kernels.scalar import pool_divisor


@kernel
def maxpool2d_forward(x, kernel_size, stride, padding, y, argmax):
    """``y (N, C, OH, OW)`` = window maxima of ``x (N, C, H, W)``; ``argmax`` (same shape as
    ``y``, int64) = flat index ``h * W + w`` of each maximum."""
    batch, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for n in range(batch):
        for c in range(channels):
            plane = x[n, c]
            for p in range(oh):
                h0 = p * stride[0] - padding[0]
                for q in range(ow):
                    w0 = q * stride[1] - padding[1]
                    best = -np.inf
                    where = -1
                    for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                        for w in range(max(w0, 0), min(w0 + kernel_size[1], width)):
                            v = plane[h, w]
                            if where < 0 or v > best or (math.isnan(v) and not math.isnan(best)):
                                best = v
                                where = h * width + w
                    y[n, c, p, q] = best
                    argmax[n, c, p, q] = where


@kernel
def maxpool2d_backward(dy, argmax, dx):
    """``dx`` = zero except at each window's maximum, which receives that window's ``dy``
    (summed where overlapping windows share a maximum)."""
    batch, channels, oh, ow = dy.shape
    width = dx.shape[3]
    dx[...] = 0.0
    for n in range(batch):
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    where = argmax[n, c, p, q]
                    dx[n, c, where // width, where % width] += dy[n, c, p, q]


@kernel
def avgpool2d_forward(x, kernel_size, stride, padding, count_include_pad, y):
    """``y (N, C, OH, OW)`` = window means of ``x (N, C, H, W)``."""
    batch, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for n in range(batch):
        for c in range(channels):
            plane = x[n, c]
            for p in range(oh):
                h0 = p * stride[0] - padding[0]
                for q in range(ow):
                    w0 = q * stride[1] - padding[1]
                    total = 0.0
                    for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                        for w in range(max(w0, 0), min(w0 + kernel_size[1], width)):
                            total += plane[h, w]
                    y[n, c, p, q] = total / pool_divisor(p, q, height, width, kernel_size,
                                                         stride, padding, count_include_pad)


@kernel
def avgpool2d_backward(dy, kernel_size, stride, padding, count_include_pad, dx):
    """``dx``: each ``dy`` divided by its window's size and added over that window."""
    batch, channels, height, width = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    dx[...] = 0.0
    for n in range(batch):
        for c in range(channels):
            plane = dx[n, c]
            for p in range(oh):
                h0 = p * stride[0] - padding[0]
                for q in range(ow):
                    w0 = q * stride[1] - padding[1]
                    g = dy[n, c, p, q] / pool_divisor(p, q, height, width, kernel_size,
                                                      stride, padding, count_include_pad)
                    for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                        for w in range(max(w0, 0), min(w0 + kernel_size[1], width)):
                            plane[h, w] += g


@kernel
def global_avgpool_forward(x, y):
    r"""$y_{n,c} = \frac{1}{S} \sum_s x_{n,c,s}$ for ``x (N, C, S)`` (an image's plane, flat)."""
    batch, channels, size = x.shape
    for n in range(batch):
        for c in range(channels):
            total = 0.0
            for s in range(size):
                total += x[n, c, s]
            y[n, c] = total / size


@kernel
def global_avgpool_backward(dy, dx):
    r"""$\partial L / \partial x_{n,c,s} = \frac{1}{S}\, \partial L / \partial y_{n,c}$."""
    batch, channels, size = dx.shape
    for n in range(batch):
        for c in range(channels):
            g = dy[n, c] / size
            for s in range(size):
                dx[n, c, s] = g
