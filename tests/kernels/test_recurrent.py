"""Recurrent kernels (RNN, LSTM, GRU, embedding): a step-by-step NumPy reference written from
the equations, float64 finite differences through every input (initial and final states
included), and the CUDA twins under the simulator."""

import numpy as np
import pytest

from atlas.gradcheck import numerical_gradient, relative_error
from atlas.kernels import cpu
from atlas.kernels.cpu import recurrent

from .twins import assert_twins_agree

# (N, T, F, H): batch 1, sequence length 1, odd sizes.
# (N, T, F, H): batch of 1, single steps, and batches of 6 and 9, which the time loops'
# 4x4 products cut into a block of four rows and rows left over (and, on more than one
# thread, into pieces).
SHAPES = [(1, 1, 1, 1), (1, 4, 3, 2), (3, 1, 2, 5), (2, 5, 3, 3), (6, 3, 2, 5), (9, 2, 3, 3)]
CELLS = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference(cell, x, h0, c0, W_x, W_h, b_x, b_h):
    """Outputs, final h and final c, one time step at a time, straight from the equations."""
    h, c = h0.copy(), c0.copy()
    H = h0.shape[1]
    ys = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W_x + b_x
        r = h @ W_h + b_h
        if cell == "rnn":
            h = np.tanh(a + r)
        elif cell == "lstm":
            s = a + r
            i, f, o = sigmoid(s[:, :H]), sigmoid(s[:, H:2 * H]), sigmoid(s[:, 3 * H:])
            g = np.tanh(s[:, 2 * H:3 * H])
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            rg = sigmoid(a[:, :H] + r[:, :H])
            z = sigmoid(a[:, H:2 * H] + r[:, H:2 * H])
            n = np.tanh(a[:, 2 * H:] + rg * r[:, 2 * H:])
            h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys, axis=1), h, c


class Run:
    """The buffers of one cell's kernels, allocated the way a layer does."""

    def __init__(self, cell, n, steps, f, h, dtype=np.float64):
        g = CELLS[cell] * h
        self.cell, self.shape = cell, (n, steps, f, h)
        self.xs = np.zeros((steps, n, f), dtype)
        self.gates = np.zeros((steps, n, g), dtype)
        self.hs = np.zeros((steps + 1, n, h), dtype)
        self.cs = np.zeros((steps + 1, n, h), dtype)
        self.hn = np.zeros((steps, n, h), dtype)
        self.y = np.zeros((n, steps, h), dtype)

    def forward_args(self, x, h0, c0, W_x, W_h, b_x, b_h):
        if self.cell == "rnn":
            return (x, h0, W_x, W_h, b_x, b_h, self.xs, self.gates, self.hs, self.y)
        if self.cell == "lstm":
            return (x, h0, c0, W_x, W_h, b_x, b_h, self.xs, self.gates, self.hs, self.cs,
                    self.y)
        return (x, h0, W_x, W_h, b_x, b_h, self.xs, self.gates, self.hn, self.hs, self.y)

    def forward(self, *params):
        getattr(cpu, f"{self.cell}_forward")(*self.forward_args(*params))
        return self.y.copy(), self.hs[-1].copy(), self.cs[-1].copy()

    def backward_args(self, dy, dhT, dcT, W_x, W_h, grads, input_grad=True):
        dx, dh0, dc0, dW_x, dW_h, db_x, db_h = grads
        dgates = np.zeros_like(self.gates)
        tail = (dx, dh0, dW_x, dW_h, db_x, db_h, input_grad)
        if self.cell == "rnn":
            return (dy, dhT, self.xs, self.hs, W_x, W_h, dgates, *tail)
        if self.cell == "lstm":
            return (dy, dhT, dcT, self.xs, self.gates, self.hs, self.cs, W_x, W_h, dgates, dx,
                    dh0, dc0, dW_x, dW_h, db_x, db_h, input_grad)
        return (dy, dhT, self.xs, self.gates, self.hn, self.hs, W_x, W_h, dgates,
                np.zeros_like(self.gates), *tail)


def random_params(rng, n, steps, f, h, g, dtype=np.float64):
    def r(*shape):
        return rng.uniform(-0.8, 0.8, shape).astype(dtype)
    return [r(n, steps, f), r(n, h), r(n, h), r(f, g), r(h, g), r(g), r(g)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_the_equations_step_by_step(cell, shape, rng):
    params = random_params(rng, *shape, CELLS[cell] * shape[3])
    y, hT, cT = Run(cell, *shape).forward(*params)
    y_ref, h_ref, c_ref = reference(cell, *params)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h_ref, rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(cT, c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", SHAPES)
def test_bptt_matches_finite_differences_for_every_input(cell, shape, rng):
    """L = <y, u> + <h_T, v> + <c_T, w>: gradients arrive at the outputs *and* at the final
    states; every input (x, h0, c0, weights, biases) is checked."""
    n, steps, f, h = shape
    params = random_params(rng, *shape, CELLS[cell] * h)
    u, v, w = rng.standard_normal((n, steps, h)), rng.standard_normal((n, h)), \
        rng.standard_normal((n, h))
    run = Run(cell, *shape)

    def loss():
        y, hT, cT = run.forward(*params)
        return float(np.sum(y * u) + np.sum(hT * v) + (np.sum(cT * w) if cell == "lstm" else 0))

    loss()
    grads = [np.zeros_like(p) for p in params]
    dc_T = w if cell == "lstm" else np.zeros_like(w)
    getattr(cpu, f"{cell}_backward")(*run.backward_args(u, v, dc_T, params[3], params[4],
                                                        grads))
    names = ["x", "h0", "c0", "W_x", "W_h", "b_x", "b_h"]
    for name, p, g in zip(names, params, grads):
        if name == "c0" and cell != "lstm":
            continue
        numeric = numerical_gradient(loss, p)
        assert relative_error(g, numeric) < 1e-7, (cell, shape, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (4, 3, 4), (5, 7, 9), (8, 16, 12), (3, 33, 6),
                                   (13, 256, 1024)])
def test_rows_dot_rows_is_a_times_b_transposed(m, k, n, dtype, rng):
    """The per-step product: blocks of four rows by four, and the rows and columns left
    over, against NumPy."""
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    recurrent._rows_dot_rows(a, b, out)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5 * np.sqrt(k)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.T.astype(np.float64),
                               rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_without_input_grad_leaves_dx_alone(cell, rng):
    shape = (2, 3, 2, 3)
    params = random_params(rng, *shape, CELLS[cell] * 3)
    run = Run(cell, *shape)
    run.forward(*params)
    dx = np.full(params[0].shape, 7.0)
    grads = [dx] + [np.zeros_like(p) for p in params[1:]]
    getattr(cpu, f"{cell}_backward")(*run.backward_args(
        rng.standard_normal((2, 3, 3)), np.zeros((2, 3)), np.zeros((2, 3)), params[3],
        params[4], grads, input_grad=False))
    assert np.all(dx == 7.0)


def test_float32_gates_stay_within_single_precision_of_float64(rng):
    shape = (4, 20, 5, 8)
    params = random_params(rng, *shape, 32)
    y64, _, c64 = Run("lstm", *shape).forward(*params)
    y32, _, c32 = Run("lstm", *shape, np.float32).forward(*[p.astype(np.float32) for p in params])
    np.testing.assert_allclose(y32, y64, atol=2e-6)
    np.testing.assert_allclose(c32, c64, atol=2e-6)


def test_embedding_looks_up_rows_and_scatter_adds_repeated_tokens(rng):
    table = rng.standard_normal((5, 3))
    tokens = np.array([4, 0, 4, 2, 4], dtype=np.int64)
    y = np.empty((5, 3))
    cpu.embedding_forward(tokens, table, y)
    np.testing.assert_array_equal(y, table[tokens])
    dy = rng.standard_normal((5, 3))
    dtable = np.full((5, 3), np.nan)
    cpu.embedding_backward(tokens, dy, dtable)
    expected = np.zeros((5, 3))
    np.add.at(expected, tokens, dy)
    np.testing.assert_allclose(dtable, expected, rtol=1e-15)
    assert np.all(dtable[[1, 3]] == 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_cuda_twins(cell, dtype, rng):
    shape = n, steps, f, h = (2, 3, 3, 4)
    params = random_params(rng, *shape, CELLS[cell] * h, dtype)
    run = Run(cell, *shape, dtype)
    assert_twins_agree(f"{cell}_forward", *run.forward_args(*params))
    run.forward(*params)
    dy = rng.standard_normal((n, steps, h)).astype(dtype)
    dhT, dcT = rng.standard_normal((2, n, h)).astype(dtype)
    for input_grad in (True, False):
        grads = [np.zeros_like(p) for p in params]
        assert_twins_agree(f"{cell}_backward", *run.backward_args(
            dy, dhT, dcT, params[3], params[4], grads, input_grad))


def test_embedding_cuda_twins(rng):
    tokens = np.array([3, 1, 3, 0], dtype=np.int64)
    table = rng.standard_normal((4, 5)).astype(np.float32)
    assert_twins_agree("embedding_forward", tokens, table, np.zeros((4, 5), np.float32))
    assert_twins_agree("embedding_backward", tokens, rng.standard_normal((4, 5)).astype(
        np.float32), np.zeros((4, 5), np.float32))
