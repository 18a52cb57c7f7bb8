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

import numpy as np

from atlas.kernels.cpu import threads
from atlas.kernels.cpu.activations import _chain
from atlas.kernels.jit import kernel
from atlas.kernels.scalar import pool_divisor, window_range


@threads.over_batch
@kernel
def maxpool2d_forward(x, kernel_size, stride, padding, y, argmax):
    """``y (N, C, OH, OW)`` = window maxima of ``x (N, C, H, W)``; ``argmax`` (same shape as
    ``y``, int64) = flat index ``h * W + w`` of each maximum.

    A whole output row at a time: for each tap ``(h, j)`` of the window, one loop over the
    row's windows ``q`` compares and keeps. Every window still sees its taps in row-major
    order, so ties go to the first maximum. The loop must stay free of branches: a branch
    on random data is mispredicted half the time. Two details keep it so, measured with 2x2
    windows on ``(64, 32, 28, 28)``: ``take`` is built from integer flags (``|`` on
    booleans compiles to jumps), and the taps are read through a strided view indexed from
    0 (4.3 ms, against 10.6 ms with boolean flags or ``row[q * s_w + offset]``; 12.7 ms
    visiting one window after the other).
    """
    batch, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for n in range(batch):
        for c in range(channels):
            plane = x[n, c]
            for p in range(oh):
                best, where = y[n, c, p], argmax[n, c, p]
                best[:] = -np.inf
                where[:] = -1
                h0 = p * stride[0] - padding[0]
                for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                    row = plane[h]
                    for j in range(kernel_size[1]):
                        offset = j - padding[1]
                        lo, hi = window_range(ow, width, stride[1], offset)
                        taps = row[lo * stride[1] + offset::stride[1]]  # windows lo, lo+1...
                        first = h * width + lo * stride[1] + offset  # flat index of taps[0]
                        for q in range(hi - lo):
                            v, b, at = taps[q], best[lo + q], where[lo + q]
                            # NaN wins (it propagates); the first tap is always taken.
                            take = (np.int64(at < 0) | np.int64(v > b)
                                    | (np.int64(v != v) & np.int64(b == b)))
                            best[lo + q] = v if take else b
                            where[lo + q] = first + q * stride[1] if take else at


@threads.over_batch
@kernel
def maxpool2d_backward(dy, argmax, kernel_size, stride, padding, dx):
    """``dx`` = zero except at each window's maximum, which receives that window's ``dy``
    (summed where overlapping windows share a maximum, in the windows' row-major order).

    Here each ``dy`` is sent to the place ``argmax`` recorded, which needs nothing else; the
    window's geometry (the forward's ``kernel_size, stride, padding``) is for the CUDA twin,
    where one thread per input pixel gathers from the windows that contain it.
    """
    batch, channels = dy.shape[0], dy.shape[1]
    dx[...] = 0.0
    for n in range(batch):
        for c in range(channels):
            plane, grads, where = dx[n, c].reshape(-1), dy[n, c].reshape(-1), argmax[n, c].reshape(-1)
            for k in range(grads.size):
                plane[where[k]] += grads[k]


def maxpool2d_backward_chained(dy, argmax, kernel_size, stride, padding, kind, alpha, z, x,
                               dx):
    r"""`maxpool2d_backward` for a pooling whose input is the output of an element-wise
    activation, $x = f(z)$: ``dx`` is the gradient with respect to $z$, times $f'(z)$
    (here the two kernels in turn; the CUDA twin multiplies as it writes)."""
    maxpool2d_backward(dy, argmax, kernel_size, stride, padding, dx)
    _chain(kind, alpha, z, x, dx)


@threads.over_batch
@kernel
def avgpool2d_forward(x, kernel_size, stride, padding, count_include_pad, y):
    """``y (N, C, OH, OW)`` = window means of ``x (N, C, H, W)``, a whole output row at a
    time as in `maxpool2d_forward`, taps through a strided view (2x2 windows on
    ``(64, 6, 28, 28)``: 0.46 ms, against 0.65 ms indexing ``row[q * s_w + offset]`` and
    1.7 ms one window at a time)."""
    batch, channels, height, width = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for n in range(batch):
        for c in range(channels):
            plane = x[n, c]
            for p in range(oh):
                total = y[n, c, p]
                total[:] = 0.0
                h0 = p * stride[0] - padding[0]
                for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                    row = plane[h]
                    for j in range(kernel_size[1]):
                        offset = j - padding[1]
                        lo, hi = window_range(ow, width, stride[1], offset)
                        taps = row[lo * stride[1] + offset::stride[1]]
                        for q in range(hi - lo):
                            total[lo + q] += taps[q]
                for q in range(ow):
                    total[q] /= pool_divisor(p, q, height, width, kernel_size, stride, padding,
                                             count_include_pad)


@threads.over_batch
@kernel
def avgpool2d_backward(dy, kernel_size, stride, padding, count_include_pad, dx):
    """``dx``: each ``dy`` divided by its window's size and added over that window."""
    batch, channels, height, width = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    share = np.empty(ow, dtype=dx.dtype)
    dx[...] = 0.0
    for n in range(batch):
        for c in range(channels):
            plane = dx[n, c]
            for p in range(oh):
                grads = dy[n, c, p]
                for q in range(ow):
                    share[q] = grads[q] / pool_divisor(p, q, height, width, kernel_size, stride,
                                                       padding, count_include_pad)
                h0 = p * stride[0] - padding[0]
                for h in range(max(h0, 0), min(h0 + kernel_size[0], height)):
                    row = plane[h]
                    for j in range(kernel_size[1]):
                        offset = j - padding[1]
                        lo, hi = window_range(ow, width, stride[1], offset)
                        taps = row[lo * stride[1] + offset::stride[1]]
                        for q in range(hi - lo):
                            taps[q] += share[lo + q]


def avgpool2d_backward_chained(dy, kernel_size, stride, padding, count_include_pad, kind,
                               alpha, z, x, dx):
    r"""`avgpool2d_backward` through the activation before the pooling, $x = f(z)$ (as
    `maxpool2d_backward_chained`)."""
    avgpool2d_backward(dy, kernel_size, stride, padding, count_include_pad, dx)
    _chain(kind, alpha, z, x, dx)


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
