r"""Inverted dropout.

In training each unit is kept with probability $1 - p$ and scaled by
$1 / (1 - p)$, so that the expected activation is unchanged and inference needs no
rescaling. The random numbers come in as an array ``u`` of uniforms in [0, 1): the layer
fills it with `random_uniform` from a key its seeded generator draws, so the kernel itself
is deterministic, and a CPU and a GPU given the same key drop the same units.
"""

from atlas.kernels import scalar
from atlas.kernels.cpu import threads
from atlas.kernels.cpu.activations import _chain
from atlas.kernels.jit import kernel


@kernel
def random_uniform(key, u):
    r"""$u_i$ = number $i$ of the random stream ``key`` (`scalar.counter_uniform`)."""
    for i in range(u.size):
        u[i] = scalar.counter_uniform(key, i)


@threads.elementwise
@kernel
def dropout_forward(x, u, p, y, mask):
    r"""$m_i = [u_i \ge p] / (1 - p)$, $y_i = m_i x_i$ (flat arrays)."""
    keep = 1.0 / (1.0 - p)
    for i in range(x.size):
        m = keep if u[i] >= p else 0.0
        mask[i] = m
        y[i] = m * x[i]


@threads.elementwise
@kernel
def dropout_backward(dy, mask, dx):
    r"""$dx_i = m_i \, dy_i$: gradient flows only through the kept units."""
    for i in range(dy.size):
        dx[i] = mask[i] * dy[i]


def dropout_backward_chained(dy, mask, kind, alpha, z, x, dx):
    r"""`dropout_backward` through the activation before the dropout, $x = f(z)$: $dx_i =
    m_i \, dy_i \, f'(z_i)$ (here the two kernels in turn; the CUDA twin in one)."""
    dropout_backward(dy, mask, dx)
    _chain(kind, alpha, z, x, dx)
