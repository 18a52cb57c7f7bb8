r"""Recurrent layers over whole sequences: the vanilla RNN, the LSTM and the GRU, forward
and backpropagation through time (BPTT).

Shapes. The caller's arrays are batch-first: ``x (N, T, F)``, ``y (N, T, H)``, initial and
final states ``(N, H)``. The weights follow the dense convention $y = x W$:
``W_x (F, G)``, ``W_h (H, G)``, biases ``b_x, b_h (G,)``, with ``G`` the width of the
stacked pre-activations: ``H`` for the RNN, ``4H`` for the LSTM (gates $i, f, g, o$) and
``3H`` for the GRU ($r, z, n$), in PyTorch's order.

Inside, the kernels work *time-major*: ``xs (T, N, F)``, ``hs (T+1, N, H)`` (``hs[0]`` is
the initial state) and ``gates (T, N, G)``. Each step then reads and writes contiguous
``(N, ·)`` matrices, which BLAS multiplies directly, and after the time loop the weight
gradients are one product over all ``T N`` rows:

$$
\frac{\partial L}{\partial W_x} = \sum_t x_t^\top \delta_t = X^\top \Delta, \qquad
\frac{\partial L}{\partial W_h} = \sum_t h_{t-1}^\top \delta^h_t .
$$

The time-major arrays are the forward pass's cache: the layer keeps them and hands them to
the backward kernel. The time loop runs here, in compiled code: one matrix product per
step goes to BLAS, and the gate arithmetic of the step is one fused loop.
"""

import numpy as np

from atlas.kernels import scalar
from atlas.kernels.jit import kernel


# Layout helpers ------------------------------------------------------------------------------
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
def _start(hs, h0):
    """``hs[0] = h0``."""
    n, h = h0.shape
    for i in range(n):
        for k in range(h):
            hs[0, i, k] = h0[i, k]


# Shared by the three cells -------------------------------------------------------------------
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


@kernel
def _column_sums(a, out):
    """``out[k] = sum over t, n of a[t, n, k]``."""
    m = _rows(a)
    rows, g = m.shape
    for k in range(g):
        out[k] = 0.0
    for r in range(rows):
        for k in range(g):
            out[k] += m[r, k]


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
    _column_sums(dpre_x, db_x)
    _column_sums(dpre_h, db_h)
    if input_grad:
        dxs = np.empty_like(xs)
        np.dot(_rows(dpre_x), W_x.T, _rows(dxs))
        _swap_leading(dxs, dx, 0)


@kernel
def _squash(a, rec, b_h, i, start, width, tanh):
    r"""Row ``i`` of a block of gates, in place: $a \leftarrow \sigma(a + r + b_h)$ (or
    $\tanh$) on columns ``start .. start + width``.

    One loop per block of gates, reading and writing the same index: LLVM vectorises it.
    (A single loop that writes all four gates of a unit, ``a[i, k]``, ``a[i, h + k]``, ...,
    stores at offsets it cannot prove apart and stays scalar: 8x slower.)
    """
    for k in range(width):
        j = start + k
        v = a[i, j] + rec[i, j] + b_h[j]
        a[i, j] = scalar.tanh(v) if tanh else scalar.sigmoid(v)


# Vanilla RNN ---------------------------------------------------------------------------------
@kernel
def rnn_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hs, y):
    r"""Elman RNN: $h_t = \tanh(x_t W_x + b_x + h_{t-1} W_h + b_h)$, $t = 1..T$.

    ``gates (T, N, H)`` receives the input projections (workspace); ``hs (T+1, N, H)``
    the states $h_0..h_T$ (the cache backward needs, with ``xs``); ``y`` the outputs
    $h_1..h_T$ batch-first.
    """
    n, steps, _ = x.shape
    h = h0.shape[1]
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0)
    for t in range(steps):
        a, new = gates[t], hs[t + 1]
        np.dot(hs[t], W_h, new)
        for i in range(n):
            for k in range(h):
                new[i, k] = scalar.tanh(new[i, k] + a[i, k] + b_h[k])
    _swap_leading(hs, y, 1)


@kernel
def rnn_backward(dy, dhT, xs, hs, W_x, W_h, dgates, dx, dh0, dW_x, dW_h, db_x, db_h,
                 input_grad):
    r"""BPTT of `rnn_forward`. With $g_t = \partial L / \partial h_t$ (from the output
    ``dy`` and from step $t+1$; ``dhT`` arrives at the final state):

    $$
    \delta_t = g_t \odot (1 - h_t^2), \qquad g_{t-1} \mathrel{+}= \delta_t W_h^\top .
    $$

    ``dgates (T, N, H)`` receives $\delta_t$; ``dh0`` ends as $\partial L / \partial h_0$.
    """
    n, steps, h = dy.shape
    dh0[:, :] = dhT
    for t in range(steps - 1, -1, -1):
        d, ht = dgates[t], hs[t + 1]
        for i in range(n):
            for k in range(h):
                d[i, k] = (dy[i, t, k] + dh0[i, k]) * (1.0 - ht[i, k] * ht[i, k])
        np.dot(d, W_h.T, dh0)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# LSTM ----------------------------------------------------------------------------------------
@kernel
def lstm_forward(x, h0, c0, W_x, W_h, b_x, b_h, xs, gates, hs, cs, y):
    r"""LSTM over a sequence. With $a_t = x_t W_x + b_x + h_{t-1} W_h + b_h$ split in four:

    $$
    i, f, o = \sigma(a^{i}), \sigma(a^{f}), \sigma(a^{o}), \quad g = \tanh(a^{g}), \quad
    c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh c_t .
    $$

    ``gates (T, N, 4H)`` ends holding the activated gates $i, f, g, o$ of every step;
    ``hs, cs (T+1, N, H)`` the hidden and cell states from the initial ones on.
    """
    n, steps, _ = x.shape
    h = h0.shape[1]
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0)
    _start(cs, c0)
    rec = np.empty((n, 4 * h), dtype=x.dtype)
    for t in range(steps):
        np.dot(hs[t], W_h, rec)
        a, c_prev, c_new, h_new = gates[t], cs[t], cs[t + 1], hs[t + 1]
        for i in range(n):
            _squash(a, rec, b_h, i, 0, 2 * h, False)  # input and forget gates
            _squash(a, rec, b_h, i, 2 * h, h, True)  # candidate g
            _squash(a, rec, b_h, i, 3 * h, h, False)  # output gate
            for k in range(h):
                c = a[i, h + k] * c_prev[i, k] + a[i, k] * a[i, 2 * h + k]
                c_new[i, k] = c
                h_new[i, k] = a[i, 3 * h + k] * scalar.tanh(c)
    _swap_leading(hs, y, 1)


@kernel
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
    n, steps, h = dy.shape
    dh0[:, :] = dhT
    dc0[:, :] = dcT
    for t in range(steps - 1, -1, -1):
        g, d, c_prev, c_t = gates[t], dgates[t], cs[t], cs[t + 1]
        # One loop per block of d, each writing a single block: see _squash.
        for i in range(n):
            for k in range(h):  # output gate; dc0 becomes e_t
                dh = dy[i, t, k] + dh0[i, k]
                og, tc = g[i, 3 * h + k], scalar.tanh(c_t[i, k])
                dc0[i, k] += dh * og * (1.0 - tc * tc)
                d[i, 3 * h + k] = dh * tc * og * (1.0 - og)
            for k in range(h):  # input gate
                ig = g[i, k]
                d[i, k] = dc0[i, k] * g[i, 2 * h + k] * ig * (1.0 - ig)
            for k in range(h):  # forget gate
                fg = g[i, h + k]
                d[i, h + k] = dc0[i, k] * c_prev[i, k] * fg * (1.0 - fg)
            for k in range(h):  # candidate
                gg = g[i, 2 * h + k]
                d[i, 2 * h + k] = dc0[i, k] * g[i, k] * (1.0 - gg * gg)
            for k in range(h):  # e_{t-1}
                dc0[i, k] *= g[i, h + k]
        np.dot(d, W_h.T, dh0)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# GRU -----------------------------------------------------------------------------------------
@kernel
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
    n, steps, _ = x.shape
    h = h0.shape[1]
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0)
    rec = np.empty((n, 3 * h), dtype=x.dtype)
    for t in range(steps):
        np.dot(hs[t], W_h, rec)
        a, proj, h_prev, h_new = gates[t], hn[t], hs[t], hs[t + 1]
        for i in range(n):
            _squash(a, rec, b_h, i, 0, 2 * h, False)  # reset and update gates
            for k in range(h):
                p = rec[i, 2 * h + k] + b_h[2 * h + k]
                proj[i, k] = p
                h_new[i, k] = scalar.tanh(a[i, 2 * h + k] + a[i, k] * p)  # candidate n
            for k in range(h):
                c, z = h_new[i, k], a[i, h + k]
                a[i, 2 * h + k] = c
                h_new[i, k] = (1.0 - z) * c + z * h_prev[i, k]
    _swap_leading(hs, y, 1)


@kernel
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
    n, steps, h = dy.shape
    dh0[:, :] = dhT
    back = np.empty((n, h), dtype=dy.dtype)
    for t in range(steps - 1, -1, -1):
        g, proj, h_prev = gates[t], hn[t], hs[t]
        d, dh_side = dgates[t], dhgates[t]
        # One loop per block written (see _squash); dh0 holds g_t, then g_t * z.
        for i in range(n):
            for k in range(h):  # candidate, input side
                z, c = g[i, h + k], g[i, 2 * h + k]
                dh0[i, k] += dy[i, t, k]
                d[i, 2 * h + k] = dh0[i, k] * (1.0 - z) * (1.0 - c * c)
            for k in range(h):  # update gate
                z = g[i, h + k]
                dz = dh0[i, k] * (h_prev[i, k] - g[i, 2 * h + k]) * z * (1.0 - z)
                d[i, h + k] = dz
                dh_side[i, h + k] = dz
            for k in range(h):  # reset gate (delta^n recomputed, not read back from d)
                r, z, c = g[i, k], g[i, h + k], g[i, 2 * h + k]
                dn = dh0[i, k] * (1.0 - z) * (1.0 - c * c)
                dr = dn * proj[i, k] * r * (1.0 - r)
                d[i, k] = dr
                dh_side[i, k] = dr
            for k in range(h):  # candidate, hidden side
                dh_side[i, 2 * h + k] = g[i, k] * d[i, 2 * h + k]
            for k in range(h):  # the direct path h_{t-1} -> h_t
                dh0[i, k] *= g[i, h + k]
        np.dot(dh_side, W_h.T, back)
        for i in range(n):
            for k in range(h):
                dh0[i, k] += back[i, k]
    _parameter_gradients(xs, hs, dgates, dhgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)
