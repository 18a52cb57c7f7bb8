r"""The im2col path of `atlas.kernels.cpu.conv`: receptive fields copied into columns, then
matrix products run by BLAS.

`gather` (in `planes`) copies every receptive field of the input into a column of a
matrix ``cols`` of shape ``(C, kh, kw, N, OH, R)``, seen as $K \times M$ with
$K = C\,k_h k_w$ and $M = N \cdot OH \cdot R$ ($R$ the row width); then

$$
Y_{(o),\,(n, p, q)} = \sum_{k} W_{o,\,k}\; \text{cols}_{k,\,(n, p, q)} + b_{o}
$$

is one matrix product per chunk of the batch. The backward pass is two more products and
the adjoint of `gather`, `scatter_add`, which adds every column back where it came from:

$$
\frac{\partial L}{\partial W} = \frac{\partial L}{\partial Y}\,\text{cols}^\top, \qquad
\frac{\partial L}{\partial x} = \text{scatter\_add}\Big(W^\top \frac{\partial L}{\partial Y}\Big).
$$

A transposed convolution is the same pair run the other way round.
"""

import numpy as np

from atlas.kernels.cpu._conv import planes
from atlas.kernels.jit import kernel


@kernel
def forward(x, W, b, stride, padding, dilation, cols, y):
    r"""`conv2d_forward` as im2col + GEMM.

    ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)``. ``cols`` is a 1-D workspace: the batch is processed in chunks
    of as many samples as its size holds (``C_in kh kw OH R`` values each, ``R`` the row
    width), or a sample too large for it in bands of output rows (`planes.buffers`), so the
    columns stay in cache between `planes.gather` and the matrix product instead of going
    out to memory.
    """
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = y.shape[2], y.shape[3]
    hp, wp, row_width = planes.geometry(oh, ow, kh, kw, stride, dilation)
    k = c_in * kh * kw
    workspace, chunk, band, padded, buffer = planes.buffers(cols, batch, c_in, kh, kw, oh, hp,
                                                            wp, row_width, dilation, c_out)
    weights = W.reshape(c_out, k)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        planes.pad(x[start:stop], padding, hp, wp, padded)
        for top in range(0, oh, band):
            rows = min(band, oh - top)
            m = (stop - start) * rows * row_width
            columns = planes.chunk_view(workspace, c_in, kh, kw, stop - start, rows, row_width)
            planes.gather(planes.band_of(padded, top, stride, wp), hp, wp, stride, dilation,
                          columns)
            out = planes.matrix(buffer, c_out, m)
            np.dot(weights, columns.reshape(k, m), out)
            planes.from_columns(out, b, y[start:stop, :, top:top + rows])


@kernel
def backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    r"""`conv2d_backward` as im2col + GEMM:
    $dW = \sum_{\text{chunks}} dY\,\text{cols}^\top$, $db = \sum dY$, and, when
    ``input_grad`` is true, $dx = \text{col2im}(W^\top dY)$. The columns of each chunk are
    recomputed from ``x`` (cheaper than keeping them for the whole batch). The input's
    gradient has padded planes of its own, which every band of a sample adds to (their
    windows overlap), while all of them read the input's."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hp, wp, row_width = planes.geometry(oh, ow, kh, kw, stride, dilation)
    k = c_in * kh * kw
    workspace, chunk, band, padded, buffer = planes.buffers(cols, batch, c_in, kh, kw, oh, hp,
                                                            wp, row_width, dilation, c_out)
    # The input's gradient, which every band adds to (none without input_grad).
    grad_planes = np.empty(padded.size if input_grad else 0, dtype=padded.dtype)
    weights = W.reshape(c_out, k)
    grad_w = dW.reshape(c_out, k)
    part = np.empty((c_out, k), dtype=dW.dtype)
    planes.channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        planes.pad(x[start:stop], padding, hp, wp, padded)
        if input_grad:
            grad_planes[:] = 0.0
        for top in range(0, oh, band):
            rows = min(band, oh - top)
            m = (stop - start) * rows * row_width
            columns = planes.chunk_view(workspace, c_in, kh, kw, stop - start, rows, row_width)
            planes.gather(planes.band_of(padded, top, stride, wp), hp, wp, stride, dilation,
                          columns)
            grads = planes.matrix(buffer, c_out, m)
            planes.to_columns(dy[start:stop, :, top:top + rows], grads)
            np.dot(grads, columns.reshape(k, m).T, part)
            grad_w += part
            if input_grad:
                np.dot(weights.T, grads, columns.reshape(k, m))
                planes.scatter_add(columns, hp, wp, stride, dilation,
                                   planes.band_of(grad_planes, top, stride, wp))
        if input_grad:
            planes.crop(grad_planes, padding, hp, wp, dx[start:stop])


@kernel
def transpose_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass of the transposed convolution: the input gradient of a convolution,
    $y = \text{col2im}(W^\top x) + b$.

    ``x (N, C_in, H, W)``, ``W (C_in, C_out, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)`` with
    $OH = (H - 1) s_h - 2 p_h + d_h (k_h - 1) + \text{output\_padding} + 1$; ``cols`` is a
    1-D workspace, as in `conv2d_forward` (``C_out kh kw H R`` values per sample; a sample
    too large for it in bands of input rows, each adding its columns to the output's planes).
    """
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, row_width = planes.geometry(height, width, kh, kw, stride, dilation)
    k = c_out * kh * kw
    workspace, chunk, band, padded, buffer = planes.buffers(cols, batch, c_out, kh, kw, height,
                                                            hp, wp, row_width, dilation, c_in)
    weights = W.reshape(c_in, k)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        padded[:] = 0.0
        for top in range(0, height, band):
            rows = min(band, height - top)
            m = (stop - start) * rows * row_width
            columns = planes.chunk_view(workspace, c_out, kh, kw, stop - start, rows, row_width)
            x_cm = planes.matrix(buffer, c_in, m)
            planes.to_columns(x[start:stop, :, top:top + rows], x_cm)
            np.dot(weights.T, x_cm, columns.reshape(k, m))
            planes.scatter_add(columns, hp, wp, stride, dilation,
                               planes.band_of(padded, top, stride, wp))
        planes.crop(padded, padding, hp, wp, y[start:stop])
    planes.add_channel_bias(y, b)


@kernel
def transpose_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    r"""Gradients of `conv_transpose2d_forward` (overwritten): with
    $\text{cols} = \text{im2col}(dY)$, $dW = x\,\text{cols}^\top$, $db = \sum dY$ and,
    when ``input_grad`` is true, $dx = W\,\text{cols}$, a plain convolution of $dY$."""
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, row_width = planes.geometry(height, width, kh, kw, stride, dilation)
    k = c_out * kh * kw
    workspace, chunk, band, padded, buffer = planes.buffers(cols, batch, c_out, kh, kw, height,
                                                            hp, wp, row_width, dilation, c_in)
    weights = W.reshape(c_in, k)
    grad_w = dW.reshape(c_in, k)
    part = np.empty((c_in, k), dtype=dW.dtype)
    zero_bias = np.zeros(c_in, dtype=dx.dtype)
    planes.channel_sums(dy, db)
    grad_w[...] = 0.0
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        planes.pad(dy[start:stop], padding, hp, wp, padded)
        for top in range(0, height, band):
            rows = min(band, height - top)
            m = (stop - start) * rows * row_width
            columns = planes.chunk_view(workspace, c_out, kh, kw, stop - start, rows, row_width)
            planes.gather(planes.band_of(padded, top, stride, wp), hp, wp, stride, dilation,
                          columns)
            x_cm = planes.matrix(buffer, c_in, m)
            planes.to_columns(x[start:stop, :, top:top + rows], x_cm)
            np.dot(x_cm, columns.reshape(k, m).T, part)
            grad_w += part
            if input_grad:
                np.dot(weights, columns.reshape(k, m), x_cm)
                planes.from_columns(x_cm, zero_bias, dx[start:stop, :, top:top + rows])

