r"""Embedding lookup: row ``tokens[m]`` of a table, and its backward, a scatter-add.

Shapes: ``tokens (M,)`` integers in ``[0, V)``, ``table (V, D)``, ``y (M, D)``. The layer
flattens ``(N, T)`` token sequences to ``M = N T`` rows. Looking up row $v$ is the product
of the one-hot vector $e_v$ with the table, so the gradient of the table is
$\sum_m e_{v_m}^\top dy_m$: each output row's gradient added into the row it came from.
"""

from atlas.kernels.jit import kernel


@kernel
def embedding_forward(tokens, table, y):
    """``y[m] = table[tokens[m]]``."""
    m, d = y.shape
    for r in range(m):
        v = tokens[r]
        for k in range(d):
            y[r, k] = table[v, k]


@kernel
def embedding_backward(tokens, dy, dtable):
    r"""``dtable`` (overwritten) $= \sum_m e_{v_m}^\top dy_m$: rows of ``dy`` added into the
    rows of the tokens they came from (a token seen twice gets both gradients)."""
    v, d = dtable.shape
    for r in range(v):
        for k in range(d):
            dtable[r, k] = 0.0
    m = tokens.shape[0]
    for r in range(m):
        t = tokens[r]
        for k in range(d):
            dtable[t, k] += dy[r, k]
