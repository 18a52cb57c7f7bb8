r"""CUDA twins of `recurrent`: the same functions, arguments and time-major layout.

The time loop runs on the host, one launch per step each way. A step's kernel gives each
``(n, k)`` element of the state `SLICES` threads, which compute its entries of the
recurrent product together (row ``n`` of $h_{t-1}$ against the columns of $W_h$ of unit
``k``'s gates, each thread every `SLICES`-th term, `_dot_column`); the first of them then
does the whole gate arithmetic of that element, reading and writing each gate once. (One
thread per element ran each step's 1024-term sums one after the other: 121 us a forward
step of the benchmark's LSTM on an H200, the GPU mostly waiting.) The
kernels take the whole ``(T, N, ·)`` arrays and the step's index: slicing a device array
on the host costs tens of microseconds, as much as a launch. A step writes its hidden
state twice, into the time-major ``hs`` the next step reads and into the batch-first
output ``y`` (no launch after the loop to reorder it). Backward, thread ``(n, k)``
first gathers $\partial L / \partial h_t$ from the next step's gate gradients against a
transposed copy of $W_h$ (so that its reads are coalesced too), then goes back through the
gates. The input projections of all steps, and the weight gradients after the loop, are
single products over ``T N`` rows, as on the CPU.
"""

from numba import cuda, float64

from atlas.kernels import scalar
from atlas.kernels.cuda.dense import dense_backward_params
from atlas.kernels.cuda.gemm import matmul
from atlas.kernels.cuda.launch import THREADS, blocks, no_values, scratch
from atlas.kernels.cuda.launcher import kernel
from atlas.views import part, reshaped


def _rows(a):
    """The ``(T, N, K)`` device array ``a`` as a ``(T N, K)`` matrix (a view)."""
    return reshaped(a, a.shape[0] * a.shape[1], a.shape[2])


def _per_element(shape):
    """Launch configuration with one thread per element of an ``(N, H)`` step."""
    return blocks(shape[0] * shape[1]), THREADS


#: Threads that share the dot products of one state element, and elements per block (a
#: warp's width: consecutive threads read consecutive columns of W_h).
SLICES, ROW = 8, 32


def _per_step_element(shape):
    """Launch configuration of the step kernels: `ROW` elements of an ``(N, H)`` state per
    block, `SLICES` threads each."""
    return max(1, -(-shape[0] * shape[1] // ROW)), (ROW, SLICES)


@cuda.jit(device=True)
def _element(n, h):
    """``(i, k, valid, first)``: this thread's element ``(i, k)`` of an ``(n, h)`` state,
    whether there is one (the last block runs past the end), and whether the thread is the
    first of the element's `SLICES` threads (the one that does the gate arithmetic)."""
    e = cuda.blockIdx.x * ROW + cuda.threadIdx.x
    return e // h, e % h, e < n * h, cuda.threadIdx.y == 0


@kernel
def _swap_leading(src, dst):
    """``dst[a, b] = src[b, a]``: batch-first sequences time-major, or back."""
    t = cuda.grid(1)
    if t < dst.size:
        na, nb, k = dst.shape
        a, b, j = t // (nb * k), (t // k) % nb, t % k
        dst[a, b, j] = src[b, a, j]


@kernel
def _copy_states(hs, h0, cs, c0):
    """``hs[0] = h0`` and, for the LSTM, ``cs[0] = c0`` in the same launch (``cs`` empty for
    the RNN and GRU)."""
    t = cuda.grid(1)
    n, h = h0.shape
    if t < n * h:
        hs[0, t // h, t % h] = h0[t // h, t % h]
        if cs.size:
            cs[0, t // h, t % h] = c0[t // h, t % h]


def _start(hs, h0, cs=None, c0=None):
    """The first states of the sequence, ``hs[0]`` (and ``cs[0]``), from the initial ones."""
    if cs is None:
        cs, c0 = no_values(hs.dtype, 3), no_values(hs.dtype, 2)
    _copy_states[_per_element(h0.shape)](hs, h0, cs, c0)


def _swap(src, dst):
    _swap_leading[blocks(dst.size), THREADS](src, dst)


def _input_projection(x, xs, W_x, b_x, gates):
    _swap(x, xs)
    pre = _rows(gates)
    matmul(_rows(xs), W_x, pre, bias=b_x)


def _parameter_gradients(xs, hs, dpre_x, dpre_h, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad):
    steps = xs.shape[0]
    dense_backward_params(_rows(xs), _rows(dpre_x), dW_x, db_x)
    dense_backward_params(_rows(part(hs, (0, steps))), _rows(dpre_h), dW_h, db_h)
    if input_grad:
        dxs = scratch(xs.shape, xs.dtype)
        matmul(_rows(dpre_x), W_x, _rows(dxs), trans_b=True)
        _swap(dxs, dx)


def _seed(running, final):
    """``running[...] = final`` on the device (the gradient arriving at a final state)."""
    running.copy_to_device(final)


@cuda.jit(device=True)
def _dot_column(partial, rows, i, W, j, valid):
    r"""Row ``i`` of ``rows`` times column ``j`` of ``W``, $\sum_m$ ``rows[i, m] W[m, j]``,
    summed by the `SLICES` threads of one column of the block (thread ``y`` takes the terms
    ``m = y, y + SLICES, ...``) through ``partial``, a shared ``(SLICES, ROW)`` array. The
    first thread (``threadIdx.y == 0``) gets the total. Every thread of the block must call
    it (it waits for the others twice); ``valid`` is False for threads past the last
    element, which add nothing."""
    y, x = cuda.threadIdx.y, cuda.threadIdx.x
    total = 0.0
    if valid:
        for m in range(y, rows.shape[1], SLICES):
            total += rows[i, m] * W[m, j]
    partial[y, x] = total
    cuda.syncthreads()
    if y == 0:
        for other in range(1, SLICES):
            total += partial[other, x]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def _from_next_step(partial, d, step, i, W_hT, k, valid, dh_last):
    r"""$\partial L / \partial h_t$ at ``(i, k)`` through step ``t + 1``'s gate gradients
    ``d[t + 1]`` (row ``i`` against column ``k`` of $W_h^\top$), or ``dh_last`` at the
    last step (for the first of the element's threads; see `_dot_column`)."""
    last = step == d.shape[0] - 1
    total = _dot_column(partial, d[min(step + 1, d.shape[0] - 1)], i, W_hT, k,
                        valid and not last)
    if last and valid:
        return dh_last[i, k]
    return total


@kernel
def _transpose(src, dst):
    t = cuda.grid(1)
    rows, cols = src.shape
    if t < src.size:
        dst[t % cols, t // cols] = src[t // cols, t % cols]


def _transposed(W):
    """``W^T`` as a contiguous device array (scratch)."""
    out = scratch((W.shape[1], W.shape[0]), W.dtype)
    _transpose[blocks(W.size), THREADS](W, out)
    return out


@kernel
def _state_gradient(d, W_hT, keep, dh0):
    """``dh0 (+)= d[0] W_h^T``: the gradient reaching the initial state through the first
    step's gates (added to what ``dh0`` holds when ``keep``)."""
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = dh0.shape
    i, k, valid, first = _element(n, h)
    total = _dot_column(partial, d[0], i, W_hT, k, valid)
    if valid and first:
        dh0[i, k] = dh0[i, k] + total if keep else total


def _to_initial_state(d, W_hT, keep, dh0):
    _state_gradient[_per_step_element(dh0.shape)](d, W_hT, keep, dh0)


# Vanilla RNN ---------------------------------------------------------------------------------
@kernel
def _rnn_step(gates, hs, step, W_h, b_h, y):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = hs.shape[1], hs.shape[2]
    i, k, valid, first = _element(n, h)
    rec = _dot_column(partial, hs[step], i, W_h, k, valid)
    if valid and first:
        h_t = scalar.tanh(gates[step, i, k] + rec + b_h[k])
        hs[step + 1, i, k] = h_t
        y[i, step, k] = h_t


@kernel
def _rnn_step_backward(dy, step, hs, dgates, W_hT, dh_last):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = dh_last.shape
    i, k, valid, first = _element(n, h)
    dh = _from_next_step(partial, dgates, step, i, W_hT, k, valid, dh_last)
    if valid and first:
        h_t = hs[step + 1, i, k]
        dgates[step, i, k] = (dy[i, step, k] + dh) * (1.0 - h_t * h_t)


def rnn_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0)
    launch = _per_step_element(h0.shape)
    for t in range(x.shape[1]):
        _rnn_step[launch](gates, hs, t, W_h, b_h, y)


def rnn_backward(dy, dhT, xs, hs, W_x, W_h, dgates, dx, dh0, dW_x, dW_h, db_x, db_h,
                 input_grad):
    launch = _per_step_element(dh0.shape)
    W_hT = _transposed(W_h)
    _seed(dh0, dhT)
    for t in range(dy.shape[1] - 1, -1, -1):
        _rnn_step_backward[launch](dy, t, hs, dgates, W_hT, dh0)
    _to_initial_state(dgates, W_hT, False, dh0)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# LSTM ----------------------------------------------------------------------------------------
@kernel
def _lstm_step(gates, hs, cs, step, W_h, b_h, y):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = hs.shape[1], hs.shape[2]
    i, k, valid, first = _element(n, h)
    a, h_prev = gates[step], hs[step]
    ri = _dot_column(partial, h_prev, i, W_h, k, valid)
    rf = _dot_column(partial, h_prev, i, W_h, h + k, valid)
    rg = _dot_column(partial, h_prev, i, W_h, 2 * h + k, valid)
    ro = _dot_column(partial, h_prev, i, W_h, 3 * h + k, valid)
    if valid and first:
        ig = scalar.sigmoid(a[i, k] + ri + b_h[k])
        fg = scalar.sigmoid(a[i, h + k] + rf + b_h[h + k])
        gg = scalar.tanh(a[i, 2 * h + k] + rg + b_h[2 * h + k])
        og = scalar.sigmoid(a[i, 3 * h + k] + ro + b_h[3 * h + k])
        c = fg * cs[step, i, k] + ig * gg
        a[i, k] = ig
        a[i, h + k] = fg
        a[i, 2 * h + k] = gg
        a[i, 3 * h + k] = og
        cs[step + 1, i, k] = c
        h_t = og * scalar.tanh(c)
        hs[step + 1, i, k] = h_t
        y[i, step, k] = h_t


@kernel
def _lstm_step_backward(dy, step, gates, cs, dgates, W_hT, dh_last, dc_run):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = dc_run.shape
    i, k, valid, first = _element(n, h)
    dh = _from_next_step(partial, dgates, step, i, W_hT, k, valid, dh_last)
    if valid and first:
        dh += dy[i, step, k]
        g, d = gates[step], dgates[step]
        ig, fg, gg, og = g[i, k], g[i, h + k], g[i, 2 * h + k], g[i, 3 * h + k]
        tc = scalar.tanh(cs[step + 1, i, k])
        dc = dc_run[i, k] + dh * og * (1.0 - tc * tc)
        d[i, k] = dc * gg * ig * (1.0 - ig)
        d[i, h + k] = dc * cs[step, i, k] * fg * (1.0 - fg)
        d[i, 2 * h + k] = dc * ig * (1.0 - gg * gg)
        d[i, 3 * h + k] = dh * tc * og * (1.0 - og)
        dc_run[i, k] = dc * fg


def lstm_forward(x, h0, c0, W_x, W_h, b_x, b_h, xs, gates, hs, cs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0, cs, c0)
    launch = _per_step_element(h0.shape)
    for t in range(x.shape[1]):
        _lstm_step[launch](gates, hs, cs, t, W_h, b_h, y)


def lstm_backward(dy, dhT, dcT, xs, gates, hs, cs, W_x, W_h, dgates, dx, dh0, dc0, dW_x,
                  dW_h, db_x, db_h, input_grad):
    launch = _per_step_element(dh0.shape)
    W_hT = _transposed(W_h)
    _seed(dh0, dhT)
    _seed(dc0, dcT)
    for t in range(dy.shape[1] - 1, -1, -1):
        _lstm_step_backward[launch](dy, t, gates, cs, dgates, W_hT, dh0, dc0)
    _to_initial_state(dgates, W_hT, False, dh0)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# GRU -----------------------------------------------------------------------------------------
@kernel
def _gru_step(gates, hn, hs, step, W_h, b_h, y):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = hs.shape[1], hs.shape[2]
    i, k, valid, first = _element(n, h)
    a, h_prev = gates[step], hs[step]
    rr = _dot_column(partial, h_prev, i, W_h, k, valid)
    rz = _dot_column(partial, h_prev, i, W_h, h + k, valid)
    rn = _dot_column(partial, h_prev, i, W_h, 2 * h + k, valid)
    if valid and first:
        r = scalar.sigmoid(a[i, k] + rr + b_h[k])
        z = scalar.sigmoid(a[i, h + k] + rz + b_h[h + k])
        p = rn + b_h[2 * h + k]
        c = scalar.tanh(a[i, 2 * h + k] + r * p)
        a[i, k] = r
        a[i, h + k] = z
        a[i, 2 * h + k] = c
        hn[step, i, k] = p
        h_t = (1.0 - z) * c + z * h_prev[i, k]
        hs[step + 1, i, k] = h_t
        y[i, step, k] = h_t


@kernel
def _gru_step_backward(dy, step, gates, hn, hs, dgates, dhgates, W_hT, dh_run):
    partial = cuda.shared.array((SLICES, ROW), float64)
    n, h = dh_run.shape
    i, k, valid, first = _element(n, h)
    last = step == dy.shape[1] - 1
    through_gates = _dot_column(partial, dhgates[min(step + 1, dy.shape[1] - 1)], i, W_hT, k,
                                valid and not last)
    if valid and first:
        dh = dy[i, step, k] + dh_run[i, k] + through_gates
        g, d, side = gates[step], dgates[step], dhgates[step]
        r, z, c = g[i, k], g[i, h + k], g[i, 2 * h + k]
        dn = dh * (1.0 - z) * (1.0 - c * c)
        dr = dn * hn[step, i, k] * r * (1.0 - r)
        dz = dh * (hs[step, i, k] - c) * z * (1.0 - z)
        d[i, k] = dr
        d[i, h + k] = dz
        d[i, 2 * h + k] = dn
        side[i, k] = dr
        side[i, h + k] = dz
        side[i, 2 * h + k] = r * dn
        dh_run[i, k] = dh * z


def gru_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hn, hs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    _start(hs, h0)
    launch = _per_step_element(h0.shape)
    for t in range(x.shape[1]):
        _gru_step[launch](gates, hn, hs, t, W_h, b_h, y)


def gru_backward(dy, dhT, xs, gates, hn, hs, W_x, W_h, dgates, dhgates, dx, dh0, dW_x, dW_h,
                 db_x, db_h, input_grad):
    launch = _per_step_element(dh0.shape)
    W_hT = _transposed(W_h)
    _seed(dh0, dhT)
    for t in range(dy.shape[1] - 1, -1, -1):
        _gru_step_backward[launch](dy, t, gates, hn, hs, dgates, dhgates, W_hT, dh0)
    _to_initial_state(dhgates, W_hT, True, dh0)
    _parameter_gradients(xs, hs, dgates, dhgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)
