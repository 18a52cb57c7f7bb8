r"""2-D convolution and transposed convolution, NCHW: im2col + matrix products, or direct.

A convolution is a matrix product in disguise. `im2col` copies every receptive field of
the input into a column of a matrix ``cols`` of shape ``(C, kh, kw, N, OH, OW)``, seen as
$K \times M$ with $K = C\,k_h k_w$ and $M = N \cdot OH \cdot OW$; then

$$
Y_{(c_{out}),\,(n, o_h, o_w)} = \sum_{k} W_{c_{out},\,k}\; \text{cols}_{k,\,(n, o_h, o_w)} + b_{c_{out}}
$$

is one GEMM for the whole batch, run by BLAS. Convolution here is cross-correlation, as in
every framework:

$$
y_{n,o,p,q} = b_o + \sum_{c,i,j} W_{o,c,i,j}\; x_{n,\,c,\,p s_h + i d_h - p_h,\,q s_w + j d_w - p_w}
$$

with zeros read outside the input. The backward pass is two more products and the adjoint
of `im2col`, `col2im`, which adds every column back where it came from:

$$
\frac{\partial L}{\partial W} = \frac{\partial L}{\partial Y}\,\text{cols}^\top, \qquad
\frac{\partial L}{\partial x} = \text{col2im}\Big(W^\top \frac{\partial L}{\partial Y}\Big).
$$

A transposed convolution is the same pair run the other way round: its forward pass is a
convolution's input gradient, and its backward pass is a convolution.

**Padded planes and wide rows.** The kernels first copy the input into zero-padded planes
of $H_p \times W_p$ values, $H_p = (OH - 1) s_h + d_h (k_h - 1) + 1$ (and the same for
$W_p$), so that no loop tests bounds. With stride 1 the columns go further: each row of
outputs is computed over the whole padded width, $q < W_p$ instead of $q < OW$. Then the
column of tap $(i, j)$ for one sample and channel is *one contiguous block* of the padded
plane,

$$
\text{cols}_{c,i,j,n}[\,p W_p + q\,] = x^{pad}_{n,c}[\,(p + i d_h) W_p + q + j d_w\,],
\qquad 0 \le p W_p + q < OH\,W_p,
$$

copied at memory speed instead of in short rows of $OW$ values. The last
$d_w (k_w - 1)$ outputs of each row are wasted work and are dropped (their output
gradients are set to zero, so the weight gradient ignores them). At the 5x5 convolution
of 14x14 images this costs 29% more multiply-adds (rows of 18 instead of 14), and still
forward+backward went from 78 to 62 ms (and from 135 to 98 ms at the 3x3 convolution of
(32, 64, 32, 32)) against copying short rows; with stride > 1 the rows stay $OW$ wide.
The dropped outputs read real input values too, so an infinite input can turn their
$0 \cdot \infty$ into NaN in the weight gradient; such an input already makes the
layer's outputs infinite.

Geometry arguments are pairs of integers: ``stride = (s_h, s_w)``,
``padding = (p_top, p_left)``, ``dilation = (d_h, d_w)``. The padding at the bottom and
right follows from the shapes of ``cols`` and ``y``, so asymmetric ("same") padding needs
nothing more.

**Direct convolution.** When the matrix products would be thin (few output channels, or few
taps per output: LeNet-5's convolutions, a first layer on grayscale images), BLAS runs them
far below its speed while `_gather` still writes $k_h k_w$ copies of the input. At stride
1, `conv2d_forward` and `conv2d_backward` then skip the columns: an output plane in wide
rows is a weighted sum of shifted blocks of the padded planes, one block per tap,

$$
y^{wide}_{o}[\,t\,] = b_o + \sum_{c,i,j} W_{o,c,i,j}\; x^{pad}_{c}[\,t + i d_h W_p + j d_w\,],
$$

accumulated four taps and two output channels per pass (`_accumulate_taps`), so that each
value loaded feeds two multiply-adds. `_direct_wins` holds the rule and the measurements
behind it.
"""

import numpy as np

from atlas.kernels.jit import kernel


@kernel
def _geometry(out_h, out_w, kh, kw, stride, dilation):
    """``(H_p, W_p, row_width)``: the padded plane that ``out_h x out_w`` windows read, and
    the columns per row of outputs ($W_p$, wide rows, with stride 1; else ``out_w``)."""
    hp = (out_h - 1) * stride[0] + dilation[0] * (kh - 1) + 1
    wp = (out_w - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    row_width = wp if stride[0] == 1 and stride[1] == 1 else out_w
    return hp, wp, row_width


@kernel
def _planes(samples, channels, hp, wp, kw, dilation, like):
    """A flat buffer for ``samples x channels`` padded planes, plus the $d_w (k_w - 1)$
    values that the last wide row reads past its plane."""
    return np.empty(samples * channels * hp * wp + dilation[1] * (kw - 1), dtype=like.dtype)


@kernel
def _buffers(cols, batch, channels, kh, kw, rows, hp, wp, row_width, dilation, matrix_rows):
    """``(workspace, chunk, planes, matrix)`` for a convolution whose columns have ``rows``
    rows of ``row_width`` values per tap: ``cols`` (or a fresh array for one sample when it
    cannot hold one) and how many samples' columns it holds, padded planes for that many
    samples of ``channels`` channels, and a flat buffer for the ``matrix_rows``-row matrix
    on the other side of the product."""
    per_sample = channels * kh * kw * rows * row_width
    workspace, chunk = cols, min(batch, cols.size // per_sample)
    if chunk == 0:
        workspace, chunk = np.empty(per_sample, dtype=cols.dtype), 1
    planes = _planes(chunk, channels, hp, wp, kw, dilation, cols)
    matrix = np.empty(matrix_rows * chunk * rows * row_width, dtype=cols.dtype)
    return workspace, chunk, planes, matrix


@kernel
def _copy(src, dst):
    """``dst[k] = src[k]`` for 1-D arrays. A loop: Numba compiles it in a tenth of a second,
    where a slice assignment between arrays (``dst[:] = src``) took 2-3 s per call site, and
    compile time is the cold start-up of every model."""
    for k in range(dst.size):
        dst[k] = src[k]


@kernel
def _copy_interior(x, planes, padding, hp, wp, into_planes):
    """Copy ``x (N, C, H, W)`` into the interior of the flat padded ``planes`` (plane
    ``(n, c)`` starts at ``(n C + c) H_p W_p``, ``x[n, c]`` shifted by ``padding``), or back
    out when ``into_planes`` is false. Rows and columns of ``x`` past the padded plane (never
    read by a window) are left out."""
    batch, channels, height, width = x.shape
    rows = max(0, min(height, hp - padding[0]))
    cols = max(0, min(width, wp - padding[1]))
    for n in range(batch):
        for c in range(channels):
            start = (n * channels + c) * hp * wp + padding[0] * wp + padding[1]
            for r in range(rows):
                interior = planes[start + r * wp:start + r * wp + cols]
                if into_planes:
                    _copy(x[n, c, r, :cols], interior)
                else:
                    _copy(interior, x[n, c, r, :cols])


@kernel
def _pad(x, padding, hp, wp, planes):
    """Zero the flat buffer ``planes`` and copy ``x (N, C, H, W)`` into its interior."""
    planes[:] = 0.0
    _copy_interior(x, planes, padding, hp, wp, True)


@kernel
def _crop(planes, padding, hp, wp, x):
    """The adjoint of `_pad`: ``x`` is the interior of the padded planes (zero where it lies
    outside them)."""
    x[...] = 0.0
    _copy_interior(x, planes, padding, hp, wp, False)


@kernel
def _tap_start(n, c, i, j, channels, hp, wp, dilation):
    """Where tap ``(i, j)`` of the first window of plane ``(n, c)`` lies in the flat planes."""
    return (n * channels + c) * hp * wp + i * dilation[0] * wp + j * dilation[1]


@kernel
def _gather(planes, hp, wp, stride, dilation, cols):
    """``cols[c, i, j, n, p, q] = planes(n, c)[p s_h + i d_h, q s_w + j d_w]`` for
    ``cols (C, kh, kw, N, OH, row_width)``. When the rows of outputs are the padded width
    and the stride is 1, the column of a tap is one contiguous block of its plane."""
    channels, kh, kw, batch, oh, row_width = cols.shape
    rows = cols.reshape((channels, kh, kw, batch, oh * row_width))
    block = stride[0] == 1 and row_width == wp
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for n in range(batch):
                    start = _tap_start(n, c, i, j, channels, hp, wp, dilation)
                    out = rows[c, i, j, n]
                    if block:
                        _copy(planes[start:start + oh * wp], out)
                        continue
                    for p in range(oh):
                        src = planes[start + p * stride[0] * wp:]
                        dst = out[p * row_width:(p + 1) * row_width]
                        for q in range(row_width):
                            dst[q] = src[q * stride[1]]


@kernel
def _scatter_add(cols, hp, wp, stride, dilation, planes):
    """The adjoint of `_gather`: ``planes`` is zeroed, then every column is added where
    `_gather` read it from."""
    channels, kh, kw, batch, oh, row_width = cols.shape
    rows = cols.reshape((channels, kh, kw, batch, oh * row_width))
    block = stride[0] == 1 and row_width == wp
    planes[:] = 0.0
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for n in range(batch):
                    start = _tap_start(n, c, i, j, channels, hp, wp, dilation)
                    src = rows[c, i, j, n]
                    if block:
                        dst = planes[start:start + oh * wp]
                        for r in range(oh * wp):
                            dst[r] += src[r]
                        continue
                    for p in range(oh):
                        dst = planes[start + p * stride[0] * wp:]
                        row = src[p * row_width:(p + 1) * row_width]
                        for q in range(row_width):
                            dst[q * stride[1]] += row[q]


@kernel
def im2col(x, stride, padding, dilation, cols):
    """Copy the receptive fields of ``x (N, C, H, W)`` into ``cols (C, kh, kw, N, OH, OW)``:
    ``cols[c, i, j, n, p, q] = x[n, c, p*s_h + i*d_h - p_top, q*s_w + j*d_w - p_left]``,
    zero where that index falls in the padding."""
    channels, kh, kw, batch, oh, ow = cols.shape
    hp, wp, _ = _geometry(oh, ow, kh, kw, stride, dilation)
    planes = _planes(batch, channels, hp, wp, kw, dilation, x)
    _pad(x, padding, hp, wp, planes)
    _gather(planes, hp, wp, stride, dilation, cols)


@kernel
def col2im(cols, stride, padding, dilation, x):
    """The adjoint of `im2col`: every entry of ``cols`` is added to the input position it
    was copied from (positions in the padding are dropped); ``x`` is overwritten."""
    channels, kh, kw, batch, oh, ow = cols.shape
    hp, wp, _ = _geometry(oh, ow, kh, kw, stride, dilation)
    planes = _planes(batch, channels, hp, wp, kw, dilation, x)
    _scatter_add(cols, hp, wp, stride, dilation, planes)
    _crop(planes, padding, hp, wp, x)


@kernel
def _to_columns(x, out):
    """``out[c, (n H + r) R + s] = x[n, c, r, s]`` for ``x (N, C, H, W)`` and
    ``out (C, N H R)``, zero for ``W <= s < R``: channel-major, in rows of ``R`` values."""
    batch, channels, height, width = x.shape
    row_width = out.shape[1] // (batch * height)
    for c in range(channels):
        for n in range(batch):
            for r in range(height):
                start = (n * height + r) * row_width
                _copy(x[n, c, r], out[c, start:start + width])
                out[c, start + width:start + row_width] = 0.0


@kernel
def _from_columns(cm, bias, y):
    """``y[n, c, r, s] = cm[c, (n H + r) R + s] + bias[c]``: the inverse of `_to_columns`,
    dropping the values of each row past ``W``."""
    batch, channels, height, width = y.shape
    row_width = cm.shape[1] // (batch * height)
    for n in range(batch):
        for c in range(channels):
            b = bias[c]
            for r in range(height):
                src = cm[c, (n * height + r) * row_width:]
                dst = y[n, c, r]
                for s in range(width):
                    dst[s] = src[s] + b


@kernel
def _channel_sums(y, out):
    """``out[c] = sum of y[:, c]`` (the bias gradient)."""
    batch, channels = y.shape[0], y.shape[1]
    size = y.size // (batch * channels)
    y3 = y.reshape(batch, channels, size)
    for c in range(channels):
        total = 0.0
        for n in range(batch):
            for s in range(size):
                total += y3[n, c, s]
        out[c] = total


@kernel
def _add_channel_bias(y, bias):
    batch, channels = y.shape[0], y.shape[1]
    size = y.size // (batch * channels)
    y3 = y.reshape(batch, channels, size)
    for n in range(batch):
        for c in range(channels):
            y3[n, c] += bias[c]


@kernel
def _chunk_view(workspace, channels, kh, kw, samples, oh, row_width):
    """The first values of the 1-D ``workspace`` as columns
    ``(C, kh, kw, samples, OH, row_width)``."""
    return workspace[:channels * kh * kw * samples * oh * row_width].reshape(
        (channels, kh, kw, samples, oh, row_width))


@kernel
def _matrix(buffer, rows, cols):
    """The first ``rows * cols`` values of the 1-D ``buffer`` as a contiguous matrix."""
    return buffer[:rows * cols].reshape((rows, cols))


@kernel
def _im2col_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""`conv2d_forward` as im2col + GEMM.

    ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)``. ``cols`` is a 1-D workspace: the batch is processed in chunks
    of as many samples as its size holds (``C_in kh kw OH R`` values each, ``R`` the row
    width), so the columns stay in cache between `_gather` and the matrix product instead
    of going out to memory.
    """
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = y.shape[2], y.shape[3]
    hp, wp, row_width = _geometry(oh, ow, kh, kw, stride, dilation)
    k = c_in * kh * kw
    workspace, chunk, planes, buffer = _buffers(cols, batch, c_in, kh, kw, oh, hp, wp,
                                                row_width, dilation, c_out)
    weights = W.reshape(c_out, k)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * row_width
        columns = _chunk_view(workspace, c_in, kh, kw, stop - start, oh, row_width)
        _pad(x[start:stop], padding, hp, wp, planes)
        _gather(planes, hp, wp, stride, dilation, columns)
        out = _matrix(buffer, c_out, m)
        np.dot(weights, columns.reshape(k, m), out)
        _from_columns(out, b, y[start:stop])


@kernel
def _im2col_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    r"""`conv2d_backward` as im2col + GEMM:
    $dW = \sum_{\text{chunks}} dY\,\text{cols}^\top$, $db = \sum dY$, and, when
    ``input_grad`` is true, $dx = \text{col2im}(W^\top dY)$. The columns of each chunk are
    recomputed from ``x`` (cheaper than keeping them for the whole batch)."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hp, wp, row_width = _geometry(oh, ow, kh, kw, stride, dilation)
    k = c_in * kh * kw
    workspace, chunk, planes, buffer = _buffers(cols, batch, c_in, kh, kw, oh, hp, wp,
                                                row_width, dilation, c_out)
    weights = W.reshape(c_out, k)
    grad_w = dW.reshape(c_out, k)
    part = np.empty((c_out, k), dtype=dW.dtype)
    _channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * row_width
        columns = _chunk_view(workspace, c_in, kh, kw, stop - start, oh, row_width)
        _pad(x[start:stop], padding, hp, wp, planes)
        _gather(planes, hp, wp, stride, dilation, columns)
        grads = _matrix(buffer, c_out, m)
        _to_columns(dy[start:stop], grads)
        np.dot(grads, columns.reshape(k, m).T, part)
        grad_w += part
        if input_grad:
            np.dot(weights.T, grads, columns.reshape(k, m))
            _scatter_add(columns, hp, wp, stride, dilation, planes)
            _crop(planes, padding, hp, wp, dx[start:stop])


# Direct convolution: stride 1, thin matrix products -----------------------------------------
#: Below these sizes the direct path wins (`_direct_wins`): at most this many output channels
#: (the rows of im2col's matrix products)...
DIRECT_MAX_CHANNELS = 16
#: ... or fewer than this many taps per output (their inner dimension, ``C_in kh kw``).
DIRECT_TAPS_BELOW = 32


@kernel
def _direct_wins(c_out, taps, stride):
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
    thin = c_out <= DIRECT_MAX_CHANNELS or taps < DIRECT_TAPS_BELOW
    return stride[0] == 1 and stride[1] == 1 and thin


@kernel
def _accumulate_taps(acc0, acc1, src, starts, w0, w1):
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
def _correlate_taps(d0, d1, src, starts, g0, g1):
    r"""$g_0[k] \mathrel{+}= \langle d_0,\, src[s_k : s_k + n] \rangle$ and the same for
    ``g1`` with ``d1``: the adjoint of `_accumulate_taps` with respect to its weights, four
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
def _weighted_sums(acc, src, starts, weights):
    """``acc[r] = sum_k weights[r, k] src[starts[k]:][:n]`` for every row of ``acc (R, n)``
    (``R`` even): `_accumulate_taps` on each pair of rows, segment by segment, each segment
    zeroed just before (while it is in cache)."""
    rows, n = acc.shape
    for lo in range(0, n, SEGMENT):
        hi = min(lo + SEGMENT, n)
        acc[:, lo:hi] = 0.0
        for r in range(0, rows, 2):
            _accumulate_taps(acc[r, lo:hi], acc[r + 1, lo:hi], src[lo:], starts, weights[r],
                             weights[r + 1])


@kernel
def _correlate_rows(d, first, step, n, src, starts, grads):
    """`_correlate_taps` for every pair of rows of ``grads (R, taps)`` (``R`` even), row
    ``r`` against ``d[first + r step:][:n]`` (rows of the flat buffer ``d``), segment by
    segment."""
    for lo in range(0, n, SEGMENT):
        hi = min(lo + SEGMENT, n)
        for r in range(0, grads.shape[0], 2):
            d0 = d[first + r * step + lo:first + r * step + hi]
            d1 = d[first + (r + 1) * step + lo:first + (r + 1) * step + hi]
            _correlate_taps(d0, d1, src[lo:], starts, grads[r], grads[r + 1])


@kernel
def _tap_table(outer, kh, kw, outer_stride, row_step, col_step, flip):
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
def _tap_weights(W, rows, transpose):
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
def _direct_forward(x, W, b, padding, dilation, y):
    r"""`conv2d_forward` at stride 1 without columns: for each sample, every output plane in
    wide rows is the weighted sum of shifted input blocks given in the module docstring,
    two output channels at a time (`_weighted_sums`); `_from_columns` then drops the wide
    rows' extra values and adds the bias."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh = y.shape[2]
    hp, wp, _ = _geometry(oh, y.shape[3], kh, kw, (1, 1), dilation)
    pairs = (c_out + 1) // 2
    starts = _tap_table(c_in, kh, kw, hp * wp, dilation[0] * wp, dilation[1], False)
    weights = _tap_weights(W, 2 * pairs, False)
    planes = _planes(1, c_in, hp, wp, kw, dilation, x)
    wide = np.empty((2 * pairs, oh * wp), dtype=y.dtype)
    for n in range(batch):
        _pad(x[n:n + 1], padding, hp, wp, planes)
        _weighted_sums(wide, planes, starts, weights)
        _from_columns(wide, b, y[n:n + 1])


@kernel
def _direct_backward(dy, x, W, padding, dilation, dx, dW, db, input_grad):
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
    (`_accumulate_taps` with the taps flipped, two input channels at a time)."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hp, wp, _ = _geometry(oh, ow, kh, kw, (1, 1), dilation)
    lead = dilation[0] * (kh - 1) * wp + dilation[1] * (kw - 1)
    span = lead + hp * wp  # one output gradient plane, zeros before and after
    out_pairs, in_pairs = (c_out + 1) // 2, (c_in + 1) // 2
    starts = _tap_table(c_in, kh, kw, hp * wp, dilation[0] * wp, dilation[1], False)
    back_starts = _tap_table(c_out, kh, kw, span, dilation[0] * wp, dilation[1], True)
    back_weights = _tap_weights(W, 2 * in_pairs, True)
    planes = _planes(1, c_in, hp, wp, kw, dilation, x)
    grads = np.zeros((2 * out_pairs, span), dtype=dy.dtype)
    grad_w = np.zeros((2 * out_pairs, starts.size), dtype=dW.dtype)
    grad_planes = np.empty((2 * in_pairs, hp * wp), dtype=dx.dtype)
    _channel_sums(dy, db)
    for n in range(batch):
        _pad(x[n:n + 1], padding, hp, wp, planes)
        for o in range(c_out):  # wide rows; the dropped columns stay zero
            for p in range(oh):
                _copy(dy[n, o, p], grads[o, lead + p * wp:lead + p * wp + ow])
        flat = grads.reshape(grads.size)
        _correlate_rows(flat, lead, span, oh * wp, planes, starts, grad_w)
        if input_grad:
            _weighted_sums(grad_planes, flat, back_starts, back_weights)
            _crop(grad_planes.reshape(grad_planes.size), padding, hp, wp, dx[n:n + 1])
    for o in range(c_out):
        _copy(grad_w[o, :c_in * kh * kw], dW[o].reshape(c_in * kh * kw))


# The entry points ---------------------------------------------------------------------------
@kernel
def conv2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass $y = W \star x + b$.

    ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)``; ``cols`` is a 1-D workspace (scratch). Direct at stride 1 with
    thin matrix products (`_direct_wins`), else im2col + GEMM.
    """
    if _direct_wins(W.shape[0], W[0].size, stride):
        _direct_forward(x, W, b, padding, dilation, y)
    else:
        _im2col_forward(x, W, b, stride, padding, dilation, cols, y)


@kernel
def conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    r"""Gradients of `conv2d_forward` (overwritten, not accumulated): ``dW``, ``db`` and,
    when ``input_grad`` is true, ``dx``; by the same algorithm as the forward pass."""
    if _direct_wins(W.shape[0], W[0].size, stride):
        _direct_backward(dy, x, W, padding, dilation, dx, dW, db, input_grad)
    else:
        _im2col_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad)


@kernel
def conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass of the transposed convolution: the input gradient of a convolution,
    $y = \text{col2im}(W^\top x) + b$.

    ``x (N, C_in, H, W)``, ``W (C_in, C_out, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)`` with
    $OH = (H - 1) s_h - 2 p_h + d_h (k_h - 1) + \text{output\_padding} + 1$; ``cols`` is a
    1-D workspace, as in `conv2d_forward` (``C_out kh kw H R`` values per sample).
    """
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, row_width = _geometry(height, width, kh, kw, stride, dilation)
    k = c_out * kh * kw
    workspace, chunk, planes, buffer = _buffers(cols, batch, c_out, kh, kw, height, hp, wp,
                                                row_width, dilation, c_in)
    weights = W.reshape(c_in, k)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * row_width
        columns = _chunk_view(workspace, c_out, kh, kw, stop - start, height, row_width)
        x_cm = _matrix(buffer, c_in, m)
        _to_columns(x[start:stop], x_cm)
        np.dot(weights.T, x_cm, columns.reshape(k, m))
        _scatter_add(columns, hp, wp, stride, dilation, planes)
        _crop(planes, padding, hp, wp, y[start:stop])
    _add_channel_bias(y, b)


@kernel
def conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad):
    r"""Gradients of `conv_transpose2d_forward` (overwritten): with
    $\text{cols} = \text{im2col}(dY)$, $dW = x\,\text{cols}^\top$, $db = \sum dY$ and,
    when ``input_grad`` is true, $dx = W\,\text{cols}$, a plain convolution of $dY$."""
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, row_width = _geometry(height, width, kh, kw, stride, dilation)
    k = c_out * kh * kw
    workspace, chunk, planes, buffer = _buffers(cols, batch, c_out, kh, kw, height, hp, wp,
                                                row_width, dilation, c_in)
    weights = W.reshape(c_in, k)
    grad_w = dW.reshape(c_in, k)
    part = np.empty((c_in, k), dtype=dW.dtype)
    zero_bias = np.zeros(c_in, dtype=dx.dtype)
    _channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * row_width
        columns = _chunk_view(workspace, c_out, kh, kw, stop - start, height, row_width)
        _pad(dy[start:stop], padding, hp, wp, planes)
        _gather(planes, hp, wp, stride, dilation, columns)
        x_cm = _matrix(buffer, c_in, m)
        _to_columns(x[start:stop], x_cm)
        np.dot(x_cm, columns.reshape(k, m).T, part)
        grad_w += part
        if input_grad:
            np.dot(weights, columns.reshape(k, m), x_cm)
            _from_columns(x_cm, zero_bias, dx[start:stop])
