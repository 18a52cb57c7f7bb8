r"""CUDA twins of `conv`: the same algorithm, im2col + matrix products.

`im2col` and `col2im` run one thread per output element (``col2im`` gathers the columns
that came from its input position instead of scattering with atomics, so it is
deterministic); the matrix products go through the shared-memory tiled kernel of `dense`.
The batch goes through in chunks of as many samples as the workspace holds, as on the
CPU (a GPU layer gives a workspace for the whole batch: one chunk); the CPU's wide rows
are not needed here, where every thread computes its own index. The layout changes between
``(N, C, S)`` and ``(C, N*S)`` (`_to_columns`, `_from_columns`, as the CPU's
`planes.to_columns` and `planes.from_columns` without the wide rows) and the bias are
small element-wise kernels. Each call allocates its buffers once, before the loop over
chunks.
"""

from numba import cuda

from atlas.kernels.cuda.dense import matmul
from atlas.kernels.cuda.launch import (
    REDUCE_THREADS,
    THREADS,
    accumulate,
    block_sum,
    blocks,
    fill,
    scratch,
)
from atlas.kernels.cuda.launcher import kernel


@kernel
def _im2col(x, stride, padding, dilation, cols):
    t = cuda.grid(1)
    if t >= cols.size:
        return
    channels, kh, kw, batch, oh, ow = cols.shape
    q = t % ow
    r = t // ow
    p = r % oh
    r //= oh
    n = r % batch
    r //= batch
    j = r % kw
    r //= kw
    i = r % kh
    c = r // kh
    h = p * stride[0] + i * dilation[0] - padding[0]
    w = q * stride[1] + j * dilation[1] - padding[1]
    value = 0.0
    if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
        value = x[n, c, h, w]
    cols[c, i, j, n, p, q] = value


@kernel
def _col2im(cols, stride, padding, dilation, x):
    t = cuda.grid(1)
    if t >= x.size:
        return
    batch, channels, height, width = x.shape
    _, kh, kw, _, oh, ow = cols.shape
    w = t % width
    h = (t // width) % height
    c = (t // (width * height)) % channels
    n = t // (width * height * channels)
    total = 0.0
    for i in range(kh):
        hh = h + padding[0] - i * dilation[0]
        if hh < 0 or hh % stride[0] != 0 or hh // stride[0] >= oh:
            continue
        for j in range(kw):
            ww = w + padding[1] - j * dilation[1]
            if ww < 0 or ww % stride[1] != 0 or ww // stride[1] >= ow:
                continue
            total += cols[c, i, j, n, hh // stride[0], ww // stride[1]]
    x[n, c, h, w] = total


@kernel
def _to_columns(x, out):
    t = cuda.grid(1)
    if t < x.size:
        batch, channels, height, width = x.shape
        size = height * width
        s = t % size
        c = (t // size) % channels
        n = t // (size * channels)
        out[c, n * size + s] = x[n, c, s // width, s % width]


@kernel
def _from_columns(cm, bias, y):
    t = cuda.grid(1)
    if t < y.size:
        batch, channels, height, width = y.shape
        size = height * width
        s = t % size
        c = (t // size) % channels
        n = t // (size * channels)
        y[n, c, s // width, s % width] = cm[c, n * size + s] + bias[c]


@kernel
def _channel_sums(y, out):
    c = cuda.blockIdx.x
    batch, channels, height, width = y.shape
    size = height * width
    shared = cuda.shared.array(REDUCE_THREADS, dtype="float64")
    part = 0.0
    for t in range(cuda.threadIdx.x, batch * size, cuda.blockDim.x):
        s = t % size
        part += y[t // size, c, s // width, s % width]
    total = block_sum(shared, part)
    if cuda.threadIdx.x == 0:
        out[c] = total


@kernel
def _add_channel_bias(y, bias):
    t = cuda.grid(1)
    if t < y.size:
        batch, channels, height, width = y.shape
        size = height * width
        s = t % size
        c = (t // size) % channels
        y[t // (size * channels), c, s // width, s % width] += bias[c]


def im2col(x, stride, padding, dilation, cols):
    _im2col[blocks(cols.size), THREADS](x, stride, padding, dilation, cols)


def col2im(cols, stride, padding, dilation, x):
    _col2im[blocks(x.size), THREADS](cols, stride, padding, dilation, x)


def conv_workspace_size(batch, per_sample):
    """Values of the ``cols`` workspace a layer keeps: on a GPU the columns of the whole
    batch, for one large matrix product per call."""
    return batch * per_sample


def _matrix(buffer, rows, cols):
    """The first ``rows * cols`` values of the 1-D device ``buffer`` as a matrix (the CPU's
    `planes.matrix`)."""
    return buffer[:rows * cols].reshape((rows, cols))


def _chunks(workspace, channels, kh, kw, batch, oh, ow):
    """``(samples per chunk, [(start, stop, columns), ...])`` for the chunks of samples whose
    columns fit in the 1-D ``workspace``, or one sample at a time in a fresh array when it
    holds none (the CPU kernels' rule; a GPU layer passes one chunk for the batch)."""
    per_sample = channels * kh * kw * oh * ow
    if workspace.size < per_sample:
        workspace = scratch(per_sample, workspace.dtype)
    chunk = min(batch, workspace.size // per_sample)
    views = []
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        view = workspace[:(stop - start) * per_sample]
        views.append((start, stop, view.reshape((channels, kh, kw, stop - start, oh, ow))))
    return chunk, views


def _to_columns_of(x, buffer):
    """``x (N, C, H, W)`` as a ``(C, N H W)`` view of the 1-D device ``buffer``."""
    out = _matrix(buffer, x.shape[1], x.size // x.shape[1])
    _to_columns[blocks(x.size), THREADS](x, out)
    return out


def conv2d_forward(x, W, b, stride, padding, dilation, cols, y):
    c_out, c_in, kh, kw = W.shape
    k = c_in * kh * kw
    oh, ow = y.shape[2], y.shape[3]
    chunk, views = _chunks(cols, c_in, kh, kw, x.shape[0], oh, ow)
    buffer = scratch(c_out * chunk * oh * ow, y.dtype)
    for start, stop, columns in views:
        im2col(x[start:stop], stride, padding, dilation, columns)
        out = _matrix(buffer, c_out, columns.size // k)
        matmul(W.reshape(c_out, k), columns.reshape(k, columns.size // k), out)
        chunk_y = y[start:stop]
        _from_columns[blocks(chunk_y.size), THREADS](out, b, chunk_y)


def conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    c_out, c_in, kh, kw = W.shape
    k = c_in * kh * kw
    oh, ow = dy.shape[2], dy.shape[3]
    _channel_sums[c_out, REDUCE_THREADS](dy, db)
    part = scratch((c_out, k), dW.dtype)
    grad_w = dW.reshape(c_out, k)
    fill[blocks(dW.size), THREADS](dW.reshape(dW.size), 0.0)
    chunk, views = _chunks(cols, c_in, kh, kw, x.shape[0], oh, ow)
    buffer = scratch(c_out * chunk * oh * ow, dy.dtype)
    for start, stop, columns in views:
        im2col(x[start:stop], stride, padding, dilation, columns)
        matrix = columns.reshape(k, columns.size // k)
        dy_cm = _to_columns_of(dy[start:stop], buffer)
        matmul(dy_cm, matrix, part, trans_b=True)
        accumulate[blocks(part.size), THREADS](grad_w, part)
        if input_grad:
            matmul(W.reshape(c_out, k), dy_cm, matrix, trans_a=True)
            col2im(columns, stride, padding, dilation, dx[start:stop])


def conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, y):
    c_in, c_out, kh, kw = W.shape
    k = c_out * kh * kw
    height, width = x.shape[2], x.shape[3]
    chunk, views = _chunks(cols, c_out, kh, kw, x.shape[0], height, width)
    buffer = scratch(c_in * chunk * height * width, x.dtype)
    for start, stop, columns in views:
        matmul(W.reshape(c_in, k), _to_columns_of(x[start:stop], buffer),
               columns.reshape(k, columns.size // k), trans_a=True)
        col2im(columns, stride, padding, dilation, y[start:stop])
    _add_channel_bias[blocks(y.size), THREADS](y, b)


def conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad):
    c_in, c_out, kh, kw = W.shape
    k = c_out * kh * kw
    height, width = x.shape[2], x.shape[3]
    _channel_sums[c_out, REDUCE_THREADS](dy, db)
    part = scratch((c_in, k), dW.dtype)
    grad_w = dW.reshape(c_in, k)
    fill[blocks(dW.size), THREADS](dW.reshape(dW.size), 0.0)
    zero_bias = scratch(c_in, dx.dtype)
    fill[blocks(c_in), THREADS](zero_bias, 0.0)
    chunk, views = _chunks(cols, c_out, kh, kw, x.shape[0], height, width)
    buffer = scratch(c_in * chunk * height * width, x.dtype)
    for start, stop, columns in views:
        im2col(dy[start:stop], stride, padding, dilation, columns)
        matrix = columns.reshape(k, columns.size // k)
        x_cm = _to_columns_of(x[start:stop], buffer)
        matmul(x_cm, matrix, part, trans_b=True)
        accumulate[blocks(part.size), THREADS](grad_w, part)
        if input_grad:
            matmul(W.reshape(c_in, k), matrix, x_cm)
            chunk_dx = dx[start:stop]
            _from_columns[blocks(chunk_dx.size), THREADS](x_cm, zero_bias, chunk_dx)
