r"""2-D convolution and transposed convolution, NCHW, as im2col + one matrix product.

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

Geometry arguments are pairs of integers: ``stride = (s_h, s_w)``,
``padding = (p_top, p_left)``, ``dilation = (d_h, d_w)``. The padding at the bottom and
right follows from the shapes of ``cols`` and ``y``, so asymmetric ("same") padding needs
nothing more. Measured against direct loops on the reference machine, im2col + GEMM was the
faster algorithm at every shape of the benchmark (see ``benchmarks/bench_conv.py``).
"""

import numpy as np

from atlas.kernels.jit import kernel
from atlas.kernels.scalar import window_range


@kernel
def im2col(x, stride, padding, dilation, cols):
    """Copy the receptive fields of ``x (N, C, H, W)`` into ``cols (C, kh, kw, N, OH, OW)``:
    ``cols[c, i, j, n, p, q] = x[n, c, p*s_h + i*d_h - p_top, q*s_w + j*d_w - p_left]``,
    zero where that index falls in the padding."""
    height, width = x.shape[2], x.shape[3]
    channels, kh, kw, batch, oh, ow = cols.shape
    for c in range(channels):
        for i in range(kh):
            row_offset = i * dilation[0] - padding[0]
            row_lo, row_hi = window_range(oh, height, stride[0], row_offset)
            for j in range(kw):
                col_offset = j * dilation[1] - padding[1]
                lo, hi = window_range(ow, width, stride[1], col_offset)
                for n in range(batch):
                    for p in range(oh):
                        out = cols[c, i, j, n, p]
                        if p < row_lo or p >= row_hi:
                            out[:] = 0.0
                            continue
                        src = x[n, c, p * stride[0] + row_offset]
                        out[:lo] = 0.0
                        for q in range(lo, hi):
                            out[q] = src[q * stride[1] + col_offset]
                        out[hi:] = 0.0


@kernel
def col2im(cols, stride, padding, dilation, x):
    """The adjoint of `im2col`: ``x`` is zeroed, then every entry of ``cols`` is added to the
    input position it was copied from (positions in the padding are dropped)."""
    height, width = x.shape[2], x.shape[3]
    channels, kh, kw, batch, oh, ow = cols.shape
    x[...] = 0.0
    for c in range(channels):
        for i in range(kh):
            row_offset = i * dilation[0] - padding[0]
            row_lo, row_hi = window_range(oh, height, stride[0], row_offset)
            for j in range(kw):
                col_offset = j * dilation[1] - padding[1]
                lo, hi = window_range(ow, width, stride[1], col_offset)
                for n in range(batch):
                    for p in range(row_lo, row_hi):
                        dst = x[n, c, p * stride[0] + row_offset]
                        src = cols[c, i, j, n, p]
                        for q in range(lo, hi):
                            dst[q * stride[1] + col_offset] += src[q]


@kernel
def _to_channel_major(x, out):
    """``out[c, n*S + s] = x[n, c, s]`` for ``x`` viewed as ``(N, C, S)``."""
    batch, channels = x.shape[0], x.shape[1]
    size = x.size // (batch * channels)
    x3 = x.reshape(batch, channels, size)
    for n in range(batch):
        for c in range(channels):
            out[c, n * size:(n + 1) * size] = x3[n, c]


@kernel
def _from_channel_major(cm, bias, y):
    """``y[n, c, s] = cm[c, n*S + s] + bias[c]``: the inverse of `_to_channel_major`."""
    batch, channels = y.shape[0], y.shape[1]
    size = y.size // (batch * channels)
    y3 = y.reshape(batch, channels, size)
    for n in range(batch):
        for c in range(channels):
            src = cm[c, n * size:(n + 1) * size]
            b = bias[c]
            dst = y3[n, c]
            for s in range(size):
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
def _chunk_view(workspace, channels, kh, kw, samples, oh, ow):
    """The first values of the 1-D ``workspace`` as columns ``(C, kh, kw, n, OH, OW)``."""
    return workspace[:channels * kh * kw * samples * oh * ow].reshape(
        (channels, kh, kw, samples, oh, ow))


@kernel
def _matrix(buffer, rows, cols):
    """The first ``rows * cols`` values of the 1-D ``buffer`` as a contiguous matrix."""
    return buffer[:rows * cols].reshape((rows, cols))


@kernel
def _chunk_samples(workspace, channels, kh, kw, oh, ow):
    """How many samples' columns fit in ``workspace`` (at least one)."""
    return max(1, workspace.size // (channels * kh * kw * oh * ow))


@kernel
def conv2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass $y = W \star x + b$.

    ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)``. ``cols`` is a 1-D workspace: the batch is processed in chunks
    of as many samples as its size holds (``C_in kh kw OH OW`` values each), so the columns
    stay in cache between `im2col` and the matrix product instead of going out to memory.
    """
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = y.shape[2], y.shape[3]
    chunk = min(batch, _chunk_samples(cols, c_in, kh, kw, oh, ow))
    k = c_in * kh * kw
    weights = W.reshape(c_out, k)
    buffer = np.empty(c_out * chunk * oh * ow, dtype=y.dtype)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * ow
        columns = _chunk_view(cols, c_in, kh, kw, stop - start, oh, ow)
        im2col(x[start:stop], stride, padding, dilation, columns)
        out = _matrix(buffer, c_out, m)
        np.dot(weights, columns.reshape(k, m), out)
        _from_channel_major(out, b, y[start:stop])


@kernel
def conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    r"""Gradients of `conv2d_forward` (overwritten, not accumulated):
    $dW = \sum_{\text{chunks}} dY\,\text{cols}^\top$, $db = \sum dY$, and, when
    ``input_grad`` is true, $dx = \text{col2im}(W^\top dY)$. The columns of each chunk are
    recomputed from ``x`` (cheaper than keeping them for the whole batch)."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    chunk = min(batch, _chunk_samples(cols, c_in, kh, kw, oh, ow))
    k = c_in * kh * kw
    weights = W.reshape(c_out, k)
    grad_w = dW.reshape(c_out, k)
    part = np.empty((c_out, k), dtype=dW.dtype)
    buffer = np.empty(c_out * chunk * oh * ow, dtype=dy.dtype)
    _channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * ow
        columns = _chunk_view(cols, c_in, kh, kw, stop - start, oh, ow)
        im2col(x[start:stop], stride, padding, dilation, columns)
        grads = _matrix(buffer, c_out, m)
        _to_channel_major(dy[start:stop], grads)
        np.dot(grads, columns.reshape(k, m).T, part)
        grad_w += part
        if input_grad:
            np.dot(weights.T, grads, columns.reshape(k, m))
            col2im(columns, stride, padding, dilation, dx[start:stop])


@kernel
def conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass of the transposed convolution: the input gradient of a convolution,
    $y = \text{col2im}(W^\top x) + b$.

    ``x (N, C_in, H, W)``, ``W (C_in, C_out, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)`` with
    $OH = (H - 1) s_h - 2 p_h + d_h (k_h - 1) + \text{output\_padding} + 1$; ``cols`` is a
    1-D workspace, as in `conv2d_forward` (``C_out kh kw H W`` values per sample).
    """
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    chunk = min(batch, _chunk_samples(cols, c_out, kh, kw, height, width))
    k = c_out * kh * kw
    weights = W.reshape(c_in, k)
    buffer = np.empty(c_in * chunk * height * width, dtype=x.dtype)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * width
        columns = _chunk_view(cols, c_out, kh, kw, stop - start, height, width)
        x_cm = _matrix(buffer, c_in, m)
        _to_channel_major(x[start:stop], x_cm)
        np.dot(weights.T, x_cm, columns.reshape(k, m))
        col2im(columns, stride, padding, dilation, y[start:stop])
    _add_channel_bias(y, b)


@kernel
def conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad):
    r"""Gradients of `conv_transpose2d_forward` (overwritten): with
    $\text{cols} = \text{im2col}(dY)$, $dW = x\,\text{cols}^\top$, $db = \sum dY$ and,
    when ``input_grad`` is true, $dx = W\,\text{cols}$, a plain convolution of $dY$."""
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    chunk = min(batch, _chunk_samples(cols, c_out, kh, kw, height, width))
    k = c_out * kh * kw
    weights = W.reshape(c_in, k)
    grad_w = dW.reshape(c_in, k)
    part = np.empty((c_in, k), dtype=dW.dtype)
    buffer = np.empty(c_in * chunk * height * width, dtype=x.dtype)
    zero_bias = np.zeros(c_in, dtype=dx.dtype)
    _channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * width
        columns = _chunk_view(cols, c_out, kh, kw, stop - start, height, width)
        im2col(dy[start:stop], stride, padding, dilation, columns)
        x_cm = _matrix(buffer, c_in, m)
        _to_channel_major(x[start:stop], x_cm)
        np.dot(x_cm, columns.reshape(k, m).T, part)
        grad_w += part
        if input_grad:
            np.dot(weights, columns.reshape(k, m), x_cm)
            _from_channel_major(x_cm, zero_bias, dx[start:stop])
