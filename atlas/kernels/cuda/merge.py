"""CUDA twins of `merge`: one thread per element."""

from numba import cuda

from atlas.kernels.cuda.launch import THREADS, blocks
from atlas.kernels.cuda.launcher import kernel


@kernel
def _add(a, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = a[i] + b[i]


@kernel
def _multiply(a, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = a[i] * b[i]


@kernel
def _copy_columns(src, dst, offset):
    t = cuda.grid(1)
    if t < src.size:
        width = src.shape[1]
        dst[t // width, offset + t % width] = src[t // width, t % width]


@kernel
def _take_columns(src, offset, dst):
    t = cuda.grid(1)
    if t < dst.size:
        width = dst.shape[1]
        dst[t // width, t % width] = src[t // width, offset + t % width]


def add(a, b, y):
    _add[blocks(y.size), THREADS](a, b, y)


def multiply(a, b, y):
    _multiply[blocks(y.size), THREADS](a, b, y)


def copy_columns(src, dst, offset):
    _copy_columns[blocks(src.size), THREADS](src, dst, offset)


def take_columns(src, offset, dst):
    _take_columns[blocks(dst.size), THREADS](src, offset, dst)
