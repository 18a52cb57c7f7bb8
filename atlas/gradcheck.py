r"""Gradient checking by central differences, in float64.

For a scalar function $L(\theta)$ the numerical gradient is

$$
\frac{\partial L}{\partial \theta_i} \approx
\frac{L(\theta + h e_i) - L(\theta - h e_i)}{2h},
$$

with error $O(h^2)$. It is compared with the analytic gradient by the relative error
$\|a - n\| / \max(\|a\| + \|n\|, \text{tiny})$: about 1e-8 or below in float64 when
the backward pass is right, near 1 when it is wrong.
"""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f()`` with respect to the array
    ``x``, which ``f`` reads (``x`` is perturbed in place and restored)."""
    grad = np.zeros(x.shape, dtype=np.float64)
    flat_x = x.reshape(-1)
    flat_g = grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = f()
        flat_x[i] = old - h
        minus = f()
        flat_x[i] = old
        flat_g[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(analytic, numeric):
    """``||a - n|| / (||a|| + ||n||)``, 0 when both are zero."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)


def check_layer(layer, x, *, seed=0, h=1e-6, training=True):
    """Check a built float64 layer's backward pass against central differences.

    The scalar is $L = \\sum y \\odot r$ for a fixed random ``r``, so
    $\\partial L / \\partial y = r$. Returns ``{"x": err, "<param>": err, ...}``, the
    relative error of the gradient with respect to the input and to every parameter.
    Layers with randomness (dropout) must draw the same numbers on every call: check them
    with ``training=False`` or a fixed mask.
    """
    if np.dtype(layer.dtype) != np.float64:
        raise ValueError(f"gradient checks need a float64 layer, got {layer.dtype}")
    x = np.array(x, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal((x.shape[0], *layer.output_shape))

    def loss():
        return float(np.sum(np.asarray(layer.forward(x, training)) * r))

    layer.forward(x, training)
    dx = np.array(layer.backward(r))
    analytic = {"x": dx, **{k: np.array(v) for k, v in layer.grads.items()}}
    errors = {"x": relative_error(analytic["x"], numerical_gradient(loss, x, h))}
    for name, param in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, param, h))
    return errors
