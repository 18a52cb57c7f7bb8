r"""CUDA twins of `recurrent`: the same functions, arguments and time-major layout.

The time loop runs on the host, two launches per step: the recurrent product
$h_{t-1} W_h$ (the tiled matmul of `dense`) and one fused kernel with a thread per
``(n, k)`` element that does the whole step's gate arithmetic, reading and writing each
gate once. The input projections of all steps, and the weight gradients after the loop,
are single products over ``T N`` rows, as on the CPU.
"""

from numba import cuda

from atlas.kernels import scalar
from atlas.kernels.cuda.dense import _add_bias, _column_sums, matmul
from atlas.kernels.cuda.launch import THREADS, accumulate, blocks, scratch


def _rows(a):
    """The ``(T, N, K)`` device array ``a`` as a ``(T N, K)`` matrix (a view)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def _per_element(shape):
    """Launch configuration with one thread per element of an ``(N, H)`` step."""
    return blocks(shape[0] * shape[1]), THREADS


@cuda.jit
def _swap_leading(src, dst, offset):
    t = cuda.grid(1)
    if t < dst.size:
        na, nb, k = dst.shape
        a, b, j = t // (nb * k), (t // k) % nb, t % k
        dst[a, b, j] = src[b + offset, a, j]


@cuda.jit
def _copy_state(hs, h0):
    t = cuda.grid(1)
    n, h = h0.shape
    if t < n * h:
        hs[0, t // h, t % h] = h0[t // h, t % h]


def _swap(src, dst, offset):
    _swap_leading[blocks(dst.size), THREADS](src, dst, offset)


def _input_projection(x, xs, W_x, b_x, gates):
    _swap(x, xs, 0)
    pre = _rows(gates)
    matmul(_rows(xs), W_x, pre)
    _add_bias[blocks(pre.size), THREADS](pre, b_x)


def _parameter_gradients(xs, hs, dpre_x, dpre_h, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad):
    steps = xs.shape[0]
    matmul(_rows(xs), _rows(dpre_x), dW_x, trans_a=True)
    matmul(_rows(hs[:steps]), _rows(dpre_h), dW_h, trans_a=True)
    _column_sums[blocks(db_x.size), THREADS](_rows(dpre_x), db_x)
    _column_sums[blocks(db_h.size), THREADS](_rows(dpre_h), db_h)
    if input_grad:
        dxs = scratch(xs.shape, xs.dtype)
        matmul(_rows(dpre_x), W_x, _rows(dxs), trans_b=True)
        _swap(dxs, dx, 0)


def _seed(running, final):
    """``running[...] = final`` on the device (the gradient arriving at a final state)."""
    running.copy_to_device(final)


# Vanilla RNN ---------------------------------------------------------------------------------
@cuda.jit
def _rnn_step(a, b_h, new):
    t = cuda.grid(1)
    n, h = new.shape
    if t < n * h:
        i, k = t // h, t % h
        new[i, k] = scalar.tanh(new[i, k] + a[i, k] + b_h[k])


@cuda.jit
def _rnn_step_backward(dy, step, h_t, dh, d):
    t = cuda.grid(1)
    n, h = dh.shape
    if t < n * h:
        i, k = t // h, t % h
        d[i, k] = (dy[i, step, k] + dh[i, k]) * (1.0 - h_t[i, k] * h_t[i, k])


def rnn_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    launch = _per_element(h0.shape)
    _copy_state[launch](hs, h0)
    for t in range(x.shape[1]):
        matmul(hs[t], W_h, hs[t + 1])
        _rnn_step[launch](gates[t], b_h, hs[t + 1])
    _swap(hs, y, 1)


def rnn_backward(dy, dhT, xs, hs, W_x, W_h, dgates, dx, dh0, dW_x, dW_h, db_x, db_h,
                 input_grad):
    launch = _per_element(dh0.shape)
    _seed(dh0, dhT)
    for t in range(dy.shape[1] - 1, -1, -1):
        _rnn_step_backward[launch](dy, t, hs[t + 1], dh0, dgates[t])
        matmul(dgates[t], W_h, dh0, trans_b=True)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# LSTM ----------------------------------------------------------------------------------------
@cuda.jit
def _lstm_step(a, rec, b_h, c_prev, c_new, h_new):
    t = cuda.grid(1)
    n, h = c_new.shape
    if t < n * h:
        i, k = t // h, t % h
        ig = scalar.sigmoid(a[i, k] + rec[i, k] + b_h[k])
        fg = scalar.sigmoid(a[i, h + k] + rec[i, h + k] + b_h[h + k])
        gg = scalar.tanh(a[i, 2 * h + k] + rec[i, 2 * h + k] + b_h[2 * h + k])
        og = scalar.sigmoid(a[i, 3 * h + k] + rec[i, 3 * h + k] + b_h[3 * h + k])
        c = fg * c_prev[i, k] + ig * gg
        a[i, k] = ig
        a[i, h + k] = fg
        a[i, 2 * h + k] = gg
        a[i, 3 * h + k] = og
        c_new[i, k] = c
        h_new[i, k] = og * scalar.tanh(c)


@cuda.jit
def _lstm_step_backward(dy, step, g, c_prev, c_t, dh_run, dc_run, d):
    t = cuda.grid(1)
    n, h = dh_run.shape
    if t < n * h:
        i, k = t // h, t % h
        ig, fg, gg, og = g[i, k], g[i, h + k], g[i, 2 * h + k], g[i, 3 * h + k]
        dh = dy[i, step, k] + dh_run[i, k]
        tc = scalar.tanh(c_t[i, k])
        dc = dc_run[i, k] + dh * og * (1.0 - tc * tc)
        d[i, k] = dc * gg * ig * (1.0 - ig)
        d[i, h + k] = dc * c_prev[i, k] * fg * (1.0 - fg)
        d[i, 2 * h + k] = dc * ig * (1.0 - gg * gg)
        d[i, 3 * h + k] = dh * tc * og * (1.0 - og)
        dc_run[i, k] = dc * fg


def lstm_forward(x, h0, c0, W_x, W_h, b_x, b_h, xs, gates, hs, cs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    launch = _per_element(h0.shape)
    _copy_state[launch](hs, h0)
    _copy_state[launch](cs, c0)
    rec = scratch((h0.shape[0], gates.shape[2]), gates.dtype)
    for t in range(x.shape[1]):
        matmul(hs[t], W_h, rec)
        _lstm_step[launch](gates[t], rec, b_h, cs[t], cs[t + 1], hs[t + 1])
    _swap(hs, y, 1)


def lstm_backward(dy, dhT, dcT, xs, gates, hs, cs, W_x, W_h, dgates, dx, dh0, dc0, dW_x,
                  dW_h, db_x, db_h, input_grad):
    launch = _per_element(dh0.shape)
    _seed(dh0, dhT)
    _seed(dc0, dcT)
    for t in range(dy.shape[1] - 1, -1, -1):
        _lstm_step_backward[launch](dy, t, gates[t], cs[t], cs[t + 1], dh0, dc0, dgates[t])
        matmul(dgates[t], W_h, dh0, trans_b=True)
    _parameter_gradients(xs, hs, dgates, dgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)


# GRU -----------------------------------------------------------------------------------------
@cuda.jit
def _gru_step(a, rec, b_h, proj, h_prev, h_new):
    t = cuda.grid(1)
    n, h = h_new.shape
    if t < n * h:
        i, k = t // h, t % h
        r = scalar.sigmoid(a[i, k] + rec[i, k] + b_h[k])
        z = scalar.sigmoid(a[i, h + k] + rec[i, h + k] + b_h[h + k])
        p = rec[i, 2 * h + k] + b_h[2 * h + k]
        c = scalar.tanh(a[i, 2 * h + k] + r * p)
        a[i, k] = r
        a[i, h + k] = z
        a[i, 2 * h + k] = c
        proj[i, k] = p
        h_new[i, k] = (1.0 - z) * c + z * h_prev[i, k]


@cuda.jit
def _gru_step_backward(dy, step, g, proj, h_prev, dh_run, d, dh_side):
    t = cuda.grid(1)
    n, h = dh_run.shape
    if t < n * h:
        i, k = t // h, t % h
        r, z, c = g[i, k], g[i, h + k], g[i, 2 * h + k]
        dh = dy[i, step, k] + dh_run[i, k]
        dn = dh * (1.0 - z) * (1.0 - c * c)
        dr = dn * proj[i, k] * r * (1.0 - r)
        dz = dh * (h_prev[i, k] - c) * z * (1.0 - z)
        d[i, k] = dr
        d[i, h + k] = dz
        d[i, 2 * h + k] = dn
        dh_side[i, k] = dr
        dh_side[i, h + k] = dz
        dh_side[i, 2 * h + k] = r * dn
        dh_run[i, k] = dh * z


def gru_forward(x, h0, W_x, W_h, b_x, b_h, xs, gates, hn, hs, y):
    _input_projection(x, xs, W_x, b_x, gates)
    launch = _per_element(h0.shape)
    _copy_state[launch](hs, h0)
    rec = scratch((h0.shape[0], gates.shape[2]), gates.dtype)
    for t in range(x.shape[1]):
        matmul(hs[t], W_h, rec)
        _gru_step[launch](gates[t], rec, b_h, hn[t], hs[t], hs[t + 1])
    _swap(hs, y, 1)


def gru_backward(dy, dhT, xs, gates, hn, hs, W_x, W_h, dgates, dhgates, dx, dh0, dW_x, dW_h,
                 db_x, db_h, input_grad):
    launch = _per_element(dh0.shape)
    _seed(dh0, dhT)
    back = scratch(dh0.shape, dh0.dtype)
    for t in range(dy.shape[1] - 1, -1, -1):
        _gru_step_backward[launch](dy, t, gates[t], hn[t], hs[t], dh0, dgates[t], dhgates[t])
        matmul(dhgates[t], W_h, back, trans_b=True)
        accumulate[launch](dh0, back)
    _parameter_gradients(xs, hs, dgates, dhgates, W_x, dx, dW_x, dW_h, db_x, db_h, input_grad)

