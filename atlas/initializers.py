r"""Weight initialisation schemes.

An initializer is called with the shape of the array to fill, a NumPy random generator and
a dtype. Schemes that scale with the layer's size read its fans from the shape:

========================= ============================== ===============================
weight of                 shape                          fan_in / fan_out
========================= ============================== ===============================
dense                     ``(in, out)``                  in / out
conv                      ``(C_out, C_in, kh, kw)``      C_in*kh*kw / C_out*kh*kw
conv_transpose            ``(C_in, C_out, kh, kw)``      C_out*kh*kw / C_in*kh*kw
========================= ============================== ===============================

Glorot (Xavier) keeps the variance of activations and gradients equal across a layer
with a symmetric activation, $\operatorname{Var} W = 2 / (n_{in} + n_{out})$;
Kaiming (He) compensates for ReLU halving it, $\operatorname{Var} W = 2 / n_{in}$.
"""

from __future__ import annotations

import math

import numpy as np

from atlas.checks import non_negative, real


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` (see the table above).

    Transposed-convolution weights ``(C_in, C_out, kh, kw)`` get the same rule as
    convolution weights, as in PyTorch: ``fan_in = shape[1] * kh * kw``.
    """
    shape = tuple(shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base class: ``init(shape, rng, dtype="float32") -> ndarray``."""

    def __call__(self, shape, rng, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        return self.sample(tuple(shape), rng, fan_in, fan_out).astype(dtype, copy=False)

    def sample(self, shape, rng, fan_in, fan_out):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {"name": type(self).__name__, **vars(self)}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def sample(self, shape, rng, fan_in, fan_out):
        return np.zeros(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = real(value, "value", "Constant")

    def sample(self, shape, rng, fan_in, fan_out):
        return np.full(shape, self.value)


class Uniform(Initializer):
    """$U(\\text{low}, \\text{high})$."""

    def __init__(self, low=-0.05, high=0.05):
        self.low = real(low, "low", "Uniform")
        self.high = real(high, "high", "Uniform", low=self.low)

    def sample(self, shape, rng, fan_in, fan_out):
        return rng.uniform(self.low, self.high, shape)


class Normal(Initializer):
    """$\\mathcal N(\\text{mean}, \\text{std}^2)$."""

    def __init__(self, mean=0.0, std=0.05):
        self.mean = real(mean, "mean", type(self).__name__)
        self.std = non_negative(std, "std", type(self).__name__)

    def sample(self, shape, rng, fan_in, fan_out):
        return rng.normal(self.mean, self.std, shape)


def _truncated_standard_normal(shape, rng, bound=2.0):
    """Standard normal samples, redrawn until all lie within ``[-bound, bound]``."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > bound
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > bound
    return z


class TruncatedNormal(Normal):
    """Normal samples further than two standard deviations from the mean are redrawn."""

    def sample(self, shape, rng, fan_in, fan_out):
        return self.mean + self.std * _truncated_standard_normal(shape, rng)


class GlorotUniform(Initializer):
    """$U(-a, a)$, $a = \\sqrt{6 / (n_{in} + n_{out})}$ (Glorot & Bengio, 2010)."""

    def sample(self, shape, rng, fan_in, fan_out):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


class GlorotNormal(Initializer):
    """$\\mathcal N(0, 2 / (n_{in} + n_{out}))$."""

    def sample(self, shape, rng, fan_in, fan_out):
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)


class HeUniform(Initializer):
    """Kaiming uniform: $U(-a, a)$, $a = \\sqrt{6 / n_{in}}$ (He et al., 2015)."""

    def sample(self, shape, rng, fan_in, fan_out):
        limit = math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape)


class HeNormal(Initializer):
    """Kaiming normal: $\\mathcal N(0, 2 / n_{in})$."""

    def sample(self, shape, rng, fan_in, fan_out):
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)


_REGISTRY = {
    "zeros": Zeros, "constant": Constant, "uniform": Uniform, "normal": Normal,
    "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "xavier_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "xavier_normal": GlorotNormal,
    "he_uniform": HeUniform, "kaiming_uniform": HeUniform,
    "he_normal": HeNormal, "kaiming_normal": HeNormal,
}
_REGISTRY.update({cls.__name__: cls for cls in set(_REGISTRY.values())})


def get_initializer(spec) -> Initializer:
    """An `Initializer` from a name ("he_normal"), a config dict or an instance."""
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        if "name" not in spec:
            raise ValueError(f"an initializer config needs a 'name', got {spec!r}")
        return _lookup(spec.pop("name"))(**spec)
    return _lookup(spec)()


def _lookup(name):
    if not isinstance(name, str):
        raise TypeError(f"an initializer is a name, a config dict or an Initializer, "
                        f"got {name!r} ({type(name).__name__})")
    try:
        return _REGISTRY[name]
    except KeyError:
        names = sorted(k for k in _REGISTRY if k.islower())
        raise ValueError(f"unknown initializer {name!r}; expected one of {names}") from None
