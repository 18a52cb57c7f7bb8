r"""The Winograd path of `atlas.kernels.cpu.conv`: stride 1, square 3x3 or 5x5 kernels, fewer
multiplications.

**In one dimension.** Two outputs of a 3-tap correlation, $y_0 = d_0 g_0 + d_1 g_1 + d_2 g_2$
and $y_1 = d_1 g_0 + d_2 g_1 + d_3 g_2$, take six multiplications. Winograd's minimal
filtering algorithm $F(2, 3)$ takes four:

$$
m_1 = (d_0 - d_2)\, g_0, \quad m_2 = (d_1 + d_2)\,\tfrac{g_0 + g_1 + g_2}{2}, \quad
m_3 = (d_2 - d_1)\,\tfrac{g_0 - g_1 + g_2}{2}, \quad m_4 = (d_1 - d_3)\, g_2,
$$

$y_0 = m_1 + m_2 + m_3$, $y_1 = m_2 - m_3 - m_4$: the filter's combinations are computed
once per filter, the data's once per tile. In matrices, for $m$ outputs of an $r$-tap
filter from a tile of $\alpha = m + r - 1$ inputs,
$y = A^\top\big[(G g) \odot (B^\top d)\big]$, and in two dimensions, for an
$m \times m$ tile of outputs,

$$
Y = A^\top \Big[ \big(G\, g\, G^\top\big) \odot \big(B^\top d\, B\big) \Big] A .
$$

`transforms` builds $A^\top, G, B^\top$ for any $m$ and $r$ (Toom-Cook: the polynomial
product evaluated at $\alpha - 1$ points and at infinity, then interpolated), and checks
the identity. This engine uses $\alpha = 6$: $F(4 \times 4, 3 \times 3)$ (36
multiplications per tile instead of 144) and $F(2 \times 2, 5 \times 5)$ (36 instead of
100), at the points $0, \pm 1, \pm 2, \infty$.

**A convolution layer** sums that over input channels, and a sum of element-wise products
over channels is a matrix product: with $U_{\xi\nu} = (G W_{o,c} G^\top)_{\xi\nu}$ (a
$C_{in} \times C_{out}$ matrix for each of the $\alpha^2$ positions $\xi\nu$ of a tile) and
$V_{\xi\nu} = (B^\top d_{t,c} B)_{\xi\nu}$ (tiles $t$ of every sample by input channels),

$$
M_{\xi\nu} = V_{\xi\nu}\, U_{\xi\nu}, \qquad Y_{t,o} = A^\top M_{t,o} A ,
$$

$\alpha^2$ products run by BLAS. Every step is linear, so the backward pass runs the same
steps transposed: $\partial M = A\, \partial Y A^\top$ per tile,
$\partial U_{\xi\nu} = V_{\xi\nu}^\top\, \partial M_{\xi\nu}$ then
$\partial W = G^\top \partial U\, G$, and
$\partial V_{\xi\nu} = \partial M_{\xi\nu} U_{\xi\nu}^\top$ then
$\partial d = B\, \partial V B^\top$ added back into the overlapping input tiles.

The tiles' data lies channels-last, with the samples of a chunk of the batch side by side
(sample $n$'s channel $c$ at $n C + c$), so that every transform is a loop over a long row
of values (vectorised; a row of tiles of every sample at once) and every product is
contiguous, one row per tile and sample. The price of fewer
multiplications is rounding: in float32 the outputs differ from the plain loops by a few
parts in a million of their scale (the tests bound it); in float64, by rounding only.
"""

import functools

import numpy as np

from atlas.kernels.cpu._conv.planes import channel_sums
from atlas.kernels.jit import kernel

#: Tile size $\alpha$ of the transforms: $m = \alpha - r + 1$ outputs per tile and side.
ALPHA = 6
#: The finite interpolation points; the last point is infinity.
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)
#: Fewest input and output channels for which the products beat im2col's (`wins`).
MIN_CHANNELS = 16
#: Values of the transformed tiles $V$ and $M$ of a chunk of the batch (1.2 MB in float32:
#: they stay in a core's L2 cache between the transforms and the products).
TRANSFORMED_VALUES = ALPHA * ALPHA * 128 * 64


@functools.cache
def transforms(r, dtype=np.float64, alpha=ALPHA):
    r"""``(AT, G, BT)`` of $F(m, r)$ with $m = \alpha - r + 1$: $A^\top$ ($m \times \alpha$),
    $G$ ($\alpha \times r$) and $B^\top$ ($\alpha \times \alpha$), in ``dtype``. The
    kernels here take tiles of `ALPHA` values; other sizes are for reading (``alpha=4,
    r=3`` is the $F(2, 3)$ above, up to the signs of $G$'s rows).

    $A^\top$ evaluates the $m$ powers at the points (and picks the top coefficient at
    infinity), $G$ evaluates the filter's polynomial there divided by the Lagrange
    denominators $f_j = \prod_{l \ne j}(p_j - p_l)$, and $B^\top$ is the one matrix that
    makes $A^\top[(G g) \odot (B^\top d)]$ the correlation of every $g$ and $d$, solved
    for in float64 and checked.
    """
    m = alpha - r + 1
    if m < 1 or alpha > len(POINTS) + 1:
        raise ValueError(f"no Winograd tiles of {alpha} values for a {r}-tap filter")
    p = np.array(POINTS[:alpha - 1])
    AT = np.zeros((m, alpha))
    AT[:, :-1] = p[None, :] ** np.arange(m)[:, None]
    AT[-1, -1] = 1.0
    f = np.array([np.prod([pj - pl for pl in p if pl != pj]) for pj in p])
    G = np.zeros((alpha, r))
    G[:-1] = p[:, None] ** np.arange(r)[None, :] / f[:, None]
    G[-1, -1] = 1.0
    # Output i, filter tap k and data value t: sum_j AT[i, j] G[j, k] BT[j, t] = [t == i + k].
    E = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, alpha)
    target = np.zeros((m * r, alpha))
    for i in range(m):
        for k in range(r):
            target[i * r + k, i + k] = 1.0
    BT = np.linalg.lstsq(E, target, rcond=None)[0]
    if not np.allclose(E @ BT, target, atol=1e-12):
        raise ArithmeticError(f"no Winograd transform F({m}, {r}) at points {POINTS}")
    BT = np.where(np.abs(BT) < 1e-12, 0.0, BT)
    return tuple(np.ascontiguousarray(a + 0.0, dtype=dtype) for a in (AT, G, BT))  # no -0.0


@kernel
def wins(weight_shape, stride, dilation):
    """Whether a convolution with weights of shape ``(C_out, C_in, kh, kw)`` takes the
    Winograd path: stride 1, no dilation, a square 3x3 or 5x5 kernel, and at least
    `MIN_CHANNELS` input and output channels (fewer make the products too thin to gain).
    The entry points ask this rule first.

    Measured on the reference machine (``python benchmarks/bench_conv.py --algorithms
    --threads 1``, serial kernels, forward+backward in ms, im2col / direct / Winograd,
    with a chunk's samples side by side in the transforms):
    (64, 32, 14, 14) -> 64 5x5 60.0 / 78.6 / 31.9; (32, 64, 32, 32) -> 64 3x3
    93.4 / 92.0 / 67.9; ResNet-20's stages, batch 128: 16 channels at 28x28
    35.2 / 21.4 / 18.7, 32 at 14x14 26.0 / 22.8 / 13.2, 64 at 7x7 23.7 / 52.2 / 10.8;
    (64, 16, 14, 14) -> 32 5x5 19.1 / 20.1 / 9.6; with one input channel (28x28 -> 32 5x5)
    6.9 / 5.5 / 19.4, and six (14x14 -> 16 5x5, LeNet-5's second) 2.9 / 2.7 / 1.9, where
    the products are too thin for the rest of a network to gain (direct stays)."""
    c_out, c_in, kh, kw = weight_shape
    return (stride[0] == 1 and stride[1] == 1 and dilation[0] == 1 and dilation[1] == 1
            and kh == kw and (kh == 3 or kh == 5)
            and c_in >= MIN_CHANNELS and c_out >= MIN_CHANNELS)


@kernel
def filter_transform(W, G):
    r"""$U_{\xi\nu, c, o} = (G\, W_{o,c}\, G^\top)_{\xi\nu}$ for ``W (C_out, C_in, r, r)``:
    ``U (alpha^2, C_in, C_out)``.

    One input channel at a time, with the output channels innermost: its taps are copied
    into rows ``taps[a, b, :]``, then both products with $G$ are `weighted_sum` over those
    rows. (Looping over the pairs $(o, c)$ with a 6x3 product each read and wrote ``U``
    with a stride of $C_{in} C_{out}$ values: 0.79 ms for 64 -> 64 channels 3x3, 0.20 ms
    this way; the adjoint 1.55 -> 0.13 ms.)
    """
    c_out, c_in, r, _ = W.shape
    alpha = G.shape[0]
    U = np.empty((alpha * alpha, c_in, c_out), dtype=W.dtype)
    flat = U.reshape(-1)
    taps = np.empty(r * r * c_out, dtype=W.dtype)  # [a, b, o]
    gw = np.empty(alpha * r * c_out, dtype=W.dtype)  # [xi, b, o] = (G w)[xi, b]
    starts = np.empty(r, dtype=np.int64)
    for c in range(c_in):
        for o in range(c_out):
            for a in range(r):
                for b in range(r):
                    taps[(a * r + b) * c_out + o] = W[o, c, a, b]
        for xi in range(alpha):
            for b in range(r):
                for a in range(r):
                    starts[a] = (a * r + b) * c_out
                weighted_sum(G[xi], taps, starts, gw, (xi * r + b) * c_out, c_out, False)
        for xi in range(alpha):
            for b in range(r):
                starts[b] = (xi * r + b) * c_out
            for nu in range(alpha):
                at = ((xi * alpha + nu) * c_in + c) * c_out
                weighted_sum(G[nu], gw, starts, flat, at, c_out, False)
    return U


@kernel
def filter_transform_adjoint(dU, G, dW):
    r"""$\partial W_{o,c} = G^\top \partial U_{c,o}\, G$, the adjoint of `filter_transform`:
    ``dU (alpha^2, C_in, C_out)`` into ``dW (C_out, C_in, r, r)`` (overwritten), in the
    same order: one input channel at a time, over rows of output channels."""
    c_out, c_in, r, _ = dW.shape
    alpha = G.shape[0]
    GT = np.ascontiguousarray(G.T)
    flat = dU.reshape(-1)
    gu = np.empty(r * alpha * c_out, dtype=dW.dtype)  # [a, nu, o] = (G^T dU)[a, nu]
    taps = np.empty(r * r * c_out, dtype=dW.dtype)  # [a, b, o]
    starts = np.empty(alpha, dtype=np.int64)
    for c in range(c_in):
        for nu in range(alpha):
            for xi in range(alpha):
                starts[xi] = ((xi * alpha + nu) * c_in + c) * c_out
            for a in range(r):
                weighted_sum(GT[a], flat, starts, gu, (a * alpha + nu) * c_out, c_out, False)
        for a in range(r):
            for nu in range(alpha):
                starts[nu] = (a * alpha + nu) * c_out
            for b in range(r):
                weighted_sum(GT[b], gu, starts, taps, (a * r + b) * c_out, c_out, False)
        for o in range(c_out):
            for a in range(r):
                for b in range(r):
                    dW[o, c, a, b] = taps[(a * r + b) * c_out + o]


@kernel
def weighted_sum(coefs, src, starts, dst, at, n, accumulate):
    r"""``dst[at + v] = sum_k coefs[k] * src[starts[k] + v]`` for ``v < n`` (``+=`` when
    ``accumulate``): every transform below is made of these, over flat buffers in which
    each term is one contiguous run of ``n`` values. With `ALPHA` terms the sum is written
    out, so that each value of ``dst`` is stored once and the loop vectorises."""
    out = dst[at:at + n]  # views indexed from 0: no negative-index checks in the loops
    if coefs.size == ALPHA:
        k0, k1, k2, k3, k4, k5 = coefs[0], coefs[1], coefs[2], coefs[3], coefs[4], coefs[5]
        t0, t1, t2 = src[starts[0]:starts[0] + n], src[starts[1]:starts[1] + n], src[starts[2]:starts[2] + n]
        t3, t4, t5 = src[starts[3]:starts[3] + n], src[starts[4]:starts[4] + n], src[starts[5]:starts[5] + n]
        if accumulate:
            for v in range(n):
                out[v] += (k0 * t0[v] + k1 * t1[v] + k2 * t2[v]
                           + k3 * t3[v] + k4 * t4[v] + k5 * t5[v])
        else:
            for v in range(n):
                out[v] = (k0 * t0[v] + k1 * t1[v] + k2 * t2[v]
                          + k3 * t3[v] + k4 * t4[v] + k5 * t5[v])
        return
    if not accumulate:
        zero(out)
    for k in range(coefs.size):
        coef, term = coefs[k], src[starts[k]:starts[k] + n]
        for v in range(n):
            out[v] += coef * term[v]


@kernel
def zero(a):
    """Fill the contiguous array ``a`` with zeros: a loop, which compiles in a fraction of
    the time of ``a[...] = 0.0`` (compile time is every model's cold start)."""
    flat = a.reshape(-1)
    for k in range(flat.size):
        flat[k] = 0.0


@kernel
def plane_shape(hp, wp, m, channels):
    """``(H_p, m, W_q, C)``: a padded plane stored channels-last with its columns split by
    phase, column $w$ at ``[w % m, w // m]``. Tap $b$ of the tiles of a row then reads one
    contiguous run, ``[b % m, b // m + j]`` for tiles ``j = 0, 1, ...``. The samples of a
    chunk lie side by side in it, as ``N C`` channels (`to_planes`), so that each run
    covers a row of tiles of every sample at once."""
    return hp, m, (wp + m - 1) // m, channels


@kernel
def to_planes(x, padding, xpad):
    """Zero ``xpad (H_p, m, W_q, N C)`` (`plane_shape`) and copy ``x (N, C, H, W)`` into
    it shifted by ``padding``, sample ``n``'s channel ``c`` at ``n C + c`` (rows and
    columns past the padded plane are left out)."""
    batch, channels, height, width = x.shape
    hp, m, wq = xpad.shape[0], xpad.shape[1], xpad.shape[2]
    zero(xpad)
    for h in range(max(0, -padding[0]), min(height, hp - padding[0])):
        for w in range(max(0, -padding[1]), min(width, m * wq - padding[1])):
            col = w + padding[1]
            dst = xpad[h + padding[0], col % m, col // m]
            for n in range(batch):
                for c in range(channels):
                    dst[n * channels + c] = x[n, c, h, w]


@kernel
def from_planes(xpad, padding, x):
    """The adjoint of `to_planes`: ``x (N, C, H, W)`` = the interior of ``xpad``, zero
    where it lies outside."""
    batch, channels, height, width = x.shape
    hp, m, wq = xpad.shape[0], xpad.shape[1], xpad.shape[2]
    x[...] = 0.0
    for h in range(max(0, -padding[0]), min(height, hp - padding[0])):
        for w in range(max(0, -padding[1]), min(width, m * wq - padding[1])):
            col = w + padding[1]
            src = xpad[h + padding[0], col % m, col // m]
            for n in range(batch):
                for c in range(channels):
                    x[n, c, h, w] = src[n * channels + c]


@kernel
def down_columns(coefs, planes, t0, tiles_w, starts, rows):
    r"""``rows[k, nu] = sum_xi coefs[k, xi] planes[xi alpha + nu, t0 : t0 + tiles_w]``: a
    matrix applied down the columns of a row of tiles held in the $\alpha^2$ ``planes
    (alpha^2, tiles, C)`` (the first pass of `output_transform` and of
    `input_transform_adjoint`; `along_row` is the second); ``rows`` is flat,
    ``(len(coefs), alpha, tiles_w, C)``, and ``starts`` room for `ALPHA` offsets."""
    channels = planes.shape[2]
    run = tiles_w * channels
    flat = planes.reshape(-1)
    for nu in range(ALPHA):
        for xi in range(ALPHA):
            starts[xi] = ((xi * ALPHA + nu) * planes.shape[1] + t0) * channels
        for k in range(coefs.shape[0]):
            weighted_sum(coefs[k], flat, starts, rows, (k * ALPHA + nu) * run, run, False)


@kernel
def along_row(coefs, rows, k, run, starts, dst, targets, accumulate):
    r"""``dst[targets[b] :][:run] = sum_nu coefs[b, nu] rows[k, nu]`` (``+=`` when
    ``accumulate``): a matrix applied along row ``k`` of the ``rows`` that `down_columns`
    wrote, each of its ``len(coefs)`` results to its own place in ``dst`` (the second pass
    of `output_transform` and of `input_transform_adjoint`)."""
    for nu in range(ALPHA):
        starts[nu] = (k * ALPHA + nu) * run
    for b in range(coefs.shape[0]):
        weighted_sum(coefs[b], rows, starts, dst, targets[b], run, accumulate)


@kernel
def input_transform(xpad, BT, tiles_h, tiles_w, V):
    r"""$V_{\xi\nu, t} = (B^\top d_t B)_{\xi\nu}$ for every tile $t$ of the planes ``xpad
    (H_p, m, W_q, C)`` (tile ``(i, j)``: $\alpha \times \alpha$ values from row $i m$,
    column $j m$): ``V (alpha^2, tiles, C)``, tile ``(i, j)`` at ``i tiles_w + j``. A row
    of tiles at a time: $B^\top$ down the columns of its $\alpha$ rows of pixels (the
    ``band``), then $B$ along each tile."""
    _, m, wq, channels = xpad.shape
    row = m * wq * channels  # values in a row of pixels
    pixels = xpad.reshape(-1)
    band = np.empty(ALPHA * row, dtype=V.dtype)
    out = V.reshape(-1)
    starts = np.empty(ALPHA, dtype=np.int64)
    run = tiles_w * channels
    for i in range(tiles_h):
        for a in range(ALPHA):
            starts[a] = (i * m + a) * row
        for xi in range(ALPHA):
            weighted_sum(BT[xi], pixels, starts, band, xi * row, row, False)
        for xi in range(ALPHA):
            for b in range(ALPHA):
                starts[b] = xi * row + ((b % m) * wq + b // m) * channels
            for nu in range(ALPHA):
                at = ((xi * ALPHA + nu) * V.shape[1] + i * tiles_w) * channels
                weighted_sum(BT[nu], band, starts, out, at, run, False)


@kernel
def input_transform_adjoint(dV, BT, tiles_h, tiles_w, dxpad):
    r"""The adjoint of `input_transform`: ``dxpad`` is zeroed, then $B\, \partial V_t B^\top$
    of every tile is added where the tile was read (neighbouring tiles overlap by
    $r - 1$ rows and columns)."""
    _, m, wq, channels = dxpad.shape
    row = m * wq * channels
    pixels = dxpad.reshape(-1)
    run = tiles_w * channels
    rows = np.empty(ALPHA * ALPHA * run, dtype=dV.dtype)  # (B dV) of a row of tiles
    starts = np.empty(ALPHA, dtype=np.int64)
    targets = np.empty(ALPHA, dtype=np.int64)
    BT_cols = np.ascontiguousarray(BT.T)
    zero(pixels)
    for i in range(tiles_h):
        down_columns(BT_cols, dV, i * tiles_w, tiles_w, starts, rows)
        for a in range(ALPHA):
            for b in range(ALPHA):  # tap b of every tile of the row: one run of the plane
                targets[b] = (i * m + a) * row + ((b % m) * wq + b // m) * channels
            along_row(BT_cols, rows, a, run, starts, pixels, targets, True)


@kernel
def output_transform(M, AT, bias, tiles_h, tiles_w, y):
    r"""$y$ tile $t$ = $A^\top M_t A$ plus the bias, for ``M (alpha^2, tiles, N C_out)``
    (the samples side by side, as in `to_planes`); the outputs of the last tiles that fall
    past ``y (N, C_out, OH, OW)`` are dropped."""
    batch, channels, oh, ow = y.shape
    m = AT.shape[0]
    run = tiles_w * batch * channels
    rows = np.empty(m * ALPHA * run, dtype=y.dtype)  # (A^T M) of a row of tiles
    tile = np.empty((m, m, tiles_w, batch * channels), dtype=y.dtype)
    flat = tile.reshape(-1)
    starts = np.empty(ALPHA, dtype=np.int64)
    targets = np.empty(m, dtype=np.int64)
    for i in range(tiles_h):
        down_columns(AT, M, i * tiles_w, tiles_w, starts, rows)
        for p in range(m):
            for q in range(m):
                targets[q] = (p * m + q) * run
            along_row(AT, rows, p, run, starts, flat, targets, False)
        for p in range(min(m, oh - i * m)):
            for j in range(tiles_w):
                for q in range(min(m, ow - j * m)):
                    src = tile[p, q, j]
                    for n in range(batch):
                        out = y[n, :, i * m + p, j * m + q]
                        for c in range(channels):
                            out[c] = src[n * channels + c] + bias[c]


@kernel
def output_transform_adjoint(dy, AT, tiles_h, tiles_w, dM):
    r"""The adjoint of `output_transform` (without the bias): $\partial M_t = A\,
    \partial Y_t A^\top$ for every tile of ``dy (N, C_out, OH, OW)``, zero past its edge:
    ``dM (alpha^2, tiles, N C_out)``."""
    batch, channels, oh, ow = dy.shape
    m = AT.shape[0]
    run = tiles_w * batch * channels
    grads = dM.reshape(-1)
    tile = np.empty((m, m, tiles_w, batch * channels), dtype=dM.dtype)
    flat = tile.reshape(-1)
    rows = np.empty(m * ALPHA * run, dtype=dM.dtype)  # (dY A^T) of a row of tiles
    AT_cols = np.ascontiguousarray(AT.T)
    starts = np.empty(m, dtype=np.int64)
    for i in range(tiles_h):
        zero(tile)
        for p in range(min(m, oh - i * m)):
            for j in range(tiles_w):
                for q in range(min(m, ow - j * m)):
                    out = tile[p, q, j]
                    for n in range(batch):
                        src = dy[n, :, i * m + p, j * m + q]
                        for c in range(channels):
                            out[n * channels + c] = src[c]
        for p in range(m):
            for q in range(m):
                starts[q] = (p * m + q) * run
            for nu in range(ALPHA):
                weighted_sum(AT_cols[nu], flat, starts, rows, (p * ALPHA + nu) * run, run,
                             False)
        for nu in range(ALPHA):
            for p in range(m):
                starts[p] = (p * ALPHA + nu) * run
            for xi in range(ALPHA):
                at = ((xi * ALPHA + nu) * dM.shape[1] + i * tiles_w) * dM.shape[2]
                weighted_sum(AT_cols[xi], rows, starts, grads, at, run, False)


@kernel
def geometry(oh, ow, r, m, batch, channels):
    """``(tiles_h, tiles_w, H_p, W_p, chunk)``: tiles of ``m x m`` outputs covering
    ``oh x ow``, the padded plane they read, and samples per chunk: as many as keep the
    transformed tiles of ``channels`` input and output channels together within
    `TRANSFORMED_VALUES`."""
    tiles_h, tiles_w = (oh + m - 1) // m, (ow + m - 1) // m
    per_sample = ALPHA * ALPHA * tiles_h * tiles_w * channels
    chunk = min(batch, max(1, TRANSFORMED_VALUES // per_sample))
    return tiles_h, tiles_w, tiles_h * m + r - 1, tiles_w * m + r - 1, chunk


@kernel
def chunk_view(buffer, shape):
    """The first values of the flat ``buffer`` as a contiguous array of ``shape``."""
    size = 1
    for k in range(len(shape)):
        size *= shape[k]
    return buffer[:size].reshape(shape)


@kernel
def forward(x, U, b, padding, AT, BT, y):
    r"""`conv2d_forward` by Winograd's $F(m \times m, r \times r)$ on ``x (N, C_in, H, W)``
    into ``y (N, C_out, OH, OW)``, stride 1: ``U`` the weights through `filter_transform`,
    ``b (C_out,)``, ``AT, BT`` from `transforms` in ``x``'s dtype. The batch runs in
    chunks (`geometry`), the samples of a chunk side by side through
    the transforms; each of the $\alpha^2$ products then has one row per tile and sample."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out = y.shape[1]
    m = AT.shape[0]
    r = ALPHA - m + 1
    tiles_h, tiles_w, hp, wp, chunk = geometry(y.shape[2], y.shape[3], r, m, batch, c_in + c_out)
    tiles = tiles_h * tiles_w
    xpad = np.empty(hp * m * ((wp + m - 1) // m) * chunk * c_in, dtype=x.dtype)
    V = np.empty(ALPHA * ALPHA * tiles * chunk * c_in, dtype=x.dtype)
    M = np.empty(ALPHA * ALPHA * tiles * chunk * c_out, dtype=x.dtype)
    for start in range(0, batch, chunk):
        n = min(start + chunk, batch) - start
        planes = chunk_view(xpad, plane_shape(hp, wp, m, n * c_in))
        Vc = chunk_view(V, (ALPHA * ALPHA, tiles, n * c_in))
        Mc = chunk_view(M, (ALPHA * ALPHA, tiles, n * c_out))
        to_planes(x[start:start + n], padding, planes)
        input_transform(planes, BT, tiles_h, tiles_w, Vc)
        for e in range(ALPHA * ALPHA):
            np.dot(Vc[e].reshape((tiles * n, c_in)), U[e], Mc[e].reshape((tiles * n, c_out)))
        output_transform(Mc, AT, b, tiles_h, tiles_w, y[start:start + n])


@kernel
def backward(dy, x, U, padding, AT, BT, dx, dU, db, input_grad):
    r"""Gradients of `forward` (overwritten): ``dU`` $= \sum_{\text{chunks}}
    V_{\xi\nu}^\top \partial M_{\xi\nu}$ (the weights' gradient before
    `filter_transform_adjoint`), ``db``, and when ``input_grad`` is true ``dx``: the tiles of
    $B\,(\partial M_{\xi\nu} U_{\xi\nu}^\top)\,B^\top$ added back. The input tiles
    ``V`` of each chunk are recomputed from ``x``."""
    batch, c_in = x.shape[0], x.shape[1]
    c_out = dy.shape[1]
    m = AT.shape[0]
    r = ALPHA - m + 1
    tiles_h, tiles_w, hp, wp, chunk = geometry(dy.shape[2], dy.shape[3], r, m, batch, c_in + c_out)
    tiles = tiles_h * tiles_w
    part = np.empty((c_in, c_out), dtype=x.dtype)
    xpad = np.empty(hp * m * ((wp + m - 1) // m) * chunk * c_in, dtype=x.dtype)
    V = np.empty(ALPHA * ALPHA * tiles * chunk * c_in, dtype=x.dtype)
    dM = np.empty(ALPHA * ALPHA * tiles * chunk * c_out, dtype=x.dtype)
    zero(dU)
    channel_sums(dy, db)
    for start in range(0, batch, chunk):
        n = min(start + chunk, batch) - start
        planes = chunk_view(xpad, plane_shape(hp, wp, m, n * c_in))
        Vc = chunk_view(V, (ALPHA * ALPHA, tiles, n * c_in))
        dMc = chunk_view(dM, (ALPHA * ALPHA, tiles, n * c_out))
        to_planes(x[start:start + n], padding, planes)
        input_transform(planes, BT, tiles_h, tiles_w, Vc)
        output_transform_adjoint(dy[start:start + n], AT, tiles_h, tiles_w, dMc)
        for e in range(ALPHA * ALPHA):
            v, g = Vc[e].reshape((tiles * n, c_in)), dMc[e].reshape((tiles * n, c_out))
            np.dot(v.T, g, part)
            grad = dU[e]
            for c in range(c_in):  # a loop: `dU[e] += part` took seconds to compile
                for o in range(c_out):
                    grad[c, o] += part[c, o]
            if input_grad:
                np.dot(g, U[e].T, v)
        if input_grad:
            input_transform_adjoint(Vc, BT, tiles_h, tiles_w, planes)
            from_planes(planes, padding, dx[start:start + n])
