r"""2-D convolution and transposed convolution, NCHW.

Convolution here is cross-correlation, as in every framework. With outputs indexed
$(n, o, p, q)$ (sample, output channel, row, column), taps $(c, i, j)$ (input channel,
kernel row, kernel column), stride $(s_h, s_w)$, padding $(p_h, p_w)$ before the first
row and column, and dilation $(d_h, d_w)$:

$$
y_{n,o,p,q} = b_o + \sum_{c,i,j} W_{o,c,i,j}\; x_{n,\,c,\,p s_h + i d_h - p_h,\,q s_w + j d_w - p_w},
$$

with zeros read outside the input. Its gradients, for an upstream gradient $g = \partial L /
\partial y$:

$$
\frac{\partial L}{\partial W_{o,c,i,j}} = \sum_{n,p,q} g_{n,o,p,q}\, x_{n,c,p s_h + i d_h - p_h,\,q s_w + j d_w - p_w},
\qquad
\frac{\partial L}{\partial b_o} = \sum_{n,p,q} g_{n,o,p,q},
$$

and $\partial L / \partial x$ sends each $g_{n,o,p,q} W_{o,c,i,j}$ back to the input
position it came from. A transposed convolution is that last map: its forward pass is a
convolution's input gradient, and its backward pass is a convolution.

This module holds the math three ways, to be read in this order:

1. `_naive_forward` and `_naive_backward`: the formulas above as plain loops. Slow, and
   the reference that every fast path is tested against.
2. The entry points `conv2d_forward`, `conv2d_backward`, `conv_transpose2d_forward` and
   `conv_transpose2d_backward`: a few lines each that pick a fast path and run it on
   pieces of the batch at once (`atlas.kernels.cpu.threads`), or, for a convolution of
   fewer samples than threads, on bands of its output rows.
3. The fast paths, in the private package `atlas.kernels.cpu._conv`: ``planes`` (the input
   copied into zero-padded planes, so that no loop tests bounds), ``im2col`` (receptive
   fields copied into columns, then one matrix product per chunk of the batch, run by
   BLAS), ``channels_last`` (im2col for strided kernels: the input laid out
   ``(N, H, W, C)``, so that a receptive field is a few runs of contiguous values whatever
   the stride), ``direct`` (stride 1 with few channels: weighted sums of shifted blocks of
   the padded planes, no columns) and ``winograd`` (stride 1, square 3x3 or 5x5 kernels,
   enough channels: Winograd's minimal filtering on 6x6 tiles, 36 matrix products).

The entry points try ``winograd`` first (stride 1, 3x3 or 5x5, at least 16 channels in and
out: the fewest multiplications), then ``direct`` (thin products at stride 1), then
``channels_last`` (strided, runs of at least 32 values), else im2col. The transposed convolution takes ``channels_last`` or
im2col by the same rule.

Geometry arguments are pairs of integers: ``stride = (s_h, s_w)``,
``padding = (p_h, p_w)``, ``dilation = (d_h, d_w)``. The padding after the last row and
column follows from the shapes of ``x`` and ``y``, so asymmetric ("same") padding needs
nothing more. ``cols`` is a 1-D scratch workspace (`conv_workspace_size` values).
"""

from typing import NamedTuple

import numpy as np

from atlas.kernels.cpu import threads
from atlas.kernels.cpu._conv import channels_last, direct, im2col_gemm, planes, winograd
from atlas.kernels.cpu.activations import _chain, activation_forward
from atlas.kernels.jit import kernel

#: Values of the CPU's ``cols`` workspace: columns for as many samples as fit (at most 4 MB
#: in float32, so that a chunk's columns stay in cache between their copy and the product).
WORKSPACE_VALUES = 1 << 20


def conv_workspace_size(batch, per_sample):
    """Values of the ``cols`` workspace a layer should keep for a batch whose columns take
    ``per_sample`` values per sample: on the CPU `WORKSPACE_VALUES` per thread (each piece
    of the batch processes as many samples per chunk as its share holds, and makes room
    for one when it holds none)."""
    return WORKSPACE_VALUES * threads.count()


# 1. The plain loops ----------------------------------------------------------------------------
@kernel
def _naive_forward(x, W, b, stride, padding, dilation, y):
    """``y (N, C_out, OH, OW)`` from ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)`` and
    ``b (C_out,)``: the module's first formula, one output at a time."""
    batch, c_in, height, width = x.shape
    c_out, _, kh, kw = W.shape
    for n in range(batch):
        for o in range(c_out):
            for p in range(y.shape[2]):
                for q in range(y.shape[3]):
                    total = b[o]
                    for c in range(c_in):
                        for i in range(kh):
                            for j in range(kw):
                                r = p * stride[0] + i * dilation[0] - padding[0]
                                s = q * stride[1] + j * dilation[1] - padding[1]
                                if 0 <= r < height and 0 <= s < width:
                                    total += W[o, c, i, j] * x[n, c, r, s]
                    y[n, o, p, q] = total


@kernel
def _naive_backward(dy, x, W, stride, padding, dilation, dx, dW, db):
    """The gradients ``dx``, ``dW`` and ``db`` (overwritten) of `_naive_forward` for the
    upstream gradient ``dy``: every product of the forward pass sends ``dy`` back to both
    of its factors."""
    batch, c_in, height, width = x.shape
    c_out, _, kh, kw = W.shape
    dx[...] = 0.0
    dW[...] = 0.0
    db[...] = 0.0
    for n in range(batch):
        for o in range(c_out):
            for p in range(dy.shape[2]):
                for q in range(dy.shape[3]):
                    g = dy[n, o, p, q]
                    db[o] += g
                    for c in range(c_in):
                        for i in range(kh):
                            for j in range(kw):
                                r = p * stride[0] + i * dilation[0] - padding[0]
                                s = q * stride[1] + j * dilation[1] - padding[1]
                                if 0 <= r < height and 0 <= s < width:
                                    dW[o, c, i, j] += g * x[n, c, r, s]
                                    dx[n, c, r, s] += g * W[o, c, i, j]


# 2. The entry points ---------------------------------------------------------------------------
# Each picks the fast path here, in Python (so that a network compiles only the paths its
# layers use), and runs it on pieces at once on the pool of `threads`: each piece is a
# convolution of its own, of part of the batch or of a band of output rows.
class Piece(NamedTuple):
    """A part of a convolution that one thread computes as a convolution of its own: outputs
    ``y[outputs]`` from inputs ``x[inputs]`` under ``padding`` (``dy`` and ``dx`` the same
    way), with its own ``workspace``. ``banded``: the pieces are bands of output rows, whose
    inputs overlap."""

    inputs: tuple
    outputs: tuple
    padding: tuple
    workspace: np.ndarray
    banded: bool


def _batch_pieces(batch, padding, cols):
    """One `Piece` per thread, each a part of the batch."""
    parts = threads.split(batch)
    return [Piece(np.s_[s:e, ...], np.s_[s:e, ...], padding, ws, False)
            for (s, e), ws in zip(parts, threads.workspaces(cols, len(parts)))]


def _pieces(x, y, W, stride, padding, dilation, cols):
    """The convolution ``x -> y`` cut into one `Piece` per thread: parts of the batch, or,
    for a batch of fewer samples than threads (style transfer's one image), bands of output
    rows, each reading the input rows its windows reach: from row $a = r_0 s_h - p_h$ (or
    from 0, with $-a$ rows of padding above) for outputs from row $r_0$ on."""
    if len(x) >= threads.count():
        return _batch_pieces(len(x), padding, cols)
    per_row = len(x) * y.shape[1] * y.shape[3]
    parts = threads.split(y.shape[2], threads.ELEMENTS_PER_PIECE // max(1, per_row))
    pieces = []
    for (top, bottom), ws in zip(parts, threads.workspaces(cols, len(parts))):
        first = top * stride[0] - padding[0]
        reach = (bottom - 1) * stride[0] - padding[0] + dilation[0] * (W.shape[2] - 1) + 1
        a = max(0, first)
        rows = np.s_[:, :, a:max(a, min(x.shape[2], reach))]
        pieces.append(Piece(rows, np.s_[:, :, top:bottom], (a - first, padding[1]), ws, True))
    return pieces


def _input_gradients(dx, pieces):
    """Where each piece writes its share of the input gradient: ``dx[piece.inputs]``; for
    bands, whose inputs overlap, that for the first piece only and arrays of their own for
    the others, which `_add_input_gradients` adds in."""
    if not pieces[0].banded:
        return [dx[p.inputs] for p in pieces]
    # The others' rows of arrays shaped as dx: every share then has the strides of dx's own
    # rows, so a kernel compiles once for them (fresh contiguous arrays had cost a second
    # compilation), and only the rows a piece writes are ever touched.
    return [dx[pieces[0].inputs]] + [np.empty_like(dx)[p.inputs] for p in pieces[1:]]


def _add_input_gradients(dx, pieces, shares):
    """``dx`` from the shares of `_input_gradients`: for bands, zeros past the first band's
    input rows, then the other bands' shares added in."""
    if not pieces[0].banded:
        return
    dx[:, :, pieces[0].inputs[2].stop:] = 0.0
    for piece, share in zip(pieces[1:], shares[1:]):
        dx[piece.inputs] += share


def _im2col_layout(stride, W):
    """`channels_last` or `im2col_gemm`, by `channels_last.wins`. The patches of both a
    convolution ``W (C_out, C_in, kh, kw)`` and a transposed one ``W (C_in, C_out, kh, kw)``
    have ``W.shape[1]`` channels."""
    return channels_last if channels_last.wins(stride, W.shape[1], W.shape[3]) else im2col_gemm


def conv2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass $y = W \star x + b$: ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``,
    ``b (C_out,)``, ``y (N, C_out, OH, OW)``."""
    pieces = _pieces(x, y, W, stride, padding, dilation, cols)
    if winograd.wins(W.shape, stride, dilation):
        AT, G, BT = winograd.transforms(W.shape[2], x.dtype)
        U = winograd.filter_transform(W, G)
        threads.run(winograd.forward, [(x[p.inputs], U, b, p.padding, AT, BT, y[p.outputs])
                                       for p in pieces])
    elif direct.wins(W.shape[0], W[0].size, stride):
        threads.run(direct.forward, [(x[p.inputs], W, b, p.padding, dilation, y[p.outputs])
                                     for p in pieces])
    else:
        path = _im2col_layout(stride, W)
        threads.run(path.forward, [(x[p.inputs], W, b, stride, p.padding, dilation,
                                    p.workspace, y[p.outputs]) for p in pieces])


def conv2d_forward_activated(x, W, b, stride, padding, dilation, cols, kind, alpha, z, y):
    r"""A convolution and the element-wise activation after it: ``z`` as `conv2d_forward`
    writes ``y``, then $y = f(z)$, $f$ the activation of code ``kind`` (see `scalar`).
    Here the two kernels in turn; the CUDA twin writes ``y`` in the product's epilogue."""
    conv2d_forward(x, W, b, stride, padding, dilation, cols, z)
    activation_forward(z.reshape(-1), kind, alpha, y.reshape(-1))


def conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    """Gradients of `conv2d_forward` (overwritten, not accumulated): ``dW``, ``db`` and,
    when ``input_grad`` is true, ``dx``; by the same path as the forward pass. Each piece
    of the batch sums its own share of ``dW`` and ``db``; the shares are added at the end."""
    pieces = _pieces(x, dy, W, stride, padding, dilation, cols)
    dbs = threads.partials(db, len(pieces))
    dxs = _input_gradients(dx, pieces) if input_grad else [dx] * len(pieces)
    if winograd.wins(W.shape, stride, dilation):
        AT, G, BT = winograd.transforms(W.shape[2], x.dtype)
        U = winograd.filter_transform(W, G)
        dUs = threads.partials(np.empty_like(U), len(pieces))
        threads.run(winograd.backward, [(dy[p.outputs], x[p.inputs], U, p.padding, AT, BT,
                                         dxs[k], dUs[k], dbs[k], input_grad)
                                        for k, p in enumerate(pieces)])
        threads.reduce_into(dUs[0], dUs)
        winograd.filter_transform_adjoint(dUs[0], G, dW)
    elif direct.wins(W.shape[0], W[0].size, stride):
        dWs = threads.partials(dW, len(pieces))
        threads.run(direct.backward, [(dy[p.outputs], x[p.inputs], W, p.padding, dilation,
                                       dxs[k], dWs[k], dbs[k], input_grad)
                                      for k, p in enumerate(pieces)])
        threads.reduce_into(dW, dWs)
    else:
        path = _im2col_layout(stride, W)
        dWs = threads.partials(dW, len(pieces))
        threads.run(path.backward, [(dy[p.outputs], x[p.inputs], W, stride, p.padding,
                                     dilation, p.workspace, dxs[k], dWs[k], dbs[k], input_grad)
                                    for k, p in enumerate(pieces)])
        threads.reduce_into(dW, dWs)
    threads.reduce_into(db, dbs)
    if input_grad:
        _add_input_gradients(dx, pieces, dxs)


def conv2d_backward_chained(dy, x, W, stride, padding, dilation, cols, kind, alpha, z, dx,
                            dW, db, input_grad):
    r"""`conv2d_backward` for a convolution whose input is the output of an element-wise
    activation, $x = f(z)$: ``dx`` is then the gradient with respect to $z$, $dx \odot
    f'(z)$ (as `dense_backward_input_chained`)."""
    conv2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad)
    if input_grad:
        _chain(kind, alpha, z, x, dx)


def conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""Forward pass of the transposed convolution, the input gradient of a convolution:
    ``x (N, C_in, H, W)``, ``W (C_in, C_out, kh, kw)``, ``b (C_out,)``,
    ``y (N, C_out, OH, OW)`` with
    $OH = (H - 1) s_h - 2 p_h + d_h (k_h - 1) + \text{output\_padding} + 1$."""
    path = _im2col_layout(stride, W)
    threads.run(path.transpose_forward, [(x[p.inputs], W, b, stride, padding, dilation,
                                          p.workspace, y[p.outputs])
                                         for p in _batch_pieces(len(x), padding, cols)])


def conv_transpose2d_forward_activated(x, W, b, stride, padding, dilation, cols, kind, alpha,
                                       z, y):
    r"""`conv_transpose2d_forward` into ``z``, then $y = f(z)$ (as
    `conv2d_forward_activated`)."""
    conv_transpose2d_forward(x, W, b, stride, padding, dilation, cols, z)
    activation_forward(z.reshape(-1), kind, alpha, y.reshape(-1))


def conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad):
    """Gradients of `conv_transpose2d_forward` (overwritten): ``dW``, ``db`` and, when
    ``input_grad`` is true, ``dx``, a plain convolution of ``dy``."""
    pieces = _batch_pieces(len(x), padding, cols)
    dWs, dbs = threads.partials(dW, len(pieces)), threads.partials(db, len(pieces))
    dxs = _input_gradients(dx, pieces) if input_grad else [dx] * len(pieces)
    path = _im2col_layout(stride, W)
    threads.run(path.transpose_backward,
                [(dy[p.outputs], x[p.inputs], W, stride, padding, dilation, p.workspace,
                  dxs[k], dWs[k], dbs[k], input_grad) for k, p in enumerate(pieces)])
    threads.reduce_into(dW, dWs)
    threads.reduce_into(db, dbs)


def conv_transpose2d_backward_chained(dy, x, W, stride, padding, dilation, cols, kind, alpha,
                                      z, dx, dW, db, input_grad):
    r"""`conv_transpose2d_backward` through the activation before the layer, $x = f(z)$
    (as `conv2d_backward_chained`)."""
    conv_transpose2d_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db,
                              input_grad)
    if input_grad:
        _chain(kind, alpha, z, x, dx)


@kernel
def im2col(x, stride, padding, dilation, cols):
    """Copy the receptive fields of ``x (N, C, H, W)`` into ``cols (C, kh, kw, N, OH, OW)``:
    ``cols[c, i, j, n, p, q] = x[n, c, p s_h + i d_h - p_h, q s_w + j d_w - p_w]``, zero
    where that index falls in the padding."""
    channels, kh, kw, batch, oh, ow = cols.shape
    hp, wp, _ = planes.geometry(oh, ow, kh, kw, stride, dilation)
    padded = planes.allocate(batch, channels, hp, wp, kw, dilation, x)
    planes.pad(x, padding, hp, wp, padded)
    planes.gather(padded, hp, wp, stride, dilation, cols)


@kernel
def col2im(cols, stride, padding, dilation, x):
    """The adjoint of `im2col`: every entry of ``cols`` is added to the input position it
    was copied from (positions in the padding are dropped); ``x`` is overwritten."""
    channels, kh, kw, batch, oh, ow = cols.shape
    hp, wp, _ = planes.geometry(oh, ow, kh, kw, stride, dilation)
    padded = planes.allocate(batch, channels, hp, wp, kw, dilation, x)
    padded[:] = 0.0
    planes.scatter_add(cols, hp, wp, stride, dilation, padded)
    planes.crop(padded, padding, hp, wp, x)

