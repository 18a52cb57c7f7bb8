"""The CPU kernels' pool of threads: how work is cut, that every piece runs, that errors
come back, and that a kernel gives the same numbers on one thread as on several."""

import numpy as np
import pytest

from atlas.kernels.cpu import conv, optimizers, pooling, recurrent, threads


@pytest.fixture
def two_threads():
    before = threads.count()
    threads.set_threads(2)
    yield
    threads.set_threads(before)


def test_split_cuts_contiguous_nearly_equal_pieces(two_threads):
    assert threads.split(7) == [(0, 3), (3, 7)]
    assert threads.split(1) == [(0, 1)]
    assert threads.split(100, minimum=60) == [(0, 100)]  # too small for two pieces
    threads.set_threads(3)
    assert threads.split(10) == [(0, 3), (3, 6), (6, 10)]


def test_run_runs_every_piece_and_raises_what_a_piece_raised(two_threads):
    seen = []
    threads.run(lambda k: seen.append(k), [(k,) for k in range(5)])
    assert sorted(seen) == list(range(5))

    def fail(k):
        if k == 1:
            raise ValueError("piece 1 failed")

    with pytest.raises(ValueError, match="piece 1"):
        threads.run(fail, [(0,), (1,)])


def test_set_threads_refuses_what_is_not_a_count():
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="threads must be an integer"):
            threads.set_threads(bad)


def test_the_engines_blas_runs_on_one_thread_outside_the_kernels_that_ask_for_more():
    assert all(lib.num_threads == 1 for lib in threads._BLAS)
    seen = []
    threads.using_blas_threads(lambda: seen.append([lib.num_threads for lib in threads._BLAS]))()
    assert all(n == threads.count() for n in seen[0])
    assert all(lib.num_threads == 1 for lib in threads._BLAS)


def test_a_piece_alone_runs_with_blas_threads_and_several_pieces_without(two_threads):
    """One piece (a batch too small to cut) would leave the pool's other threads idle: its
    products get them through BLAS; pieces run side by side keep BLAS on one thread each."""
    def blas():
        return [lib.num_threads for lib in threads._BLAS]

    with threads.blas_threads():
        given = blas()  # the pool's two threads, as far as this BLAS goes
    alone, side_by_side = [], []
    threads.run(lambda: alone.append(blas()), [()])
    threads.run(lambda k: side_by_side.append(blas()), [(0,), (1,)])
    assert alone == [given]
    assert side_by_side == [[1] * len(threads._BLAS)] * 2
    assert blas() == [1] * len(threads._BLAS)


def test_numpy_blas_runs_on_one_thread_inside_the_block_and_gets_its_threads_back():
    """NumPy's own BLAS (the wheels bundle one apart from SciPy's, the engine's) on one
    thread inside the block, as many as before after it, even when the block raises; the
    engine's BLAS untouched."""
    assert threads._NUMPY_BLAS, "NumPy's BLAS is expected apart from the engine's here"
    numpy_blas = [lib.num_threads for lib in threads._NUMPY_BLAS]
    engine_blas = [lib.num_threads for lib in threads._BLAS]
    with pytest.raises(RuntimeError, match="inside"), threads.numpy_blas_on_one_thread():
        assert [lib.num_threads for lib in threads._NUMPY_BLAS] == [1] * len(numpy_blas)
        assert [lib.num_threads for lib in threads._BLAS] == engine_blas
        raise RuntimeError("inside")
    assert [lib.num_threads for lib in threads._NUMPY_BLAS] == numpy_blas


def _results_on(n, rng_seed):
    """An SGD step, a max pooling, a strided convolution's gradients and an LSTM's passes on
    ``n`` threads."""
    rng = np.random.default_rng(rng_seed)
    threads.set_threads(n)
    p = rng.standard_normal(1 << 17).astype(np.float32)
    g, v = rng.standard_normal(p.size).astype(np.float32), np.zeros(p.size, np.float32)
    optimizers.sgd_step(p, g, v, 0.1, 0.9, False, 1e-4)
    x = rng.standard_normal((9, 3, 11, 11)).astype(np.float32)
    y, where = np.empty((9, 3, 5, 5), np.float32), np.empty((9, 3, 5, 5), np.int64)
    pooling.maxpool2d_forward(x, (3, 3), (2, 2), (0, 0), y, where)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((9, 4, 6, 6)).astype(np.float32)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty(4, np.float32)
    cols = np.empty(conv.conv_workspace_size(9, 0), np.float32)
    conv.conv2d_backward(dy, x, W, (2, 2), (1, 1), (1, 1), cols, dx, dW, db, True)
    return (p, y, where, dx, dW, db) + _lstm_on_pieces(rng)


def _lstm_on_pieces(rng, n=11, steps=4, f=3, h=6):
    """An LSTM's forward and backward pass, whose time loops run on pieces of the batch."""
    def r(*shape):
        return rng.uniform(-0.8, 0.8, shape).astype(np.float32)
    g = 4 * h
    x, h0, c0, W_x, W_h, b_x, b_h = r(n, steps, f), r(n, h), r(n, h), r(f, g), r(h, g), \
        r(g), r(g)
    xs, gates = np.empty((steps, n, f), np.float32), np.empty((steps, n, g), np.float32)
    hs, cs = np.empty((steps + 1, n, h), np.float32), np.empty((steps + 1, n, h), np.float32)
    y = np.empty((n, steps, h), np.float32)
    recurrent.lstm_forward(x, h0, c0, W_x, W_h, b_x, b_h, xs, gates, hs, cs, y)
    dy, dhT, dcT = r(n, steps, h), r(n, h), r(n, h)
    grads = [np.empty_like(a) for a in (gates, x, h0, c0, W_x, W_h, b_x, b_h)]
    recurrent.lstm_backward(dy, dhT, dcT, xs, gates, hs, cs, W_x, W_h, *grads, True)
    return (y, *grads)


def test_kernels_give_the_same_numbers_on_one_thread_and_on_three():
    before = threads.count()
    try:
        one, three = _results_on(1, 5), _results_on(3, 5)
    finally:
        threads.set_threads(before)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
