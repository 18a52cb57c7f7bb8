"""The CPU's one pool of threads (`atlas.kernels.cpu.threads`) against BLAS's own threads,
on the convolutions the open speed goals hinge on: forward and backward in ms, median of
``--repeats``, for the serial kernel with BLAS on one thread, the serial kernel with BLAS on
``--threads`` threads, and the kernel run on pieces of the batch by the pool.

    python benchmarks/bench_threads.py              # 2 threads, on an idle machine
"""

import argparse
import statistics
import time

import numpy as np
from common import COUNT
from threadpoolctl import threadpool_limits

from atlas.kernels.cpu import conv, threads
from atlas.kernels.cpu._conv import direct, im2col_gemm

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=COUNT, default=2)
parser.add_argument("--repeats", type=COUNT, default=15)
args = parser.parse_args()

#: (batch, input channels, side, output channels, kernel, stride, padding)
CASES = {"two-conv network, conv 2": (64, 32, 14, 64, 5, 1, 2),
         "two-conv network, conv 1": (64, 1, 28, 32, 5, 1, 2),
         "ResNet-20, 16 channels": (128, 16, 28, 16, 3, 1, 1),
         "ResNet-20, 32 channels": (128, 32, 14, 32, 3, 1, 1),
         "DCGAN discriminator, conv 2": (128, 32, 14, 64, 4, 2, 1)}


def median_ms(fn):
    fn()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def case(shape, rng):
    """``(serial forward, serial backward, entry forward, entry backward)`` closures."""
    n, c, h, o, k, s, p = shape
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    W = rng.standard_normal((o, c, k, k), dtype=np.float32)
    b = np.zeros(o, np.float32)
    side = (h + 2 * p - k) // s + 1
    y = np.empty((n, o, side, side), np.float32)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    cols = np.empty(conv.WORKSPACE_VALUES * args.threads, np.float32)
    geometry = ((s, s), (p, p), (1, 1))
    if direct.wins(o, c * k * k, (s, s)):
        serial = (lambda: direct.forward(x, W, b, (p, p), (1, 1), y),
                  lambda: direct.backward(dy, x, W, (p, p), (1, 1), dx, dW, db, True))
    else:
        serial = (lambda: im2col_gemm.forward(x, W, b, *geometry, cols, y),
                  lambda: im2col_gemm.backward(dy, x, W, *geometry, cols, dx, dW, db, True))
    pool = (lambda: conv.conv2d_forward(x, W, b, *geometry, cols, y),
            lambda: conv.conv2d_backward(dy, x, W, *geometry, cols, dx, dW, db, True))
    return serial, pool


def main():
    rng = np.random.default_rng(0)
    n = args.threads
    print(f"forward / backward, ms, median of {args.repeats}")
    print(f"  {'convolution':30s} {'serial, BLAS 1':>16s} {f'serial, BLAS {n}':>16s} "
          f"{f'pool of {n}':>16s}")
    for label, shape in CASES.items():
        serial, pool = case(shape, rng)
        threads.set_threads(n)
        row = []
        for blas in (1, n):
            with threadpool_limits(blas, user_api="blas"):
                row.append([median_ms(f) for f in serial])
        row.append([median_ms(f) for f in pool])
        print(f"  {label:30s} " + " ".join(f"{a:7.2f} / {b:6.2f}" for a, b in row), flush=True)


if __name__ == "__main__":
    main()
