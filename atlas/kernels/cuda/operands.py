r"""What the CUDA matrix products (`atlas.kernels.cuda.gemm`) read and write: their
*operands*, each an array read as a matrix, and their *epilogues*, each writing an output
value where it belongs.

A dense layer's operands are matrices. A convolution's are the layer's own arrays *read
as* matrices, each value computed from its row and column as the tile is staged, so no
column matrix is ever written (an *implicit-GEMM* convolution):

==============  ==========================================================================
operand         ``op(src)[r, k]``
==============  ==========================================================================
`MATRIX`        ``src[r, k]``, or ``src[k, r]`` when the operand is stored ``(K, R)``
`WEIGHTS`       a ``(R, C, kh, kw)`` weight array as the ``(R, C kh kw)`` matrix
`PATCHES`       im2col of ``x``: row ``k = (c, i, j)``, column ``r = (n, p, q)`` is
                ``x[n, c, p s + i d - pad, q s + j d - pad]`` (zero in the padding)
`PATCHES_T`     the same matrix transposed (``r = (c, i, j)``, ``k = (n, p, q)``)
`CHANNELS`      an ``(N, C, H, W)`` array as the ``(C, N H W)`` matrix of its channels
`WEIGHTS_T`     a ``(K0, C, kh, kw)`` weight array as the ``(C, K0 kh kw)`` matrix
`SPREAD`        the adjoint of `PATCHES`, gathered: row ``k = (c, i, j)``, column
                ``r = (n, h, w)`` is ``x[n, c, (h + pad - i d) / s, ...]`` where the
                division is exact and lands inside ``x``, else zero
==============  ==========================================================================

(for the B operand, ``r`` is the column of $C$: a B operand is read as $B^\top$). An
*epilogue* writes each output value: `MATRIX_OUT` into a matrix, plus a bias per column
when one is given (a dense layer's forward), `PLANES_OUT` into an ``(N, C, H, W)`` array
at row = channel ``c``, column ``(n, h, w)``, plus a bias per channel when one is given
(each of the two, when given a second array ``y``, also writes the value through an
element-wise activation into it: the activation after the layer, in the same launch),
and `WEIGHTS_OUT` into a weight array read as `WEIGHTS` reads it. The bias gradient
comes out of the weight gradient's product: the operand that reads the layer's input
gets one more row of ones (`MATRIX_AND_ONES`, `PATCHES_T_AND_ONES`: the constant input
whose weight is the bias), and the epilogue writes that row's, or column's, outputs into
the bias gradient (`MATRIX_AND_BIAS_ROW_OUT`, `WEIGHTS_AND_BIAS_COLUMN_OUT`).
A convolution then takes one product each way instead of im2col + product + layout copy
(see `conv`); what differs between its products is which operands they read.

Reading a convolution's operand at ``(r, k)`` needs the digits of its indices (``(c, i,
j)``, ``(n, h, w)``): integer division, which a GPU does in software. Each thread stages
values at rows and terms a constant step apart, so it decodes its first ones and its steps
once, before the loop over tiles, and from there adds digits with a carry (`Index`): no
division in the loop (the ``(n, h, w)`` of `SPREAD`'s gather divides by the stride, when
it is not 1).
"""

from numba import cuda, int32, uint32

from atlas.kernels import scalar


# Indices -------------------------------------------------------------------------------
class Index:
    """How an index of an operand (a row ``r`` or a term ``k`` of the sum) is decoded into
    what reading the operand needs beside the index itself, in two device functions:

    - ``decode(src, k_major, geometry, index)``: the digits ``(a, b, c)`` of ``index =
      (a rows + b) cols + c`` for a convolution's ``(c, i, j)`` or ``(n, h, w)`` (integer
      division, which a GPU does in software: about twenty instructions each); nothing
      (0) for a matrix's row or column, which is read as it is;
    - ``advance(src, k_major, geometry, decoded, step)``: the decoding of ``index + s``
      from those of ``index`` and ``s`` (``step = decode(..., s)``), with no division.

    A thread's indices move by the same amount at every value it stages and every tile, so
    it decodes each of them and its steps once, before the loop over tiles, and advances
    them from there. (A matrix's indices carry nothing from one tile to the next: the
    kernel computes them for its bounds anyway.)"""

    def __init__(self, name, decode, advance):
        self.name, self.decode, self.advance = name, decode, advance

    def __repr__(self):
        return self.name


@cuda.jit(device=True)
def _split(index, size):
    """``(index // size, index % size)`` for ``0 <= index < 2**31``, in unsigned 32-bit
    arithmetic: a few instructions, where a 64-bit division is a call of about a hundred
    (`gemm.Product` checks that its indices fit), given as signed 32-bit integers (half the
    registers of 64-bit ones, and as signed, safe in the arithmetic of padded
    coordinates). The implicit-GEMM operands and epilogues decode every index they read
    or write with it."""
    quotient = uint32(index) // uint32(size)
    return int32(quotient), int32(uint32(index) - quotient * uint32(size))


@cuda.jit(device=True)
def _split3(index, rows, cols):
    """``(a, b, c)`` of ``index = (a rows + b) cols + c``: the three indices of a value of
    an array whose last two axes are ``(rows, cols)`` (``(c, i, j)`` of a filter tap,
    ``(n, h, w)`` of a point of a batch of planes)."""
    a, bc = _split(index, rows * cols)
    b, c = _split(bc, cols)
    return a, b, c


@cuda.jit(device=True)
def _add3(digits, step, rows, cols):
    """The digits of ``index + s`` from those of ``index`` and of ``s`` in the mixed radix
    of `_split3`: added from the last, each carrying at most one into the next (both
    digits are below their radix, so their sum and a carry is below twice it)."""
    a, b, c = digits
    step_a, step_b, step_c = step
    c += step_c
    if c >= cols:
        c -= cols
        b += 1
    b += step_b
    if b >= rows:
        b -= rows
        a += 1
    return int32(a + step_a), int32(b), int32(c)


@cuda.jit(device=True)
def _nothing(src, k_major, geometry, index):
    return 0


@cuda.jit(device=True)
def _nothing_more(src, k_major, geometry, decoded, step):
    return 0


def _mixed_radix(name, radix):
    """The `Index` of ``(a, b, c)``, ``index = (a rows + b) cols + c``, where
    ``(rows, cols) = radix(src, geometry)``."""

    @cuda.jit(device=True)
    def decode(src, k_major, geometry, index):
        rows, cols = radix(src, geometry)
        return _split3(index, rows, cols)

    @cuda.jit(device=True)
    def advance(src, k_major, geometry, digits, step):
        rows, cols = radix(src, geometry)
        return _add3(digits, step, rows, cols)

    return Index(name, decode, advance)


@cuda.jit(device=True)
def _last_two_axes(src, geometry):
    return src.shape[2], src.shape[3]


@cuda.jit(device=True)
def _kernel_size(src, geometry):
    return geometry[0], geometry[1]


@cuda.jit(device=True)
def _plane_size(src, geometry):
    return geometry[8], geometry[9]


#: A matrix's row or column, a weight array's filter: read as it is.
PLAIN = Index("PLAIN", _nothing, _nothing_more)
#: ``(c, i, j)`` or ``(n, h, w)`` over axes whose last two are the last two of the array
#: read: a weight's taps ``(C, kh, kw)``, a point of an ``(N, C, H, W)`` array.
ARRAY_POINTS = _mixed_radix("ARRAY_POINTS", _last_two_axes)
#: ``(c, i, j)`` of a row of the im2col matrix (channel, kernel row, kernel column).
PATCH_TAPS = _mixed_radix("PATCH_TAPS", _kernel_size)
#: ``(n, h, w)`` of a column of the im2col matrix: a point of the plane of
#: ``geometry[8:]``.
PLANE_POINTS = _mixed_radix("PLANE_POINTS", _plane_size)


# Operands ------------------------------------------------------------------------------
class Operand:
    """How a kernel reads one operand, ``op(src)[r, k]``: the `Index` of its rows ``row``
    and that of its terms ``term``, and ``at(src, k_major, geometry, r, k, row, term)``,
    the value at row ``r`` and term ``k`` given their decodings ``row`` and ``term``.
    ``r_fast(k_major)`` says whether consecutive ``r`` (rather than consecutive ``k``) are
    neighbours in memory, the order in which a block's threads stage a tile. ``geometry``
    is the convolution's ``(kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h,
    dilation_w, plane_h, plane_w)``, where the plane is the one the columns ``(n, h, w)``
    of `PATCHES` and `SPREAD` run over. ``ones``: whether the operand has one more row, of
    ones, past the rows ``at`` reads (see `_and_ones`)."""

    def __init__(self, name, row, term, at, r_fast, ones=False):
        self.name, self.row, self.term, self.at, self.r_fast = name, row, term, at, r_fast
        self.ones = ones

    def __repr__(self):
        return self.name


@cuda.jit(device=True)
def _k_major(k_major):
    return k_major


@cuda.jit(device=True)
def _r_slow(k_major):
    return False


@cuda.jit(device=True)
def _r_fast(k_major):
    return True


@cuda.jit(device=True)
def _value(x, a, b, c, d):
    """``x[a, b, c, d]``, for indices known not to be negative, read as unsigned integers:
    Numba counts a negative signed index from the end (a compare and an add an index) and
    cannot tell that these never are (`_make_blocked` says what that costs)."""
    return x[uint32(a), uint32(b), uint32(c), uint32(d)]


@cuda.jit(device=True)
def _matrix_at(src, k_major, geometry, r, k, row, term):
    """`MATRIX`: ``src[r, k]``, or ``src[k, r]`` for an operand stored ``(K, R)``
    (indices unsigned, as in `_value`)."""
    r, k = uint32(r), uint32(k)
    return src[k, r] if k_major else src[r, k]


@cuda.jit(device=True)
def _axis0_rows_at(src, k_major, geometry, r, k, row, digits):
    """`WEIGHTS`: a four-axis array read with axis 0 as the rows and the other three, the
    term's digits ``(a, b, c)``, as the sum: ``src[r, a, b, c]`` (``W (R, C, kh, kw)`` as
    the ``(R, C kh kw)`` matrix)."""
    a, b, c = digits
    return _value(src, r, a, b, c)


@cuda.jit(device=True)
def _patches_at(x, k_major, geometry, r, k, point, taps):
    """`PATCHES`: the im2col matrix of ``x``, row ``k = (c, i, j)``, column
    ``r = (n, p, q)``; zero where the receptive field reaches into the padding."""
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geometry
    n, p, q = point
    c, i, j = taps
    h = p * sh + i * dh - ph
    w = q * sw + j * dw - pw
    if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
        return _value(x, n, c, h, w)
    return 0


@cuda.jit(device=True)
def _patches_t_at(x, k_major, geometry, r, k, taps, point):
    """`PATCHES_T`: the im2col matrix transposed."""
    return _patches_at(x, k_major, geometry, k, r, point, taps)


@cuda.jit(device=True)
def _axis1_rows_at(src, k_major, geometry, r, k, row, digits):
    """`CHANNELS` and `WEIGHTS_T`: a four-axis array read with axis 1 as the rows:
    ``src[a, r, b, c]`` for the term's digits ``(a, b, c)`` (``y (N, C, H, W)`` as the
    ``(C, N H W)`` matrix of its channels, ``W (K0, C, kh, kw)`` as ``(C, K0 kh kw)``)."""
    a, b, c = digits
    return _value(src, a, r, b, c)


@cuda.jit(device=True)
def _spread_at(x, k_major, geometry, r, k, point, taps):
    """`SPREAD`: col2im as a gather: row ``k = (c, i, j)``, column ``r = (n, h, w)``
    takes ``x[n, c, p, q]`` where ``h = p s + i d - pad`` (and ``w`` likewise) has a
    whole ``p`` inside ``x``; else zero."""
    kh, kw, sh, sw, ph, pw, dh, dw, height, width = geometry
    n, h, w = point
    c, i, j = taps
    hh = h + ph - i * dh
    ww = w + pw - j * dw
    if hh >= 0 and ww >= 0:
        p, p_rest = _exact(hh, sh)
        q, q_rest = _exact(ww, sw)
        if p_rest == 0 and q_rest == 0 and p < x.shape[2] and q < x.shape[3]:
            return _value(x, n, c, p, q)
    return 0


@cuda.jit(device=True)
def _exact(value, stride):
    """`_split` of ``value`` by a convolution's stride, with no division at stride 1 (the
    same for every thread: no divergence)."""
    if stride == 1:
        return int32(value), int32(0)
    return _split(value, stride)


MATRIX = Operand("MATRIX", PLAIN, PLAIN, _matrix_at, _k_major)
WEIGHTS = Operand("WEIGHTS", PLAIN, ARRAY_POINTS, _axis0_rows_at, _r_slow)
PATCHES = Operand("PATCHES", PLANE_POINTS, PATCH_TAPS, _patches_at, _r_fast)
PATCHES_T = Operand("PATCHES_T", PATCH_TAPS, PLANE_POINTS, _patches_t_at, _r_slow)
CHANNELS = Operand("CHANNELS", PLAIN, ARRAY_POINTS, _axis1_rows_at, _r_slow)
WEIGHTS_T = Operand("WEIGHTS_T", PLAIN, ARRAY_POINTS, _axis1_rows_at, _r_slow)  # read alike
SPREAD = Operand("SPREAD", PLANE_POINTS, PATCH_TAPS, _spread_at, _r_fast)


# Operands with a row of ones (the bias gradient) ----------------------------------------
def _and_ones(operand):
    """``operand`` with one more row of ones: the constant input 1 whose weight is the
    bias, so that the product that gives the weight gradient gives the bias gradient too
    (a dense layer's $[x, 1]^\\top dy$, a convolution's output gradient against the
    columns and a row of ones). The kernels read its last row as ones (`gemm._make_copy`)."""
    return Operand(f"{operand.name}_AND_ONES", operand.row, operand.term, operand.at,
                   operand.r_fast, ones=True)


MATRIX_AND_ONES = _and_ones(MATRIX)
PATCHES_T_AND_ONES = _and_ones(PATCHES_T)

#: The geometry argument of a product that reads no convolution.
NO_GEOMETRY = (1,) * 10


# Epilogues -----------------------------------------------------------------------------
#: The activation code of a product that applies none.
NO_ACTIVATION = scalar.NO_ACTIVATION


class Epilogue:
    """How a product writes each output value, ``store(c, row, col, value, bias)``, and,
    for an epilogue made with ``activate`` and ``chain`` (the two that write planes or a
    matrix of values, not gradients of weights), what it may do next at each output:

    - `activation` ``(kind)``: the device function ``apply(c, row, col, y, alpha)`` that
      writes ``y = f(c)`` at the place of output ``(row, col)``, ``f`` the activation of
      code ``kind`` (`scalar.ACTIVATION_CODES`): the activation layer after a dense or
      convolution layer, in the layer's forward launch;
    - `derivative` ``(kind)``: ``apply(c, row, col, saved, alpha)`` that multiplies the
      output by ``f'`` there, ``c = c f'(z)``: an input gradient written through the
      activation layer before a dense or convolution layer (the chain rule's next factor),
      in the layer's backward launch. ``saved`` holds, at each output's place, what
      ``f'`` is computed from (`scalar.chain_saved`): the activation's output ``f(z)``
      for sigmoid and tanh, its input ``z`` otherwise.

    The code is a constant of ``apply``, as in the CPU's activation loops: with it a
    variable, every activation's code sat in every product. And ``apply`` reads back the
    value ``store`` wrote rather than taking the accumulator: inside the loop over a
    thread's outputs, ELU's or Swish's code made NVVM leave that loop rolled, and the
    blocked products kept their accumulators in local memory (`ptx_check.py`)."""

    def __init__(self, name, store, activate=None, chain=None):
        self.name, self.store = name, store
        self._makers = {False: activate, True: chain}
        self.activates = activate is not None

    def __repr__(self):
        return self.name

    def activation(self, kind):
        """``apply(c, row, col, y, alpha)`` writing ``y = f(c)`` for activation code
        ``kind`` (nothing for `NO_ACTIVATION`)."""
        return self.then(kind, derivative=False)

    def derivative(self, kind):
        """``apply(c, row, col, saved, alpha)`` making ``c = c f'(z)`` for activation code
        ``kind`` (nothing for `NO_ACTIVATION`)."""
        return self.then(kind, derivative=True)

    def then(self, kind, derivative):
        """`derivative` ``(kind)`` if ``derivative``, else `activation` ``(kind)``."""
        if kind == NO_ACTIVATION:
            return _no_activation
        if not self.activates:
            raise ValueError(f"{self.name} writes gradients: it applies no activation")
        return self._makers[derivative](kind)


@cuda.jit(device=True)
def _no_activation(c, row, col, y, alpha):
    pass


@cuda.jit(device=True)
def _matrix_out(c, row, col, value, bias):
    """`MATRIX_OUT`: ``c[row, col] = value`` (+ ``bias[col]`` when there is a bias)."""
    if bias.size > 0:
        value += bias[col]
    c[row, col] = value


def _matrix_activation(kind):
    @cuda.jit(device=True)
    def apply(c, row, col, y, alpha):
        """``y[row, col] = f(c[row, col])``."""
        y[row, col] = scalar.activation(kind, c[row, col], alpha)

    return apply


def _matrix_chain(kind):
    @cuda.jit(device=True)
    def apply(c, row, col, saved, alpha):
        """``c[row, col] *= f'`` from ``saved[row, col]``."""
        c[row, col] = c[row, col] * scalar.chain_factor(kind, saved[row, col], alpha)

    return apply


@cuda.jit(device=True)
def _planes_out(c, row, col, value, bias):
    """`PLANES_OUT`: ``c[n, row, h, w] = value`` for column ``col = (n, h, w)`` (+
    ``bias[row]`` when there is a bias)."""
    if bias.size > 0:
        value += bias[row]
    n, h, w = _split3(col, c.shape[2], c.shape[3])
    c[n, row, h, w] = value


def _planes_activation(kind):
    @cuda.jit(device=True)
    def apply(c, row, col, y, alpha):
        """``y[n, row, h, w] = f(c[n, row, h, w])`` for column ``col = (n, h, w)``."""
        n, h, w = _split3(col, c.shape[2], c.shape[3])
        y[n, row, h, w] = scalar.activation(kind, c[n, row, h, w], alpha)

    return apply


def _planes_chain(kind):
    @cuda.jit(device=True)
    def apply(c, row, col, saved, alpha):
        """``c[n, row, h, w] *= f'`` from ``saved[n, row, h, w]``, column ``col = (n, h,
        w)``."""
        n, h, w = _split3(col, c.shape[2], c.shape[3])
        c[n, row, h, w] = c[n, row, h, w] * scalar.chain_factor(kind, saved[n, row, h, w],
                                                                alpha)

    return apply


@cuda.jit(device=True)
def _weights_out(W, row, col, value, bias):
    """`WEIGHTS_OUT`: ``W[row, c, i, j] = value`` for column ``col = (c, i, j)``."""
    c, i, j = _split3(col, W.shape[2], W.shape[3])
    W[row, c, i, j] = value


@cuda.jit(device=True)
def _matrix_and_bias_row_out(c, row, col, value, bias):
    """`MATRIX_AND_BIAS_ROW_OUT`: ``c[row, col] = value``; the row past ``c``'s last (the
    ones' row of `MATRIX_AND_ONES`) goes to ``bias[col]``."""
    if row == c.shape[0]:
        bias[col] = value
    else:
        c[row, col] = value


@cuda.jit(device=True)
def _weights_and_bias_column_out(W, row, col, value, bias):
    """`WEIGHTS_AND_BIAS_COLUMN_OUT`: as `WEIGHTS_OUT`; the column past the weights' last
    (the ones of `PATCHES_T_AND_ONES`) goes to ``bias[row]``."""
    if col == W.shape[1] * W.shape[2] * W.shape[3]:
        bias[row] = value
    else:
        _weights_out(W, row, col, value, bias)


MATRIX_OUT = Epilogue("MATRIX_OUT", _matrix_out, _matrix_activation, _matrix_chain)
PLANES_OUT = Epilogue("PLANES_OUT", _planes_out, _planes_activation, _planes_chain)
WEIGHTS_OUT = Epilogue("WEIGHTS_OUT", _weights_out)
MATRIX_AND_BIAS_ROW_OUT = Epilogue("MATRIX_AND_BIAS_ROW_OUT", _matrix_and_bias_row_out)
WEIGHTS_AND_BIAS_COLUMN_OUT = Epilogue("WEIGHTS_AND_BIAS_COLUMN_OUT",
                                       _weights_and_bias_column_out)
