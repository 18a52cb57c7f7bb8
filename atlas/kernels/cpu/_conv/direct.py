r"""The direct path of `atlas.kernels.cpu.conv`: stride 1, no columns.

When the matrix products would be thin (few output channels, or few
taps per output: LeNet-5's convolutions, a first layer on grayscale images), BLAS runs them
far below its speed while `planes.gather` still writes $k_h k_w$ copies of the input. At stride
1, `conv2d_forward` and `conv2d_backward` then skip the columns: an output plane in wide
rows is a weighted sum of shifted blocks of the padded planes, one block per tap,

$$
y^{wide}_{o}[\,t\,] = b_o + \sum_{c,i,j} W_{o,c,i,j}\; x^{pad}_{c}[\,t + i d_h W_p + j d_w\,],
$$

accumulated four taps and two output channels per pass (`accumulate_taps`), so that each
value loaded feeds two multiply-adds. `wins` holds the rule and the measurements
behind it.
"""

import numpy as np

from atlas.kernels.cpu._conv import planes
from atlas.kernels.jit import kernel

#: Below these sizes the direct path wins (`wins`): at most this many output channels
#: (the rows of im2col's matrix products)...
MAX_CHANNELS = 16
#: ... or fewer than this many taps per output (their inner dimension, ``C_in kh kw``).
TAPS_BELOW = 32


@kernel
def wins(c_out, taps, stride):
    """Whether a convolution with ``c_out`` output channels and ``taps = C_in kh kw`` inputs
    per output is computed directly: at stride 1, when im2col's matrix products would be too
    thin for BLAS to run near its speed while the columns still cost ``kh kw`` copies of the
    input.

    Measured on the reference machine (forward+backward, batch 64, 3x3 and 5x5 kernels,
    14x14 to 32x32 images): direct took 0.2-0.9 of im2col's time with up to 16 output
    channels, or with fewer than 32 taps (1 input channel, 32 or 64 outputs: 0.6-0.9). With
    more channels it ranged from 0.6 (28x28, 32 -> 32) to 1.8 (128 and 256 channels), and
    was 1.2-1.3 at the benchmark's (64, 32, 14, 14) -> 64 5x5 and (32, 64, 32, 32) -> 64 3x3,
    so those keep im2col. ``python benchmarks/bench_conv.py --algorithms`` repeats the
    measurement.
    """
    thin = c_out <= MAX_CHANNELS or taps < TAPS_BELOW
    return stride[0] == 1 and stride[1] == 1 and thin


@kernel
def accumulate_taps(acc0, acc1, src, starts, w0, w1):
    r"""$acc_0 \mathrel{+}= \sum_k w_0[k]\, src[s_k : s_k + n]$ and the same for ``acc1``
    with ``w1``, over the taps ``k`` whose blocks start at ``starts[k]`` (``n`` the length
    of the accumulators; ``starts.size`` a multiple of 4).

    Four taps and two accumulators per pass: each value read from ``src`` feeds two
    multiply-adds, and each accumulator is loaded and stored once per four taps.
    """
    n = acc0.size
    for k in range(0, starts.size, 4):
        s0, s1 = src[starts[k]:starts[k] + n], src[starts[k + 1]:starts[k + 1] + n]
        s2, s3 = src[starts[k + 2]:starts[k + 2] + n], src[starts[k + 3]:starts[k + 3] + n]
        a0, a1, a2, a3 = w0[k], w0[k + 1], w0[k + 2], w0[k + 3]
        b0, b1, b2, b3 = w1[k], w1[k + 1], w1[k + 2], w1[k + 3]
        for t in range(n):
            v0, v1, v2, v3 = s0[t], s1[t], s2[t], s3[t]
            acc0[t] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            acc1[t] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3


@kernel
def correlate_taps(d0, d1, src, starts, g0, g1):
    r"""$g_0[k] \mathrel{+}= \langle d_0,\, src[s_k : s_k + n] \rangle$ and the same for
    ``g1`` with ``d1``: the adjoint of `accumulate_taps` with respect to its weights, four
    taps and two accumulators per pass."""
    n = d0.size
    zero = src.dtype.type(0)
    for k in range(0, starts.size, 4):
        s0, s1 = src[starts[k]:starts[k] + n], src[starts[k + 1]:starts[k + 1] + n]
        s2, s3 = src[starts[k + 2]:starts[k + 2] + n], src[starts[k + 3]:starts[k + 3] + n]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
        for t in range(n):
            v0, v1, v2, v3, e0, e1 = s0[t], s1[t], s2[t], s3[t], d0[t], d1[t]
            a0 += e0 * v0
            a1 += e0 * v1
            a2 += e0 * v2
            a3 += e0 * v3
            b0 += e1 * v0
            b1 += e1 * v1
            b2 += e1 * v2
            b3 += e1 * v3
        g0[k] += a0
        g0[k + 1] += a1
        g0[k + 2] += a2
        g0[k + 3] += a3
        g1[k] += b0
        g1[k + 1] += b1
        g1[k + 2] += b2
        g1[k + 3] += b3


#: The direct path walks its planes in segments of this many values: two accumulator
#: segments stay in the L1 cache while every tap adds to them, and the input rows they read
#: stay in L2 while every pair of channels passes over them.
SEGMENT = 2048


@kernel
def weighted_sums(acc, src, starts, weights):
    """``acc[r] = sum_k weights[r, k] src[starts[k]:][:n]`` for every row of ``acc (R, n)``
    (``R`` even): `accumulate_taps` on each pair of rows, segment by segment, each segment
    zeroed just before (while it is in cache)."""
    rows, n = acc.shape
    for lo in range(0, n, SEGMENT):
        hi = min(lo + SEGMENT, n)
        acc[:, lo:hi] = 0.0
        for r in range(0, rows, 2):
            accumulate_taps(acc[r, lo:hi], acc[r + 1, lo:hi], src[lo:], starts, weights[r],
                             weights[r + 1])


@kernel
def correlate_rows(d, first, step, n, src, starts, grads):
    """`correlate_taps` for every pair of rows of ``grads (R, taps)`` (``R`` even), row
    ``r`` against ``d[first + r step:][:n]`` (rows of the flat buffer ``d``), segment by
    segment."""
    for lo in range(0, n, SEGMENT):
        hi = min(lo + SEGMENT, n)
        for r in range(0, grads.shape[0], 2):
            d0 = d[first + r * step + lo:first + r * step + hi]
            d1 = d[first + (r + 1) * step + lo:first + (r + 1) * step + hi]
            correlate_taps(d0, d1, src[lo:], starts, grads[r], grads[r + 1])


@kernel
def tap_table(outer, kh, kw, outer_stride, row_step, col_step, flip):
    """Where the blocks of the ``outer x kh x kw`` taps start (tap ``(u, i, j)`` at
    ``u * outer_stride + i * row_step + j * col_step``, or with ``i, j`` counted from the
    kernel's far corner when ``flip``), padded with taps at 0 to a multiple of 4."""
    taps = outer * kh * kw
    starts = np.zeros((taps + 3) // 4 * 4, dtype=np.int64)
    for u in range(outer):
        for i in range(kh):
            for j in range(kw):
                r, c = (kh - 1 - i, kw - 1 - j) if flip else (i, j)
                starts[(u * kh + i) * kw + j] = u * outer_stride + r * row_step + c * col_step
    return starts


@kernel
def tap_weights(W, rows, transpose):
    """``W (C_out, C_in, kh, kw)`` as a matrix with one row per accumulator and one column per
    tap, zero-padded to ``rows`` rows (an even number) and to the taps' multiple of 4: rows
    are output channels and taps ``(c, i, j)``, or with ``transpose`` rows are input channels
    and taps ``(o, i, j)``."""
    c_out, c_in, kh, kw = W.shape
    inner = c_out if transpose else c_in
    out = np.zeros((rows, (inner * kh * kw + 3) // 4 * 4), dtype=W.dtype)
    for o in range(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    if transpose:
                        out[c, (o * kh + i) * kw + j] = W[o, c, i, j]
                    else:
                        out[o, (c * kh + i) * kw + j] = W[o, c, i, j]
    return out


@kernel
def forward(x, W, b, padding, dilation, y):
    r"""`conv2d_forward` at stride 1 without columns: for each sample, every output plane in
    wide rows is the weighted sum of shifted input blocks given in the module docstring,
    two output channels at a time (`weighted_sums`); `planes.from_columns` then drops the wide
    rows' extra values and adds the bias."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh = y.shape[2]
    hp, wp, _ = planes.geometry(oh, y.shape[3], kh, kw, (1, 1), dilation)
    pairs = (c_out + 1) // 2
    starts = tap_table(c_in, kh, kw, hp * wp, dilation[0] * wp, dilation[1], False)
    weights = tap_weights(W, 2 * pairs, False)
    padded = planes.allocate(1, c_in, hp, wp, kw, dilation, x)
    wide = np.empty((2 * pairs, oh * wp), dtype=y.dtype)
    for n in range(batch):
        planes.pad(x[n:n + 1], padding, hp, wp, padded)
        weighted_sums(wide, padded, starts, weights)
        planes.from_columns(wide, b, y[n:n + 1])


@kernel
def backward(dy, x, W, padding, dilation, dx, dW, db, input_grad):
    r"""`conv2d_backward` at stride 1 without columns. With the output gradients in wide
    rows $g_o$ (zero in the dropped columns),

    $$
    \frac{\partial L}{\partial W_{o,c,i,j}} = \sum_n \big\langle g_o,\;
    x^{pad}_{c}[\,i d_h W_p + j d_w :\,] \big\rangle, \qquad
    \frac{\partial L}{\partial x^{pad}_{c}}[\,t\,] = \sum_{o,i,j} W_{o,c,i,j}\;
    g_o[\,t - i d_h W_p - j d_w\,],
    $$

    the second a forward pass over the output gradients, each placed after
    $d_h (k_h - 1) W_p + d_w (k_w - 1)$ zeros so that every shift reads inside the buffer
    (`accumulate_taps` with the taps flipped, two input channels at a time)."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hp, wp, _ = planes.geometry(oh, ow, kh, kw, (1, 1), dilation)
    lead = dilation[0] * (kh - 1) * wp + dilation[1] * (kw - 1)
    span = lead + hp * wp  # one output gradient plane, zeros before and after
    out_pairs, in_pairs = (c_out + 1) // 2, (c_in + 1) // 2
    starts = tap_table(c_in, kh, kw, hp * wp, dilation[0] * wp, dilation[1], False)
    back_starts = tap_table(c_out, kh, kw, span, dilation[0] * wp, dilation[1], True)
    back_weights = tap_weights(W, 2 * in_pairs, True)
    padded = planes.allocate(1, c_in, hp, wp, kw, dilation, x)
    grads = np.zeros((2 * out_pairs, span), dtype=dy.dtype)
    grad_w = np.zeros((2 * out_pairs, starts.size), dtype=dW.dtype)
    grad_planes = np.empty((2 * in_pairs, hp * wp), dtype=dx.dtype)
    planes.channel_sums(dy, db)
    for n in range(batch):
        planes.pad(x[n:n + 1], padding, hp, wp, padded)
        for o in range(c_out):  # wide rows; the dropped columns stay zero
            for p in range(oh):
                planes.copy(dy[n, o, p], grads[o, lead + p * wp:lead + p * wp + ow])
        flat = grads.reshape(grads.size)
        correlate_rows(flat, lead, span, oh * wp, padded, starts, grad_w)
        if input_grad:
            weighted_sums(grad_planes, flat, back_starts, back_weights)
            planes.crop(grad_planes.reshape(grad_planes.size), padding, hp, wp, dx[n:n + 1])
    for o in range(c_out):
        planes.copy(grad_w[o, :c_in * kh * kw], dW[o].reshape(c_in * kh * kw))
