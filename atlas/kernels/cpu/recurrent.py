r"""Recurrent layers over whole sequences: the vanilla RNN, the LSTM and the GRU, forward
and backpropagation through time (BPTT).

Shapes. The caller's arrays are batch-first: ``x (N, T, F)``, ``y (N, T, H)``, initial and
final states ``(N, H)``. The weights follow the dense convention $y = x W$:
``W_x (F, G)``, ``W_h (H, G)``, biases ``b_x, b_h (G,)``, with ``G`` the width of the
stacked pre-activations: ``H`` for the RNN, ``4H`` for the LSTM (gates $i, f, g, o$) and
``3H`` for the GRU ($r, z, n$), in PyTorch's order.

Inside, the kernels work *time-major*: ``xs (T, N, F)``, ``hs (T+1, N, H)`` (``hs[0]`` is
the initial state) and ``gates (T, N, G)``. Each step then reads and writes contiguous
``(N, ·)`` matrices (and a piece of the batch, contiguous rows of them), and after the
time loop the weight gradients are one product over all ``T N`` rows:

$$
\frac{\partial L}{\partial W_x} = \sum_t x_t^\top \delta_t = X^\top \Delta, \qquad
\frac{\partial L}{\partial W_h} = \sum_t h_{t-1}^\top \delta^h_t .
$$

The time-major arrays are the forward pass's cache: the layer keeps them and hands them to
the backward kernel. The time loop runs here, in compiled code: one matrix product per
step (`_rows_dot_rows`, not BLAS: see there why) and the step's gate arithmetic, fused
loops over rows of gates.
"""

import numpy as np

from atlas.kernels import scalar
from atlas.kernels.cpu import threads
from atlas.kernels.cpu.dense import _column_sums
from atlas.kernels.jit import kernel


# Layout helpers and the step's product --------------------------------------------------------
@kernel
def _rows(a):
    """The ``(T, N, K)`` array ``a`` as a ``(T N, K)`` matrix (a view)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


@kernel
def _swap_leading(src, dst, offset):
    """``dst[a, b] = src[b + offset, a]``: batch-first to time-major and back (``offset``
    1 skips the initial state ``hs[0]`` when the outputs are written batch-first)."""
    na, nb, k = dst.shape
    for a in range(na):
        for b in range(nb):
            for j in range(k):
                dst[a, b, j] = src[b + offset, a, j]


@kernel
def _copy_rows(src, dst):
    """``dst[i, k] = src[i, k]``. A loop: Numba compiles it in a tenth of a second, where a
    slice assignment between arrays (``dst[:, :] = src``) took 2-3 s per call site."""
    n, h = src.shape
    for i in range(n):
        for k in range(h):
            dst[i, k] = src[i, k]


@kernel
def _transposed(a):
    """A contiguous copy of ``a.T``, in tiles of 32x32 so that both sides stay in cache
    (the forward passes' $W_h^\top$ for `_rows_dot_rows`, made once per sequence)."""
    rows, cols = a.shape
    out = np.empty((cols, rows), dtype=a.dtype)
    for r0 in range(0, rows, 32):
        for c0 in range(0, cols, 32):
            for r in range(r0, min(r0 + 32, rows)):
                for c in range(c0, min(c0 + 32, cols)):
                    out[c, r] = a[r, c]
    return out


@kernel
def _dot(u, v):
    """The dot product of two 1-D arrays, in their dtype."""
    total = u.dtype.type(0)
    for k in range(u.size):
        total += u[k] * v[k]
    return total


@kernel
def _rows_dot_rows(a, b, out):
    r"""$\text{out} = a\, b^\top$ for ``a (M, K)`` and ``b (N, K)``: ``out[i, j]`` is the dot
    product of row $i$ of ``a`` with row $j$ of ``b``, all rows contiguous.

    The product of every recurrent step: $h_{t-1} W_h$ forward (``b`` $= W_h^\top$, copied
    once per sequence) and $\delta_t W_h^\top$ backward (``b`` $= W_h$ itself). BLAS
    repacks $W_h$ into its own layout at every call, that is at every step; here the
    weights are read as they lie. Four rows of ``a`` meet four rows of ``b`` at a time:
    sixteen running dot products, in which each value loaded feeds four multiply-adds, and
    LLVM vectorises the loop over $k$ with sixteen vector accumulators. Rows and columns
    left over take plain dot products.

    Measured on the reference machine, one thread, float32: (32, 256) x (256, 1024) in
    0.19 ms (87 GFLOP/s) against OpenBLAS's 0.23 ms (72 GFLOP/s); (32, 1024) x (1024, 256)
    in 0.16 ms (103 GFLOP/s) against 0.23 ms.
    """
    m, n = a.shape[0], b.shape[0]
    m4, n4 = m - m % 4, n - n % 4
    zero = out.dtype.type(0)
    for j in range(0, n4, 4):
        b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]
        for i in range(0, m4, 4):
            a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
            for k in range(a0.size):  # written out here: as a function call it ran 1.2x slower
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
            o0[j], o0[j + 1], o0[j + 2], o0[j + 3] = s00, s01, s02, s03
            o1[j], o1[j + 1], o1[j + 2], o1[j + 3] = s10, s11, s12, s13
            o2[j], o2[j + 1], o2[j + 2], o2[j + 3] = s20, s21, s22, s23
            o3[j], o3[j + 1], o3[j + 2], o3[j + 3] = s30, s31, s32, s33
        for i in range(m4, m):
            for c in range(j, j + 4):
                out[i, c] = _dot(a[i], b[c])
    for j in range(n4, n):
        for i in range(m):
            out[i, j] = _dot(a[i], b[j])


# Shared by the three cells -------------------------------------------------------------------
# Each cell runs in three stages: the input projection of all steps (one product, run by
# BLAS on the pool's threads), the time loop on pieces of the batch at once (the samples
# are independent through time, so each thread runs every step for its rows and no step
# waits for another thread), and the weight gradients (products over all steps, BLAS again).
@threads.using_blas_threads
@kernel
def _input_projection(x, xs, W_x, b_x, gates):
    r"""$a_t = x_t W_x + b_x$ for every step at once (one product over ``T N`` rows),
    written time-major into ``gates``; ``xs`` receives the time-major copy of ``x``."""
    _swap_leading(x, xs, 0)
    pre = _rows(gates)
    np.dot(_rows(xs), W_x, pre)
    rows, g = pre.shape
    for r in range(rows):
        for k in range(g):
            pre[r, k] += b_x[k]


@threads.using_blas_threads
@kernel
def _parameter_gradients(xs, hs, dpre_x, dpre_h, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad):
    r"""Everything that follows from the pre-activation gradients of all steps:

    $dW_x = X^\top \Delta_x$, $dW_h = H_{<T}^\top \Delta_h$, $db_x, db_h$ their column sums
    and (with ``input_grad``) $dx_t = \delta^x_t W_x^\top$, written batch-first.
    ``dpre_x`` and ``dpre_h`` differ only in the GRU, whose reset gate scales the hidden
    projection of the candidate.
    """
    steps = xs.shape[0]
    np.dot(_rows(xs).T, _rows(dpre_x), dW_x)
    np.dot(_rows(hs[:steps]).T, _rows(dpre_h), dW_h)
    _column_sums(_rows(dpre_x), db_x)
    _column_sums(_rows(dpre_h), db_h)
    if input_grad:
        dxs = np.empty_like(xs)
        np.dot(_rows(dpre_x), W_x.T, _rows(dxs))
        _swap_leading(dxs, dx, 0)


@kernel
def _squash(a, rec, b_h, tanh):
    r"""One row's block of gates, in place: $a \leftarrow \sigma(a + r + b_h)$ (or $\tanh$).

    The arguments are 1-D rows (``gates[t, i, start:stop]`` and the matching slices of
    the recurrent product and the bias). Every elementwise loop of this module runs over such
    rows, one block of gates at a time, so that LLVM vectorises it: indexing the 2-D
    arrays at a runtime offset (``a[i, start + k]``) measured 3x slower for the same loop,
    and a single loop storing all four gates of a unit stays scalar (8x slower).
    """
    for k in range(a.size):
        v = a[k] + rec[k] + b_h[k]
        a[k] = scalar.tanh(v) if tanh else scalar.sigmoid(v)


#: Fewest rows of the batch per piece of a time loop (one block of `_rows_dot_rows`).
ROWS_PER_PIECE = 4


def _on_row_pieces(steps, batch, arguments):
    """``steps(*arguments, start, stop)`` on pieces ``start:stop`` of the batch's rows at
    once (`atlas.kernels.cpu.threads`)."""
    threads.run(steps, [arguments + (s, e) for s, e in threads.split(batch, ROWS_PER_PIECE)])


# Vanilla RNN ---------------------------------------------------------------------------------
def rnn_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hs, y):
    r"""Elman RNN: $h_t = \tanh(x_t W_x + b_x + h_{t-1} W_h + b_h)$, $t = 1..T$.

    ``gates (T, N, H)`` receives the input projections (workspace); ``hs (T+1, N, H)``
    the states $h_0..h_T$ (the cache backward needs, with ``xs``); ``y`` the outputs
    $h_1..h_T$ batch-first.
    """
    _input_projection(x, xs, W_x, b_x, gates)
    _on_row_pieces(_rnn_steps, len(x), (h0, _transposed(W_h), b_h, gates, hs))
    _swap_leading(hs, y, 1)


@kernel
def _rnn_steps(h0, W_hT, b_h, gates, hs, start, stop):
    """The time loop of `rnn_forward` for the rows ``start:stop`` of the batch."""
    h = h0.shape[1]
    _copy_rows(h0[start:stop], hs[0, start:stop])
    for t in range(gates.shape[0]):
        new_rows = hs[t + 1, start:stop]
        _rows_dot_rows(hs[t, start:stop], W_hT, new_rows)
        for i in range(stop - start):
            new, a = new_rows[i], gates[t, start + i]
            for k in range(h):
                new[k] = scalar.tanh(new[k] + a[k] + b_h[k])


def rnn_backward(dy, dhT, xs, hs, W_x, W_h, dgates, dx, dh0, dW_x, dW_h, db_x, db_h,
                 input_grad):
    r"""BPTT of `rnn_forward`. With $g_t = \partial L / \partial h_t$ (from the output
    ``dy`` and from step $t+1$; ``dhT`` arrives at the final state):

    $$
    \delta_t = g_t \odot (1 - h_t^2), \qquad g_{t-1} \mathrel{+}= \delta_t W_h^\top .
    $$

    ``dgates (T, N, H)`` receives $\delta_t$; ``dh0`` ends as $\partial L / \partial h_0$.
    """
    _on_row_pieces(_rnn_steps_back, len(dy), (dy, dhT, hs, W_h, dgates, dh0))
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


@kernel
def _rnn_steps_back(dy, dhT, hs, W_h, dgates, dh0, start, stop):
    """The time loop of `rnn_backward` for the rows ``start:stop`` of the batch."""
    steps, h = dy.shape[1], dy.shape[2]
    one = dgates.dtype.type(1)  # a float64 1.0 would make the float32 arithmetic float64
    _copy_rows(dhT[start:stop], dh0[start:stop])
    for t in range(steps - 1, -1, -1):
        for i in range(start, stop):
            d, ht, g_out, g_next = dgates[t, i], hs[t + 1, i], dy[i, t], dh0[i]
            for k in range(h):
                d[k] = (g_out[k] + g_next[k]) * (one - ht[k] * ht[k])
        _rows_dot_rows(dgates[t, start:stop], W_h, dh0[start:stop])


# LSTM ----------------------------------------------------------------------------------------
def lstm_forward(x, h0, c0, W_x, W_h, b_x, b_h, xs, gates, hs, cs, y):
    r"""LSTM over a sequence. With $a_t = x_t W_x + b_x + h_{t-1} W_h + b_h$ split in four:

    $$
    i, f, o = \sigma(a^{i}), \sigma(a^{f}), \sigma(a^{o}), \quad g = \tanh(a^{g}), \quad
    c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh c_t .
    $$

    ``gates (T, N, 4H)`` ends holding the activated gates $i, f, g, o$ of every step;
    ``hs, cs (T+1, N, H)`` the hidden and cell states from the initial ones on.
    """
    _input_projection(x, xs, W_x, b_x, gates)
    _on_row_pieces(_lstm_steps, len(x), (h0, c0, _transposed(W_h), b_h, gates, hs, cs))
    _swap_leading(hs, y, 1)


@kernel
def _lstm_steps(h0, c0, W_hT, b_h, gates, hs, cs, start, stop):
    """The time loop of `lstm_forward` for the rows ``start:stop`` of the batch."""
    h = h0.shape[1]
    _copy_rows(h0[start:stop], hs[0, start:stop])
    _copy_rows(c0[start:stop], cs[0, start:stop])
    rec = np.empty((stop - start, 4 * h), dtype=gates.dtype)
    for t in range(gates.shape[0]):
        _rows_dot_rows(hs[t, start:stop], W_hT, rec)
        for i in range(start, stop):
            a, r = gates[t, i], rec[i - start]
            _squash(a[:2 * h], r[:2 * h], b_h[:2 * h], False)  # input and forget gates
            _squash(a[2 * h:3 * h], r[2 * h:3 * h], b_h[2 * h:3 * h], True)  # candidate g
            _squash(a[3 * h:], r[3 * h:], b_h[3 * h:], False)  # output gate
            ig, fg, gg, og = a[:h], a[h:2 * h], a[2 * h:3 * h], a[3 * h:]
            c_prev, c_new, h_new = cs[t, i], cs[t + 1, i], hs[t + 1, i]
            for k in range(h):
                c = fg[k] * c_prev[k] + ig[k] * gg[k]
                c_new[k] = c
                h_new[k] = og[k] * scalar.tanh(c)


def lstm_backward(dy, dhT, dcT, xs, gates, hs, cs, W_x, W_h, dgates, dx, dh0, dc0, dW_x,
                  dW_h, db_x, db_h, input_grad):
    r"""BPTT of `lstm_forward`. With $g_t = \partial L/\partial h_t$ and the running cell
    gradient $e_t = \partial L / \partial c_t$ (seeded by ``dhT``, ``dcT``):

    $$
    \begin{aligned}
    e_t &\mathrel{+}= g_t \odot o \odot (1 - \tanh^2 c_t), \\
    \delta^{i} &= e_t \odot g \odot i(1-i), \quad
    \delta^{f} = e_t \odot c_{t-1} \odot f(1-f), \\
    \delta^{g} &= e_t \odot i \odot (1-g^2), \quad
    \delta^{o} = g_t \odot \tanh c_t \odot o(1-o), \\
    e_{t-1} &= e_t \odot f, \qquad g_{t-1} \mathrel{+}= \delta_t W_h^\top .
    \end{aligned}
    $$

    ``dgates (T, N, 4H)`` receives $\delta_t$; ``dh0``, ``dc0`` end as the gradients
    with respect to the initial states.
    """
    _on_row_pieces(_lstm_steps_back, len(dy), (dy, dhT, dcT, gates, cs, W_h, dgates, dh0, dc0))
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


@kernel
def _lstm_steps_back(dy, dhT, dcT, gates, cs, W_h, dgates, dh0, dc0, start, stop):
    """The time loop of `lstm_backward` for the rows ``start:stop`` of the batch."""
    steps, h = dy.shape[1], dy.shape[2]
    one = dgates.dtype.type(1)  # a float64 1.0 would make the float32 arithmetic float64
    _copy_rows(dhT[start:stop], dh0[start:stop])
    _copy_rows(dcT[start:stop], dc0[start:stop])
    for t in range(steps - 1, -1, -1):
        # Row by row, one loop per block of d, each writing a single block: see _squash.
        for i in range(start, stop):
            g, d = gates[t, i], dgates[t, i]
            ig, fg, gg, og = g[:h], g[h:2 * h], g[2 * h:3 * h], g[3 * h:]
            di, df, dg, do = d[:h], d[h:2 * h], d[2 * h:3 * h], d[3 * h:]
            e, g_next, g_out = dc0[i], dh0[i], dy[i, t]
            c_prev, c_t = cs[t, i], cs[t + 1, i]
            for k in range(h):  # output gate; e becomes e_t
                dh = g_out[k] + g_next[k]
                tc = scalar.tanh(c_t[k])
                e[k] += dh * og[k] * (one - tc * tc)
                do[k] = dh * tc * og[k] * (one - og[k])
            for k in range(h):  # input gate
                di[k] = e[k] * gg[k] * ig[k] * (one - ig[k])
            for k in range(h):  # forget gate
                df[k] = e[k] * c_prev[k] * fg[k] * (one - fg[k])
            for k in range(h):  # candidate
                dg[k] = e[k] * ig[k] * (one - gg[k] * gg[k])
            for k in range(h):  # e_{t-1}
                e[k] *= fg[k]
        _rows_dot_rows(dgates[t, start:stop], W_h, dh0[start:stop])


# GRU -----------------------------------------------------------------------------------------
def gru_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hn, hs, y):
    r"""GRU over a sequence, in PyTorch's form (the reset gate scales the hidden
    projection *with its bias*):

    $$
    \begin{aligned}
    r &= \sigma(x_t W_x^{r} + b_x^{r} + h_{t-1} W_h^{r} + b_h^{r}), \quad
    z = \sigma(x_t W_x^{z} + b_x^{z} + h_{t-1} W_h^{z} + b_h^{z}), \\
    n &= \tanh\big(x_t W_x^{n} + b_x^{n} + r \odot (h_{t-1} W_h^{n} + b_h^{n})\big), \quad
    h_t = (1 - z) \odot n + z \odot h_{t-1} .
    \end{aligned}
    $$

    ``gates (T, N, 3H)`` ends holding $r, z, n$; ``hn (T, N, H)`` the hidden projections
    $h_{t-1} W_h^{n} + b_h^{n}$ (the reset gate's gradient needs them).
    """
    _input_projection(x, xs, W_x, b_x, gates)
    _on_row_pieces(_gru_steps, len(x), (h0, _transposed(W_h), b_h, gates, hn, hs))
    _swap_leading(hs, y, 1)


@kernel
def _gru_steps(h0, W_hT, b_h, gates, hn, hs, start, stop):
    """The time loop of `gru_forward` for the rows ``start:stop`` of the batch."""
    h = h0.shape[1]
    one = gates.dtype.type(1)  # a float64 1.0 would make the float32 arithmetic float64
    _copy_rows(h0[start:stop], hs[0, start:stop])
    rec = np.empty((stop - start, 3 * h), dtype=gates.dtype)
    for t in range(gates.shape[0]):
        _rows_dot_rows(hs[t, start:stop], W_hT, rec)
        for i in range(start, stop):
            a, r = gates[t, i], rec[i - start]
            _squash(a[:2 * h], r[:2 * h], b_h[:2 * h], False)  # reset and update gates
            rg, zg, ng = a[:h], a[h:2 * h], a[2 * h:]
            r_n, b_n = r[2 * h:], b_h[2 * h:]
            proj, h_prev, h_new = hn[t, i], hs[t, i], hs[t + 1, i]
            for k in range(h):
                p = r_n[k] + b_n[k]
                proj[k] = p
                h_new[k] = scalar.tanh(ng[k] + rg[k] * p)  # candidate n
            for k in range(h):
                c, z = h_new[k], zg[k]
                ng[k] = c
                h_new[k] = (one - z) * c + z * h_prev[k]


def gru_backward(dy, dhT, xs, gates, hn, hs, W_x, W_h, dgates, dhgates, dx, dh0, dW_x, dW_h,
                 db_x, db_h, input_grad):
    r"""BPTT of `gru_forward`. With $g_t = \partial L / \partial h_t$:

    $$
    \begin{aligned}
    \delta^{n} &= g_t \odot (1 - z) \odot (1 - n^2), \quad
    \delta^{z} = g_t \odot (h_{t-1} - n) \odot z (1 - z), \\
    \delta^{r} &= \delta^{n} \odot (h_{t-1} W_h^{n} + b_h^{n}) \odot r (1 - r), \\
    g_{t-1} &\mathrel{+}= g_t \odot z + [\delta^{r}, \delta^{z}, r \odot \delta^{n}] W_h^\top .
    \end{aligned}
    $$

    ``dgates (T, N, 3H)`` receives the input-side gradients $[\delta^r, \delta^z,
    \delta^n]$, ``dhgates`` the hidden-side ones $[\delta^r, \delta^z, r \odot \delta^n]$.
    """
    _on_row_pieces(_gru_steps_back, len(dy), (dy, dhT, gates, hn, hs, W_h, dgates, dhgates,
                                               dh0))
    _parameter_gradients(xs, hs, dgates, dhgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


@kernel
def _gru_steps_back(dy, dhT, gates, hn, hs, W_h, dgates, dhgates, dh0, start, stop):
    """The time loop of `gru_backward` for the rows ``start:stop`` of the batch."""
    steps, h = dy.shape[1], dy.shape[2]
    one = dgates.dtype.type(1)  # a float64 1.0 would make the float32 arithmetic float64
    _copy_rows(dhT[start:stop], dh0[start:stop])
    back = np.empty((stop - start, h), dtype=dy.dtype)
    for t in range(steps - 1, -1, -1):
        # Row by row, one loop per block written (see _squash); g_next holds g_t, then
        # g_t * z.
        for i in range(start, stop):
            g, d, d_side = gates[t, i], dgates[t, i], dhgates[t, i]
            rg, zg, ng = g[:h], g[h:2 * h], g[2 * h:]
            dr, dz, dn = d[:h], d[h:2 * h], d[2 * h:]
            dr_side, dz_side, dn_side = d_side[:h], d_side[h:2 * h], d_side[2 * h:]
            g_next, g_out, proj, h_prev = dh0[i], dy[i, t], hn[t, i], hs[t, i]
            for k in range(h):  # candidate, input side
                g_next[k] += g_out[k]
                dn[k] = g_next[k] * (one - zg[k]) * (one - ng[k] * ng[k])
            for k in range(h):  # update gate
                v = g_next[k] * (h_prev[k] - ng[k]) * zg[k] * (one - zg[k])
                dz[k] = v
                dz_side[k] = v
            for k in range(h):  # reset gate (delta^n recomputed, not read back from d)
                v = g_next[k] * (one - zg[k]) * (one - ng[k] * ng[k])
                v = v * proj[k] * rg[k] * (one - rg[k])
                dr[k] = v
                dr_side[k] = v
            for k in range(h):  # candidate, hidden side
                dn_side[k] = rg[k] * dn[k]
            for k in range(h):  # the direct path h_{t-1} -> h_t
                g_next[k] *= zg[k]
        _rows_dot_rows(dhgates[t, start:stop], W_h, back)
        for i in range(stop - start):
            row, extra = dh0[start + i], back[i]
            for k in range(h):
                row[k] += extra[k]
