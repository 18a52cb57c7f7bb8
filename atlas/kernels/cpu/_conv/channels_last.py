r"""The channels-last path of `atlas.kernels.cpu.conv`: strided convolutions (and strided
transposed convolutions) as im2col + GEMM in the ``(N, H, W, C)`` layout.

At stride 1 the columns of `im2col_gemm` are contiguous blocks of the padded planes; at
stride 2 they are not, and ``planes.gather`` reads one value in two. Laid out channels
last, a receptive field is $k_h$ runs of $k_w C$ contiguous values instead (a whole row of
the kernel, every channel of it), whatever the stride. So here the padded input is
stored as rows of pixels, ``planes[n, r, s, :]``, and each output pixel gets one row of
the patch matrix:

$$
P_{(n, p, q),\,(i, j, c)} = x^{pad}_{n,\; p s_h + i d_h,\; q s_w + j d_w,\; c},
\qquad
Y^\top = P\, \widetilde W + b, \qquad \widetilde W_{(i, j, c),\, o} = W_{o, c, i, j},
$$

one matrix product per chunk of the batch with the pixels as rows ($M = N \cdot OH \cdot
OW$) and the output channels as columns. The backward pass is the same pair as in
`im2col_gemm`, transposed:

$$
\frac{\partial L}{\partial \widetilde W} = P^\top \frac{\partial L}{\partial Y^\top},
\qquad
\frac{\partial L}{\partial x} = \text{scatter\_add}\Big(\frac{\partial L}{\partial Y^\top}
\widetilde W^\top\Big),
$$

and a transposed convolution runs the pair the other way round. Measured on the DCGAN's
discriminator, 32 -> 64 channels 4x4 stride 2 on 14x14 images (batch 128, one thread), the
product ran at 95 GFLOP/s in this orientation against 66-78 in `im2col_gemm`'s, the
patches were copied in runs of 128 values instead of one value at a time, and the layer's
forward / backward took 6.3 / 12.7 ms instead of 8.3 / 16.7 (the DCGAN's training step:
1.18 -> 0.90 of PyTorch's time).
"""

import numpy as np

from atlas.kernels.cpu._conv.planes import add_channel_bias, channel_sums, geometry
from atlas.kernels.jit import kernel

#: Most values of patches gathered at once (1 MB in float32: they stay in a core's L2 cache
#: between their copy and the product).
PATCH_VALUES = 1 << 18

#: Fewest contiguous values in a run of a patch (``k_w C``) for this path to win.
MIN_RUN = 32


def wins(stride, channels, kw):
    """Whether a convolution of ``stride`` whose patches have ``channels`` channels and
    ``kw`` columns takes this path: strided, wider than one column, and runs long enough to
    copy. (A 1x1 kernel's patch is one pixel; at ResNet's 32 -> 64 1x1 stride-2 shortcut this
    path took 1.07 / 1.39 times as long as `im2col_gemm` forward / backward.)"""
    return (stride[0] > 1 or stride[1] > 1) and kw > 1 and channels * kw >= MIN_RUN


@kernel
def weights_as_rows(W, out):
    r"""``out[(i, j, c), o] = W[o, c, i, j]``: the kernel $\widetilde W$ for ``W (O, C, kh, kw)``
    and ``out (kh kw C, O)``."""
    c_out, c_in, kh, kw = W.shape
    for o in range(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    out[(i * kw + j) * c_in + c, o] = W[o, c, i, j]


@kernel
def rows_as_weights(rows, W):
    """The inverse of `weights_as_rows`: ``W[o, c, i, j] = rows[(i, j, c), o]``."""
    c_out, c_in, kh, kw = W.shape
    for o in range(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    W[o, c, i, j] = rows[(i * kw + j) * c_in + c, o]


@kernel
def _copy_interior(x, padding, planes, into_planes):
    """Copy ``x (N, C, H, W)`` into the interior of ``planes (N, H_p, W_p, C)`` (shifted by
    ``padding``), or back out when ``into_planes`` is false: a pixel's channels are
    contiguous in the planes, strided in ``x``."""
    batch, channels, height, width = x.shape
    hp, wp = planes.shape[1], planes.shape[2]
    rows = max(0, min(height, hp - padding[0]))
    cols = max(0, min(width, wp - padding[1]))
    for n in range(batch):
        for r in range(rows):
            pixels = planes[n, r + padding[0]]
            for s in range(cols):
                pixel = pixels[s + padding[1]]
                for c in range(channels):
                    if into_planes:
                        pixel[c] = x[n, c, r, s]
                    else:
                        x[n, c, r, s] = pixel[c]


@kernel
def pad(x, padding, planes):
    """Zero ``planes (N, H_p, W_p, C)`` and copy ``x (N, C, H, W)`` into it, shifted by
    ``padding`` (rows and columns past the planes are left out: no window reads them)."""
    planes[...] = 0.0
    _copy_interior(x, padding, planes, True)


@kernel
def crop(planes, padding, x):
    """The adjoint of `pad`: ``x (N, C, H, W)`` is the interior of ``planes``, zero where it
    lies outside them."""
    x[...] = 0.0
    _copy_interior(x, padding, planes, False)


@kernel
def runs(samples, hp, wp, channels, kh, kw, stride, dilation):
    """Where `gather` copies from and to, for ``samples`` padded planes ``(H_p, W_p, C)``:
    ``(sources, targets, length)``, the start of every run in the flat planes and in the
    flat patches, and the values a run holds (``kw C`` when ``d_w = 1``, one run per kernel
    row; else ``C``, one per tap). Sample by sample, so that the runs of the first ``n``
    samples come first (a smaller last chunk uses a prefix): computed once per call of a
    layer's kernel, not once per chunk."""
    oh = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    per_row = 1 if dilation[1] == 1 else kw
    length = kw * channels // per_row
    count = samples * oh * ow * kh * per_row
    sources = np.empty(count, dtype=np.int64)
    targets = np.empty(count, dtype=np.int64)
    k = 0
    for n in range(samples):
        for p in range(oh):
            for q in range(ow):
                for i in range(kh):
                    for j in range(per_row):
                        r = p * stride[0] + i * dilation[0]
                        s = q * stride[1] + j * dilation[1]
                        sources[k] = ((n * hp + r) * wp + s) * channels
                        targets[k] = (((n * oh + p) * ow + q) * kh + i) * kw * channels \
                            + j * length
                        k += 1
    return sources, targets, length


@kernel
def gather(planes, runs, patches):
    """``patches[(n, p, q), (i, j, c)] = planes[n, p s_h + i d_h, q s_w + j d_w, c]`` for
    ``planes (N, H_p, W_p, C)`` and ``patches (N OH OW, kh kw C)``, copied in the contiguous
    ``runs`` of `runs`."""
    sources, targets, length = runs
    src, dst = planes.reshape(planes.size), patches.reshape(patches.size)
    for k in range(patches.size // length):
        run = dst[targets[k]:targets[k] + length]
        values = src[sources[k]:sources[k] + length]
        for t in range(length):
            run[t] = values[t]


@kernel
def scatter_add(patches, runs, planes):
    """The adjoint of `gather`: ``planes`` is zeroed, then every run of ``patches`` is added
    where `gather` read it from."""
    sources, targets, length = runs
    planes[...] = 0.0
    src, dst = patches.reshape(patches.size), planes.reshape(planes.size)
    for k in range(patches.size // length):
        run = dst[sources[k]:sources[k] + length]
        values = src[targets[k]:targets[k] + length]
        for t in range(length):
            run[t] += values[t]


@kernel
def to_rows(x, rows):
    """``rows[(n, r, s), c] = x[n, c, r, s]``: ``x (N, C, H, W)`` as one row per pixel."""
    batch, channels, height, width = x.shape
    for n in range(batch):
        for c in range(channels):
            for r in range(height):
                src = x[n, c, r]
                start = (n * height + r) * width
                for s in range(width):
                    rows[start + s, c] = src[s]


@kernel
def from_rows(rows, bias, y):
    """``y[n, c, r, s] = rows[(n, r, s), c] + bias[c]``: the inverse of `to_rows`, plus a bias."""
    batch, channels, height, width = y.shape
    for n in range(batch):
        for c in range(channels):
            b = bias[c]
            for r in range(height):
                dst = y[n, c, r]
                start = (n * height + r) * width
                for s in range(width):
                    dst[s] = rows[start + s, c] + b


@kernel
def _chunk(cols, per_sample, batch):
    """How many samples' patches the workspace ``cols`` holds (at least one)."""
    return max(1, min(batch, min(cols.size, PATCH_VALUES) // per_sample))


@kernel
def _workspace(cols, size):
    """``cols``, or a fresh array when it is too small for ``size`` values (one sample's
    patches): made once per call, before the loop over chunks."""
    return cols if cols.size >= size else np.empty(size, dtype=cols.dtype)


@kernel
def _patches_of(images, padding, planes, runs, workspace, pixels, k):
    """The patch matrix ``(N pixels, k)`` of ``images (N, C, H, W)`` (``pixels`` outputs
    per sample), in the first values of ``workspace``: the images copied into
    channels-last ``planes`` (`pad`), then `gather`."""
    n = len(images)
    patches = workspace[:n * pixels * k].reshape((n * pixels, k))
    pad(images, padding, planes[:n])
    gather(planes[:n], runs, patches)
    return patches


@kernel
def forward(x, W, b, stride, padding, dilation, cols, y):
    """`conv2d_forward` channels last: ``x (N, C_in, H, W)``, ``W (C_out, C_in, kh, kw)``,
    ``b (C_out,)``, ``y (N, C_out, OH, OW)``; ``cols`` a 1-D workspace."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = y.shape[2], y.shape[3]
    hp, wp, _ = geometry(oh, ow, kh, kw, stride, dilation)
    k = kh * kw * c_in
    weights = np.empty((k, c_out), dtype=W.dtype)
    weights_as_rows(W, weights)
    chunk = _chunk(cols, oh * ow * k, batch)
    workspace = _workspace(cols, oh * ow * k)
    planes = np.empty((chunk, hp, wp, c_in), dtype=x.dtype)
    copies = runs(chunk, hp, wp, c_in, kh, kw, stride, dilation)
    out = np.empty((chunk * oh * ow, c_out), dtype=y.dtype)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * ow
        patches = _patches_of(x[start:stop], padding, planes, copies, workspace, oh * ow, k)
        np.dot(patches, weights, out[:m])
        from_rows(out[:m], b, y[start:stop])


@kernel
def backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    """`conv2d_backward` channels last: ``dW``, ``db`` and, when ``input_grad`` is true,
    ``dx`` (all overwritten). The patches of each chunk are gathered again from ``x``."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out, _, kh, kw = W.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hp, wp, _ = geometry(oh, ow, kh, kw, stride, dilation)
    k = kh * kw * c_in
    weights = np.empty((k, c_out), dtype=W.dtype)
    weights_as_rows(W, weights)
    grad_rows = np.zeros((k, c_out), dtype=dW.dtype)
    part = np.empty((k, c_out), dtype=dW.dtype)
    chunk = _chunk(cols, oh * ow * k, batch)
    workspace = _workspace(cols, oh * ow * k)
    planes = np.empty((chunk, hp, wp, c_in), dtype=x.dtype)
    copies = runs(chunk, hp, wp, c_in, kh, kw, stride, dilation)
    grads = np.empty((chunk * oh * ow, c_out), dtype=dy.dtype)
    channel_sums(dy, db)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * oh * ow
        patches = _patches_of(x[start:stop], padding, planes, copies, workspace, oh * ow, k)
        to_rows(dy[start:stop], grads[:m])
        np.dot(patches.T, grads[:m], part)
        grad_rows += part
        if input_grad:
            np.dot(grads[:m], weights.T, patches)
            scatter_add(patches, copies, planes[:stop - start])
            crop(planes[:stop - start], padding, dx[start:stop])
    rows_as_weights(grad_rows, dW)


@kernel
def transpose_forward(x, W, b, stride, padding, dilation, cols, y):
    r"""`conv_transpose2d_forward` channels last, $y = \text{scatter\_add}(X^\top
    \widetilde W^\top) + b$: ``x (N, C_in, H, W)``, ``W (C_in, C_out, kh, kw)``,
    ``b (C_out,)``, ``y (N, C_out, OH, OW)``."""
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, _ = geometry(height, width, kh, kw, stride, dilation)
    k = kh * kw * c_out
    weights = np.empty((k, c_in), dtype=W.dtype)
    weights_as_rows(W, weights)
    chunk = _chunk(cols, height * width * k, batch)
    workspace = _workspace(cols, height * width * k)
    planes = np.empty((chunk, hp, wp, c_out), dtype=y.dtype)
    copies = runs(chunk, hp, wp, c_out, kh, kw, stride, dilation)
    pixels = np.empty((chunk * height * width, c_in), dtype=x.dtype)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * width
        patches = workspace[:m * k].reshape((m, k))
        to_rows(x[start:stop], pixels[:m])
        np.dot(pixels[:m], weights.T, patches)
        scatter_add(patches, copies, planes[:stop - start])
        crop(planes[:stop - start], padding, y[start:stop])
    add_channel_bias(y, b)


@kernel
def transpose_backward(dy, x, W, stride, padding, dilation, cols, dx, dW, db, input_grad):
    """Gradients of `transpose_forward` (overwritten): ``dW``, ``db`` and, when
    ``input_grad`` is true, ``dx``, a plain convolution of ``dy``."""
    batch, c_in, height, width = x.shape
    c_out, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    hp, wp, _ = geometry(height, width, kh, kw, stride, dilation)
    k = kh * kw * c_out
    weights = np.empty((k, c_in), dtype=W.dtype)
    weights_as_rows(W, weights)
    grad_rows = np.zeros((k, c_in), dtype=dW.dtype)
    part = np.empty((k, c_in), dtype=dW.dtype)
    zero_bias = np.zeros(c_in, dtype=dx.dtype)
    chunk = _chunk(cols, height * width * k, batch)
    workspace = _workspace(cols, height * width * k)
    planes = np.empty((chunk, hp, wp, c_out), dtype=dy.dtype)
    copies = runs(chunk, hp, wp, c_out, kh, kw, stride, dilation)
    pixels = np.empty((chunk * height * width, c_in), dtype=x.dtype)
    channel_sums(dy, db)
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        m = (stop - start) * height * width
        patches = _patches_of(dy[start:stop], padding, planes, copies, workspace,
                              height * width, k)
        to_rows(x[start:stop], pixels[:m])
        np.dot(patches.T, pixels[:m], part)
        grad_rows += part
        if input_grad:
            np.dot(patches, weights, pixels[:m])
            from_rows(pixels[:m], zero_bias, dx[start:stop])
    rows_as_weights(grad_rows, dW)
