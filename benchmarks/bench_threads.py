"""Issue 23's first measurement: does one thread pool beat BLAS's own threads for the
im2col convolution? The serial path (`atlas.kernels.cpu._conv.im2col_gemm`) with OpenBLAS
at 1 and 2 threads, against the same path run by Numba's ``prange`` over two halves of the
batch with single-threaded BLAS (limited by threadpoolctl), forward and backward, in ms.

    python benchmarks/bench_threads.py        # on an otherwise idle machine
"""

import time

import numpy as np
from numba import njit, prange
from threadpoolctl import threadpool_limits

from atlas.kernels.cpu import conv
from atlas.kernels.cpu._conv import im2col_gemm

#: (batch, input channels, side, output channels, kernel, stride, padding)
CASES = {"two-conv network, conv 2": (64, 32, 14, 64, 5, 1, 2),
         "two-conv network, conv 1": (64, 1, 28, 32, 5, 1, 2),
         "DCGAN discriminator, conv 2": (128, 32, 14, 64, 4, 2, 1)}


@njit(parallel=True, cache=True)
def forward_in_parts(x, W, b, stride, padding, dilation, y, parts, per_part):
    step = (x.shape[0] + parts - 1) // parts
    for t in prange(parts):
        start, stop = t * step, min((t + 1) * step, x.shape[0])
        if start < stop:
            cols = np.empty(per_part, dtype=x.dtype)
            im2col_gemm.forward(x[start:stop], W, b, stride, padding, dilation, cols,
                                y[start:stop])


@njit(parallel=True, cache=True)
def backward_in_parts(dy, x, W, stride, padding, dilation, dx, dWs, dbs, parts, per_part):
    step = (x.shape[0] + parts - 1) // parts
    for t in prange(parts):
        start, stop = t * step, min((t + 1) * step, x.shape[0])
        if start < stop:
            cols = np.empty(per_part, dtype=x.dtype)
            im2col_gemm.backward(dy[start:stop], x[start:stop], W, stride, padding, dilation,
                                 cols, dx[start:stop], dWs[t], dbs[t], True)


def timed(fn, repeats=15):
    fn()
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def measure(batch, channels, side, filters, k, s, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, side, side)).astype(np.float32)
    W = (0.1 * rng.standard_normal((filters, channels, k, k))).astype(np.float32)
    b = np.zeros(filters, np.float32)
    out = (side + 2 * p - k) // s + 1
    y = np.empty((batch, filters, out, out), np.float32)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    row = out + (k - 1 if s == 1 else 0)
    cols = np.empty(conv.conv_workspace_size(batch, channels * k * k * out * row), np.float32)
    per_part = conv.conv_workspace_size(batch // 2, channels * k * k * out * row)
    dWs, dbs = np.empty((2, *W.shape), np.float32), np.empty((2, filters), np.float32)
    geometry = ((s, s), (p, p), (1, 1))

    def serial_forward():
        im2col_gemm.forward(x, W, b, *geometry, cols, y)

    def serial_backward():
        im2col_gemm.backward(dy, x, W, *geometry, cols, dx, dW, db, True)

    def parts_forward():
        forward_in_parts(x, W, b, *geometry, y, 2, per_part)

    def parts_backward():
        backward_in_parts(dy, x, W, *geometry, dx, dWs, dbs, 2, per_part)
        np.add(dWs[0], dWs[1], out=dW)
        np.add(dbs[0], dbs[1], out=db)

    results = {}
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            results[f"serial, BLAS {threads}"] = (timed(serial_forward), timed(serial_backward))
    with threadpool_limits(1, user_api="blas"):
        results["prange 2, BLAS 1"] = (timed(parts_forward), timed(parts_backward))
    return results


def main():
    for label, case in CASES.items():
        cells = "   ".join(f"{name}: {f:6.2f} / {b:6.2f}" for name, (f, b) in
                           measure(*case).items())
        print(f"{label:28s} {cells}", flush=True)


if __name__ == "__main__":
    main()
