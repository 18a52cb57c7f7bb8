r"""Per-element math shared by the CPU kernels and their CUDA twins.

Every function here is an ``@njit`` function of scalars. The CPU kernels call them inside
their loops; numba-cuda compiles the very same functions as device functions when a
``@cuda.jit`` kernel calls them. So the formula for, say, the derivative of GELU is written
once, and both backends compute it.

Activations are selected by an integer code (the ``kind`` argument of the activation
kernels). For each activation $y = f(x)$ the backward function returns
$f'(x)$ written in terms of both $x$ and $y$, whichever is cheaper.
"""

import math

import numpy as np

from atlas.kernels.jit import kernel

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
ELU = 5
SWISH = 6
SOFTPLUS = 7
GELU = 8

#: The code of no activation (a kernel that may apply one, told to apply none).
NO_ACTIVATION = -1

#: Name of each activation, in code order (the layer maps names to codes with it).
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "swish": SWISH,
    "softplus": SOFTPLUS,
    "gelu": GELU,
}

_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


# Eigen's float32 tanh: odd 13th-degree over even 6th-degree polynomial on [-7.9, 7.9].
_TANH_CLAMP = np.float32(7.90531110763549805)
_P0, _P1, _P2, _P3 = (np.float32(-2.76076847742355e-16), np.float32(2.00018790482477e-13),
                      np.float32(-8.60467152213735e-11), np.float32(5.12229709037114e-08))
_P4, _P5, _P6 = (np.float32(1.48572235717979e-05), np.float32(6.37261928875436e-04),
                 np.float32(4.89352455891786e-03))
_Q0, _Q1, _Q2, _Q3 = (np.float32(1.19825839466702e-06), np.float32(1.18534705686654e-04),
                      np.float32(2.26843463243900e-03), np.float32(4.89352518554385e-03))


@kernel
def tanh_float32(x):
    r"""$\tanh x$ in single precision as a rational function, $x\,P(x^2) / Q(x^2)$ with
    $x$ clamped to $[-7.905, 7.905]$ (where float32's tanh is already $\pm 1$).

    The coefficients are Eigen's (the float32 tanh of Eigen and TensorFlow). Absolute error
    below $3 \cdot 10^{-7}$, relative error a few ulp near 0. Unlike ``math.tanh`` (a libm
    call per element, about 10 ns) it has no call and no branch, so LLVM vectorises a loop
    over it: about 1 ns per element on the reference machine.
    """
    x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    # Horner's rule, written out: a loop over a tuple of coefficients keeps LLVM from
    # vectorising the caller's loop.
    p = ((((((_P0 * x2 + _P1) * x2 + _P2) * x2 + _P3) * x2 + _P4) * x2 + _P5) * x2 + _P6)
    q = (((_Q0 * x2 + _Q1) * x2 + _Q2) * x2 + _Q3)
    return x * p / q


@kernel
def tanh(x):
    """$\tanh x$: `tanh_float32` for a float32 argument, ``math.tanh`` otherwise.

    The choice is made by the compiler from the argument's type (the other branch is not
    compiled), so float64 code, the gradient checks included, gets the exact libm value.
    """
    if isinstance(x, np.float32):
        return tanh_float32(x)
    return math.tanh(x)


@kernel
def sigmoid(x):
    r"""$\sigma(x) = 1 / (1 + e^{-x})$, evaluated without overflow for any sign of x.

    In float32 it is $\tfrac12 + \tfrac12 \tanh(x/2)$ through `tanh_float32`
    (absolute error below $2 \cdot 10^{-7}$, vectorisable; the relative error grows where
    $\sigma(x) < 10^{-4}$, which is why the losses take logits, never probabilities).
    """
    if isinstance(x, np.float32):
        return np.float32(0.5) + np.float32(0.5) * tanh_float32(np.float32(0.5) * x)
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@kernel
def heaviside(x):
    """The unit step $[x > 0]$: 1.0 for positive x, else 0.0."""
    return 1.0 if x > 0 else 0.0


@kernel
def softplus(x):
    r"""$\log(1 + e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})$, stable for large |x|."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@kernel
def activation(kind, x, alpha):
    r"""Forward value $f(x)$ of activation ``kind``.

    ``alpha`` is the negative slope of Leaky ReLU, the scale of ELU and the
    $\beta$ of Swish ($x\,\sigma(\beta x)$); other activations ignore it.
    GELU is the exact form $x\,\Phi(x)$ with $\Phi$ the normal CDF.

    The piecewise functions are written with ``max``/``min`` rather than ``if``: the loop
    then compiles to branch-free SIMD code (45x faster for ReLU on random signs), and a
    NaN still propagates.
    """
    if kind == SIGMOID:
        return sigmoid(x)
    if kind == TANH:
        return tanh(x)
    if kind == RELU:
        return max(x, 0.0)
    if kind == LEAKY_RELU:
        return max(x, 0.0) + alpha * min(x, 0.0)
    if kind == ELU:
        return max(x, 0.0) + alpha * math.expm1(min(x, 0.0))
    if kind == SWISH:
        return x * sigmoid(alpha * x)
    if kind == SOFTPLUS:
        return softplus(x)
    if kind == GELU:
        return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))
    return x


@kernel
def one_like(x):
    """1 in the precision of ``x``. A literal ``1.0`` is a float64, and ``1.0 - y`` with a
    float32 ``y`` would carry the rest of the float32 arithmetic into float64 (half as
    many values per vector: tanh's derivative over 300K float32 values took 64 us instead
    of 39)."""
    if isinstance(x, np.float32):
        return np.float32(1.0)
    return 1.0


@kernel
def activation_derivative(kind, x, y, alpha):
    r"""Derivative $f'(x)$ of activation ``kind``, given the input x and output y.

    ========== ===================================================
    sigmoid    $y (1 - y)$
    tanh       $1 - y^2$
    ReLU       $[x > 0]$
    Leaky ReLU $1$ if $x > 0$ else $\alpha$
    ELU        $1$ if $x > 0$ else $y + \alpha$
    Swish      $s + \beta x s (1 - s)$, $s = \sigma(\beta x)$
    softplus   $\sigma(x)$
    GELU       $\Phi(x) + x \varphi(x)$
    ========== ===================================================
    """
    if kind == SIGMOID:
        return y * (one_like(y) - y)
    if kind == TANH:
        return one_like(y) - y * y
    if kind == RELU:
        return heaviside(x)
    if kind == LEAKY_RELU:
        return alpha + (1.0 - alpha) * heaviside(x)
    if kind == ELU:
        positive = heaviside(x)
        return positive + (1.0 - positive) * (min(y, 0.0) + alpha)
    if kind == SWISH:
        s = sigmoid(alpha * x)
        return s + alpha * x * s * (1.0 - s)
    if kind == SOFTPLUS:
        return sigmoid(x)
    if kind == GELU:
        cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
        return cdf + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)
    return 1.0


#: The activations whose derivative is written with their output alone (`chain_saved`).
FROM_OUTPUT = (SIGMOID, TANH)


def chain_saved(kind, z, y):
    """What `chain_factor` computes ``f'`` from, of an activation's input ``z`` and output
    ``y``: ``y`` for sigmoid and tanh (their derivative is written with it), else ``z``."""
    return y if kind in FROM_OUTPUT else z


@kernel
def chain_factor(kind, saved, alpha):
    r"""$f'(z)$ from one value, ``saved`` (`chain_saved`): the output $f(z)$ for sigmoid
    and tanh, the input $z$ for the rest (ELU's output, which its derivative reads for
    $z \le 0$, is recomputed from $z$). A kernel that already holds the product with
    $\partial L / \partial f(z)$ in place multiplies it by this, reading one array
    instead of two."""
    if kind == SIGMOID or kind == TANH:  # noqa: SIM109 (a constant tuple: not in kernels)
        return activation_derivative(kind, saved, saved, alpha)
    return activation_derivative(kind, saved, activation(kind, saved, alpha), alpha)


@kernel
def huber_value(r, delta):
    r"""Huber loss of a residual: $r^2/2$ if $|r| \le \delta$, else
    $\delta (|r| - \delta/2)$."""
    a = abs(r)
    if a <= delta:
        return 0.5 * r * r
    return delta * (a - 0.5 * delta)


@kernel
def huber_derivative(r, delta):
    r"""Derivative of `huber_value`: $r$ clipped to $[-\delta, \delta]$."""
    return min(max(r, -delta), delta)


@kernel
def sign(x):
    """-1, 0 or 1: the subgradient of $|x|$ used by the L1 loss (0 at 0)."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0


@kernel
def ceil_div(a, b):
    """$\\lceil a / b \\rceil$ for integers, any sign of ``a``, ``b > 0``."""
    return -((-a) // b)


@kernel
def window_range(out_size, in_size, stride, offset):
    r"""The output positions ``o`` whose input index ``o * stride + offset`` falls inside
    ``[0, in_size)``, as a half-open range ``(lo, hi)``.

    A sliding window reads input index $o s + (i d - p)$ for output position $o$, tap $i$,
    stride $s$, dilation $d$ and padding $p$. The positions outside this range read the zero
    padding; looping only over ``range(lo, hi)`` keeps the bounds test out of the inner loop.
    """
    lo = max(0, ceil_div(-offset, stride))
    hi = min(out_size, ceil_div(in_size - offset, stride))
    return lo, max(lo, hi)


@kernel
def pool_divisor(p, q, height, width, kernel_size, stride, padding, count_include_pad):
    """Number of positions average pooling divides by at output position ``(p, q)``: the
    window clipped to the padded image (``count_include_pad``, as PyTorch) or to the image."""
    h0 = p * stride[0] - padding[0]
    w0 = q * stride[1] - padding[1]
    if count_include_pad:
        rows = min(h0 + kernel_size[0], height + padding[0]) - h0
        cols = min(w0 + kernel_size[1], width + padding[1]) - w0
    else:
        rows = min(h0 + kernel_size[0], height) - max(h0, 0)
        cols = min(w0 + kernel_size[1], width) - max(w0, 0)
    return rows * cols


# Random numbers ----------------------------------------------------------------------------
#: Wellons' "lowbias32" integer hash, in unsigned 64-bit arithmetic on 32-bit values: every
#: product of two of them is exact (no overflow), the result is masked back to 32 bits.
_HASH_M1, _HASH_M2 = np.uint64(0x7FEB352D), np.uint64(0x846CA68B)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT8, _SHIFT15, _SHIFT16 = np.uint64(8), np.uint64(15), np.uint64(16)


@kernel
def hash32(x):
    """A 32-bit integer hash of a 32-bit value ``x`` (a uint64): every input bit moves
    about half of the output bits."""
    x ^= x >> _SHIFT16
    x = (x * _HASH_M1) & _LOW32
    x ^= x >> _SHIFT15
    x = (x * _HASH_M2) & _LOW32
    x ^= x >> _SHIFT16
    return x


@kernel
def counter_uniform(key, i):
    r"""Number ``i`` of the random stream ``key`` (both below $2^{32}$), uniform in
    $[0, 1)$: the top 24 bits of $h(h(i) \oplus key)$ with the hash $h$ above, over
    $2^{24}$ (exact in float32 as in float64, so never rounded up to 1). A counter-based
    generator: no state to carry from one number to the next, so every thread of a GPU
    draws its own numbers, and the CPU draws the very same ones."""
    x = hash32(hash32(np.uint64(i) & _LOW32) ^ (np.uint64(key) & _LOW32))
    return (x >> _SHIFT8) * 2.0**-24

