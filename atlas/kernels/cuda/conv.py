r"""CUDA twins of `conv`: each pass is one implicit-GEMM product of `gemm`.

The CPU copies receptive fields into columns (im2col), multiplies, and copies the result
back into planes; here the products read the layer's arrays in place. A thread that
stages a value of the column matrix computes where in ``x`` it comes from (`gemm.PATCHES`),
and the epilogue writes each output value straight into its ``(N, C, H, W)`` plane, with
the bias (and its activation into a second array when an activation layer follows,
`conv2d_forward_activated`). Forward is then one launch for the whole batch, and backward
two: the weight and bias gradients (`gemm.CONV_GRADIENTS`: the output gradient's channels
against the transposed columns and a column of ones) and the input gradient
(`gemm.CONV_INPUT`: the weights, transposed, against the output gradient *spread* back
over the input plane, col2im as a gather; times the derivative of an activation before
the layer, `conv2d_backward_chained`). A transposed convolution runs the same
products with the roles of ``x`` and ``y`` exchanged; its bias is per channel of ``y``,
not of the weight gradient's rows, so its bias gradient is a sum per channel
(`reduce.channel_sums`). No workspace is needed (`conv_workspace_size` is 0); `im2col`
and `col2im` stay as the twins of the CPU's.
"""

from numba import cuda

from atlas.kernels.cuda.gemm import CONV, CONV_GRADIENTS, CONV_INPUT, CONV_WEIGHTS
from atlas.kernels.cuda.launch import THREADS, blocks
from atlas.kernels.cuda.launcher import kernel
from atlas.kernels.cuda.reduce import channel_sums
from atlas.kernels.scalar import chain_saved
from atlas.views import channel_view


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


def im2col(x, stride, padding, dilation, cols):
    _im2col[blocks(cols.size), THREADS](x, stride, padding, dilation, cols)


def col2im(cols, stride, padding, dilation, x):
    _col2im[blocks(x.size), THREADS](cols, stride, padding, dilation, x)


def conv_workspace_size(batch, per_sample):
    """Values of the ``cols`` workspace a layer keeps: none on a GPU, where the products
    read the receptive fields in place."""
    return 0


def _geometry(W, stride, padding, dilation, plane):
    """What `gemm`'s convolution operands take: kernel size, stride, padding, dilation
    and the plane ``(h, w)`` that the columns ``(n, p, q)`` of the patches run over."""
    return (W.shape[2], W.shape[3], stride[0], stride[1], padding[0], padding[1],
            dilation[0], dilation[1], plane[0], plane[1])


def conv2d_forward(x, W, b, stride, padding, dilation, cols, y):
    _convolve(x, W, b, stride, padding, dilation, y, None)


def conv2d_forward_activated(x, W, b, stride, padding, dilation, cols, kind, alpha, z, y):
    _convolve(x, W, b, stride, padding, dilation, z, (kind, alpha, y))


def _convolve(x, W, b, stride, padding, dilation, y, activation):
    c_out, c_in, kh, kw = W.shape
    batch, _, oh, ow = y.shape
    CONV(W, x, y, c_out, batch * oh * ow, c_in * kh * kw, bias=b, activation=activation,
         geometry=_geometry(W, stride, padding, dilation, (oh, ow)))


def conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    _convolution_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad, None)


def conv2d_backward_chained(dy, x, W, stride, padding, dilation, cols, kind, alpha, z, dx,
                            dW, db, input_grad):
    _convolution_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad,
                           (kind, alpha, chain_saved(kind, z, x)))


def _convolution_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad,
                           chain):
    c_out, c_in, kh, kw = W.shape
    batch, _, oh, ow = dy.shape
    CONV_GRADIENTS(dy, x, dW, c_out, c_in * kh * kw + 1, batch * oh * ow, bias=db,
                   geometry=_geometry(W, stride, padding, dilation, (oh, ow)))
    if input_grad:
        height, width = x.shape[2], x.shape[3]
        CONV_INPUT(W, dy, dx, c_in, batch * height * width, c_out * kh * kw, chain=chain,
                   geometry=_geometry(W, stride, padding, dilation, (height, width)))


def conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, y):
    _convolve_transposed(x, W, b, stride, padding, dilation, y, None)


def conv_transpose2d_forward_activated(x, W, b, stride, padding, dilation, cols, kind, alpha,
                                       z, y):
    _convolve_transposed(x, W, b, stride, padding, dilation, z, (kind, alpha, y))


def _convolve_transposed(x, W, b, stride, padding, dilation, y, activation):
    c_in, c_out, kh, kw = W.shape
    batch, _, out_h, out_w = y.shape
    CONV_INPUT(W, x, y, c_out, batch * out_h * out_w, c_in * kh * kw, bias=b,
               activation=activation,
               geometry=_geometry(W, stride, padding, dilation, (out_h, out_w)))


def conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad):
    _transposed_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad, None)


def conv_transpose2d_backward_chained(dy, x, W, stride, padding, dilation, cols, kind, alpha,
                                      z, dx, dW, db, input_grad):
    _transposed_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad,
                          (kind, alpha, chain_saved(kind, z, x)))


def _transposed_gradients(dy, x, W, stride, padding, dilation, dx, dW, db, input_grad, chain):
    c_in, c_out, kh, kw = W.shape
    batch, _, height, width = x.shape
    geometry = _geometry(W, stride, padding, dilation, (height, width))
    channel_sums(channel_view(dy), db)
    CONV_WEIGHTS(x, dy, dW, c_in, c_out * kh * kw, batch * height * width, geometry=geometry)
    if input_grad:
        CONV(W, dy, dx, c_in, batch * height * width, c_out * kh * kw, chain=chain,
             geometry=geometry)
