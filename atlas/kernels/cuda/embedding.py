"""CUDA twins of `embedding`: a thread per output element; the backward pass zeroes the
table's gradient and adds each row into place with atomic adds (two positions may hold
the same token)."""

from numba import cuda

from atlas.kernels.cuda.launch import THREADS, blocks, fill
from atlas.kernels.cuda.launcher import kernel


@kernel
def _embedding_forward(tokens, table, y):
    t = cuda.grid(1)
    if t < y.size:
        d = y.shape[1]
        r, k = t // d, t % d
        y[r, k] = table[tokens[r], k]


@kernel
def _embedding_backward(tokens, dy, dtable):
    t = cuda.grid(1)
    if t < dy.size:
        d = dy.shape[1]
        r, k = t // d, t % d
        cuda.atomic.add(dtable, (tokens[r], k), dy[r, k])


def embedding_forward(tokens, table, y):
    _embedding_forward[blocks(y.size), THREADS](tokens, table, y)


def embedding_backward(tokens, dy, dtable):
    fill[blocks(dtable.size), THREADS](dtable.reshape(dtable.size), 0.0)
    _embedding_backward[blocks(dy.size), THREADS](tokens, dy, dtable)
