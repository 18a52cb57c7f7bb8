r"""Padded planes and wide rows: the layout both fast paths of `atlas.kernels.cpu.conv` work in.

The fast paths first copy the input into zero-padded planes
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

The helpers here lay the planes out (`geometry`, `allocate`, `buffers`, `band_of`), copy into
and out of them (`pad`, `crop`), copy receptive fields between planes and columns (`gather`,
`scatter_add`), and move outputs between ``(N, C, H, W)`` and channel-major wide rows
(`to_columns`, `from_columns`).
"""

import numpy as np

from atlas.kernels.jit import kernel


@kernel
def geometry(out_h, out_w, kh, kw, stride, dilation):
    """``(H_p, W_p, row_width)``: the padded plane that ``out_h x out_w`` windows read, and
    the columns per row of outputs ($W_p$, wide rows, with stride 1; else ``out_w``)."""
    hp = (out_h - 1) * stride[0] + dilation[0] * (kh - 1) + 1
    wp = (out_w - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    row_width = wp if stride[0] == 1 and stride[1] == 1 else out_w
    return hp, wp, row_width


@kernel
def allocate(samples, channels, hp, wp, kw, dilation, like):
    """A flat buffer for ``samples x channels`` padded planes, plus the $d_w (k_w - 1)$
    values that the last wide row reads past its plane."""
    return np.empty(samples * channels * hp * wp + dilation[1] * (kw - 1), dtype=like.dtype)


@kernel
def buffers(cols, batch, channels, kh, kw, rows, hp, wp, row_width, dilation, matrix_rows):
    """``(workspace, chunk, band, planes, matrix)`` for a convolution whose columns have
    ``rows`` rows of ``row_width`` values per tap. A chunk is as many samples as ``cols``
    holds the columns of, processed at once; where it holds less than one sample's, a chunk
    is one sample, processed in bands of ``band`` rows (else ``band == rows``), so that the
    columns still fit in it (an RGB 256x256 image under an 11x11 kernel has 99 MB of them
    in float32).
    ``workspace`` is ``cols`` (or a fresh array for one row when it cannot hold one),
    ``planes`` padded planes for a chunk's samples of ``channels`` channels, ``matrix`` a
    flat buffer for the ``matrix_rows``-row matrix on the other side of the product."""
    per_row = channels * kh * kw * row_width
    workspace, chunk, band = cols, min(batch, cols.size // (per_row * rows)), rows
    if chunk == 0:
        chunk, band = 1, min(rows, cols.size // per_row)
    if band == 0:
        workspace, band = np.empty(per_row, dtype=cols.dtype), 1
    planes = allocate(chunk, channels, hp, wp, kw, dilation, cols)
    matrix = np.empty(matrix_rows * chunk * band * row_width, dtype=cols.dtype)
    return workspace, chunk, band, planes, matrix


@kernel
def band_of(planes, top, stride, wp):
    """The flat ``planes`` from the first row that output row ``top`` reads (row
    ``top s_h`` of every plane): `gather` and `scatter_add` given it and ``rows`` outputs
    per column work on outputs ``top`` to ``top + rows`` as on a whole plane, since they
    find each plane ``H_p W_p`` values after the last."""
    return planes[top * stride[0] * wp:]


@kernel
def copy(src, dst):
    """``dst[k] = src[k]`` for 1-D arrays. A loop: Numba compiles it in a tenth of a second,
    where a slice assignment between arrays (``dst[:] = src``) took 2-3 s per call site, and
    compile time is the cold start-up of every model."""
    for k in range(dst.size):
        dst[k] = src[k]


@kernel
def copy_interior(x, planes, padding, hp, wp, into_planes):
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
                    copy(x[n, c, r, :cols], interior)
                else:
                    copy(interior, x[n, c, r, :cols])


@kernel
def pad(x, padding, hp, wp, planes):
    """Zero the flat buffer ``planes`` and copy ``x (N, C, H, W)`` into its interior."""
    planes[:] = 0.0
    copy_interior(x, planes, padding, hp, wp, True)


@kernel
def crop(planes, padding, hp, wp, x):
    """The adjoint of `pad`: ``x`` is the interior of the padded planes (zero where it lies
    outside them)."""
    x[...] = 0.0
    copy_interior(x, planes, padding, hp, wp, False)


@kernel
def tap_start(n, c, i, j, channels, hp, wp, dilation):
    """Where tap ``(i, j)`` of the first window of plane ``(n, c)`` lies in the flat planes."""
    return (n * channels + c) * hp * wp + i * dilation[0] * wp + j * dilation[1]


@kernel
def window_offsets(oh, row_width, stride, wp):
    """``offsets[p R + q] = p s_h W_p + q s_w``: where in its plane output ``(p, q)`` of a
    tap reads, counted from the tap's first value. Unsigned, so that Numba indexes with
    them without testing for negative indices."""
    offsets = np.empty(oh * row_width, dtype=np.uint64)
    for p in range(oh):
        for q in range(row_width):
            offsets[p * row_width + q] = p * stride[0] * wp + q * stride[1]
    return offsets


@kernel
def gather(planes, hp, wp, stride, dilation, cols):
    """``cols[c, i, j, n, p, q] = planes(n, c)[p s_h + i d_h, q s_w + j d_w]`` for
    ``cols (C, kh, kw, N, OH, row_width)``. When the rows of outputs are the padded width
    and the stride is 1, the column of a tap is one contiguous block of its plane; else
    one loop over the tap's outputs reads through `window_offsets` (a loop per row of
    outputs, 7 values long at the DCGAN's 4x4 stride-2 convolution, took 1.5x as long)."""
    channels, kh, kw, batch, oh, row_width = cols.shape
    rows = cols.reshape((channels, kh, kw, batch, oh * row_width))
    block = stride[0] == 1 and row_width == wp
    offsets = window_offsets(oh, row_width, stride, wp)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for n in range(batch):
                    start = tap_start(n, c, i, j, channels, hp, wp, dilation)
                    out = rows[c, i, j, n]
                    if block:
                        copy(planes[start:start + oh * wp], out)
                        continue
                    window = planes[start:]
                    for t in range(offsets.size):
                        out[t] = window[offsets[t]]


@kernel
def scatter_add(cols, hp, wp, stride, dilation, planes):
    """The adjoint of `gather`: every column is added where `gather` read it from (into
    ``planes`` as they are: zero them first for the adjoint alone)."""
    channels, kh, kw, batch, oh, row_width = cols.shape
    rows = cols.reshape((channels, kh, kw, batch, oh * row_width))
    block = stride[0] == 1 and row_width == wp
    offsets = window_offsets(oh, row_width, stride, wp)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for n in range(batch):
                    start = tap_start(n, c, i, j, channels, hp, wp, dilation)
                    src = rows[c, i, j, n]
                    if block:
                        dst = planes[start:start + oh * wp]
                        for r in range(oh * wp):
                            dst[r] += src[r]
                        continue
                    window = planes[start:]
                    for t in range(offsets.size):
                        window[offsets[t]] += src[t]


@kernel
def to_columns(x, out):
    """``out[c, (n H + r) R + s] = x[n, c, r, s]`` for ``x (N, C, H, W)`` and
    ``out (C, N H R)``, zero for ``W <= s < R``: channel-major, in rows of ``R`` values."""
    batch, channels, height, width = x.shape
    row_width = out.shape[1] // (batch * height)
    for c in range(channels):
        for n in range(batch):
            for r in range(height):
                start = (n * height + r) * row_width
                copy(x[n, c, r], out[c, start:start + width])
                out[c, start + width:start + row_width] = 0.0


@kernel
def from_columns(cm, bias, y):
    """``y[n, c, r, s] = cm[c, (n H + r) R + s] + bias[c]``: the inverse of `to_columns`,
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
def channel_sums(y, out):
    """``out[c] = sum of y[:, c]`` (the bias gradient) for ``y (N, C, H, W)``, contiguous or
    a band of rows of a larger array."""
    batch, channels, height, width = y.shape
    for c in range(channels):
        total = 0.0
        for n in range(batch):
            for r in range(height):
                row = y[n, c, r]
                for s in range(width):
                    total += row[s]
        out[c] = total


@kernel
def add_channel_bias(y, bias):
    batch, channels = y.shape[0], y.shape[1]
    size = y.size // (batch * channels)
    y3 = y.reshape(batch, channels, size)
    for n in range(batch):
        for c in range(channels):
            y3[n, c] += bias[c]


@kernel
def chunk_view(workspace, channels, kh, kw, samples, oh, row_width):
    """The first values of the 1-D ``workspace`` as columns
    ``(C, kh, kw, samples, OH, row_width)``."""
    return workspace[:channels * kh * kw * samples * oh * row_width].reshape(
        (channels, kh, kw, samples, oh, row_width))


@kernel
def matrix(buffer, rows, cols):
    """The first ``rows * cols`` values of the 1-D ``buffer`` as a contiguous matrix."""
    return buffer[:rows * cols].reshape((rows, cols))
