r"""Activation layers: the element-wise functions, PReLU (a learned slope) and softmax."""

from __future__ import annotations

import numpy as np

from atlas.backend import channel_view, flat
from atlas.checks import real
from atlas.kernels.scalar import ACTIVATION_CODES
from atlas.nn.layer import Layer
from atlas.views import reshaped

#: The parameter ``alpha`` of each activation that has one, when none is given.
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0, "swish": 1.0}

ACTIVATIONS = (*ACTIVATION_CODES, "softmax")


class Activation(Layer):
    r"""An activation function applied to every element (softmax: to every row).

    Parameters
    ----------
    function : str
        One of ``identity, sigmoid, tanh, relu, leaky_relu, elu, swish, softplus, gelu,
        softmax``.
    alpha : float, optional
        Leaky ReLU's negative slope (0.01), ELU's scale (1.0), Swish's $\beta$ (1.0).
    """

    def __init__(self, function: str, alpha: float | None = None, name=None):
        super().__init__(name)
        if function not in ACTIVATIONS:
            raise ValueError(f"unknown activation {function!r}; expected one of {ACTIVATIONS}")
        self.function = function
        self.alpha = real(DEFAULT_ALPHA.get(function, 0.0) if alpha is None else alpha,
                          "alpha", "Activation")
        #: The activation's code in the kernels (`scalar.ACTIVATION_CODES`); None for softmax.
        self.code = ACTIVATION_CODES.get(function)

    def forward(self, x, training=True):
        self.check_input(x)
        y = self.backend.scratch(x.shape, self.dtype)
        k = self.backend.kernels
        if self.function == "softmax":
            k.softmax_forward(_rows(x), _rows(y))
        else:
            k.activation_forward(flat(x), self.code, self.alpha, flat(y))
        self._x, self._y = x, y
        return y

    @property
    def element_wise(self):
        """Whether the function applies to each element alone (all but softmax): then the
        layer before it may apply it in its own kernel (`Layer.fuses_activation`)."""
        return self.code is not None

    def runs_fused_after(self, layer):
        """An element-wise activation runs inside the kernel of a layer that
        `fuses_activation` (see `Layer.runs_fused_after`)."""
        return layer.fuses_activation and self.element_wise

    def runs_fused_before(self, layer):
        """An element-wise activation's backward runs inside the backward kernel of a layer
        after it that `chains_activation` (see `Layer.runs_fused_before`)."""
        return layer.chains_activation and self.element_wise

    def chain_rule(self):
        r"""``(code, alpha, z, y)``: what the layer after this one needs to write its input
        gradient through it, $dz = dy \odot f'(z)$ (`Layer.chains_activation`): the
        activation's code and parameter, and the input and output of its last forward."""
        return self.code, self.alpha, self._x, self._y

    def ran_fused(self, x, y):
        """The layer before this one applied it (``y = f(x)``, written by that layer's
        kernel): keep ``x`` and ``y`` for `backward`, as `forward` would have; return ``y``."""
        self._x, self._y = x, y
        return y

    def backward(self, dy):
        dx = self.backend.scratch(dy.shape, self.dtype)
        k = self.backend.kernels
        if self.function == "softmax":
            k.softmax_backward(_rows(self._y), _rows(dy), _rows(dx))
        else:
            k.activation_backward(flat(self._x), flat(self._y), flat(dy), self.code,
                                  self.alpha, flat(dx))
        return dx

    @property
    def kind(self):
        return f"Activation({self.function})"

    def get_config(self):
        config = {"function": self.function, "name": self.name}
        if self.function in DEFAULT_ALPHA:
            config["alpha"] = self.alpha
        return config


def _rows(x):
    """2-D view whose rows run along the last axis (softmax normalises each row)."""
    return reshaped(x, x.size // x.shape[-1], x.shape[-1])


class PReLU(Layer):
    r"""Parametric ReLU: $y = x$ for $x > 0$, else $\alpha_c x$, with one
    learned slope per feature (after a dense layer) or per channel (after a convolution).

    Parameters
    ----------
    init : float
        Initial slope (0.25, as in He et al., 2015).
    """

    def __init__(self, init: float = 0.25, name=None):
        super().__init__(name)
        self.init = real(init, "init", "PReLU")

    def init_params(self, input_shape, rng):
        return {"alpha": np.full(input_shape[0], self.init)}

    def forward(self, x, training=True):
        self.check_input(x)
        y = self.backend.scratch(x.shape, self.dtype)
        self.backend.kernels.prelu_forward(channel_view(x), self.params["alpha"], channel_view(y))
        self._x = x
        return y

    def backward(self, dy):
        dx = self.backend.scratch(dy.shape, self.dtype)
        self.backend.kernels.prelu_backward(channel_view(self._x), self.params["alpha"],
                                            channel_view(dy), channel_view(dx),
                                            self.grads["alpha"])
        return dx

    def get_config(self):
        return {"init": self.init, "name": self.name}
